"""Token estimates for chat examples, as OpenAI counts them for fine-tuning.

tiktoken's `o200k_base` (the gpt-4o family's encoding) from the files litellm bundles, so no
download is needed; where those cannot be loaded, about four characters a token. Either way it
is an estimate: images count a flat 85 tokens (low detail), and the encoding used is reported.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["count_tokens", "estimator"]

IMAGE_TOKENS = 85
PER_MESSAGE = 3  # OpenAI's framing of each message; 3 more prime the reply


@functools.cache
def _encoder() -> tuple[str, Callable[[str], int]]:
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations and "TIKTOKEN_CACHE_DIR" not in os.environ:
        bundled = Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers"
        if bundled.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
    except Exception:  # no tiktoken or no encoding file offline: fall back, and say so
        return "characters/4", lambda text: (len(text) + 3) // 4
    return "o200k_base", lambda text: len(encoding.encode(text, disallowed_special=()))


def estimator() -> str:
    """The name of the estimate in use (reported in stats)."""
    return _encoder()[0]


def _texts(content: Any, texts: list[str]) -> int:
    """Collect the text of one message's content; returns the flat tokens it adds (images)."""
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        images = 0
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, Mapping) and part.get("type") in ("image_url", "input_image"):
                images += IMAGE_TOKENS
            else:
                texts.append(json.dumps(part, ensure_ascii=False))
        return images
    elif content is not None:
        texts.append(json.dumps(content, ensure_ascii=False))
    return 0


def count_tokens(example: Mapping[str, Any]) -> int:
    """Tokens of one example: its messages, tool calls and the tools offered (the text is
    encoded in one piece, a message per line: close to the sum of the parts, much faster)."""
    count = _encoder()[1]
    total = PER_MESSAGE
    texts: list[str] = []
    for message in example.get("messages") or ():
        if not isinstance(message, Mapping):
            continue
        total += PER_MESSAGE
        texts.append(str(message.get("role", "")))
        total += _texts(message.get("content"), texts)
        if message.get("name"):
            texts.append(str(message["name"]))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                texts.append(str(function.get("name", "")))
                texts.append(str(function.get("arguments", "")))
    if example.get("tools"):
        texts.append(json.dumps(example["tools"], ensure_ascii=False))
    return total + count("\n".join(texts))
