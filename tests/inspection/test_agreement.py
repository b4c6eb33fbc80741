"""Agreement figures against values worked out by hand on `hand_db`.

Rewards 0, 1, 2, 3; judge A's primaries 0.1, 0.4, 0.35, 0.9; judge B's 0.2, 0.8, 0.3, 0.7.
- Pearson(A, reward): deviations of A -0.3375, -0.0375, -0.0875, 0.4625 and of the reward
  -1.5, -0.5, 0.5, 1.5 give sxy = 1.175, sxx = 0.336875, syy = 5, so r = 1.175 / sqrt(1.684375)
  = 0.905354.
- Spearman(A, reward): ranks 1, 3, 2, 4 against 1, 2, 3, 4, d^2 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8.
- At 0.5, A passes h3 only and B passes h1 and h3: agreement 3/4; chance agreement
  0.25 * 0.5 + 0.75 * 0.5 = 0.5; kappa = (0.75 - 0.5) / (1 - 0.5) = 0.5.
- Rewards scaled to 0, 1/3, 2/3, 1: A's gaps 0.1, 0.0667, 0.3167, 0.1, so h2 disagrees most.
"""

from __future__ import annotations

import math

import pytest

from synthkit import SynthkitError
from synthkit.inspection import query
from synthkit.inspection.agreement import cohen_kappa, pearson, ranks, spearman


def test_the_statistics_match_hand_computed_values():
    rewards, a = [0, 1, 2, 3], [0.1, 0.4, 0.35, 0.9]
    assert pearson(a, rewards) == pytest.approx(1.175 / math.sqrt(0.336875 * 5)) == pytest.approx(0.905354, abs=1e-6)
    assert spearman(a, rewards) == pytest.approx(0.8)
    assert ranks([3, 1, 2, 2, 5]) == [4, 1, 2.5, 2.5, 5]
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(pearson([1, 2.5, 2.5, 4], [1, 2, 3, 4]))
    assert cohen_kappa(both=1, only_a=0, only_b=1, neither=2) == (pytest.approx(0.5), 0.75)


def test_undefined_figures_are_missing_not_zero():
    assert pearson([0.5, 0.5, 0.5], [1, 2, 3]) is None  # a constant score
    assert pearson([0.2], [1]) is None
    assert cohen_kappa(both=3, only_a=0, only_b=0, neither=0) == (None, 1.0)  # both always pass
    assert cohen_kappa(0, 0, 0, 0) == (None, None)


def rows_by(table, column="key"):
    return {row[column]: row for row in table.rows}


def test_correlation_with_rewards_per_key(hand_db):
    tables = query(hand_db, "agreement", judge_model="judge-a")
    correlation = rows_by(tables["correlation"])
    for key in ("primary", "RubricA", "RubricA.plan"):
        assert correlation[key]["sessions"] == 4
        assert correlation[key]["pearson"] == pytest.approx(0.905354, abs=1e-6)
        assert correlation[key]["spearman"] == pytest.approx(0.8)
    assert correlation["primary"]["kind"] == "overall" and correlation["RubricA.plan"]["kind"] == "criterion"
    assert correlation["RubricA.facts"]["sessions"] == 1 and correlation["RubricA.facts"]["pearson"] is None
    assert correlation["quality"]["kind"] == "metadata" and correlation["quality"]["pearson"] is None  # constant
    assert "RubricA@v1" not in correlation  # stale, left out


def test_the_latest_judge_counts_unless_another_is_named(hand_db):
    latest = rows_by(query(hand_db, "agreement")["correlation"])
    b, rewards = [0.2, 0.8, 0.3, 0.7], [0, 1, 2, 3]
    assert latest["primary"]["pearson"] == pytest.approx(pearson(b, rewards))
    assert latest["primary"]["mean_score"] == pytest.approx(0.5)


def test_kappa_between_two_judges(hand_db):
    kappa = rows_by(query(hand_db, "agreement", judges=["judge-a", "judge-b"], threshold=0.5)["kappa"])
    assert set(kappa) == {"primary", "RubricA", "RubricA.plan"}  # code criteria cannot disagree
    row = kappa["primary"]
    assert row["sessions"] == 4 and row["agreement"] == 0.75 and row["kappa"] == pytest.approx(0.5)
    assert row["a_pass_rate"] == 0.25 and row["b_pass_rate"] == 0.5
    assert row["mean_abs_difference"] == pytest.approx((0.1 + 0.4 + 0.05 + 0.2) / 4)
    strict = rows_by(query(hand_db, "agreement", judges=["judge-a", "judge-b"], threshold=0.95)["kappa"])
    assert strict["primary"]["agreement"] == 1.0 and strict["primary"]["kappa"] is None  # nobody passes


def test_the_disagreements_are_the_widest_gaps(hand_db):
    rows = query(hand_db, "agreement", judge_model="judge-a", top=2)["disagreements"].rows
    assert [row["session_id"] for row in rows] == ["h2", "h0"]
    assert rows[0]["reward_scaled"] == pytest.approx(2 / 3) and rows[0]["gap"] == pytest.approx(2 / 3 - 0.35)


def test_error_and_skip_rates_per_criterion(hand_db):
    rates = query(hand_db, "agreement")["rates"].rows
    facts = next(r for r in rates if r["criterion"] == "facts")
    assert (facts["results"], facts["passed"], facts["error"], facts["skipped"]) == (4, 1, 2, 1)
    assert facts["error_rate"] == 0.5 and facts["skip_rate"] == 0.25 and facts["most_common_error"] == "boom"
    assert all(not r["stale"] for r in rates)
    with_stale = query(hand_db, "agreement", include_stale=True)["rates"].rows
    assert [r["results"] for r in with_stale if r["stale"]] == [1]


def test_stale_versions_count_only_when_asked_for_and_under_their_own_key(hand_db):
    correlation = rows_by(query(hand_db, "agreement", judge_model="judge-a", include_stale=True)["correlation"])
    assert correlation["RubricA@v1"]["sessions"] == 1 and correlation["RubricA@v1"]["kind"] == "rubric"
    assert correlation["RubricA@v1.plan"]["kind"] == "criterion"
    assert correlation["primary"]["pearson"] == pytest.approx(0.905354, abs=1e-6)  # v1 never mixes in


@pytest.mark.parametrize(("keys", "fragment"), [
    ({"judges": ["judge-a"]}, "query.judges must name two different judge models"),
    ({"judges": ["judge-a", "judge-c"]}, "query.judges: judge model 'judge-c' has no judge results"),
    ({"key": "nope"}, "query.key.nope: no session has a judge score 'nope'"),
    ({"threshold": 2}, "query.threshold is 2"),
])
def test_mistakes_name_the_key(hand_db, keys, fragment):
    with pytest.raises(SynthkitError, match=fragment):
        query(hand_db, "agreement", **keys)
