"""What the judge and the policy share when they call a provider through litellm."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from synthkit.providers import completion_params, load_litellm, priced, response_cost
from tests.judge_server import JudgeServer


def test_a_model_without_a_price_costs_nothing_and_says_so_call_after_call():
    litellm = load_litellm()
    model = f"openai/unpriced-{uuid.uuid4().hex[:8]}"
    assert priced(model) is False
    assert litellm.model_cost[model]["input_cost_per_token"] == 0   # litellm stops hunting for a price
    with JudgeServer() as server:
        for _ in range(2):
            response = litellm.completion(**completion_params(
                model, [{"role": "user", "content": "Grade this."}], max_tokens=50, timeout_s=10,
                temperature=0, api_base=server.api_base, api_key_env=None, placeholder=True))
            assert response_cost(response, model) == (0.0, False)
    assert priced("gpt-4o-mini") is True


def test_a_price_litellm_found_for_the_model_that_answered_is_kept():
    class Response:  # a proxy's alias, answered by a model litellm knows
        _hidden_params = {"response_cost": 0.00075}

    model = f"openai/alias-{uuid.uuid4().hex[:8]}"
    assert priced(model) is False
    assert response_cost(Response(), model) == (0.00075, True)


def test_a_bare_model_name_without_a_price_is_not_registered():
    name = f"unpriced-{uuid.uuid4().hex[:8]}"   # registering it would tell litellm a provider for it
    assert priced(name) is False
    assert name not in load_litellm().model_cost


@pytest.mark.parametrize("setup", ["own_process()", "own_process(); import litellm", ""],
                         ids=["synthkit's own process", "litellm imported before it is loaded", "a caller's process"])
def test_litellm_is_frozen_out_of_garbage_collection_only_in_a_process_of_synthkit_s_own(setup):
    script = (f"import gc; from synthkit.providers import own_process, load_litellm; {setup or 'pass'}\n"
              "before = gc.get_freeze_count(); load_litellm()\n"
              "print(before, gc.get_freeze_count() - before)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    before, added = map(int, done.stdout.split())
    if setup:
        assert before > 0 and added > 100_000   # litellm's objects, frozen when it was loaded
    else:
        assert (before, added) == (0, 0)


@pytest.mark.parametrize("header, wait", [("7", 7.0), ("in-the-future", None), ("+30s", None)])
def test_retry_after_in_seconds_is_honoured_and_nonsense_falls_back_to_backoff(header, wait):
    from synthkit.providers import backoff_delay

    class RateLimited(Exception):
        litellm_response_headers = {"retry-after": header}

    delay = backoff_delay(RateLimited(), attempt=1, base_s=0.01)
    assert delay == wait if wait is not None else 0.005 <= delay <= 0.015


def test_retry_after_as_an_http_date_waits_until_then():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from synthkit.providers import backoff_delay

    class RateLimited(Exception):
        litellm_response_headers = {"retry-after": format_datetime(
            datetime.now(UTC) + timedelta(seconds=30), usegmt=True)}

    assert 28 <= backoff_delay(RateLimited(), attempt=1, base_s=0.01) <= 30
