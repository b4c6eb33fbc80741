"""The example rubrics synthkit ships, on traces synth-ai's tracer wrote."""

from __future__ import annotations

import attrs

from synthkit import Outcome, TraceStore, grade
from synthkit.resources import default_dir
from synthkit.rubrics.discovery import collect
from tests.conftest import SYNTH_AI_DB


def test_the_example_rubrics_grade_synth_ai_crafter_traces_without_errors():
    collection = collect([str(default_dir("rubrics"))])
    assert collection.errors == ()
    with TraceStore.open(SYNTH_AI_DB) as store:
        results = [grade(session, collection.rubrics) for session in store.sessions()]
    assert len(results) == 60
    for result in results:
        for rubric in result.rubrics:
            assert not [c for c in rubric.criteria if c.outcome is Outcome.ERROR], rubric
            assert rubric.primary is None or 0 <= rubric.primary <= 1
    outcome = [r["RubricCrafterOutcome"] for r in results]
    assert all(r["achievement_progression"].outcome is not Outcome.SKIPPED for r in outcome)
    assert len({r.primary for r in outcome}) > 10          # the scores discriminate
    decisions = [r["RubricCrafterDecisions"]["achievement_unlocks"] for r in results]
    assert sum(d.outcome is Outcome.SKIPPED for d in decisions) == 2   # the prompt/completion sessions


def test_the_chat_rubric_on_a_conversation_without_a_final_answer_and_not_on_an_episode():
    with TraceStore.open(SYNTH_AI_DB) as store:
        episode = next(s for s in store.sessions() if s.metadata.get("fixture_case") == "no_final_assistant")
    chat = attrs.evolve(episode, metadata={k: v for k, v in episode.metadata.items() if k != "env_name"})
    rubric = [r for r in collect([str(default_dir("rubrics"))]).rubrics if r.id == "RubricChatToolUse"]
    result = grade(chat, rubric)["RubricChatToolUse"]
    assert result["has_final_answer"].outcome is Outcome.FAILED
    assert result.primary == 0.0
    skipped = grade(episode, rubric)["RubricChatToolUse"]  # a Crafter episode: its own rubrics grade it
    assert skipped.primary is None and {c.outcome for c in skipped.criteria} == {Outcome.SKIPPED}
