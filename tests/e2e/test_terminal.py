"""`truthscan-mcp detect` as a person and a script use it: the INSTALLED command, as a subprocess.

Piped (as a script or CI runs it) for the formats, exit codes and words; on a pseudo-terminal
for what only a terminal shows — the one live line, colour, and a Ctrl-C typed at the keyboard.
The detections go to the session's loopback sandbox with test timings (0.2 s to a verdict);
a test that needs another pace sets its own. Images are generated (tests/support/images.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.responses import Response

from tests.support import AI_PNG, CAMERA_JPG, live_env, serve_app
from tests.support.images import png_bytes, write_images
from tests.support.terminal import COLOUR, in_terminal, plain, run_piped
from truthscan_mcp.models import BatchRow, BatchTotals
from truthscan_mcp.sandbox import FaultRule

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from tests.support import SandboxServer

pytestmark = pytest.mark.skipif(os.name == "nt", reason="pseudo-terminals and POSIX signals")

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: the fields of a `detect_images` row, plus the report's provenance (and analysis, when asked for)
ROW_FIELDS = set(BatchRow.model_fields) | {"provenance"}
DOCUMENT_KEYS = {"results", "totals", "skipped", "simulated", "interrupted"}
TOTALS_KEYS = set(BatchTotals.model_fields)
#: words of the MCP server's world that a terminal user cannot act on
MCP_WORDS = ("MCP server", "`url`", "`data`", "`path`", "recursive=true", "allow_partial=", "detect_images")


@pytest.fixture
def env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """The command pointed at the loopback sandbox; the samples and `tmp_path` may be read."""
    return live_env(sandbox, tmp_path, NO_COLOR="")


@pytest.fixture
def image_url() -> Iterator[str]:
    """An image on a loopback web server (the command is run with --allow-private-urls)."""
    body = png_bytes(5000, seed=999)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await Response(body, media_type="image/png")(scope, receive, send)

    with serve_app(app) as base:
        yield f"{base}/photo.png"


def _before_and_table(text: str) -> tuple[str, str]:
    """What a terminal showed before the results table (the live line), and from its header on."""
    header = re.search(r"#(?:\x1b\[[0-9;]*m|\s)*image", text)
    assert header, plain(text)
    start = text.rfind("\n", 0, header.start()) + 1
    return text[:start], text[start:]


def _json(out: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out)
    return document


# --- every row, one run -------------------------------------------------------------------


def test_a_folder_of_30_images_prints_every_row_and_the_totals(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    folder = tmp_path / "inbox"
    write_images(folder, 30)
    done = run_piped("detect", "--no-deep-analysis", str(folder), env=env)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if re.search(r"img-\d{3}\.png", line)]
    assert len(rows) == 30, done.stdout
    for index, line in enumerate(rows):
        assert f"img-{index:03d}.png" in line
        assert UUID.search(line), line
    assert len({UUID.search(line).group() for line in rows}) == 30  # type: ignore[union-attr]
    assert (
        "30 images: 30 answered, 0 unfinished, 0 errors · 30 paid, 0 cached, 30 credits spent" in done.stdout
    )
    assert "not listed" not in done.stdout
    assert sandbox.sandbox.stats.accepted_detects == 30


def test_files_in_a_folder_are_recognised_by_content_and_every_skipped_one_says_why(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    write_images(folder, 2)
    (folder / ".hidden.png").write_bytes(png_bytes(4096, seed=50))
    (folder / "no-extension").write_bytes(png_bytes(4096, seed=51))
    (folder / "scan.jpg").write_bytes(b"%PDF-1.7\n" + b"x" * 2000)
    (folder / "notes.txt").write_text("not a picture\n" * 100)
    done = run_piped("detect", "--no-deep-analysis", "--format", "json", str(folder), env=env)
    assert done.returncode == 0, done.stderr
    document = _json(done.stdout)
    assert sorted(r["name"] for r in document["results"]) == [
        ".hidden.png",
        "img-000.png",
        "img-001.png",
        "no-extension",
    ]
    skipped = {Path(s["source"]).name: s["reason"] for s in document["skipped"]}
    assert skipped.keys() == {"scan.jpg", "notes.txt"}
    assert skipped["scan.jpg"].startswith("a PDF document, not an image format TruthScan reads")
    assert skipped["notes.txt"].startswith("text, not an image format")
    assert f"skipped {folder / 'scan.jpg'}: a PDF document" in done.stderr


def test_a_folder_and_its_files_named_one_by_one_give_the_same_rows(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "same"
    files = write_images(folder, 12)
    by_folder = _json(run_piped("detect", "--json", "--no-deep-analysis", str(folder), env=env).stdout)
    by_files = _json(run_piped("detect", "--json", "--no-deep-analysis", *map(str, files), env=env).stdout)

    def seen(document: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(r["source"], r["verdict"], r["tier"]) for r in document["results"]]

    assert seen(by_folder) == seen(by_files)
    assert len(seen(by_files)) == 12
    assert by_folder["totals"] == by_files["totals"]


# --- one result model, four formats ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["one file", "several files", "a folder", "a url"])
def test_json_is_one_document_of_one_shape_whatever_the_inputs(
    kind: str, env: dict[str, str], tmp_path: Path, image_url: str
) -> None:
    folder = tmp_path / "shape"
    files = [str(p) for p in write_images(folder, 3)]
    inputs = {"one file": files[:1], "several files": files, "a folder": [str(folder)], "a url": [image_url]}[
        kind
    ]
    done = run_piped("detect", "--format", "json", "--allow-private-urls", *inputs, env=env)
    assert done.returncode == 0, done.stderr
    document = _json(done.stdout)
    assert set(document) == DOCUMENT_KEYS
    assert set(document["totals"]) == TOTALS_KEYS
    assert len(document["results"]) == len(inputs) if kind != "a folder" else 3
    for row in document["results"]:
        assert set(row) == ROW_FIELDS | {"analysis"}  # deep analysis is asked for by default
        assert row["complete"]
        assert UUID.fullmatch(row["id"])
        assert row["analysis"]["reasoning"]


def test_csv_has_a_header_and_one_row_per_image(env: dict[str, str], tmp_path: Path, image_url: str) -> None:
    folder = tmp_path / "sheet"
    write_images(folder, 2)
    done = run_piped(
        "detect",
        "--format",
        "csv",
        "--no-deep-analysis",
        "--allow-private-urls",
        str(folder),
        image_url,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert done.stdout.splitlines()[0].startswith("source,name,verdict,ai_score,tier,")
    assert [Path(r["source"]).name for r in table] == ["img-000.png", "img-001.png", "photo.png"]
    assert all(UUID.fullmatch(r["id"]) and r["complete"] == "true" for r in table)


def test_one_image_on_the_table_format_gets_the_full_report(env: dict[str, str]) -> None:
    done = run_piped("detect", str(AI_PNG), env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("ai-generated.png: AI Generated")
    assert "TruthScan's reasoning:" in out
    assert re.search(r"^  id\s+" + UUID.pattern, out, re.MULTILINE)
    assert "Key indicators (TruthScan's words):" in out


def test_jsonl_prints_each_row_as_its_image_finishes(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Uploads one at a time, each held 0.5 s: the images finish one after another over ~2 s,
    and the first line must be out long before the last image is done, not all at the end."""
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=0.5, times=-1))
    files = [str(p) for p in write_images(tmp_path / "stream", 4)]
    with in_terminal(
        "detect", "--format", "jsonl", "--no-deep-analysis", "--max-concurrency", "1", *files, env=env
    ) as run:
        code = run.finish(60)
    assert code == 0, plain(run.text)
    arrivals: list[tuple[float, dict[str, Any]]] = []
    for at, chunk in run.chunks:
        for line in plain(chunk.decode()).splitlines():
            if line.startswith('{"source"'):
                arrivals.append((at, json.loads(line)))
    assert sorted(Path(row["source"]).name for _, row in arrivals) == sorted(Path(f).name for f in files)
    assert all(set(row) == ROW_FIELDS and row["complete"] for _, row in arrivals)
    for line in re.split(
        r"[\r\n]", plain(run.text)
    ):  # each row on a line of its own, never after the live line
        assert not ("Detecting" in line and "{" in line), line
    moments = [at for at, _ in arrivals]
    assert moments[-1] - moments[0] > 0.9, moments  # streamed as they finished, not printed at the end
    assert len({round(at, 1) for at in moments}) >= 3, moments


