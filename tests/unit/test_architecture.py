"""Which room may import which: the package map of CONTRIBUTING.md, checked on the source.

The rules are read from CONTRIBUTING.md's table (one source: the map a contributor reads is the
map this test enforces, so neither can drift from the other). Every module under truthscan_mcp/ is
parsed with `ast` (nothing is imported, so no side effect and no import cycle can hide an edge);
every `import` counts, including those inside functions and `if TYPE_CHECKING:` blocks, because a
type-only edge still couples two rooms.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import truthscan_mcp

PACKAGE = Path(truthscan_mcp.__file__).parent
CONTRIBUTING = PACKAGE.parent / "CONTRIBUTING.md"


@dataclass(frozen=True)
class Rule:
    """One row of the map: what `subject` (a room, or one module of a room) may import."""

    subject: str
    #: rooms (`media`) and single modules (`detection.store`) it may import; None: everything
    allowed: frozenset[str] | None
    #: rooms it may not import although `allowed` is None ("everything but ...")
    excluded: frozenset[str] = frozenset()

    def permits(self, target_room: str, target: str) -> bool:
        if self.allowed is None:
            return target_room not in self.excluded
        dotted = target.removeprefix("truthscan_mcp.")
        return target_room in self.allowed or any(
            dotted == name or dotted.startswith(name + ".") for name in self.allowed if "." in name
        )


def subject_of(cell: str) -> str:
    """`media/` -> `media`; `errors.py` -> `errors`; `adapter/render.py` -> `adapter.render`."""
    return cell.strip().strip("`").removesuffix("/").removesuffix(".py").replace("/", ".")


def rule_of(subject: str, cell: str) -> Rule:
    words = re.sub(r"\([^)]*\)", "", cell).strip()  # parentheses are comments
    names = frozenset(re.findall(r"`([^`]+)`", words))
    if words == "nothing of ours":
        return Rule(subject, frozenset())
    if words == "everything":
        return Rule(subject, None)
    if words.startswith("everything but "):
        return Rule(subject, None, names)
    if not names or re.sub(r"`[^`]+`|,|\s", "", words):
        raise ValueError(f"unreadable rule for {subject}: {cell}")
    return Rule(subject, names)


def map_rules(text: str) -> dict[str, Rule]:
    """The rows of the table whose header is `| room | owns | may import |`."""
    lines = text.splitlines()
    top = lines.index("| room | owns | may import |")
    rules: dict[str, Rule] = {}
    for line in lines[top + 2 :]:
        if not line.startswith("|"):
            break
        cells = line.strip().strip("|").split(" | ")
        assert len(cells) == 3, f"a row of the map has three cells: {line}"
        subject = subject_of(cells[0])
        rules[subject] = rule_of(subject, cells[2])
    return rules


def sdk_importers(text: str) -> frozenset[str]:
    """The sentence under the table naming the MCP SDK's importers, as rooms or modules."""
    match = re.search(r"The MCP SDK is imported only by: ([^\n(]*)", text)
    assert match, "CONTRIBUTING.md names the MCP SDK's importers"
    return frozenset(subject_of(name) for name in re.findall(r"`([^`]+)`", match.group(1)))


MAP_TEXT = CONTRIBUTING.read_text(encoding="utf-8")
RULES = map_rules(MAP_TEXT)
MCP_IMPORTERS = sdk_importers(MAP_TEXT)


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


def test_the_map_is_read_from_contributing() -> None:
    """A guard for the rule checks: a table the reader misses would make them pass vacuously."""
    assert {"errors", "models", "media", "api", "detection", "cache", "adapter", "cli", "sandbox"} <= set(
        RULES
    )
    assert RULES["errors"].allowed == frozenset()
    assert RULES["cache"].permits("detection", "truthscan_mcp.detection.store")
    assert not RULES["cache"].permits("detection", "truthscan_mcp.detection.detector")
    assert RULES["cli"].allowed is None
    assert not RULES["adapter"].permits("cli", "truthscan_mcp.cli.main")


def test_the_rule_reader_takes_comments_names_and_exceptions() -> None:
    rule = rule_of("x", "`models`, `detection.store` (the protocol it implements, not `cli`)")
    assert rule == Rule("x", frozenset({"models", "detection.store"}))
    assert rule_of("x", "everything but `cli`, `app`") == Rule("x", None, frozenset({"cli", "app"}))
    with pytest.raises(ValueError, match="unreadable"):
        rule_of("x", "the rooms above")


def test_every_room_and_module_has_a_row_in_the_map() -> None:
    """A new room (or a row naming a module that was renamed) must be put on the map."""
    rooms = {room for name in MODULES if (room := room_of(name))}
    modules = {name.removeprefix("truthscan_mcp.") for name in MODULES}
    assert rooms - set(RULES) == set()
    assert {subject for subject in RULES if "." in subject} - modules == set()
    assert MCP_IMPORTERS - rooms - modules == set()


def test_only_the_importers_the_map_names_import_the_mcp_sdk() -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in EDGES.items()
        for target in targets
        if target.split(".")[0] == "mcp"
        and room_of(name) not in MCP_IMPORTERS
        and name.removeprefix("truthscan_mcp.") not in MCP_IMPORTERS
    )
    assert offenders == []


def test_models_import_no_project_module_but_errors() -> None:
    """The public contract depends on nothing it describes (target of issue 11)."""
    project = {t for t in EDGES["truthscan_mcp.models"] if t.split(".")[0] == "truthscan_mcp"}
    assert project <= {"truthscan_mcp.errors"}


def rule_for(module: str) -> Rule | None:
    """The narrowest row for `module`: its own, else its room's."""
    return RULES.get(module.removeprefix("truthscan_mcp.")) or RULES.get(room_of(module) or "")


@pytest.mark.parametrize("subject", sorted(RULES))
def test_a_room_imports_only_what_the_map_allows(subject: str) -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in EDGES.items()
        if (rule := rule_for(name)) is not None and rule.subject == subject
        for target in targets
        if (target_room := room_of(target)) is not None
        and target_room != room_of(name)
        and not rule.permits(target_room, target)
    )
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
