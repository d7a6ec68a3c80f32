"""Turning a user's image argument (a path, a URL, inline data, the clipboard or an upload)
into validated bytes.

Everything here runs before a single credit is spent, and most of what it refuses is refused
for a reason the person can fix; so every refusal says what happened and what to do. The
inputs come from an AI assistant acting on instructions it may have read anywhere, which is
why local paths are confined to allowed directories and URLs to public addresses.

This module only dispatches: each source has its own module (`paths`, `download`, `inline`,
`clipboard`, `uploads`), all ending in the one hashing reader and content check of `image`.
"""

from __future__ import annotations

import re

from truthscan_mcp.errors import InvalidInputError
from truthscan_mcp.media.clipboard import load_clipboard
from truthscan_mcp.media.download import load_url
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.inline import load_data
from truthscan_mcp.media.paths import load_path
from truthscan_mcp.media.uploads import UploadStore
from truthscan_mcp.settings import Settings


async def load_image(
    *,
    path: str | None = None,
    url: str | None = None,
    data: str | None = None,
    settings: Settings,
    http_timeout: float = 30.0,
    clipboard: bool = False,
    upload: str | None = None,
    uploads: UploadStore | None = None,
    wait_seconds: float = 0.0,
) -> LoadedImage:
    """Validate exactly one image source and return its bytes' description.

    A blank string counts as "not given": some MCP clients send every optional argument,
    filling the unused ones with "". An `upload` that has not arrived is waited for up to
    `wait_seconds`.
    """
    given: list[tuple[str, str]] = []
    for key, value in (("path", path), ("url", url), ("data", data), ("upload", upload)):
        if value is not None and not _blank(value):
            given.append((key, value))
    if clipboard:
        given.append(("clipboard", "true"))
    if not given:
        raise InvalidInputError(
            "No image was given. Pass exactly one of `path` (a local file path or file:// URI), "
            "`url` (an http or https address), `data` (base64, or a data:image/...;base64, URI), "
            "`clipboard: true` (the image the person copied) or `upload` (the upload_id from "
            "request_image). If the person attached or pasted the image in the chat, it did not "
            "reach this server: call request_image, or ask them to copy it and use the clipboard."
        )
    if len(given) > 1:
        names = " and ".join(f"`{key}`" for key, _ in given)
        raise InvalidInputError(
            f"Several image sources were given ({names}); pass exactly one of `path`, `url`, "
            "`data`, `clipboard` or `upload`."
        )
    key, value = given[0]
    if key == "path":
        return await load_path(value, settings.allowed_dirs, settings.hints)
    if key == "clipboard":
        return await load_clipboard(settings.allowed_dirs, settings.hints)
    if key == "upload":
        if uploads is None:
            raise InvalidInputError("This server takes no uploads: pass `path`, `url` or `data` instead.")
        return await uploads.take(value.strip(), wait_seconds)
    if key == "url":
        if http_timeout <= 0:
            raise ValueError("http_timeout must be positive")
        return await load_url(
            value,
            allow_private=settings.allow_private_urls,
            timeout=http_timeout,
            private_hint=settings.hints.private_urls_hint(),
        )
    return load_data(value)


def _blank(value: str) -> bool:
    # isspace() stops at the first non-space character: no copy of a huge `data` string.
    return value == "" or value.isspace()


# --- document ids -------------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def validate_document_id(value: str) -> str:
    """The id in canonical lower-case form, or an error before any request is made.

    Only hyphenated UUIDs (optionally in braces or as urn:uuid:) are accepted: an id is a
    capability at TruthScan, so anything else is far more likely a mix-up (a file name, a
    sha256, a truncated copy) than a variant worth guessing at.
    """
    text = value.strip()
    candidate = text
    if candidate[:9].lower() == "urn:uuid:":
        candidate = candidate[9:]
    elif candidate.startswith("{") and candidate.endswith("}"):
        candidate = candidate[1:-1]
    if _UUID.fullmatch(candidate):
        return candidate.lower()
    shown = text if len(text) <= 48 else text[:45] + "..."
    raise InvalidInputError(
        f"{shown!r} is not a TruthScan document id: a TruthScan id is a UUID like "
        "77565038-9e3d-4e6a-8c80-e20785be5ee9, as returned by detect_image."
    )
