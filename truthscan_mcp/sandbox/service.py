"""The TruthScan endpoints' behaviour: presign, upload, detect, query, credits, health, storage.

Each operation follows the API reference's observable behaviour, including its order of
checks and its refusals, because clients are written against exactly those details. Inputs
arrive already parsed (the HTTP layer validates bodies first, as FastAPI does before any
handler runs) and answers leave as `sandbox.answers` values, so this module is plain Python.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple
from urllib.parse import quote, urlencode

from pydantic import BaseModel

from truthscan_mcp.provenance.containers import sniff_format
from truthscan_mcp.sandbox.answers import Answer, ApiRefusal, FileAnswer, JsonAnswer, StorageRefusal
from truthscan_mcp.sandbox.config import (
    MAX_IMAGE_BYTES,
    MIN_IMAGE_BYTES,
    SUPPORTED_EXTENSIONS,
    UPLOAD_CONTENT_TYPES,
)
from truthscan_mcp.sandbox.documents import Document, render
from truthscan_mcp.sandbox.fake_heatmap import heatmap_size, render_heatmap
from truthscan_mcp.sandbox.faults import DOCUMENT_MARKS, ConnectionDropped
from truthscan_mcp.sandbox.simulator import Simulator
from truthscan_mcp.sandbox.state import StoredUpload
from truthscan_mcp.sandbox.verdict import Verdict, judge

_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,255}")
#: Past this, an oversized upload is refused without reading it (and the connection closed).
_DRAIN_LIMIT: Final = 4 * MAX_IMAGE_BYTES
_USER_VERIFICATION_FAILED: Final = ApiRefusal(403, "User verification failed")
_NO_SUCH_KEY: Final = StorageRefusal(404, "NoSuchKey", "The specified key does not exist.")


class DetectRequest(BaseModel):
    """The `/detect` body; fields the simulator does not use are still type-checked."""

    key: str
    url: str
    generate_preview: bool = False
    generate_analysis_details: bool = False
    document_type: str = "Image"
    email: str | None = None


class QueryRequest(BaseModel):
    id: str


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """A presigned PUT: the URL's token and signature, the headers S3 checks, the body.

    `body` is read lazily; an exception it raises (the client hung up) propagates out of
    `upload` and nothing is stored.
    """

    token: str
    signature: str | None
    acl: str
    content_type: str
    content_length: str
    body: AsyncIterable[bytes]


# --- the detection flow ------------------------------------------------------------------------


def presign(sim: Simulator, *, key: str | None, file_name: str, base_url: str) -> Answer:
    if sim.state.account(key, sim.config) is None:
        return _USER_VERIFICATION_FAILED
    if not _SAFE_NAME.fullmatch(file_name):
        return ApiRefusal(400, "Invalid pre-signed URL")
    extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
    if extension not in SUPPORTED_EXTENSIONS:
        return ApiRefusal(400, "Unsupported file format")
    grant = sim.state.issue_grant(file_name, sim.clock())
    query = urlencode(
        {
            "file_name": file_name,
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "X-Amz-Expires": str(max(1, math.ceil(sim.config.presign_ttl_seconds))),
            "X-Amz-SignedHeaders": "host;x-amz-acl",
            "X-Amz-Signature": grant.signature,
        },
        quote_via=quote,
    )
    return JsonAnswer(
        {
            "status": "success",
            "presigned_url": f"{base_url}/storage-upload/{grant.token}?{query}",
            "file_path": grant.file_path,
            "document_id": str(uuid.uuid4()),
        }
    )


async def upload(sim: Simulator, request: UploadRequest) -> Answer:
    grant = sim.state.grant(request.token)
    expired_by_fault = sim.faults.take("upload", frozenset({"expired_upload"}), sim.config.seed)
    now = sim.clock()
    if expired_by_fault or (grant and now - grant.issued_at > sim.config.presign_ttl_seconds):
        return StorageRefusal(403, "AccessDenied", "Request has expired")
    if grant is None:
        return StorageRefusal(403, "AccessDenied", "Access Denied")
    if request.signature != grant.signature:
        return StorageRefusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    if request.acl.strip().lower() != "private":
        return StorageRefusal(403, "AccessDenied", "The x-amz-acl header must be 'private'")
    content_type = request.content_type.partition(";")[0].strip().lower()
    if content_type not in UPLOAD_CONTENT_TYPES:
        shown = content_type or "(none)"
        return StorageRefusal(400, "InvalidArgument", f"Unsupported Content-Type {shown!r}")
    declared = request.content_length
    if declared.isdigit() and int(declared) > _DRAIN_LIMIT:
        return _too_large(close=True)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.body:
        received += len(chunk)
        if received <= MAX_IMAGE_BYTES:
            chunks.append(chunk)
        elif received > _DRAIN_LIMIT:
            return _too_large(close=True)
    if received > MAX_IMAGE_BYTES:
        return _too_large(close=False)  # drained: the connection stays usable
    data = b"".join(chunks)
    sim.state.store(grant.file_path, StoredUpload(data, content_type))
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return FileAnswer(b"", headers={"ETag": f'"{etag}"'})


def detect(sim: Simulator, body: DetectRequest) -> Answer:
    """Charge, then create the document; raises `ConnectionDropped` for "reset_after_accept"
    (after the document exists and the credit is spent, which is the point of that fault)."""
    config = sim.config
    charge = sim.state.charge(body.key, config)
    if charge == "invalid_key":
        return _USER_VERIFICATION_FAILED
    if charge == "not_enough_credits":
        return ApiRefusal(403, "Not enough credits")
    marks = frozenset(rule.kind for rule in sim.faults.take_all("detect", DOCUMENT_MARKS, config.seed))
    found = sim.state.upload_for_url(body.url)
    verdict, error = _process(None if found is None else found.upload)
    document = Document(
        id=str(uuid.uuid4()),
        created_at=sim.clock(),
        timings=sim.timings.draw(config),
        verdict=verdict,
        error_message=error,
        generate_preview=body.generate_preview,
        generate_analysis=body.generate_analysis_details,
        marks=marks,
        upload_path=None if found is None else found.path,
    )
    sim.state.add_document(document)
    if sim.faults.take("detect", frozenset({"reset_after_accept"}), config.seed):
        raise ConnectionDropped
    return JsonAnswer({"id": document.id, "status": "pending"})


def query(sim: Simulator, body: QueryRequest, *, base_url: str) -> Answer:
    sim.state.count_query()
    document = sim.state.document(body.id)
    if document is None:
        return JsonAnswer(None)
    now = sim.clock()
    sim.state.record_query(document.id, now - document.created_at)
    flat = sim.config.flat_schema or "flat_schema" in document.marks
    return JsonAnswer(render(document, now=now, base_url=base_url, flat=flat))


# --- account and service -----------------------------------------------------------------------


def credits(sim: Simulator, *, key: str | None) -> Answer:
    account = sim.state.account(key, sim.config)
    if account is None:
        return _USER_VERIFICATION_FAILED
    return JsonAnswer({"baseCredits": account.base, "boostCredits": account.boost, "credits": account.total})


def health() -> Answer:
    return JsonAnswer({"status": "healthy", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


# --- storage -----------------------------------------------------------------------------------


def heatmap(sim: Simulator, *, name: str) -> Answer:
    document = sim.state.document(name.removesuffix(".png"))
    if document is None or document.verdict is None or not document.heatmap_ready(sim.clock()):
        return _NO_SUCH_KEY
    verdict = document.verdict
    width, height = heatmap_size(verdict.findings.width, verdict.findings.height)
    png = render_heatmap(bytes.fromhex(verdict.sha256), verdict.score, width, height)
    return FileAnswer(png, "image/png")


def preview(sim: Simulator, *, name: str) -> Answer:
    document = sim.state.document(name.rpartition(".")[0])
    stored = sim.state.upload(document.upload_path) if document and document.upload_path else None
    if document is None or not document.generate_preview or stored is None:
        return _NO_SUCH_KEY
    return FileAnswer(stored.data, stored.content_type)


def stored_file(sim: Simulator, *, path: str) -> Answer:
    stored = sim.state.upload(path)
    if stored is None:
        return _NO_SUCH_KEY
    return FileAnswer(stored.data, stored.content_type)


class Processed(NamedTuple):
    """The verdict, or why processing will fail — decided up front, revealed over time."""

    verdict: Verdict | None
    error: str | None


def _process(stored: StoredUpload | None) -> Processed:
    """The verdict, or why processing will fail — decided up front, revealed over time."""
    if stored is None:
        return Processed(None, "Image upload never completed: no image is stored at this URL")
    size = len(stored.data)
    if size < MIN_IMAGE_BYTES:
        return Processed(None, f"Image too small: {size} bytes, the minimum is 1 KB")
    if size > MAX_IMAGE_BYTES:
        return Processed(None, f"Image too large: {size} bytes, the maximum is 10 MB")
    if sniff_format(stored.data) is None:
        return Processed(
            None,
            "Unsupported file format: the upload is not a JPG, PNG, WebP, HEIC/HEIF, AVIF, BMP or TIFF image",
        )
    return Processed(judge(stored.data), None)


def _too_large(*, close: bool) -> StorageRefusal:
    message = "Your proposed upload exceeds the maximum allowed size"
    return StorageRefusal(400, "EntityTooLarge", message, close=close)
