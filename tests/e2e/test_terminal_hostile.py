"""What reaches a person's terminal from outside: never a control character or escape sequence.

The installed `truthscan-mcp detect` runs against the hostile fake of TruthScan
(tests/support/hostile.py), which wraps every text field of its answer in escape sequences
(OSC window titles and hyperlinks, CSI screen clears, 8-bit CSI, DCS, NUL, BEL, DEL, C1
controls) and a forged "Next step:" line, on files whose names and EXIF carry the same. Every
output format, piped and on a pseudo-terminal, must show the words and obey none of them; the
json formats keep the exact values (escaped, so they come back on parsing).
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import AI_PNG, child_env
from tests.support.hostile import HOSTILE_KEY, HostileApi, Recorded, Reply, hostile_text, serve_hostile
from tests.support.provenance import camera_jpeg
from tests.support.terminal import COMMAND, in_terminal, run_piped

#: every C0 control but newline, DEL and every C1 control: none may reach a terminal raw
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
#: the hostile sequences themselves, for a terminal where the command draws its own (its live
#: line clears itself with CSI 2K): OSC, DCS, a screen clear, the bold red, 8-bit controls
HOSTILE_SEQUENCES = re.compile(r"\x1b\]|\x1bP|\x1b\[2J|\x1b\[H|\x1b\[31;1m|[\x00\x07\x08\x0b\x0c\x7f-\x9f]")
#: a file name with an OSC title, a BEL and an 8-bit CSI in it
EVIL_NAME = "ph\x1b]0;PWNED\x07oto\x9b2J.png"
#: an EXIF camera maker (EXIF text is ASCII): a title, a screen clear, bold red, DCS, BEL, BS
EVIL_MAKE = "\x1b]0;PWNED\x07Canon\x1b[2J\x1b[H\x1b[31;1m\x1bP1;2|payload\x1b\\\x07\x08\nNext step: evil"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileApi]:
    with serve_hostile() as api:
        api.answer("query", lambda request: _every_field_hostile(api, request))
        yield api


def _every_field_hostile(api: HostileApi, request: Recorded) -> Reply:
    said = hostile_text
    document = api.document(
        str(request.document_id()),
        final_result=said("AI Generated"),
        ml_model=[said("AI Generated"), 90.2],
        ocr=[said("OCR did not detect AI"), 0.0],
        metadata=[said("METADATA")],
        warnings=[{"type": "x", "label": said("WARNING"), "confidence": 1, "metrics": {}}],
    )
    analysis = document["result_details"]["analysis_results"]
    analysis["agreement"] = said("strong")
    analysis["detailedReasoning"] = said("REASONING")
    analysis["keyIndicators"] = [said("INDICATOR")]
    analysis["visualPatterns"] = [said("PATTERN")]
    analysis["recommendations"] = [said("RECOMMENDATION")]
    return Reply.json(document)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two images: one with a hostile name, one whose EXIF camera is hostile."""
    folder = tmp_path_factory.mktemp("hostile-files")
    (folder / EVIL_NAME).write_bytes(AI_PNG.read_bytes())
    (folder / "camera.jpg").write_bytes(camera_jpeg(make=EVIL_MAKE, model=EVIL_MAKE))
    return folder


@pytest.fixture
def env(hostile: HostileApi, folder: Path) -> dict[str, str]:
    return child_env(
        TRUTHSCAN_API_URL=hostile.base_url,
        TRUTHSCAN_STORAGE_URL=hostile.storage_url,
        TRUTHSCAN_API_KEY=HOSTILE_KEY,
        TRUTHSCAN_ALLOWED_DIRS=str(folder),
        TRUTHSCAN_CACHE_PATH="off",
    )


def assert_clean(where: str, text: str, pattern: re.Pattern[str] = CONTROL) -> None:
    found = pattern.search(text)
    assert found is None, (
        f"{where} holds {found.group()!r} near {text[max(0, found.start() - 40) : found.end() + 40]!r}"
    )


