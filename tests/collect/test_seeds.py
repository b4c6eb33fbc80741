"""Seed lists and ranges."""

from __future__ import annotations

import pytest

from synthkit import SynthkitError
from synthkit.collect.seeds import parse_seeds


@pytest.mark.parametrize(("value", "seeds"), [
    ("0-3,7", [0, 1, 2, 3, 7]),
    ("5", [5]),
    (" 2 - 4 , 10 ", [2, 3, 4, 10]),
    (9, [9]),
    ([3, 1, "4-5"], [3, 1, 4, 5]),
])
def test_seeds_in_the_order_given(value, seeds):
    assert parse_seeds(value) == seeds


@pytest.mark.parametrize(("value", "fragment"), [
    ("4-2", "runs backwards"),
    ("a-b", "'a-b' is not a seed or a range"),
    ("1,1", "names seed 1 more than once"),
    ("0-3,2", "names seed 2 more than once"),
    ("", "eval.seeds is empty"),
    ([-1], "seeds are 0 or more"),
    (True, "must be a list or ranges"),
    (None, "must be a list or ranges"),
    (2.5, "must be a list or ranges"),
    ([1.5], "1.5 is not a seed"),
    ("0-99999999", "holds more than"),
])
def test_bad_seeds_are_named(value, fragment):
    with pytest.raises(SynthkitError, match=fragment):
        parse_seeds(value)
