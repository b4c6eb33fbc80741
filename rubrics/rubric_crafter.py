"""Crafter rubrics with the criteria and weights of synth-ai's Crafter task app.

Facts the trace records (achievements, final inventory and vitals, which step unlocked what)
are code criteria; what needs judgement (why a run failed, how well a move sets up the next
milestone) is left to an LLM judge. Copy this file into your project's `rubrics/` and edit it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from synthkit import (
    Event,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Rubric,
    Session,
    Timestep,
    ToolCall,
    criterion,
    example,
    judge,
    mark,
    skip,
)

# Achievement tiers: early tasks count lightly, mid-tier crafting more, late-game unlocks most.
TIER_POINTS = {
    **dict.fromkeys(["collect_wood", "collect_sapling", "place_plant", "collect_drink", "eat_cow",
                     "eat_plant", "wake_up", "place_table", "make_wood_pickaxe",
                     "make_wood_sword"], 1),
    **dict.fromkeys(["collect_stone", "place_stone", "make_stone_pickaxe", "make_stone_sword",
                     "collect_coal", "defeat_zombie", "defeat_skeleton"], 2),
    **dict.fromkeys(["collect_iron", "place_furnace", "make_iron_pickaxe", "make_iron_sword",
                     "collect_diamond"], 4),
}
STRONG_RUN_POINTS = 12  # e.g. four early unlocks, two mid-tier and one late-game
VITALS = ("health", "food", "drink", "energy")


def is_crafter(trace) -> bool:
    return trace.metadata.get("env_name") == "crafter" or \
        str(trace.metadata.get("task_id", "")).startswith("crafter")


def states(trace) -> list[dict[str, Any]]:
    """The environment's state after each step, in order (as Crafter task apps record it)."""
    return [e.state_after for e in trace.events
            if e.type is EventType.ENVIRONMENT and isinstance(e.state_after, dict)]


def final_state(trace) -> dict[str, Any]:
    found = states(trace)
    if not found:
        skip("the trace records no environment state")
    return found[-1]


@mark.crafter
class RubricCrafterOutcome(Rubric):
    """How far a Crafter episode got: the achievement ladder climbed, resources stockpiled
    (wood above all), and whether the agent finished alive and understood any failure."""

    def applies(self, trace) -> bool:
        return is_crafter(trace)

    @criterion(weight=0.35)
    def achievement_progression(self, trace):
        if trace.outcome is None:
            skip("no outcome reward recorded")
        points = sum(TIER_POINTS.get(a, 1) for a in set(trace.outcome.achievements))
        return min(points / STRONG_RUN_POINTS, 1.0)

    @criterion(weight=0.2)
    def resource_stockpile(self, trace):
        inventory = final_state(trace).get("inventory") or {}
        wood = min(inventory.get("wood", 0), 6) / 6
        support = (min(inventory.get("stone", 0), 4) / 4 + min(inventory.get("coal", 0), 2) / 2
                   + min(inventory.get("iron", 0), 1)) / 3
        return 0.6 * wood + 0.4 * support

    @criterion(weight=0.2)
    def survival_state(self, trace):
        state = final_state(trace)
        if state.get("health", 9) <= 0:
            return 0.0
        return sum(min(max(state.get(v, 9), 0), 9) for v in VITALS) / (9 * len(VITALS))

    @judge(weight=0.15, anchors={0: "died or timed out with no idea why",
                                 1: "survived, or named the cause and mitigated the risk"})
    def failure_analysis(self):
        """If the run ends in death or timeout, clearly identify the cause and deduct unless the
        agent mitigated risk; highlight when the agent survives despite danger."""

    @judge(weight=0.1)
    def future_readiness(self):
        """How prepared is the agent for the next objectives (tools crafted, shelters, furnaces,
        smelted materials), and does the inventory support further progress?"""


@mark.crafter
class RubricCrafterDecisions(Rubric):
    """Each decision scored by the concrete achievement progress it delivers: full marks for a
    fresh unlock, routine upkeep near zero."""

    def applies(self, trace) -> bool:
        return is_crafter(trace)

    @criterion(weight=0.55)
    def achievement_unlocks(self, trace):
        found = states(trace)
        if not found:
            skip("the trace records no environment state")
        scores, seen, stock = [], set(), 0
        for state in found:
            unlocked = set(state.get("achievements_unlocked") or ())
            held = sum((state.get("inventory") or {}).values())
            scores.append(1.0 if unlocked - seen else 0.4 if held > stock else 0.1)
            seen |= unlocked
            stock = held
        return sum(scores) / len(scores)

    @judge(weight=0.2)
    def milestone_setup(self):
        """Give 0.5-0.7 to decisions that complete the last prerequisite for a specific upcoming
        achievement (the final ore before smelting, sticks right before a tool); keep <= 0.3
        when the progress is speculative or still several steps away."""

    @judge(weight=0.15)
    def inventory_depth(self):
        """Reward 0.3-0.5 for pulls that clearly deepen critical buffers (fuel, food, ore) and
        unblock the next milestone; stay at <= 0.2 when resources are already plentiful or the
        haul is generic filler."""

    @judge(weight=0.1)
    def execution_quality(self):
        """Up to 0.1 for clean, legal execution that avoids wasted turns; 0 whenever the agent
        idles, repeats failed moves, or takes damage without compensating progress."""