# --- the terminal ------------------------------------------------------------------------------


def test_a_terminal_gets_one_live_line_colour_and_the_table(env: dict[str, str], tmp_path: Path) -> None:
    files = write_images(tmp_path / "live", 6)
    with in_terminal("detect", "--no-deep-analysis", str(tmp_path / "live"), env=env) as run:
        code = run.finish(60)
    assert code == 0, plain(run.text)
    text = run.text
    live, table = _before_and_table(text)
    assert "Detecting" in live
    assert re.search(r"6/6 images · 6 paid · 0 cached · 0 errors · took \d", plain(live))
    assert plain(live).count("\n") == 1  # redrawn in place: one line, however many updates
    assert live.count("\r\x1b[2K") >= 1
    assert "Queued at TruthScan" not in text
    assert COLOUR.search(table), "the tiers are coloured on a terminal"
    assert all(p.name in plain(table) for p in files)


def test_no_color_keeps_every_colour_off_the_terminal(env: dict[str, str]) -> None:
    with in_terminal(
        "detect", "--no-deep-analysis", str(AI_PNG), str(CAMERA_JPG), env={**env, "NO_COLOR": "1"}
    ) as run:
        code = run.finish(60)
    assert code == 0, plain(run.text)
    assert "camera-photo.jpg" in plain(run.text)
    assert not COLOUR.search(run.text)


