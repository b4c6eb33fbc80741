"""A rubric for chat and tool-use traces: did the agent answer, were its tool calls well
formed, did it avoid refusal loops. Its golden examples are in rubric_chat_examples.jsonl."""

from __future__ import annotations

import re

from synthkit import Rubric, criterion, examples_from, judge, mark

REFUSAL = re.compile(r"\b(I can(?:['’]|no)t|I am unable|I['’]m unable|I won['’]t|as an AI)\b",
                     re.IGNORECASE)


def offered_tools(trace) -> dict[str, dict]:
    """Tools the agent was offered, by name, with their JSON schema parameters."""
    tools = {}
    for call in trace.lm_calls:
        for tool in call.tools:
            function = tool.get("function", tool)
            tools[function.get("name")] = function.get("parameters") or {}
    return tools


@mark.chat
class RubricChatToolUse(Rubric):
    """The assistant answers the user's request, using tools correctly when it uses them, and
    does not get stuck refusing or repeating itself."""

    def applies(self, trace) -> bool:
        # conversations; an environment's episodes (Crafter, math) end without a final answer
        # by design and have rubrics of their own
        return trace.metadata.get("env_name") is None

    @criterion(weight=0.2, required=True)
    def has_final_answer(self, trace):
        return trace.final_answer is not None

    @judge(weight=0.4, anchors={0: "ignores or misreads the request", 0.5: "partly answers",
                                1: "answers fully and correctly"})
    def answered_request(self):
        """The final answer responds to what the user actually asked, correctly and completely,
        using what the tools returned."""

    @criterion(weight=0.2, applies=lambda trace: bool(trace.tool_calls))
    def tool_calls_well_formed(self, trace):
        """Share of tool calls naming an offered tool, with JSON-object arguments that give
        every required parameter."""
        offered = offered_tools(trace)
        good = 0
        for call in trace.tool_calls:
            arguments = call.parsed_arguments
            if not isinstance(arguments, dict) or (offered and call.name not in offered):
                continue
            required = (offered.get(call.name) or {}).get("required") or []
            good += all(name in arguments for name in required)
        return good / len(trace.tool_calls)

    @criterion(weight=0.2)
    def no_refusal_loops(self, trace):
        """1 without refusals or repeated replies; 0.5 for one refusal; 0 for a loop."""
        replies = [m.text.strip() for m in trace.messages if m.role == "assistant" and m.text.strip()]
        refusals = sum(1 for reply in replies if REFUSAL.search(reply))
        repeated = any(a == b for a, b in zip(replies, replies[1:]))
        if refusals >= 2 or repeated:
            return 0.0
        return 0.5 if refusals else 1.0


RubricChatToolUse.examples = examples_from("rubric_chat_examples.jsonl")
