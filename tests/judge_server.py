"""A local OpenAI-compatible chat server for judge and policy tests, scripted per test.

`JudgeServer` answers POST /v1/chat/completions. By default it reads the criteria the judge
asks for from the request's JSON schema and gives each a fixed score; a test replaces `reply`
to script anything else (malformed JSON, out-of-range scores, 429 with Retry-After, 500s,
slow or hanging replies, tool calls for a policy). It counts requests received and answered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs

from tests.local_server import LocalServer


@attrs.define
class Reply:
    content: str | None = None          # the assistant message text (status 200)
    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    delay_s: float = 0.0
    hang: bool = False                  # never answer (until the server stops)
    body: dict[str, Any] | None = None  # an error body for non-200 replies
    tool_calls: list[dict[str, Any]] | None = None  # OpenAI-style tool calls of the assistant message


def requested_criteria(request: dict[str, Any]) -> list[str]:
    fmt = request.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    if schema.get("properties"):
        return list(schema["properties"])
    text = "\n".join(str(m.get("content")) for m in request["messages"])
    marker = "Criteria to grade:"
    names = text.split(marker, 1)[1].split("\n\n", 1)[0] if marker in text else ""
    return [line.strip("- ").split(":")[0] for line in names.splitlines() if line.strip().startswith("-")]


def answer(scores: dict[str, float], reasoning: str = "scripted") -> str:
    return json.dumps({name: {"reasoning": reasoning, "score": s} for name, s in scores.items()})


def default_reply(request: dict[str, Any]) -> Reply:
    return Reply(answer(dict.fromkeys(requested_criteria(request), 0.8)))


class JudgeServer(LocalServer):
    def __init__(self) -> None:
        self.reply: Callable[[dict[str, Any]], Reply] = default_reply
        self.requests: list[dict[str, Any]] = []
        self.answered = 0
        self.lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["headers_key"] = self.headers.get("Authorization")
                with server.lock:
                    server.requests.append(body)
                reply = server.reply(body)
                if reply.hang:
                    server._stop.wait()
                    return
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status == 200:
                    payload = {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                                     "message": {"role": "assistant", "content": reply.content,
                                                 **({"tool_calls": reply.tool_calls} if reply.tool_calls else {})}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    }
                else:
                    payload = reply.body or {"error": {"message": f"scripted {reply.status}",
                                                       "type": "server_error"}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return
                if reply.status == 200:
                    with server.lock:
                        server.answered += 1

        self.serve(Handler)

    @property
    def api_base(self) -> str:
        return f"{self.address}/v1"

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # hanging replies end
        super().__exit__(*exc)


def main() -> None:
    """Serve with a fixed latency per answer until killed (for benchmarks): prints the API base."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    server = JudgeServer()
    server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.8)),
                                         delay_s=args.latency)
    server.httpd.request_queue_size = 1024
    with server:
        print(server.api_base, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    main()
