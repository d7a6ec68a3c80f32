"""The parts of an evidence report that need no server: files, pictures, conflicts, custody storage.

No sockets (the unit tier's rule). The end-to-end behaviour — through the MCP client, in a
browser — is in tests/integration/test_export_report.py and tests/e2e/test_evidence_report_browser.py.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support import AI_PNG, CAMERA_JPG
from truthscan_mcp.adapter.render import render_report
from truthscan_mcp.cache.database import Database
from truthscan_mcp.detection.evidence import EvidenceLog
from truthscan_mcp.errors import SourceNotAllowedError
from truthscan_mcp.evidence.disagreement import disagreement
from truthscan_mcp.evidence.files import report_directory, write_pair
from truthscan_mcp.evidence.picture import MAX_PIXELS, dimensions, picture_of
from truthscan_mcp.media.formats import sniff_format
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.models import C2paInfo, CameraInfo, DetectionReport, Provenance, ReportSource
from truthscan_mcp.settings import ENVIRONMENT_HINTS

ID = "77565038-9e3d-4e6a-8c80-e20785be5ee9"


# --- files: never overwrite, never follow, only where allowed -----------------------------------


def test_a_pair_is_written_under_the_next_free_name_when_the_first_is_taken(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("someone else's")
    html, side = write_pair(tmp_path, "r", b"<html>", lambda name: name.encode())
    assert (html.name, side.name) == ("r-2.html", "r-2.json")
    assert side.read_bytes() == b"r-2.html"  # the sidecar names the HTML finally chosen
    assert (tmp_path / "r.json").read_text() == "someone else's"
    assert not (tmp_path / "r.html").exists()


def test_a_symlink_planted_at_the_html_name_is_neither_followed_nor_replaced(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "r.html").symlink_to(victim)
    html, _ = write_pair(tmp_path, "r", b"<html>", lambda name: b"{}")
    assert html.name == "r-2.html"
    assert victim.read_text() == "keep me"
    assert (tmp_path / "r.html").is_symlink()


def test_a_dangling_symlink_at_the_json_name_is_not_created_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    (tmp_path / "r.json").symlink_to(target)
    html, side = write_pair(tmp_path, "r", b"<html>", lambda name: b"{}")
    assert (html.name, side.name) == ("r-2.html", "r-2.json")
    assert not target.exists()
    assert not (tmp_path / "r.html").exists()


def test_a_callers_folder_outside_the_allowed_ones_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside" / "deep"
    allowed.mkdir()
    with pytest.raises(SourceNotAllowedError, match="only inside the allowed folders"):
        report_directory(str(outside), default=allowed / "r", allowed=[allowed], hints=ENVIRONMENT_HINTS)
    assert not outside.parent.exists()


def test_a_symlink_out_of_the_allowed_folder_is_refused(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "link").symlink_to(outside)
    with pytest.raises(SourceNotAllowedError):
        report_directory(str(allowed / "link"), default=allowed, allowed=[allowed], hints=ENVIRONMENT_HINTS)


def test_the_default_folder_is_created_when_missing(tmp_path: Path) -> None:
    default = tmp_path / "Documents" / "TruthScan reports"
    assert report_directory(None, default=default, allowed=[], hints=ENVIRONMENT_HINTS) == default
    assert default.is_dir()


# --- the picture: exact bytes when small, a bounded copy otherwise ------------------------------


def test_a_small_browser_image_is_embedded_byte_for_byte() -> None:
    data = AI_PNG.read_bytes()
    picture = picture_of(data, "image/png")
    assert picture is not None
    assert not picture.downscaled
    assert picture.sha256 == hashlib.sha256(data).hexdigest()


def _jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def test_a_large_photo_is_embedded_as_a_downscaled_copy_and_says_so() -> None:
    data = _jpeg(4000, 3000)
    assert len(data) > 1_500_000
    picture = picture_of(data, "image/jpeg")
    assert picture is not None
    assert picture.downscaled
    assert (picture.original_width, picture.original_height) == (4000, 3000)
    assert max(picture.width or 0, picture.height or 0) == 1600


def test_an_image_claiming_more_pixels_than_the_budget_is_never_decoded() -> None:
    # a PNG header declaring 9000 x 9000 pixels (81 MP), with almost no data behind it
    header = Image.new("L", (1, 1))
    out = io.BytesIO()
    header.save(out, "PNG")
    data = bytearray(out.getvalue())
    data[16:24] = (9000).to_bytes(4, "big") + (9000).to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # a well-formed IHDR
    assert dimensions(bytes(data)) == (9000, 9000)  # the header is read...
    assert MAX_PIXELS < 9000 * 9000
    assert picture_of(bytes(data), "image/heic") is None  # ...and the pixels never decoded


def test_bytes_that_are_no_image_give_no_picture() -> None:
    assert picture_of(b"\x00" * 4096, "image/heic") is None


# --- declaration against detection ---------------------------------------------------------------


def _report(score: float, provenance: Provenance | None) -> DetectionReport:
    return DetectionReport(
        id=ID,
        status="done",
        complete=True,
        verdict="AI Generated" if score >= 50 else "Real",
        ai_score=score,
        source=ReportSource(kind="path", name="x.jpg"),
        provenance=provenance,
    )


CAMERA = Provenance(finding="camera_declared", camera=CameraInfo(make="Canon", model="EOS R5"))
AI_SIGNED = Provenance(finding="ai_declared", c2pa=C2paInfo(present=True, valid=True, trusted=True))


def test_a_camera_declared_image_detected_as_synthetic_is_called_a_disagreement() -> None:
    text = disagreement(_report(93, CAMERA))
    assert text is not None
    assert "declares a camera capture" in text
    assert "93/100 (Synthetic)" in text
    assert "unsigned metadata" in text


def test_an_ai_declared_image_detected_as_real_is_called_a_disagreement() -> None:
    text = disagreement(_report(8, AI_SIGNED))
    assert text is not None
    assert "declares it was made by AI (in a valid C2PA signature)" in text
    assert "(Real)" in text


@pytest.mark.parametrize(
    ("score", "provenance"),
    [(93, AI_SIGNED), (8, CAMERA), (93, Provenance(finding="none")), (60, None)],
)
def test_agreement_or_no_declaration_is_not_a_disagreement(
    score: float, provenance: Provenance | None
) -> None:
    assert disagreement(_report(score, provenance)) is None


def test_the_tool_text_says_so_plainly_near_the_verdict() -> None:
    lines = render_report(_report(93, CAMERA)).splitlines()
    assert lines[2].startswith("Declaration and detection disagree")


# --- custody in the cache file -------------------------------------------------------------------


def _source(**custody: Any) -> ReportSource:
    return ReportSource(
        kind="url",
        name="https://x.test/a.jpg",
        media_type="image/jpeg",
        bytes=2048,
        sha256="ab" * 32,
        **custody,
    )


def test_the_cache_keeps_where_and_when_the_bytes_were_read_and_when_the_answer_settled(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    read = datetime(2026, 12, 8, 1, 2, 3, 456000, tzinfo=UTC)
    db = Database(tmp_path / "c.sqlite3")
    source = _source(location="https://x.test/a.jpg", final_url="https://cdn.x.test/a.jpg", read_at=read)
    db.record_submission("svc", ID, source, deep_analysis=True, preview=False)
    pending = DetectionReport(id=ID, status="pending", complete=False, source=source)
    db.save_report("svc", pending, deep_analysis=True)
    assert db.get("svc", ID).completed_at is None  # type: ignore[union-attr]
    done = pending.model_copy(update={"status": "done", "complete": True, "verdict": "Real", "ai_score": 3.0})
    db.save_report("svc", done, deep_analysis=True)
    first = db.get("svc", ID)
    assert first is not None
    db.save_report("svc", done, deep_analysis=True)  # a later answer never moves the completion
    again = db.get("svc", ID)
    db.close()
    assert again is not None
    assert again.completed_at == first.completed_at
    assert first.completed_at is not None
    assert first.completed_at >= first.submitted_at
    assert (again.source.location, again.source.final_url) == (
        "https://x.test/a.jpg",
        "https://cdn.x.test/a.jpg",
    )
    assert again.source.read_at == read


def test_a_cache_file_from_before_custody_gains_the_table_and_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE custody")  # as a file written by the previous version
    db = Database(path)
    db.record_submission("svc", ID, _source(), deep_analysis=False, preview=False)
    stored = db.get("svc", ID)
    db.close()
    assert stored is not None
    assert stored.source.read_at is None  # nothing invented for what was not recorded


# --- the detector's memory ------------------------------------------------------------------------


def _image(path: Path) -> LoadedImage:
    data = path.read_bytes()
    fmt = sniff_format(data[:64])
    assert fmt is not None
    return LoadedImage(
        kind="path",
        name=path.name,
        upload_name=path.name,
        format=fmt,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
    )


@pytest.mark.anyio
async def test_the_evidence_log_keeps_bytes_within_its_budget_newest_first() -> None:
    small, photo = _image(AI_PNG), _image(CAMERA_JPG)
    log = EvidenceLog(capacity=8, max_bytes=small.size + photo.size - 1)
    await log.keep_image("a", small, ReportSource(kind="path"))
    await log.keep_image("b", photo, ReportSource(kind="path"))
    a, b = log.get("a"), log.get("b")
    assert a is not None
    assert b is not None
    assert a.content is None  # the oldest bytes went; its custody stays
    assert a.source is not None
    assert b.content == CAMERA_JPG.read_bytes()


@pytest.mark.anyio
async def test_the_evidence_log_dates_the_completion_once() -> None:
    log = EvidenceLog()
    pending = _report(90, None).model_copy(update={"complete": False, "status": "pending"})
    log.reported(pending)
    entry = log.get(ID)
    assert entry is not None
    assert entry.completed_at is None
    log.reported(_report(90, None))
    first = entry.completed_at
    log.reported(_report(90, None))
    assert first is not None
    assert entry.completed_at == first