def test_ctrl_c_prints_every_paid_detection_with_its_id_and_exits_130(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.config.processing_seconds = 60  # nothing finishes while the test runs
    write_images(tmp_path / "slow", 5)
    with in_terminal("detect", "--no-deep-analysis", str(tmp_path / "slow"), env=env) as run:
        run.read_until(lambda _: sandbox.sandbox.stats.accepted_detects == 5, 30)
        run.read_until(lambda text: "5 paid" in plain(text), 10)
        stopped = time.monotonic()
        run.type(b"\x03")  # Ctrl-C at the keyboard: the terminal sends SIGINT
        code = run.finish(10)
        took = time.monotonic() - stopped
    text = plain(run.text)
    assert code == 130, text
    assert took < 5, "Ctrl-C must stop the waiting at once"
    assert "Traceback" not in text
    assert "KeyboardInterrupt" not in text
    assert "CancelledError" not in text
    ids = set(UUID.findall(_before_and_table(run.text)[1]))
    assert len(ids) == 5, text
    assert "5 detections paid for but not finished" in text
    assert "Interrupted" in text


# --- exit codes, options and words -------------------------------------------------------------


def test_fail_on_exits_4_when_an_image_reaches_the_tier(env: dict[str, str]) -> None:
    reached = run_piped(
        "detect", "--no-deep-analysis", "--fail-on", "likely-synthetic", str(CAMERA_JPG), str(AI_PNG), env=env
    )
    below = run_piped("detect", "--no-deep-analysis", "--fail-on", "Synthetic", str(CAMERA_JPG), env=env)
    assert (reached.returncode, below.returncode) == (4, 0), reached.stderr + below.stderr


def test_global_options_work_before_the_command(env: dict[str, str], tmp_path: Path) -> None:
    """`--allowed-dirs DIR detect …` once took `detect` for a folder and served stdio instead."""
    folder = tmp_path / "only"
    (image,) = write_images(folder, 1)
    env = {k: v for k, v in env.items() if k != "TRUTHSCAN_ALLOWED_DIRS"}
    done = run_piped(
        "--allowed-dirs",
        str(folder),
        "--wait-seconds",
        "30",
        "detect",
        "--json",
        str(image),
        env=env,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert _json(done.stdout)["results"][0]["complete"]


def test_stdin_is_an_image_on_the_sandbox(tmp_path: Path) -> None:
    from tests.support import child_env

    done = run_piped(
        "--sandbox",
        "detect",
        "-",
        "--json",
        "--no-deep-analysis",
        env=child_env(),
        stdin=CAMERA_JPG.read_bytes(),
    )
    assert done.returncode == 0, done.stderr
    document = _json(done.stdout)
    (row,) = document["results"]
    assert (row["source"], row["name"], row["verdict"]) == ("-", "stdin", "Real")
    assert document["simulated"] is True


def test_150_images_in_one_command_are_one_run_with_one_count_of_credits(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Two batches side by side behind the scenes; the credits spent are the run's (a balance
    read by each batch while the other spends would count some twice)."""
    write_images(tmp_path / "many", 150)
    done = run_piped(
        "detect", "--json", "--no-deep-analysis", "--max-concurrency", "16", str(tmp_path / "many"),
        env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = _json(done.stdout)
    rows = document["results"]
    assert [Path(r["source"]).name for r in rows] == [f"img-{i:03d}.png" for i in range(150)]
    assert all(r["complete"] for r in rows)
    assert len({r["id"] for r in rows}) == 150
    assert sandbox.sandbox.stats.accepted_detects == 150
    assert document["totals"]["detections_paid"] == document["totals"]["credits_spent"] == 150


def test_a_run_larger_than_the_credits_pays_what_they_cover_and_refuses_the_rest_up_front(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    """110 images, 105 credits: two batches behind the scenes that must not both believe the
    105 credits are theirs. The first pays for its 100; the second is refused before spending."""
    sandbox.sandbox.config.base_credits, sandbox.sandbox.config.boost_credits = 105, 0
    write_images(tmp_path / "short", 110)
    done = run_piped(
        "detect",
        "--json",
        "--no-deep-analysis",
        "--max-concurrency",
        "16",
        str(tmp_path / "short"),
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    rows = _json(done.stdout)["results"]
    assert all(r["complete"] for r in rows[:100])
    assert all("Nothing was spent" in r["error"] for r in rows[100:]), rows[100]["error"]
    assert sandbox.sandbox.stats.requests["detect"] == sandbox.sandbox.stats.accepted_detects == 100


def test_without_a_key_the_command_exits_3_and_says_how_to_add_one(
    env: dict[str, str], sandbox: SandboxServer
) -> None:
    env = {k: v for k, v in env.items() if k != "TRUTHSCAN_API_KEY"}
    done = run_piped("detect", str(CAMERA_JPG), env=env)
    assert done.returncode == 3, done.stderr
    assert "TRUTHSCAN_API_KEY" in done.stderr
    assert "--sandbox" in done.stderr
    assert sandbox.sandbox.stats.requests["detect"] == 0


def test_a_bad_port_is_a_usage_error_before_anything_starts(env: dict[str, str]) -> None:
    done = run_piped("serve", "--transport", "http", "--port", "99999", env=env, timeout=30)
    assert done.returncode == 2
    assert "99999 is not a port number" in done.stderr
    assert "Traceback" not in done.stderr
    assert "ready" not in done.stderr


def test_errors_speak_of_arguments_and_options_not_of_tool_arguments(
    env: dict[str, str], tmp_path: Path
) -> None:
    outside = Path("/") / "etc" / "hostname"
    done = run_piped(
        "detect",
        "--no-deep-analysis",
        "--json",
        str(tmp_path / "missing.png"),
        str(outside),
        "https://user:pw@example.com/a.png",
        env=env,
    )
    assert done.returncode == 1
    errors = [r["error"] for r in _json(done.stdout)["results"]]
    assert all(errors), errors
    assert "--allowed-dirs" in errors[1]
    for message in [*errors, done.stderr]:
        for word in MCP_WORDS:
            assert word not in message, f"{word!r} in {message!r}"


def test_each_command_help_shows_its_own_options_with_examples(env: dict[str, str]) -> None:
    cache = run_piped("cache", "--help", env=env).stdout
    detect = run_piped("detect", "--help", env=env).stdout
    assert "--cache-path" in cache
    assert "--http-token" not in cache
    assert "--api-key" not in cache
    assert "--http-token" not in detect
    assert "--api-key" in detect
    assert "examples:" in detect
    assert "exit status:" in detect
    assert "--fail-on" in detect


@pytest.mark.skipif(os.name != "nt" and os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_folder_says_so(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    write_images(folder, 1)
    folder.chmod(0)
    try:
        done = run_piped("detect", str(folder), env=env)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 1
    assert f"The folder {folder} cannot be read: permission denied" in done.stderr
    assert "image extension" not in done.stderr


def test_a_long_error_is_shown_whole_in_its_table_cell(env: dict[str, str]) -> None:
    """The old table cut error cells at ~140 characters; a cell now wraps within its column."""
    outside = Path("/") / "etc" / "hostname"
    done = run_piped("detect", str(CAMERA_JPG), str(outside), env=env)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    header = next(line for line in lines if "verdict" in line and "AI score" in line)
    left, right = header.index("verdict"), header.index("AI score")
    first = next(i for i, line in enumerate(lines) if "hostname" in line)
    cell = [lines[first][left:right].strip()]
    for line in lines[first + 1 :]:
        if line[:left].strip():  # the next row, or the totals
            break
        cell.append(line[left:right].strip())
    message = " ".join(cell)
    assert message.startswith("error: The file /etc/hostname is outside the folders"), message
    assert len(message) > 200, message
    assert message.endswith("--allowed-dirs DIR (or TRUTHSCAN_ALLOWED_DIRS, separated by ':')."), message


def test_a_narrow_terminal_keeps_every_column_of_every_row(env: dict[str, str]) -> None:
    """At 80 columns the table folds cells within their columns (no column is squeezed out) and
    the live line stays one line, redrawn in place."""
    with in_terminal(
        "detect", "--no-deep-analysis", str(AI_PNG), str(CAMERA_JPG), env=env, columns=80
    ) as run:
        code = run.finish(60)
    assert code == 0, plain(run.text)
    screen = plain(run.text)
    first_line, table = screen.split("\n", 1)  # every redraw of the live line stayed on line one
    assert "Detecting" in first_line, screen
    assert "2/2 images" in first_line, screen
    assert all(len(line) <= 80 for line in table.splitlines()), table
    header = next(line for line in table.splitlines() if "image" in line)
    for name in ("#", "image", "verdict", "AI score", "tier", "id", "cac"):
        assert name in header, table
    rows = [line for line in table.splitlines() if re.match(r"\s*[12]\s{2,}\S", line)]
    assert len(rows) == 2, table
    assert all(re.search(r"[0-9a-f]{8}-", row) for row in rows), table


def test_a_piped_table_is_whole_whatever_columns_says(env: dict[str, str]) -> None:
    """A pipe has no width: `COLUMNS=80` (as many environments set) does not crop a script's table."""
    narrow = {**env, "COLUMNS": "80"}
    done = run_piped("detect", "--no-deep-analysis", str(AI_PNG), str(CAMERA_JPG), env=narrow)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if UUID.search(line)]
    assert len(rows) == 2, done.stdout
    for row, words in zip(
        rows, (("ai-generated.png", "AI Generated", "Synthetic"), ("camera-photo.jpg", "Real")), strict=True
    ):
        for word in words:
            assert word in row, row
