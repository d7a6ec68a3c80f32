"""Which room may import which: the package map of CONTRIBUTING.md, checked on the source.

Every module under truthscan_mcp/ is parsed with `ast` (nothing is imported, so no side
effect and no import cycle can hide an edge); every `import` counts, including those inside
functions and `if TYPE_CHECKING:` blocks, because a type-only edge still couples two rooms.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import truthscan_mcp

PACKAGE = Path(truthscan_mcp.__file__).parent

#: what each room may NOT import (a room is a sub-package or a top-level module). Lower rooms
#: know nothing of the ones built on them; the simulator stands alone, like the real API.
PRODUCT_ROOMS = frozenset(
    {
        "models",
        "media",
        "api",
        "detection",
        "evidence",
        "cache",
        "app",
        "adapter",
        "cli",
        "sandbox",
        "provenance",
    }
)
FORBIDDEN: dict[str, frozenset[str]] = {
    "errors": PRODUCT_ROOMS | {"settings", "logs", "redaction"},
    "redaction": PRODUCT_ROOMS | {"settings", "logs", "errors"},
    "logs": PRODUCT_ROOMS | {"settings"},
    "settings": PRODUCT_ROOMS,
    "sanitize": PRODUCT_ROOMS | {"settings", "logs", "errors", "redaction"},
    # reads bytes and says what they declare: knows nothing of where they came from or go to
    "provenance": PRODUCT_ROOMS - {"provenance", "models"} | {"settings", "logs"},
    "media": frozenset({"api", "detection", "evidence", "cache", "app", "adapter", "cli", "sandbox"}),
    "api": frozenset({"detection", "evidence", "cache", "app", "adapter", "cli", "sandbox"}),
    "cache": frozenset({"media", "api", "detection", "evidence", "app", "adapter", "cli", "sandbox"}),
    # the store protocol and its record type live in detection; cache implements them
    "detection": frozenset({"evidence", "cache", "app", "adapter", "cli", "sandbox"}),
    # evidence reports gather what detection recorded; they know no storage engine or front end
    "evidence": frozenset({"cache", "app", "adapter", "cli", "sandbox"}),
    "app": frozenset({"adapter", "cli"}),
    "adapter": frozenset({"cli"}),
    # the simulator stands alone, but reads metadata with the product's one provenance engine
    "sandbox": PRODUCT_ROOMS - {"sandbox", "provenance"} | {"errors", "settings", "logs"},
}
#: the one crossing a room rule allows: the cache implements the store protocol its consumer owns
ALLOWED_CROSSINGS = frozenset(
    {
        ("cache", "truthscan_mcp.detection.store"),
        ("cache", "truthscan_mcp.detection.schedule"),
        # the package's one bounded decoder (no SDK import): reports decode within its budget
        ("evidence", "truthscan_mcp.adapter.pixels"),
    }
)
#: finer rules inside a room, by module
FORBIDDEN_FOR_MODULE: dict[str, frozenset[str]] = {
    # rendering turns public models into text: it takes a result, never reaches for the batch runner
    "truthscan_mcp.adapter.render": frozenset({"detection", "api", "cache", "app"}),
}
#: the only places allowed to import the MCP SDK (the `detect` command must start without it)
MCP_IMPORTERS_ROOM = "adapter"
MCP_IMPORTERS_MODULES = frozenset({"truthscan_mcp.cli.demo"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, module: str, *, is_package: bool = False) -> Iterator[str]:
    """Absolute names of every module `source` (the text of `module`) imports."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def imports_of(path: Path) -> frozenset[str]:
    source = path.read_text(encoding="utf-8")
    return frozenset(imports_in(source, module_name(path), is_package=path.name == "__init__.py"))


def room_of(module: str) -> str | None:
    """`truthscan_mcp.api.client` → `api`; `truthscan_mcp.models` → `models`; others → None."""
    parts = module.split(".")
    if parts[0] != "truthscan_mcp" or len(parts) < 2:
        return None
    return parts[1]


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
EDGES = {name: imports_of(path) for name, path in MODULES.items()}


def test_the_source_tree_is_found_and_parsed() -> None:
    """A guard for the checks below: an empty walk would make each of them pass vacuously."""
    assert {"truthscan_mcp.models", "truthscan_mcp.api.client", "truthscan_mcp.adapter.server"} <= set(
        MODULES
    )
    assert any(target.split(".")[0] == "mcp" for target in EDGES["truthscan_mcp.adapter.server"])


def test_the_reader_resolves_relative_imports_and_sees_imports_inside_functions() -> None:
    source = "from . import client\nfrom ..models import X\ndef f():\n    import mcp.types\n"
    assert set(imports_in(source, "truthscan_mcp.api.probe")) == {
        "truthscan_mcp.api",
        "truthscan_mcp.models",
        "mcp.types",
    }
    assert set(imports_in("from .client import C", "truthscan_mcp.api", is_package=True)) == {
        "truthscan_mcp.api.client"
    }


def test_only_the_adapter_and_the_demo_import_the_mcp_sdk() -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in EDGES.items()
        for target in targets
        if target.split(".")[0] == "mcp"
        and room_of(name) != MCP_IMPORTERS_ROOM
        and name not in MCP_IMPORTERS_MODULES
    )
    assert offenders == []


def test_models_import_no_project_module_but_errors() -> None:
    """The public contract depends on nothing it describes (target of issue 11)."""
    project = {t for t in EDGES["truthscan_mcp.models"] if t.split(".")[0] == "truthscan_mcp"}
    assert project <= {"truthscan_mcp.errors"}


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_no_room_built_on_it(room: str) -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in EDGES.items()
        if room_of(name) == room
        for target in targets
        if room_of(target) in FORBIDDEN[room] and (room, target) not in ALLOWED_CROSSINGS
    )
    assert offenders == []


@pytest.mark.parametrize("module", sorted(FORBIDDEN_FOR_MODULE))
def test_a_module_with_a_narrower_job_stays_inside_it(module: str) -> None:
    assert module in EDGES, f"{module} no longer exists: update FORBIDDEN_FOR_MODULE"
    offenders = sorted(t for t in EDGES[module] if room_of(t) in FORBIDDEN_FOR_MODULE[module])
    assert offenders == []


def test_the_detect_command_starts_without_the_mcp_sdk() -> None:
    """The static check above allows `cli` to import the adapter; this one loads what `detect`
    loads (the command, its rooms, the in-process sandbox of `--sandbox`) in a fresh interpreter
    and asks which MCP modules came with it: none, or every `detect` pays the SDK's import."""
    import subprocess
    import sys

    probe = (
        "import sys, truthscan_mcp.cli.main as m, truthscan_mcp.cli.detect, truthscan_mcp.sandbox;"
        "m.build_parser();"
        "print(sorted(n for n in sys.modules if n == 'mcp' or n.startswith('mcp.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
