"""A fast OpenAI-compatible chat server with a fixed latency per answer, for benchmarks.

One asyncio loop (aiohttp), so the server's own cost per request stays well under a
millisecond and the measured throughput is the client's. It answers every criterion the
request's JSON schema names with a fixed score. Prints its API base, serves until stdin closes.
Run: python bench/latency_server.py --latency 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiohttp import web


def criteria(request: dict) -> list[str]:
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    return list(schema.get("properties") or ["score"])


async def serve(latency: float) -> None:
    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(latency)
        content = json.dumps({name: {"reasoning": "bench", "score": 0.8} for name in criteria(body)})
        return web.json_response({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", complete)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    asyncio.run(serve(parser.parse_args().latency))
