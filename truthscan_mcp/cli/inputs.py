"""What a person typed after `detect`, turned into the inputs of one run.

Any mix of files, http(s) URLs, folders and `-` (the bytes on stdin). A folder yields the files
whose CONTENT is an image TruthScan reads (the first bytes, as `media.formats` sniffs them), so
`photo` without an extension or `.hidden.jpg` counts and a PDF named `scan.jpg` does not; every
file left out is named with the reason. A file named on the command line is always a row of its
own: the person asked for it, so a wrong one is an error they see, not a silent skip.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from truthscan_mcp.detection.batch import BatchInput
from truthscan_mcp.errors import InvalidInputError, TruthScanError
from truthscan_mcp.media.formats import (
    MAX_IMAGE_BYTES,
    SNIFF_BYTES,
    describe_supported,
    describe_unsupported,
    sniff_format,
)
from truthscan_mcp.media.paths import allowed_path, parse_path
from truthscan_mcp.sanitize import counted
from truthscan_mcp.settings import Settings

STDIN = "-"


@dataclass(frozen=True)
class Skipped:
    """A file in a folder that is not detected, and why (shown on stderr, listed in JSON)."""

    source: str
    reason: str


@dataclass
class Gathered:
    inputs: list[BatchInput] = field(default_factory=list[BatchInput])
    skipped: list[Skipped] = field(default_factory=list[Skipped])
    #: arguments that yielded nothing at all (a folder that cannot be read, an empty stdin)
    problems: list[str] = field(default_factory=list[str])
    #: how many arguments were folders (`--recursive` and `--pattern` apply to nothing else)
    folders: int = 0


def is_url(arg: str) -> bool:
    return arg[:8].lower().startswith(("http://", "https://"))


def gather(
    args: Sequence[str], settings: Settings, *, recursive: bool, pattern: str | None, stdin: BinaryIO
) -> Gathered:
    """The run's inputs in the order given (a folder's files sorted); blocking, so the caller
    runs it in a worker thread."""
    found = Gathered()
    for arg in args:
        if arg == STDIN:
            _read_stdin(stdin, found)
        elif is_url(arg):
            found.inputs.append(BatchInput("url", arg))
        elif _is_folder(arg):
            found.folders += 1
            try:
                _list_folder(arg, settings, recursive=recursive, pattern=pattern, found=found)
            except TruthScanError as exc:
                found.problems.append(exc.message)
        else:
            found.inputs.append(BatchInput("path", arg))
    return found


def _is_folder(arg: str) -> bool:
    try:
        path, _ = parse_path(arg, "directory")
        return path.is_dir()
    except (TruthScanError, OSError):
        return False  # the file path's own check says what is wrong with it


def _read_stdin(stdin: BinaryIO, found: Gathered) -> None:
    if stdin.isatty():
        found.problems.append(
            "`-` reads an image from stdin, but stdin is the terminal: pipe the image in, e.g. "
            "`cat photo.jpg | truthscan-mcp detect -`."
        )
        return
    data = stdin.read(MAX_IMAGE_BYTES + 1)
    if not data:
        found.problems.append(
            "`-` reads an image from stdin, but nothing came: pipe an image into the command."
        )
        return
    found.inputs.append(BatchInput("data", STDIN, data=base64.b64encode(data).decode("ascii")))


def _list_folder(
    arg: str, settings: Settings, *, recursive: bool, pattern: str | None, found: Gathered
) -> None:
    checked = allowed_path(arg, list(settings.allowed_dirs), "directory", settings.hints)
    root, real = checked.absolute, checked.resolved
    try:
        with os.scandir(real):
            pass
    except PermissionError:
        raise InvalidInputError(
            f"The folder {root} cannot be read: permission denied. Make it readable for your user."
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"The folder {root} cannot be read: {exc.strerror or exc}.") from None
    recursive = recursive or bool(pattern and "/" in pattern)
    glob = (pattern or "").replace("**/", "")
    before, not_matching = len(found.inputs), 0
    for current, dirs, files in os.walk(real, onerror=lambda exc: _unreadable(exc, real, root, found)):
        here = Path(current)
        kept: list[str] = []
        for name in sorted(dirs):
            reason = _folder_left_out(here / name, name, recursive)
            if reason:
                found.skipped.append(Skipped(str(root / (here / name).relative_to(real)), reason))
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            shown = root / (here / name).relative_to(real)
            rel = (here / name).relative_to(real).as_posix()
            if glob and not (fnmatch.fnmatch(name, glob) or fnmatch.fnmatch(rel, glob)):
                not_matching += 1
                continue
            reason = _not_an_image(here / name)
            if reason:
                found.skipped.append(Skipped(str(shown), reason))
            else:
                found.inputs.append(BatchInput("path", str(shown)))
        if not recursive:
            break
    if not_matching:
        found.skipped.append(
            Skipped(str(root), f"{counted(not_matching, 'file')} not matching --pattern {pattern!r} left out")
        )
    if len(found.inputs) == before:
        below = " or below it" if recursive else " (add --recursive to look into its subfolders)"
        raise InvalidInputError(f"No image in the folder {root}{below}; nothing to detect there.")


def _unreadable(exc: OSError, real: Path, root: Path, found: Gathered) -> None:
    where = Path(exc.filename) if exc.filename else real
    shown = root / where.relative_to(real) if where.is_relative_to(real) else where
    if where != real:
        found.skipped.append(Skipped(str(shown), f"folder cannot be read: {exc.strerror or exc}"))


def _folder_left_out(path: Path, name: str, recursive: bool) -> str | None:
    if not recursive:
        return None  # not looked into, and not a file: nothing was skipped
    if name.startswith("."):
        return "hidden folder, not looked into"
    if path.is_symlink():
        return "a link to a folder, not followed (it could lead outside the allowed folders)"
    return None


def _not_an_image(path: Path) -> str | None:
    """Why a folder's file is left out, or None when its first bytes are an image TruthScan reads.

    stat() first, never open(): opening a FIFO waits for a writer that may never come.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    try:
        with open(path, "rb") as file:
            head = file.read(SNIFF_BYTES)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if sniff_format(head) is not None:
        return None
    looks = describe_unsupported(head)
    what = f"{looks}, " if looks else ""
    return f"{what}not an image format TruthScan reads ({describe_supported()})"
