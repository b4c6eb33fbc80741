"""A local synth-ai style task app for `task=taskapp` tests.

It answers GET /health, GET /task_info and POST /rollout (checking `X-API-Key` when it has a
key), and returns traces the way real apps serialise them: datetimes as Python reprs, events
without `event_type`, steps repeating the history's items, and the policy's turns as
`policy_system_prompt` / `policy_user_prompt` / `policy_tool_call` messages. The reward of
seed s is s / 10; `garbage_seeds` answer with text that is not JSON.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_server import LocalServer

RUBRIC = {"outcome": {"name": "Outcome", "criteria": [
              {"id": "achievements", "description": "Unlocks many distinct achievements.", "weight": 2.0}]},
          "events": {"name": "Events", "criteria": [
              {"id": "purposeful-moves", "description": "Each move serves the current goal."}]}}


def _time(second: int) -> str:
    return f"datetime.datetime(2025, 10, 31, 12, 0, {second}, 250000, tzinfo=datetime.timezone.utc)"


def structured_trace(seed: int, request: dict[str, Any]) -> dict[str, Any]:
    model = request["policy"]["config"]["model"]
    system = {"content": {"text": "You play Crafter.", "json_payload": {"role": "system", "text": "You play Crafter.",
                                                                         "content": "You play Crafter."}},
              "message_type": "policy_system_prompt", "time_record": {"event_time": 1.0, "message_time": 0},
              "metadata": {"turn": 0}}
    user = {"content": {"text": f"seed {seed}: a tree is north", "json_payload": {
                "role": "user", "text": f"seed {seed}: a tree is north", "content": f"seed {seed}: a tree is north"}},
            "message_type": "policy_user_prompt", "time_record": {"event_time": 1.1, "message_time": 1},
            "metadata": {"turn": 0}}
    tool = {"content": {"text": json.dumps([{"tool_name": "interact", "arguments": {"actions": ["move_up", "do"]}}]),
                        "json_payload": None},
            "message_type": "policy_tool_call", "time_record": {"event_time": 1.2, "message_time": 2},
            "metadata": {"turn": 0}}
    lm_event = {"system_instance_id": "crafter-react-agent", "time_record": {"event_time": 1.15, "message_time": None},
                "metadata": {}, "event_metadata": None, "model_name": model, "provider": "openai",
                "input_tokens": 120, "output_tokens": 12, "total_tokens": 132, "cost_usd": None, "latency_ms": 300,
                "span_id": None, "trace_id": None, "call_records": [{
                    "call_id": f"call-{seed}", "api_type": "chat_completions", "provider": "openai",
                    "model_name": model, "started_at": _time(1), "completed_at": _time(2), "latency_ms": 300,
                    "request_params": {"temperature": 0.2, "max_tokens": 256,
                                       "tool_config": {"tools": [{"type": "function", "function": {
                                           "name": "interact", "parameters": {"type": "object"}}}]}},
                    "input_messages": [
                        {"role": "system", "parts": [{"type": "text", "text": "You play Crafter."}]},
                        {"role": "user", "parts": [{"type": "text", "text": f"seed {seed}: a tree is north"}]}],
                    "output_messages": [{"role": "assistant", "parts": [{"type": "text", "text": ""}],
                                         "metadata": {"tool_calls": [{"id": "t1", "type": "function", "function": {
                                             "name": "interact", "arguments": '{"actions": ["move_up", "do"]}'}}]}}],
                    "output_tool_calls": [{"name": "interact", "arguments_json": '{"actions": ["move_up", "do"]}',
                                           "call_id": "t1", "index": 0}],
                    "usage": {"input_tokens": 120, "output_tokens": 12, "total_tokens": 132},
                    "finish_reason": "tool_calls", "outcome": "success"}]}
    env_event = {"system_instance_id": "crafter-env", "time_record": {"event_time": 1.3, "message_time": None},
                 "metadata": {"actions": ["move_up", "do"]}, "event_metadata": None,
                 "reward": seed / 10, "terminated": True, "truncated": False,
                 "system_state_before": {"health": 9}, "system_state_after": {"health": 9, "inventory": {"wood": 1}}}
    step = {"step_id": "decision_0", "step_index": 0, "timestamp": _time(0), "turn_number": 0,
            "events": [lm_event, env_event], "markov_blanket_messages": [system, user, tool],
            "step_metadata": {}, "completed_at": _time(3)}
    return {"session_id": f"app-session-{seed}", "created_at": _time(0), "session_time_steps": [step],
            "event_history": [lm_event, env_event], "markov_blanket_message_history": [system, user, tool],
            "metadata": {"final_achievements": ["collect_wood"] if seed else [], "env": "crafter"},
            "session_metadata": None}


class TaskAppServer(LocalServer):
    def __init__(self, key: str | None = None, garbage_seeds: frozenset[int] = frozenset(),
                 task_info: bool = True) -> None:
        self.key, self.garbage_seeds, self.task_info = key, garbage_seeds, task_info
        self.rollouts: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, body: Any, raw: bool = False) -> None:
                data = body.encode() if raw else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def allowed(self) -> bool:
                with server.lock:
                    server.headers.append(dict(self.headers))
                if server.key is not None and self.headers.get("X-API-Key") != server.key:
                    self.send(401, {"detail": "bad key"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self.allowed():
                    return
                if self.path == "/health":
                    self.send(200, {"healthy": True})
                elif self.path.startswith("/task_info") and server.task_info:
                    self.send(200, {"task": {"id": "crafter_classic", "name": "Crafter Classic",
                                             "description": "Survive and unlock achievements."},
                                    "environment": "crafter", "rubric": RUBRIC})
                else:
                    self.send(404, {"detail": "not found"})

            def do_POST(self) -> None:
                if not self.allowed():
                    return
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.rollouts.append(request)
                seed = request["env"]["seed"]
                if seed in server.garbage_seeds:
                    self.send(200, "<html>upstream error</html>", raw=True)
                    return
                self.send(200, {"run_id": request["run_id"], "trajectories": [], "branches": {},
                                "metrics": {"episode_returns": [seed / 10], "mean_return": seed / 10,
                                            "num_steps": 1, "num_episodes": 1},
                                "aborted": False, "ops_executed": 2,
                                "trace": structured_trace(seed, request)})

        self.serve(Handler)

    @property
    def url(self) -> str:
        return self.address
