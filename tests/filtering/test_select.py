"""Which sessions the filter keeps, condition by condition, on a DB graded by synthkit."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import timedelta

import attrs
import pytest

from synthkit.errors import SynthkitError
from synthkit.filtering.export import filter_traces
from synthkit.traces.store import TraceDBError, TraceWriter
from tests.factories import T0, make_session
from tests.filtering.conftest import N, primary, target


def kept(db, **keys) -> list[str]:
    return [k.session_id for k in filter_traces(db, **keys).kept]


def ids(numbers) -> list[str]:
    return [f"s{i:02d}" for i in numbers]


USABLE = [i for i in range(N) if i != 18]  # s18 failed


def test_thresholds_are_inclusive_on_every_kind_of_key(graded_db):
    assert kept(graded_db, min_judge_scores={"RubricTarget": target(10)}) == ids(i for i in USABLE if i >= 10)
    assert kept(graded_db, min_judge_scores={"RubricHalf.half": target(10) / 2}) == ids(i for i in USABLE if i >= 10)
    assert kept(graded_db, max_judge_scores={"primary": primary(3)}) == ids(range(4))
    assert kept(graded_db, min_judge_scores={"quality": 0.8}) == ids(USABLE)  # a metadata key


def test_a_nested_override_means_rubric_dot_criterion(graded_db):
    assert kept(graded_db, min_judge_scores={"RubricTarget": {"target": target(15)}}) == ids([15, 16, 17, 19])


def test_a_missing_score_fails_a_min_and_a_max(graded_db):
    # sessions without an outcome reward fail official-score bounds both ways (s19 has none)
    assert "s19" not in kept(graded_db, min_official_score=0)
    assert "s19" not in kept(graded_db, max_official_score=100)
    assert kept(graded_db, min_official_score=5, max_official_score=7) == ids([5, 6, 7])


def test_selection_fields(graded_db):
    assert kept(graded_db, splits=["test"]) == ids(i for i in USABLE if i % 2)
    assert kept(graded_db, task_ids=["b"], models=["m1"]) == ids([2, 3, 6, 7])
    assert kept(graded_db, min_created_at="2026-05-01T12:05:00Z", max_created_at="2026-05-01T12:07:00.123456Z") \
        == ids([5, 6, 7])
    assert kept(graded_db, include_failed=True) == ids(range(N))


def test_order_offset_max_sessions_and_shuffle(graded_db):
    assert kept(graded_db, offset=3, max_sessions=2) == ids([3, 4])
    shuffled = kept(graded_db, shuffle=True, seed=7)
    assert sorted(shuffled) == ids(USABLE) and shuffled != ids(USABLE)
    assert kept(graded_db, shuffle=True, seed=7) == shuffled
    assert kept(graded_db, shuffle=True, shuffle_seed=8) != shuffled


def test_rejections_are_counted_by_first_failing_condition(graded_db):
    stats = filter_traces(graded_db, splits=["train"], min_judge_scores={"primary": primary(10)}).stats
    assert stats["sessions"]["seen"] == N
    assert stats["sessions"]["rejected"] == {"split": 10, "status": 1, "min_judge_scores.primary": 5}
    assert stats["sessions"]["kept"] == 4


def test_the_mix_draws_a_seeded_share_from_the_lower_band(graded_db):
    result = filter_traces(graded_db, min_judge_scores={"primary": primary(15)}, seed=1,
                           mix={"share": 0.5, "min_judge_scores": {"primary": primary(5)}})
    high = [k.session_id for k in result.kept if not k.mixed_in]
    mixed = [k.session_id for k in result.kept if k.mixed_in]
    assert high == ids([15, 16, 17, 19]) and len(mixed) == 4
    assert set(mixed) <= set(ids(range(5, 15)))
    assert result.stats["mix"] == {"all": {"high": 4, "wanted": 4, "available": 10, "drawn": 4}}
    again = filter_traces(graded_db, min_judge_scores={"primary": primary(15)}, seed=1,
                          mix={"share": 0.5, "min_judge_scores": {"primary": primary(5)}})
    assert [k.session_id for k in again.kept] == [k.session_id for k in result.kept]


def test_every_prefix_of_a_mixed_selection_keeps_the_share(graded_db):
    mix = {"share": 0.5, "min_judge_scores": {"primary": primary(5)}}
    result = filter_traces(graded_db, min_judge_scores={"primary": primary(15)}, seed=1, mix=mix)
    assert [k.mixed_in for k in result.kept] == [True, False] * 4   # spread evenly, not by recording order
    for keys in ({"max_sessions": 4}, {"offset": 2, "max_sessions": 4}, {"shuffle": True, "max_sessions": 4}):
        cut = filter_traces(graded_db, min_judge_scores={"primary": primary(15)}, seed=1, mix=mix, **keys)
        assert sorted(k.mixed_in for k in cut.kept) == [False, False, True, True], keys
    # the examples too: filter.limit stops after a prefix of the sessions
    limited = filter_traces(graded_db, min_judge_scores={"primary": primary(15)}, seed=1, mix=mix, limit=2,
                            dedup=False)
    assert [k.mixed_in for k in limited.kept] == [True, False] and limited.examples == 2
    fifth = filter_traces(graded_db, min_judge_scores={"primary": primary(15)}, seed=1, max_sessions=4,
                          mix={"share": 0.2, "min_judge_scores": {"primary": primary(5)}})
    assert sum(k.mixed_in for k in fifth.kept) == 1   # 0.8 rounds to one


def test_a_session_without_the_score_is_not_mixed_in_and_fails_a_max(graded_db):
    with TraceWriter.open(graded_db) as writer:   # recorded after the judge ran: no judge score
        writer.write_session(make_session("late", created_at=T0 + timedelta(hours=1)))
    mixed = filter_traces(graded_db, min_judge_scores={"primary": primary(15)},
                          mix={"share": 0.9, "min_judge_scores": {}})
    assert "late" not in [k.session_id for k in mixed.kept]
    assert mixed.stats["mix"]["all"]["available"] == 15   # the 15 scored ones below the threshold
    assert "late" not in kept(graded_db, max_judge_scores={"primary": 1.0})
    assert "late" in kept(graded_db, min_judge_scores={"quality": 0.5})   # its metadata score


def test_scores_outside_0_1_land_in_the_end_bins(graded_db):
    with TraceWriter.open(graded_db) as writer:
        for name, quality in (("low", -0.5), ("high", "1e308")):
            session = make_session(name, created_at=T0 + timedelta(hours=1))
            writer.write_session(attrs.evolve(session, metadata={**session.metadata, "judge_scores": {"quality": quality}}))
    histogram = filter_traces(graded_db, min_judge_scores={"quality": 0.0}).stats["histograms"]["quality"]
    assert histogram["counts"][0] == 1 and histogram["counts"][-1] == 1 and histogram["missing"] == 0


def test_the_mix_can_be_kept_within_each_group(graded_db):
    result = filter_traces(graded_db, min_judge_scores={"primary": primary(16)}, stratify_by="split",
                           mix={"share": 0.5, "min_judge_scores": {}})
    assert result.stats["mix"] == {"test": {"high": 2, "wanted": 2, "available": 8, "drawn": 2},
                                   "train": {"high": 1, "wanted": 1, "available": 8, "drawn": 1}}
    mixed = {k.session_id: k.metadata["task_split"] for k in result.kept if k.mixed_in}
    assert sorted(mixed.values()) == ["test", "test", "train"]


def test_the_mix_can_be_kept_within_each_task(graded_db):
    result = filter_traces(graded_db, min_judge_scores={"primary": primary(16)}, stratify_by="task_id",
                           mix={"share": 0.5, "min_judge_scores": {}})
    # above the threshold: s16, s17 (task a) and s19 (task b); below it, eight sessions of each task
    assert result.stats["mix"] == {"a": {"high": 2, "wanted": 2, "available": 8, "drawn": 2},
                                   "b": {"high": 1, "wanted": 1, "available": 8, "drawn": 1}}
    mixed = sorted(k.metadata["task_id"] for k in result.kept if k.mixed_in)
    assert mixed == ["a", "a", "b"]


def test_a_mix_wanting_more_than_the_lower_band_holds_draws_all_it_has(graded_db):
    result = filter_traces(graded_db, min_judge_scores={"primary": primary(10)},
                           mix={"share": 0.5, "min_judge_scores": {"primary": primary(8)}})
    high = [i for i in USABLE if i >= 10]
    assert result.stats["mix"] == {"all": {"high": len(high), "wanted": len(high), "available": 2, "drawn": 2}}
    assert sorted(k.session_id for k in result.kept if k.mixed_in) == ids([8, 9])
    assert [k.session_id for k in result.kept if not k.mixed_in] == ids(high)
    assert result.stats["sessions"]["rejected"] == {"min_judge_scores.primary": 8, "status": 1}


@pytest.mark.parametrize(("keys", "rejected", "kept_ids"), [
    ({"offset": 3}, {"offset": 3}, USABLE[3:]),
    ({"max_sessions": 10}, {"max_sessions": len(USABLE) - 10}, USABLE[:10]),
    ({"offset": 3, "max_sessions": 10}, {"offset": 3, "max_sessions": len(USABLE) - 13}, USABLE[3:13]),
    ({"offset": 25}, {"offset": len(USABLE)}, []),   # never more than there were
    ({"max_sessions": 25}, {}, USABLE),
])
def test_offset_and_max_sessions_count_the_sessions_they_cut(graded_db, keys, rejected, kept_ids):
    result = filter_traces(graded_db, **keys)
    assert [k.session_id for k in result.kept] == ids(kept_ids)
    assert result.stats["sessions"]["rejected"] == {**rejected, "status": 1}
    assert result.stats["sessions"]["kept"] + sum(result.stats["sessions"]["rejected"].values()) == N


def test_val_split_holds_out_whole_sessions_by_seed(graded_db):
    result = filter_traces(graded_db, val_fraction=0.25, seed=3)
    val = {k.session_id for k in result.kept if k.part == "val"}
    assert len(val) == round(0.25 * len(USABLE))
    assert val == {k.session_id for k in filter_traces(graded_db, val_fraction=0.25, seed=3).kept if k.part == "val"}


@pytest.mark.parametrize(("keys", "message"), [
    ({"min_judge_scores": {"nope": 0.5}}, "filter.min_judge_scores.nope: no session has a judge score 'nope' "
     "(known keys: RubricHalf, RubricHalf.half, RubricTarget, RubricTarget.target, primary, quality)"),
    ({"min_judge_scores": {"primary": 1.2}}, "filter.min_judge_scores.primary is 1.2: judge scores lie between 0 and 1"),
    ({"min_judge_scores": {"primary": float("nan")}}, "filter.min_judge_scores.primary must be a number between 0 and 1, not nan"),
    ({"max_judge_scores": {"primary": "high"}}, "filter.max_judge_scores.primary must be a number between 0 and 1, not 'high'"),
    ({"min_judge_scores": {"primary": 0.8}, "max_judge_scores": {"primary": 0.2}},
     "filter.min_judge_scores.primary (0.8) is above filter.max_judge_scores.primary (0.2): nothing can pass"),
    ({"min_official_score": 3, "max_official_score": 1}, "filter.min_official_score is above filter.max_official_score"),
    ({"min_official_score": float("inf")}, "filter.min_official_score must be a number, not inf"),
    ({"judge_model": "gpt-4o"}, "filter.judge_model: judge model 'gpt-4o' has no judge results in this DB "
     "(no LLM judge graded it; code criteria count without choosing a judge)"),
    ({"offset": -1}, "filter.offset must be a whole number >= 0, not -1"),
    ({"limit": 0}, "filter.limit must be a whole number > 0, not 0"),
    ({"val_fraction": 1}, "filter.val_fraction must be at least 0 and below 1, not 1"),
    ({"shuffle_seed": 3}, "filter.shuffle_seed is set but filter.shuffle is false"),
    ({"mix": {"share": 0.2, "min_judge_scores": {}}}, "filter.mix.share needs filter.min_judge_scores"),
    ({"stratify_by": "model"}, "filter.stratify_by must be one of task_id, split, not 'model'"),
    ({"granularity": "turn"}, "filter.granularity must be one of call, session, not 'turn'"),
    ({"metadata": 1}, "filter.metadata must be true, false or separate, not 1"),
    ({"metadata": "beside"}, "filter.metadata must be true, false or separate, not 'beside'"),
    ({"min_created_at": "last week"}, "filter.min_created_at must be an ISO-8601 time"),
    ({"min_created_at": "2026-05-02", "max_created_at": "2026-05-01"},
     "filter.min_created_at is after filter.max_created_at: nothing can pass"),
    ({"min_judge_scores": {"primary": 0.5}, "mix": {"share": 0.2, "min_judge_scores": {"primary": 0.6}}},
     "filter.mix.min_judge_scores.primary (0.6) is above filter.min_judge_scores.primary: "
     "the lower band would be empty"),
    ({"stratify_by": "split"}, "filter.stratify_by applies to the mix: set filter.mix.share too"),
    ({"mix": {"share": 0.2, "min_judge_scores": {}, "floor": 0.1}},
     "filter.mix takes share and min_judge_scores, not {'share': 0.2, 'min_judge_scores': {}, 'floor': 0.1}"),
    ({"mix": 0.2}, "filter.mix takes share and min_judge_scores, not 0.2"),
    ({"colour": "red"}, "colour is not a filter key"),
    ({"splits": ["train", "tset"]}, "filter.splits: no session has task_split 'tset' (known: test, train)"),
    ({"task_ids": ["z"]}, "filter.task_ids: no session has task_id 'z' (known: "),
    ({"models": ["gpt-5"]}, "filter.models: no session has model 'gpt-5' (known: m1, m2)"),
])
def test_bad_values_are_one_clear_error(graded_db, keys, message):
    with pytest.raises(SynthkitError) as caught:
        filter_traces(graded_db, **keys)
    assert str(caught.value).startswith(message)


def test_the_scores_of_a_chosen_judge_count_and_stale_versions_are_reported(tmp_path):
    from tests.traces.test_scores import add_scores   # RubricA v2 by judge-a and judge-b, v1 stale

    db = tmp_path / "two_judges.db"
    with TraceWriter.open(db, create=True) as writer:
        for number, name in enumerate(("s1", "s2")):
            writer.write_session(make_session(name, created_at=T0 + timedelta(minutes=number)))
        add_scores(writer)
    latest = filter_traces(db, min_judge_scores={"RubricA": 0.6})
    assert [k.session_id for k in latest.kept] == ["s2"] and latest.stats["judge_model"] == "judge-b"
    chosen = filter_traces(db, min_judge_scores={"RubricA": 0.6}, judge_model="judge-a")
    assert [k.session_id for k in chosen.kept] == ["s1"] and chosen.stats["judge_model"] == "judge-a"
    assert chosen.kept[0].scores == {"RubricA": 0.9}
    assert chosen.stats["stale"] == ["RubricA: scores of 1 older version(s) ignored (v1 on 1 sessions)"]


def test_created_at_bounds_in_epoch_seconds(graded_db):
    start = (T0 + timedelta(minutes=5)).timestamp()
    assert kept(graded_db, min_created_at=start, max_created_at=start + 120.5) == ids([5, 6, 7])
    assert kept(graded_db, min_created_at=str(start)) == ids(i for i in USABLE if i >= 5)


@pytest.mark.parametrize(("change", "keys", "problem"), [
    ("UPDATE session_traces SET metadata = substr(metadata, 2) WHERE session_id = 's03'", {},
     "its metadata is not a JSON object: "),
    ("""UPDATE session_traces SET metadata = json_set(metadata, '$.status', json('{"code": 1}'))
        WHERE session_id = 's03'""", {}, 'its metadata.status is not text: {"code": 1}'),
    ("UPDATE outcome_rewards SET total_reward = 'n/a' WHERE session_id = 's03'", {},
     "its outcome's total_reward is not a number: 'n/a'"),
    ("UPDATE session_traces SET created_at = 'yesterday' WHERE session_id = 's03'", {"min_created_at": 0},
     "created_at is not a date-time: 'yesterday'"),
    ("UPDATE session_traces SET created_at = '1e20' WHERE session_id = 's03'", {"min_created_at": 0},
     "created_at is not a date-time: 1e+20"),  # the column's affinity made it a number
])
def test_a_session_row_that_cannot_be_read_is_named_not_skipped(graded_db, change, keys, problem):
    with contextlib.closing(sqlite3.connect(graded_db)) as conn, conn:
        conn.execute(change)
    with pytest.raises(TraceDBError) as caught:
        filter_traces(graded_db, **keys)
    assert str(caught.value).startswith(f"{graded_db}: session s03 cannot be read: {problem}")
