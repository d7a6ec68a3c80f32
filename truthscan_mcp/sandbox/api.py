"""The TruthScan endpoints themselves: presign, upload, detect, query, credits, health, storage.

Each handler follows the API reference's observable behaviour, including its order of checks
(FastAPI validates the body before the handler looks at the key) and its error dialects,
because clients are written against exactly those details.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urlencode

from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from truthscan_mcp.provenance.containers import sniff_format
from truthscan_mcp.sandbox.config import (
    MAX_IMAGE_BYTES,
    MIN_IMAGE_BYTES,
    SUPPORTED_EXTENSIONS,
    UPLOAD_CONTENT_TYPES,
)
from truthscan_mcp.sandbox.documents import Document, Timings, render
from truthscan_mcp.sandbox.faults import DOCUMENT_MARKS, ConnectionDropped
from truthscan_mcp.sandbox.heatmap import heatmap_size, render_heatmap
from truthscan_mcp.sandbox.responses import (
    api_error,
    base_url,
    client_gone,
    missing,
    read_json_model,
    s3_error,
    validation_error,
)
from truthscan_mcp.sandbox.state import StoredUpload
from truthscan_mcp.sandbox.verdict import Verdict, judge

if TYPE_CHECKING:
    from truthscan_mcp.sandbox.app import Sandbox

_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,255}")
#: Past this, an oversized upload is refused without reading it (and the connection closed).
_DRAIN_LIMIT: Final = 4 * MAX_IMAGE_BYTES
_USER_VERIFICATION_FAILED: Final = "User verification failed"


class DetectRequest(BaseModel):
    key: str
    url: str
    generate_preview: bool = False
    generate_analysis_details: bool = False
    document_type: str = "Image"
    email: str | None = None


class QueryRequest(BaseModel):
    id: str


class TruthScanAPI:
    """The public API's handlers, bound to one sandbox's state, config and faults."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def routes(self) -> list[Route]:
        return [
            Route("/get-presigned-url", self.presign, methods=["GET"]),
            Route("/storage-upload/{token}", self.upload, methods=["PUT"]),
            Route("/detect", self.detect, methods=["POST"]),
            Route("/query", self.query, methods=["POST"]),
            Route("/check-user-credits", self.credits, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/storage/heatmaps/{name}", self.heatmap, methods=["GET"]),
            Route("/storage/previews/{name}", self.preview, methods=["GET"]),
            Route("/storage/{path:path}", self.stored_file, methods=["GET"]),
        ]

    # --- the detection flow ----------------------------------------------------------------

    async def presign(self, request: Request) -> Response:
        sandbox = self._sandbox
        file_name = request.query_params.get("file_name")
        if file_name is None:
            return validation_error([missing("query", "file_name")])
        if sandbox.state.account(request.headers.get("apikey"), sandbox.config) is None:
            return api_error(403, _USER_VERIFICATION_FAILED)
        if not _SAFE_NAME.fullmatch(file_name):
            return api_error(400, "Invalid pre-signed URL")
        extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
        if extension not in SUPPORTED_EXTENSIONS:
            return api_error(400, "Unsupported file format")
        grant = sandbox.state.issue_grant(file_name, sandbox.clock())
        query = urlencode(
            {
                "file_name": file_name,
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                "X-Amz-Expires": str(max(1, math.ceil(sandbox.config.presign_ttl_seconds))),
                "X-Amz-SignedHeaders": "host;x-amz-acl",
                "X-Amz-Signature": grant.signature,
            },
            quote_via=quote,
        )
        return JSONResponse(
            {
                "status": "success",
                "presigned_url": f"{base_url(request)}/storage-upload/{grant.token}?{query}",
                "file_path": grant.file_path,
                "document_id": str(uuid.uuid4()),
            }
        )

    async def upload(self, request: Request) -> Response:
        sandbox = self._sandbox
        grant = sandbox.state.grant(request.path_params["token"])
        expired_by_fault = sandbox.faults.take("upload", frozenset({"expired_upload"}), sandbox.config.seed)
        now = sandbox.clock()
        if expired_by_fault or (grant and now - grant.issued_at > sandbox.config.presign_ttl_seconds):
            return s3_error(403, "AccessDenied", "Request has expired")
        if grant is None:
            return s3_error(403, "AccessDenied", "Access Denied")
        if request.query_params.get("X-Amz-Signature") != grant.signature:
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if request.headers.get("x-amz-acl", "").strip().lower() != "private":
            return s3_error(403, "AccessDenied", "The x-amz-acl header must be 'private'")
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type not in UPLOAD_CONTENT_TYPES:
            return s3_error(400, "InvalidArgument", f"Unsupported Content-Type {content_type or '(none)'!r}")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _DRAIN_LIMIT:
            return _too_large(close=True)
        chunks: list[bytes] = []
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received <= MAX_IMAGE_BYTES:
                    chunks.append(chunk)
                elif received > _DRAIN_LIMIT:
                    return _too_large(close=True)
        except ClientDisconnect:
            return client_gone()  # an upload abandoned half-way stores nothing
        if received > MAX_IMAGE_BYTES:
            return _too_large(close=False)  # drained: the connection stays usable
        data = b"".join(chunks)
        sandbox.state.store(grant.file_path, StoredUpload(data, content_type, now))
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return Response(b"", 200, {"ETag": f'"{etag}"'})

    async def detect(self, request: Request) -> Response:
        sandbox = self._sandbox
        body = await read_json_model(request, DetectRequest)
        if isinstance(body, JSONResponse):
            return body
        config = sandbox.config
        charge = sandbox.state.charge(body.key, config)
        if charge == "invalid_key":
            return api_error(403, _USER_VERIFICATION_FAILED)
        if charge == "not_enough_credits":
            return api_error(403, "Not enough credits")
        marks = frozenset(
            rule.kind for rule in sandbox.faults.take_all("detect", DOCUMENT_MARKS, config.seed)
        )
        found = sandbox.state.upload_for_url(body.url)
        verdict, error = _process(None if found is None else found[1])
        document = Document(
            id=str(uuid.uuid4()),
            created_at=sandbox.clock(),
            timings=Timings(config.processing_seconds, config.analysis_seconds, config.heatmap_seconds),
            verdict=verdict,
            error_message=error,
            generate_preview=body.generate_preview,
            generate_analysis=body.generate_analysis_details,
            marks=marks,
            upload_path=None if found is None else found[0],
        )
        sandbox.state.add_document(document)
        if sandbox.faults.take("detect", frozenset({"reset_after_accept"}), config.seed):
            raise ConnectionDropped
        return JSONResponse({"id": document.id, "status": "pending"})

    async def query(self, request: Request) -> Response:
        sandbox = self._sandbox
        body = await read_json_model(request, QueryRequest)
        if isinstance(body, JSONResponse):
            return body
        sandbox.state.count_query()
        document = sandbox.state.document(body.id)
        if document is None:
            return JSONResponse(None)
        flat = sandbox.config.flat_schema or "flat_schema" in document.marks
        return JSONResponse(render(document, now=sandbox.clock(), base_url=base_url(request), flat=flat))

    # --- account and service ---------------------------------------------------------------

    async def credits(self, request: Request) -> Response:
        sandbox = self._sandbox
        account = sandbox.state.account(request.headers.get("apikey"), sandbox.config)
        if account is None:
            return api_error(403, _USER_VERIFICATION_FAILED)
        return JSONResponse(
            {"baseCredits": account.base, "boostCredits": account.boost, "credits": account.total}
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {"status": "healthy", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        )

    # --- storage ---------------------------------------------------------------------------

    async def heatmap(self, request: Request) -> Response:
        sandbox = self._sandbox
        document = sandbox.state.document(request.path_params["name"].removesuffix(".png"))
        if document is None or document.verdict is None or not document.heatmap_ready(sandbox.clock()):
            return _no_such_key()
        verdict = document.verdict
        width, height = heatmap_size(verdict.findings.width, verdict.findings.height)
        png = render_heatmap(bytes.fromhex(verdict.sha256), verdict.score, width, height)
        return Response(png, 200, media_type="image/png")

    async def preview(self, request: Request) -> Response:
        sandbox = self._sandbox
        document = sandbox.state.document(request.path_params["name"].rpartition(".")[0])
        upload = sandbox.state.upload(document.upload_path) if document and document.upload_path else None
        if document is None or not document.generate_preview or upload is None:
            return _no_such_key()
        return Response(upload.data, 200, media_type=upload.content_type)

    async def stored_file(self, request: Request) -> Response:
        upload = self._sandbox.state.upload(request.path_params["path"])
        if upload is None:
            return _no_such_key()
        return Response(upload.data, 200, media_type=upload.content_type)


def _process(upload: StoredUpload | None) -> tuple[Verdict | None, str | None]:
    """The verdict, or why processing will fail — decided up front, revealed over time."""
    if upload is None:
        return None, "Image upload never completed: no image is stored at this URL"
    size = len(upload.data)
    if size < MIN_IMAGE_BYTES:
        return None, f"Image too small: {size} bytes, the minimum is 1 KB"
    if size > MAX_IMAGE_BYTES:
        return None, f"Image too large: {size} bytes, the maximum is 10 MB"
    if sniff_format(upload.data) is None:
        return (
            None,
            "Unsupported file format: the upload is not a JPG, PNG, WebP, HEIC/HEIF, AVIF, BMP or TIFF image",
        )
    return judge(upload.data), None


def _too_large(*, close: bool) -> Response:
    return s3_error(
        400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", close=close
    )


def _no_such_key() -> Response:
    return s3_error(404, "NoSuchKey", "The specified key does not exist.")
