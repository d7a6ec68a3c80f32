"""Tool arguments checked before a tool runs, and refused in this server's own words.

The SDK validates arguments with the tool's pydantic model and answers a mistake with the
library's raw text (and an errors.pydantic.dev link), and it silently ignores arguments a tool
does not take — so a misspelt `pth` detects nothing and says why in nobody's words. A model
fixes a call best when the error names the argument, says what was wrong and what to pass.

The check runs in a `tools/call` interceptor (the SDK's designed hook around the handler), with
the very argument model the SDK builds for the tool, so what passes here passes there too.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension
from mcp.server.mcpserver.resolve import find_resolved_parameters
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata, func_metadata
from mcp.types import CallToolRequestParams, CallToolResult, TextContent
from pydantic import ValidationError
from pydantic_core import ErrorDetails

#: at most this many problems are listed (a model fixes them one call at a time anyway)
_MAX_PROBLEMS = 4


class ArgumentCheck(Extension):
    """Refuses a tool call whose arguments are unknown or invalid, before the tool runs.

    `after_call` (if given) runs after every call that reached a tool, with the tool's name:
    the server uses it to announce history changes without the tools knowing about sessions.
    """

    identifier = "com.truthscan/argument-check"

    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]],
        *,
        after_call: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        # the arguments a model passes: not the context, nor what resolvers fill in
        self._metadata: dict[str, FuncMetadata] = {
            name: func_metadata(fn, skip_names=["ctx", *find_resolved_parameters(fn)])
            for name, fn in tools.items()
        }
        self._after_call = after_call

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        problem = self.problem(params.name, dict(params.arguments or {}))
        if problem is not None:
            return CallToolResult(content=[TextContent(type="text", text=problem)], is_error=True)
        result = await call_next(ctx)
        if self._after_call is not None:
            await self._after_call(params.name)
        return result

    def problem(self, tool: str, arguments: dict[str, Any]) -> str | None:
        """What is wrong with `arguments` for `tool`, in words a model acts on; None when fine
        (and for a tool this check does not know: the SDK answers that one)."""
        metadata = self._metadata.get(tool)
        if metadata is None:
            return None
        fields = metadata.arg_model.model_fields
        schema: dict[str, Any] = metadata.arg_model.model_json_schema().get("properties", {})
        known = list(fields)
        problems = [_unknown(name, known, tool) for name in arguments if name not in fields]
        if not problems:
            try:
                metadata.validate_arguments(arguments)
            except ValidationError as exc:
                seen: set[str] = set()
                for error in exc.errors(include_url=False):
                    where = _argument_of(error)
                    if where[0] in seen:
                        continue
                    seen.add(where[0])
                    problems.append(_explain(error, where, schema.get(where[0], {})))
        if not problems:
            return None
        shown = problems[:_MAX_PROBLEMS]
        more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        head = f"Invalid argument{'s' if len(problems) > 1 else ''} for {tool}"
        takes = f" {tool} takes: {', '.join(known)}." if known else f" {tool} takes no arguments."
        return f"{head}: " + " ".join(shown) + more + takes


def _unknown(name: str, known: list[str], tool: str) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" did you mean '{close[0]}'?" if close else f" {tool} does not take it."
    return f"unknown argument {_quoted(name)}:{hint}"


def _quoted(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return "'" + "".join(ch if ch.isprintable() else "?" for ch in shown) + "'"


def _argument_of(error: ErrorDetails) -> tuple[str, int | None]:
    """The argument an error is about and, for a list, the item (0-based)."""
    loc = error["loc"]
    name = str(loc[0]) if loc else "?"
    item = next((part for part in loc[1:] if isinstance(part, int)), None)
    return name, item


def _got(value: Any) -> str:
    """The rejected value, briefly: the kind of thing, and the value itself when it is short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return f"the text {_quoted(value)}" if len(value) <= 40 else f"a text of {len(value)} characters"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a value of another kind"


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def _expected(schema: dict[str, Any]) -> str:
    """What to pass, from the argument's own JSON schema (the one the tool advertises)."""
    words: list[str] = []
    for branch in _branches(schema):
        kind = branch.get("type")
        if kind == "boolean":
            words.append("true or false")
        elif kind in ("number", "integer"):
            low, high = branch.get("minimum"), branch.get("maximum")
            noun = "a whole number" if kind == "integer" else "a number"
            if low is not None and high is not None:
                words.append(f"{noun} from {low:g} to {high:g}")
            elif low is not None:
                words.append(f"{noun} of at least {low:g}")
            else:
                words.append(noun)
        elif kind == "string":
            words.append("a string")
        elif kind == "array":
            most = branch.get("maxItems")
            words.append("a list of strings" + (f" (at most {most})" if most is not None else ""))
    expected = " or ".join(words) or "a valid value"
    if "default" in schema:
        expected += " (or leave it out)"
    return expected


def _explain(error: ErrorDetails, where: tuple[str, int | None], schema: dict[str, Any]) -> str:
    name, item = where
    subject = f"item {item + 1} of '{name}'" if item is not None else f"'{name}'"
    kind = error["type"]
    context: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    expected = _expected(schema)
    if kind == "missing":
        description = str(schema.get("description", "")).rstrip(".")
        return f"'{name}' is required: pass {description[:1].lower() + description[1:] or expected}."
    if kind in ("greater_than_equal", "greater_than"):
        bound = _got(context.get("ge", context.get("gt")))
        return f"{subject} is {_got(value)}, below the minimum of {bound}: pass {expected}."
    if kind in ("less_than_equal", "less_than"):
        bound = _got(context.get("le", context.get("lt")))
        return f"{subject} is {_got(value)}, above the maximum of {bound}: pass {expected}."
    if kind == "string_too_long":
        size = len(value) if isinstance(value, str) else "too many"
        return f"{subject} is too long ({size} characters; at most {context.get('max_length')})."
    if kind == "too_long":
        size = len(value) if isinstance(value, list) else "too many"  # pyright: ignore[reportUnknownArgumentType]
        return (
            f"{subject} has {size} items, at most {context.get('max_length')} are accepted: "
            "split them over several calls."
        )
    if item is not None:
        return f"{subject} must be a string, not {_got(value)}."
    return f"{subject} must be {expected}, not {_got(value)}."
