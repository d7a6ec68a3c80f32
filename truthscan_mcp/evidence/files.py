"""Where reports go, and writing them without ever replacing a file.

A report is evidence: overwriting an earlier one (or anything else) would destroy what someone
may already have handed on. So every file is created exclusively (`O_EXCL`, and `O_NOFOLLOW`
so a symlink planted at the name is never followed), under a name unique to the document and
the second; a clash takes the next free suffix. A directory named by a caller (the model) must
lie inside the allowed folders, exactly like an image path; the configured reports folder
(`TRUTHSCAN_REPORTS_DIR`, set by the person) is used as it is, and created when missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from truthscan_mcp.errors import InvalidInputError, SourceNotAllowedError
from truthscan_mcp.media.paths import allowed_path
from truthscan_mcp.settings import SettingHints

#: Suffixes tried before giving up on a name (only reached when reports are written in a loop).
MAX_SUFFIX = 1000
_O_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def report_directory(
    directory: str | None, *, default: Path, allowed: Sequence[Path], hints: SettingHints
) -> Path:
    """The folder to write into, created when missing; refused outside the allowed folders."""
    if directory is None or not directory.strip():
        target = default.expanduser()
    else:
        try:
            target = allowed_path(directory, allowed, "directory", hints).resolved
        except SourceNotAllowedError:
            listed = ", ".join(str(root) for root in allowed) or "none"
            raise SourceNotAllowedError(
                f"Reports are written only inside the allowed folders ({listed}); {directory.strip()!r} "
                f"is outside them. Pass a folder inside one of them, or leave the folder out to use the "
                f"reports folder ({default})."
            ) from None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"The reports folder {target} cannot be created ({exc.strerror or exc}). Pass another "
            "folder, or set TRUTHSCAN_REPORTS_DIR."
        ) from None
    if not target.is_dir():
        raise InvalidInputError(f"{target} is not a folder. Pass a folder to write the report into.")
    return target


def base_name(document_id: str, source_name: str | None, written_at: datetime) -> str:
    """`truthscan-report_20261208T013000Z_photo.jpg_77565038`: sortable, readable, unique enough."""
    stem = _UNSAFE.sub("-", (source_name or "image").rsplit("/", 1)[-1]).strip(".-")[:48] or "image"
    return f"truthscan-report_{written_at.strftime('%Y%m%dT%H%M%SZ')}_{stem}_{document_id[:8]}"


def create_exclusively(path: Path, data: bytes) -> None:
    """Write `data` to a new file at `path`; FileExistsError when anything is there already."""
    fd = os.open(path, _O_FLAGS, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            fd = -1
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    finally:
        if fd >= 0:
            os.close(fd)


def write_pair(folder: Path, base: str, html: bytes, sidecar: Callable[[str], bytes]) -> tuple[Path, Path]:
    """Create `<base>.html` and `<base>.json` side by side, both new; `sidecar` makes the JSON's
    bytes from the HTML file name finally chosen."""
    for attempt in range(MAX_SUFFIX):
        name = base if attempt == 0 else f"{base}-{attempt + 1}"
        html_path, json_path = folder / f"{name}.html", folder / f"{name}.json"
        if json_path.exists() or json_path.is_symlink():
            continue
        try:
            create_exclusively(html_path, html)
        except FileExistsError:
            continue
        try:
            create_exclusively(json_path, sidecar(html_path.name))
        except FileExistsError:
            html_path.unlink()  # ours, written a moment ago: free the pair's name again
            continue
        return html_path, json_path
    raise InvalidInputError(
        f"Could not find a free file name for the report in {folder} after {MAX_SUFFIX} tries. "
        "Move earlier reports elsewhere or pass another folder."
    )


def write_new(folder: Path, base: str, suffix: str, data: bytes) -> Path:
    """One new file `<base><suffix>` (or with the next free number), never replacing anything."""
    for attempt in range(MAX_SUFFIX):
        path = folder / (f"{base}{suffix}" if attempt == 0 else f"{base}-{attempt + 1}{suffix}")
        try:
            create_exclusively(path, data)
        except FileExistsError:
            continue
        return path
    raise InvalidInputError(f"Could not find a free file name in {folder}. Pass another folder.")
