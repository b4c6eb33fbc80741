"""Crafter (PyPI `crafter`) as a tool task: the world around the player in words, one tool.

The policy sees the visible area around the player (9 by 7 cells) described as what is where,
relative to the player, plus vitals, inventory, achievements so far and what its last actions
did; it acts by calling `interact` with 1 to `max_actions_per_call` of Crafter's 17 action
names. Each action is one environment step, recorded with the reward Crafter gave, the state
after it, and an event reward per achievement it unlocked. Bad calls (an unknown action, broken
JSON, no call at all) are told back to the policy, never a crash.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import attrs

from synthkit.collect.episode import EpisodeRecorder
from synthkit.collect.task import Observation, first_tool_call
from synthkit.traces.model import EventReward, LMCall, Message, OutcomeReward

__all__ = ["ACTIONS", "CrafterEnvironment", "CrafterState", "CrafterTask"]

ACTIONS = ("noop", "move_left", "move_right", "move_up", "move_down", "do", "sleep", "place_stone",
           "place_table", "place_furnace", "place_plant", "make_wood_pickaxe", "make_stone_pickaxe",
           "make_iron_pickaxe", "make_wood_sword", "make_stone_sword", "make_iron_sword")
VITALS = ("health", "food", "drink", "energy")
VIEW_X, VIEW_Y = 4, 3  # the visible area: 4 cells left and right, 3 up and down
IGNORED = {"grass"}  # everywhere: not worth naming
DIRECTIONS = {(-1, 0): "left", (1, 0): "right", (0, -1): "up", (0, 1): "down"}
SYSTEM_PROMPT = (
    "You play Crafter, a 2D survival game. Survive (keep health, food, drink and energy up: drink "
    "water, eat cows, sleep when tired) and unlock as many achievements as you can: collect wood "
    "from trees, place a table, make a wood pickaxe, collect stone, and so on up to iron and diamonds. "
    "`do` acts on the cell you face (collect, drink, attack); moving towards something you cannot "
    "enter turns you to face it. Act with the interact tool: a list of 1 to {n} actions, done in "
    "order. Actions: " + ", ".join(ACTIONS) + ".")


@attrs.frozen
class CrafterTask:
    max_actions_per_call: int = 5
    task_id: str = "crafter"
    env_name: str = "crafter"

    def environment(self, seed: int, max_steps: int) -> CrafterEnvironment:
        return CrafterEnvironment(seed, max_steps, self.max_actions_per_call)


@attrs.frozen
class CrafterState:
    """What the player can know, structured (scripted policies read this; LLMs read the text)."""

    step: int
    max_steps: int
    vitals: dict[str, int]
    inventory: dict[str, int]  # items held (no vitals), zero counts left out
    achievements: frozenset[str]
    facing: tuple[int, int]
    facing_thing: str
    seen: dict[str, tuple[tuple[int, int], ...]]  # kind -> offsets (dx right, dy down), nearest first


def interact_tool(max_actions: int) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": "interact",
        "description": f"Take 1 to {max_actions} Crafter actions, in order.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["actions"], "properties": {
            "actions": {"type": "array", "minItems": 1, "maxItems": max_actions,
                        "items": {"type": "string", "enum": list(ACTIONS)}}}}}}


def _where(dx: int, dy: int) -> str:
    parts = []
    if dx:
        parts.append(f"{abs(dx)} {'right' if dx > 0 else 'left'}")
    if dy:
        parts.append(f"{abs(dy)} {'down' if dy > 0 else 'up'}")
    return ", ".join(parts) or "here"


@functools.cache
def _seeded_env_class() -> type:
    """Crafter's Env, made to play the same episode for the same seed and actions: upstream picks
    the creature to despawn from a set of objects, whose order follows memory addresses, so the
    same seed gave different episodes from one process to the next."""
    import crafter

    if tuple(crafter.constants.actions) != ACTIONS:
        raise RuntimeError(f"this crafter has other actions than synthkit knows: {crafter.constants.actions}")

    class SeededEnv(crafter.Env):
        def _balance_object(self, chunk: Any, objs: Any, *args: Any, **kwargs: Any) -> Any:
            ordered = sorted(objs, key=lambda obj: (int(obj.pos[0]), int(obj.pos[1])))
            return super()._balance_object(chunk, ordered, *args, **kwargs)

    return SeededEnv


class CrafterEnvironment:
    def __init__(self, seed: int, max_steps: int, max_actions: int) -> None:
        self.seed, self.max_steps, self.max_actions = seed, max_steps, max_actions
        self.env = _seeded_env_class()(seed=seed, length=max_steps)
        self.tools = (interact_tool(max_actions),)
        self.system_prompt = SYSTEM_PROMPT.format(n=max_actions)
        self.steps = 0
        self.total_reward = 0.0
        self.unlocked: list[str] = []
        self.done = False
        self.died = False
        self._names: dict[int, str] = {}

    # -- what the player knows ------------------------------------------------------------------

    def _semantic_names(self) -> dict[int, str]:
        if not self._names:
            view = self.env._sem_view
            self._names = {i: str(name) for name, i in view._mat_ids.items() if name is not None}
            self._names.update({i: cls.__name__.lower() for cls, i in view._obj_ids.items()})
        return self._names

    def _state(self) -> CrafterState:
        player = self.env._player
        names = self._semantic_names()
        grid = self.env._sem_view()
        px, py = (int(v) for v in player.pos)
        seen: dict[str, list[tuple[int, int]]] = {}
        for dx in range(-VIEW_X, VIEW_X + 1):
            for dy in range(-VIEW_Y, VIEW_Y + 1):
                x, y = px + dx, py + dy
                if (dx, dy) == (0, 0) or not (0 <= x < grid.shape[0] and 0 <= y < grid.shape[1]):
                    continue
                name = names.get(int(grid[x, y]), "unknown")
                if name not in IGNORED:
                    seen.setdefault(name, []).append((dx, dy))
        facing = tuple(int(v) for v in player.facing)
        fx, fy = px + facing[0], py + facing[1]
        inside = 0 <= fx < grid.shape[0] and 0 <= fy < grid.shape[1]
        inventory = {k: int(v) for k, v in player.inventory.items()}
        return CrafterState(
            step=self.steps, max_steps=self.max_steps, vitals={v: inventory[v] for v in VITALS},
            inventory={k: v for k, v in inventory.items() if k not in VITALS and v},
            achievements=frozenset(self.unlocked), facing=facing,
            facing_thing=names.get(int(grid[fx, fy]), "unknown") if inside else "the edge of the world",
            seen={kind: tuple(sorted(cells, key=lambda c: (abs(c[0]) + abs(c[1]), c))) for kind, cells in
                  sorted(seen.items())})

    def _text(self, state: CrafterState, last: str | None) -> str:
        vitals = ", ".join(f"{k} {v}/9" for k, v in state.vitals.items())
        held = ", ".join(f"{k} {v}" for k, v in sorted(state.inventory.items())) or "nothing"
        got = ", ".join(sorted(state.achievements)) or "none yet"
        seen = "; ".join(f"{kind} at {_where(*cells[0])}" + (f" (+{len(cells) - 1} more)" if len(cells) > 1 else "")
                         for kind, cells in state.seen.items()) or "only grass"
        lines = [f"Step {state.step} of {state.max_steps}. {vitals.capitalize()}.",
                 f"Inventory: {held}.",
                 f"Achievements so far ({len(state.achievements)}): {got}.",
                 f"You face {DIRECTIONS[state.facing]}: {state.facing_thing}.",
                 f"You see (nearest of each): {seen}."]
        if last:
            lines.append(f"Last turn: {last}")
        return "\n".join(lines)

    def _observe(self, last: str | None) -> Observation:
        state = self._state()
        return Observation(self._text(state, last), state, self.done)

    # -- acting ---------------------------------------------------------------------------------

    def reset(self) -> Observation:
        self.env.reset()
        return self._observe(None)

    def _actions(self, call: LMCall) -> tuple[list[str], list[str], str | None]:
        """The valid actions of the call, the problems to tell the policy, and the tool call id."""
        tool, arguments, problem = first_tool_call(call, "interact")
        call_id = tool.call_id if tool else None
        if problem:
            return [], [problem], call_id
        actions = arguments.get("actions")
        if isinstance(actions, str):
            actions = [actions]
        if not isinstance(actions, list) or not actions:
            return [], ["interact takes a non-empty list of action names in `actions`"], call_id
        valid = [a for a in actions if isinstance(a, str) and a in ACTIONS]
        problems = [f"{a!r} is not an action (ignored)" for a in actions if a not in valid]
        if len(valid) > self.max_actions:
            problems.append(f"only the first {self.max_actions} actions are taken")
            valid = valid[:self.max_actions]
        return valid, problems, call_id

    def _step(self, action: str, recorder: EpisodeRecorder) -> str:
        player = self.env._player
        before = self._snapshot()
        position = tuple(int(v) for v in player.pos)
        _, reward, done, info = self.env.step(ACTIONS.index(action))
        self.steps += 1
        self.total_reward += float(reward)
        fresh = [name for name, count in sorted(info["achievements"].items())
                 if count > 0 and name not in self.unlocked]
        self.unlocked += fresh
        self.died = info["inventory"]["health"] <= 0
        self.done = bool(done)
        after = self._snapshot()
        recorder.environment(
            reward=float(reward), terminated=self.died, truncated=self.done and not self.died,
            state_before=before, state_after=after, metadata={"action": action, "step": self.steps},
            rewards=tuple(EventReward(value=1.0, type="achievement", key=name, source="environment",
                                      annotation={"achievement": name}, turn=len(recorder.timesteps) - 1)
                          for name in fresh))
        return _describe(action, before, after, position, tuple(int(v) for v in player.pos), fresh)

    def _snapshot(self) -> dict[str, Any]:
        inventory = {k: int(v) for k, v in self.env._player.inventory.items()}
        return {**{v: inventory[v] for v in VITALS},
                "inventory": {k: v for k, v in inventory.items() if k not in VITALS},
                "achievements_unlocked": list(self.unlocked), "position": [int(v) for v in self.env._player.pos],
                "step": self.steps}

    def act(self, call: LMCall, recorder: EpisodeRecorder) -> Observation:
        actions, problems, call_id = self._actions(call)
        results = []
        for action in actions:
            if self.done:
                break
            results.append(self._step(action, recorder))
        report = "; ".join([*results, *problems]) or "nothing"
        recorder.message(Message(role="tool", content=report, tool_call_id=call_id, name="interact"))
        return self._observe(report)

    def outcome(self) -> OutcomeReward:
        final = self._snapshot()
        return OutcomeReward(total_reward=round(self.total_reward, 6), achievements_count=len(self.unlocked),
                             total_steps=self.steps, achievements=tuple(self.unlocked),
                             metadata={"final_achievements": list(self.unlocked), "died": self.died,
                                       "env_seed": self.seed, "final_state": final})


def _describe(action: str, before: dict[str, Any], after: dict[str, Any], was: Sequence[int], now: Sequence[int],
              fresh: list[str]) -> str:
    changes = []
    for key in VITALS:
        if after[key] != before[key]:
            changes.append(f"{key} {after[key] - before[key]:+d}")
    for item, count in after["inventory"].items():
        delta = count - before["inventory"].get(item, 0)
        if delta:
            changes.append(f"{item} {delta:+d}")
    if action.startswith("move_"):
        changes.insert(0, "moved" if tuple(now) != tuple(was) else "blocked (now facing that way)")
    changes += [f"unlocked {name}" for name in fresh]
    return f"{action}: {', '.join(changes) or 'nothing happened'}"
