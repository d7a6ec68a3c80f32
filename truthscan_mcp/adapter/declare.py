"""Each tool declared where it is defined: one named, frozen spec (title, texts, flags) per tool.

The SDK's examples keep a tool's declaration at its definition; this keeps that without binding
the functions to one server (they stay plain module-level functions, registered on every server
`server.create_server` builds), and names what a positional tuple left to the reader's memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.types import ToolAnnotations

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolSpec:
    """What the model and the host are told about one tool, besides its arguments."""

    function: Callable[..., Any]
    title: str
    #: the description the model reads (from `texts`)
    description: str
    #: reads only: changes nothing anywhere (a detection spends a credit, so it is not)
    read_only: bool
    #: talks to someone outside this process (TruthScan, a URL's host)
    open_world: bool = True
    #: a repeated call does nothing new (export_report writes a new file each time)
    idempotent: bool = True
    #: the evidence view draws its result (the tool carries the view's `_meta`)
    view: bool = False

    @property
    def name(self) -> str:
        return self.function.__name__

    def annotations(self) -> ToolAnnotations:
        """Honest hints: nothing here destroys anything; repeating a call is safe unless the spec
        says otherwise (the content cache makes a repeated detection free)."""
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.read_only,
            destructive_hint=False,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


_SPECS: dict[Callable[..., Any], ToolSpec] = {}


def declare(
    *,
    title: str,
    description: str,
    read_only: bool,
    open_world: bool = True,
    idempotent: bool = True,
    view: bool = False,
) -> Callable[[F], F]:
    """Record the function's `ToolSpec`; the function itself is returned unchanged."""

    def record(function: F) -> F:
        _SPECS[function] = ToolSpec(function, title, description, read_only, open_world, idempotent, view)
        return function

    return record


def spec_of(function: Callable[..., Any]) -> ToolSpec:
    """The spec `declare` recorded for `function` (a tool registered undeclared is a bug)."""
    return _SPECS[function]
