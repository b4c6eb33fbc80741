"""Token estimates of chat examples: flat image tokens, tools counted, a framing per message, and
about four characters a token where tiktoken cannot be loaded."""

from __future__ import annotations

import json
import sys

import pytest

from synthkit.filtering import tokens
from synthkit.filtering.tokens import IMAGE_TOKENS, PER_MESSAGE, count_tokens, estimator

TOOLS = [{"type": "function", "function": {"name": "interact", "description": "Act in the world.",
                                           "parameters": {"type": "object", "properties": {"actions": {}}}}}]
CALL = {"id": "c1", "type": "function", "function": {"name": "interact", "arguments": '{"actions": ["do"]}'}}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}}
MESSAGES = [
    {"role": "system", "content": "You play a survival game."},
    {"role": "user", "content": "A tree is to your left."},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "You collected wood."},
    {"role": "assistant", "content": "I have wood now."},
]


@pytest.fixture
def no_tiktoken(monkeypatch):
    """tiktoken cannot be imported; the cached encoder is chosen again before and after."""
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)  # restored as it was, whatever _encoder sets
    tokens._encoder.cache_clear()
    yield
    tokens._encoder.cache_clear()


def look(*parts):
    return {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]},
                         {"role": "assistant", "content": "A cat."}]}


@pytest.mark.parametrize("image", [IMAGE, {"type": "input_image", "image_url": "data:x"}])
def test_an_image_adds_its_flat_tokens_whatever_its_size(image):
    assert count_tokens(look(image)) - count_tokens(look()) == IMAGE_TOKENS == 85   # low detail, as OpenAI bills it
    assert count_tokens(look(image, image)) - count_tokens(look()) == 2 * IMAGE_TOKENS


def test_the_tools_offered_are_counted():
    assert count_tokens({"messages": MESSAGES, "tools": TOOLS}) > count_tokens({"messages": MESSAGES})


@pytest.mark.parametrize("size", range(1, len(MESSAGES)))
def test_each_message_adds_at_least_its_framing(size):
    shorter, longer = {"messages": MESSAGES[:size]}, {"messages": MESSAGES[:size + 1]}
    assert count_tokens(longer) - count_tokens(shorter) >= PER_MESSAGE
    empty = {"role": "user", "content": ""}
    assert count_tokens({"messages": [empty] * (size + 1)}) - count_tokens({"messages": [empty] * size}) >= PER_MESSAGE


def test_without_tiktoken_it_is_about_four_characters_a_token(no_tiktoken):
    assert estimator() == "characters/4"
    example = {"messages": [{"role": "user", "content": "hello there"},
                            {"role": "assistant", "content": "hi", "name": "bot"}]}
    text = "user\nhello there\nassistant\nhi\nbot"   # 33 characters: rounded up to 9 tokens
    assert count_tokens(example) == PER_MESSAGE * 3 + (len(text) + 3) // 4
    calls = {"messages": [MESSAGES[1], MESSAGES[2]], "tools": TOOLS}
    text = "\n".join(["user", MESSAGES[1]["content"], "assistant", "interact", CALL["function"]["arguments"],
                      json.dumps(TOOLS, ensure_ascii=False)])
    assert count_tokens(calls) == PER_MESSAGE * 3 + (len(text) + 3) // 4