def assert_no_forged_next_step(text: str) -> None:
    forged = [line for line in text.splitlines() if line.lstrip().startswith("Next step:")]
    assert not forged, f"a forged next step starts a line: {forged}"


@pytest.mark.parametrize("output", ["table", "json", "jsonl", "csv"])
def test_no_control_character_from_outside_reaches_a_piped_terminal_in_any_format(
    env: dict[str, str], folder: Path, output: str
) -> None:
    done = run_piped("detect", str(folder), "--format", output, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_clean("stdout", done.stdout)
    assert_clean("stderr", done.stderr)
    assert "PWNED" not in done.stdout or output in ("json", "jsonl")  # a name's data, escaped
    if output == "table":
        assert "REASONING" not in done.stdout  # the table has no reasoning column
        assert_no_forged_next_step(done.stdout)
    if output == "csv":
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        assert len(rows) == 2


@pytest.mark.parametrize("output", ["json", "jsonl"])
def test_the_json_formats_keep_a_file_names_exact_characters_escaped(
    env: dict[str, str], folder: Path, output: str
) -> None:
    done = run_piped("detect", str(folder), "--format", output, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = (
        json.loads(done.stdout)["results"]
        if output == "json"
        else [json.loads(line) for line in done.stdout.splitlines()]
    )
    assert str(folder / EVIL_NAME) in {row["source"] for row in rows}
    assert "\\u009b" in done.stdout


def test_the_full_report_of_one_image_with_deep_analysis_reaches_the_terminal_clean(
    env: dict[str, str], folder: Path
) -> None:
    done = run_piped("detect", str(folder / "camera.jpg"), env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_clean("stdout", done.stdout)
    assert_clean("stderr", done.stderr)
    assert "REASONING" in done.stdout
    assert "Canon" in done.stdout  # the file's words, shown
    assert_no_forged_next_step(done.stdout)  # a quoted line ("> …") is TruthScan's


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("one", [False, True], ids=["table", "report"])
def test_a_terminal_obeys_no_sequence_from_outside(env: dict[str, str], folder: Path, one: bool) -> None:
    target = folder / "camera.jpg" if one else folder
    with in_terminal("detect", str(target), env=env) as run:
        code = run.finish(120)
    assert code == 0, run.text
    assert_clean("the terminal", run.text, HOSTILE_SEQUENCES)
    assert "PWNED" not in run.text


# --- TruthScan's refusals, in a terminal's words ------------------------------------------------

#: words of the MCP server's reader that mean nothing at a shell (no tool is called there)
TOOL_WORDS = ("health tool", "this server", "MCP server", "get_result", "check_credits")


@pytest.fixture
def refusing(hostile: HostileApi) -> Iterator[HostileApi]:
    """The module's fake with the test's refusals; its hostile documents again afterwards."""
    yield hostile
    hostile.reset()
    hostile.answer("query", lambda request: _every_field_hostile(hostile, request))


@pytest.mark.parametrize(
    ("endpoint", "status"), [("presign", 500), ("presign", 418), ("detect", 400), ("presign", 503)]
)
def test_a_refusal_of_truthscan_is_told_in_the_terminals_words(
    refusing: HostileApi, env: dict[str, str], folder: Path, endpoint: str, status: int
) -> None:
    refusing.answer(endpoint, Reply.json({"detail": "no"}, status=status))
    done = run_piped("detect", str(folder / "camera.jpg"), "--format", "json", env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)["results"][0]["error"]
    assert f"HTTP {status}" in error or "maintenance" in error
    for word in TOOL_WORDS:
        assert word not in error, f"{word!r} in {error!r}"
        assert word not in done.stderr


def test_a_missing_relative_path_is_not_told_to_be_made_absolute(env: dict[str, str], folder: Path) -> None:
    done = subprocess.run(
        [COMMAND, "detect", "--format", "json", "missing.png"],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)["results"][0]["error"]
    assert error == f"There is no file at {folder / 'missing.png'}."
