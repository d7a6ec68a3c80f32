"""Local paths from a user's arguments: one parser and one allowed-directories check.

Both the single-image `path` and a batch's `directory` come from an AI assistant acting on
instructions it may have read anywhere, so both are confined to the allowed directories by
the same code, in the same order, with the same words: the check comes before anything that
would reveal whether the path exists, and it judges the path after symlinks and '..'.
`load_path` reads the file it names into a `LoadedImage`; the rest touch the file system
synchronously, so it runs them in a worker thread.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import anyio

from truthscan_mcp.errors import InvalidInputError, SourceNotAllowedError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, sanitize_upload_name
from truthscan_mcp.media.image import (
    LoadedImage,
    check_content,
    file_chunks,
    open_regular,
    over_limit,
    read_digest,
    too_large,
)
from truthscan_mcp.settings import ENVIRONMENT_HINTS, SettingHints

PathKind = Literal["file", "directory"]


@dataclass(frozen=True)
class AllowedPath:
    """A user path that passed the allowed-directories check."""

    #: as given, made absolute: what messages show and what a listing is relative to
    absolute: Path
    #: after following symlinks and '..': what is actually read
    resolved: Path
    #: True when the user gave a relative path (resolved against the working directory)
    relative: bool


@dataclass(frozen=True)
class LocatedFile:
    """A regular file inside the allowed directories, with the size stat() saw."""

    resolved: Path
    display: str
    name: str
    size: int


class ParsedPath(NamedTuple):
    """The path an argument names (file:// decoded, ~ expanded), and whether it was relative."""

    path: Path
    relative: bool


def parse_path(raw: str, kind: PathKind = "file") -> ParsedPath:
    """The path an argument names (file:// decoded, ~ expanded), and whether it is relative."""
    text = raw.strip()
    if text[:5].lower() == "file:":
        parts = urllib.parse.urlsplit(text)
        if parts.netloc.lower() not in ("", "localhost"):
            raise SourceNotAllowedError(
                f"The file URI names another host ({parts.netloc!r}); only local {kind}s can be read "
                "(file:///path or file://localhost/path). For a remote image pass an http(s) `url`."
            )
        local = urllib.request.url2pathname(parts.path)
        if not local:
            raise InvalidInputError("The file:// URI has no path. Pass it as file:///absolute/path.")
        text = local
    if "\x00" in text:
        raise InvalidInputError("The path contains a NUL character, which no file name can contain.")
    try:
        path = Path(text).expanduser()
    except RuntimeError as exc:  # "~someone" for an unknown user, or no home directory
        raise InvalidInputError(f"Cannot expand '~' in {text!r} ({exc}). Pass an absolute path.") from None
    return ParsedPath(path, relative=not path.is_absolute())


def allowed_path(
    raw: str, allowed: Sequence[Path], kind: PathKind = "file", hints: SettingHints = ENVIRONMENT_HINTS
) -> AllowedPath:
    """`raw` parsed and resolved, or refused when it lies outside every allowed directory
    (saying how to add one in the words of `hints`: option, bundle setting or variable)."""
    given, relative = parse_path(raw, kind)
    try:
        absolute = given if given.is_absolute() else Path.cwd() / given
        resolved = Path(os.path.realpath(absolute))
        roots = [Path(os.path.realpath(root)) for root in allowed]
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"The path {raw.strip()!r} cannot be used: {exc}.") from None
    if not any(resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(root) for root in roots) or "none"
        escape = (
            "" if resolved == Path(os.path.normpath(absolute)) else " (after following symlinks and '..')"
        )
        if relative:
            escape += f" (a relative path is resolved against this server's working directory, {Path.cwd()})"
        remedy = "Copy the image into one of them" if kind == "file" else "Move the images into one of them"
        raise SourceNotAllowedError(
            f"The {kind} {absolute} is outside the directories this server may read{escape}. "
            f"Allowed directories: {listed}. {remedy}, {hints.add_folder_hint()}."
        )
    return AllowedPath(absolute=absolute, resolved=resolved, relative=relative)


def locate_file(raw: str, allowed: Sequence[Path], hints: SettingHints = ENVIRONMENT_HINTS) -> LocatedFile:
    """Resolve and vet the path of one image file.

    The file type is read with stat() — never by opening it — because opening a FIFO blocks
    until a writer appears.
    """
    path = allowed_path(raw, allowed, "file", hints)
    display = str(path.absolute)
    try:
        info = os.stat(path.resolved)
    except FileNotFoundError:
        hint = (
            f" A relative path is resolved against this server's working directory ({Path.cwd()}); "
            "pass an absolute path instead."
            if path.relative
            else ""
        )
        raise InvalidInputError(
            f"There is no file at {display}.{hint} The file must exist on the machine running this "
            "MCP server; otherwise pass the image as `url` or `data`."
        ) from None
    except PermissionError:
        raise InvalidInputError(
            f"The file {display} cannot be read: permission denied. Make it readable by the user "
            "running this server, or pass the image as `data`."
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"The file {display} cannot be read: {exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"{display} is a directory, not a file. Pass the path of one image file.")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(
            f"{display} is not a regular file (it is a {_file_kind(info.st_mode)}). "
            "Pass the path of an image file."
        )
    return LocatedFile(path.resolved, display, path.absolute.name or path.resolved.name, info.st_size)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO / named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


async def load_path(
    raw: str, allowed: Sequence[Path], hints: SettingHints = ENVIRONMENT_HINTS
) -> LoadedImage:
    """The image file `raw` names, read once for its size, hash and format."""
    located = await anyio.to_thread.run_sync(locate_file, raw, list(allowed), hints)
    what = f"The file {located.display}"
    if located.size > MAX_IMAGE_BYTES:
        raise too_large(what, located.size)
    file = await open_regular(located.resolved, located.display)
    try:
        digest = await read_digest(file_chunks(file))
    finally:
        with anyio.CancelScope(shield=True):
            await file.aclose()
    if digest.size > MAX_IMAGE_BYTES:
        raise over_limit(what, "it grew while it was being read")
    if digest.size != located.size:
        raise InvalidInputError(
            f"{what} changed while it was being read ({located.size:,} bytes, then {digest.size:,}). "
            "Wait until it is completely written, then try again."
        )
    fmt = check_content(digest, what)
    return LoadedImage(
        kind="path",
        name=located.name,
        upload_name=sanitize_upload_name(located.name, fmt),
        format=fmt,
        size=digest.size,
        sha256=digest.sha256,
        path=located.resolved,
        location=located.display,
    )