@mark.crafter
@mark.parametrize("target", ["collect_wood", "make_wood_pickaxe", "collect_iron"])
class RubricCrafterReaches(Rubric):
    """Whether the episode unlocked one target achievement (one rubric per target)."""

    weight = 0.5

    def applies(self, trace) -> bool:
        return is_crafter(trace)

    @criterion(required=True)
    def reached(self, trace):
        if trace.outcome is None:
            skip("no outcome reward recorded")
        return self.target in trace.outcome.achievements


# -- golden examples --------------------------------------------------------------------------

def crafter_episode(name: str, steps: list[dict[str, Any]], *, died: bool = False) -> Session:
    """A small Crafter trace: each step is `{"actions": [...], "unlock": [...], "inventory": {...},
    "vitals": {...}}`, recorded as a decision (LM call) and an environment step."""
    t0 = datetime(2000, 1, 1, tzinfo=UTC)
    timesteps, events, unlocked = [], [], []
    for i, step in enumerate(steps):
        step_id = f"decision_{i}"
        unlocked += step.get("unlock", [])
        call = ToolCall(name="interact", arguments=json.dumps({"actions": step["actions"]}))
        vitals = {v: 9 for v in VITALS} | step.get("vitals", {})
        timesteps.append(Timestep(step_id=step_id, index=i, turn=i))
        events += [
            Event(type=EventType.LM_CALL, step_id=step_id, lm_calls=(LMCall(
                model="example", input_messages=(Message("user", f"observation {i}"),),
                tool_calls=(call,)),)),
            Event(type=EventType.ENVIRONMENT, step_id=step_id, reward=float(len(step.get("unlock", []))),
                  state_after={**vitals, "inventory": step.get("inventory", {}),
                               "achievements_unlocked": list(unlocked)}),
        ]
    outcome = OutcomeReward(total_reward=float(len(unlocked)) - (1.0 if died else 0.0),
                            achievements_count=len(unlocked), total_steps=len(steps),
                            achievements=tuple(unlocked))
    return Session(session_id=f"example:{name}", created_at=t0,
                   metadata={"env_name": "crafter", "task_id": "crafter_classic"},
                   timesteps=tuple(timesteps), events=tuple(events), outcome_rewards=(outcome,))


STRONG = crafter_episode("strong", [
    {"actions": ["move_left", "do"], "unlock": ["collect_wood"], "inventory": {"wood": 2}},
    {"actions": ["do", "do"], "inventory": {"wood": 6}},
    {"actions": ["place_table"], "unlock": ["place_table"], "inventory": {"wood": 5}},
    {"actions": ["make_wood_pickaxe"], "unlock": ["make_wood_pickaxe"], "inventory": {"wood": 4, "wood_pickaxe": 1}},
    {"actions": ["move_up", "do"], "unlock": ["collect_stone"], "inventory": {"wood": 4, "stone": 4, "wood_pickaxe": 1}},
    {"actions": ["do"], "unlock": ["collect_coal"], "inventory": {"wood": 4, "stone": 4, "coal": 2, "wood_pickaxe": 1}},
    {"actions": ["make_stone_pickaxe"], "unlock": ["make_stone_pickaxe"],
     "inventory": {"wood": 3, "stone": 3, "coal": 2, "stone_pickaxe": 1}, "vitals": {"food": 7}},
])
DIED = crafter_episode("died", [
    {"actions": ["do"], "unlock": ["collect_wood"], "inventory": {"wood": 1}},
    {"actions": ["noop"], "inventory": {"wood": 1}, "vitals": {"health": 3}},
    {"actions": ["noop"], "inventory": {"wood": 1}, "vitals": {"health": 0}},
], died=True)
CHAT = dict(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])

RubricCrafterOutcome.examples = [
    example("a strong run", session=STRONG, criteria={
        "achievement_progression": 0.75,  # three early unlocks (1 point each), three mid-tier (2 each): 9 of 12
        "resource_stockpile": (0.5, 0.6), "survival_state": (0.9, 1.0)}),
    example("death after one unlock", session=DIED, primary=(0.0, 0.2), criteria={
        "achievement_progression": (0.08, 0.09), "survival_state": 0.0}),
    example("a chat trace is not graded", **CHAT, criteria={"achievement_progression": "skipped"}),
]
RubricCrafterDecisions.examples = [
    example("a strong run unlocks on most steps", session=STRONG, criteria={"achievement_unlocks": (0.85, 0.95)}),
    example("idling scores near zero", session=DIED, criteria={"achievement_unlocks": (0.35, 0.45)}),
]
RubricCrafterReaches.examples = [
    example("wood is reached", session=DIED, only=["RubricCrafterReaches-collect_wood"],
            criteria={"reached": "passed"}),
    example("a pickaxe is reached", session=STRONG, only=["RubricCrafterReaches-make_wood_pickaxe"],
            criteria={"reached": "passed"}),
    example("without the pickaxe the primary is 0", session=DIED, only=["RubricCrafterReaches-make_wood_pickaxe"],
            primary=0.0, criteria={"reached": "failed"}),
    example("iron is out of reach", session=STRONG, only=["RubricCrafterReaches-collect_iron"],
            primary=0.0),
]
