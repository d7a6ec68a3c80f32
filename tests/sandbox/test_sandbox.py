"""The simulator itself, exercised over real HTTP the way the API reference documents it."""

from __future__ import annotations

import random
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import truthscan_mcp.samples
from truthscan_mcp.sandbox import FaultRule, Sandbox, SandboxConfig, inspect_image, judge
from truthscan_mcp.sandbox.fake_heatmap import encode_png_rgb

if TYPE_CHECKING:
    from tests.support import SandboxServer

KEY = "test-key"
SAMPLES = Path(truthscan_mcp.samples.__file__).parent
AI_PNG = (SAMPLES / "ai-generated.png").read_bytes()
CAMERA_JPG = (SAMPLES / "camera-photo.jpg").read_bytes()

Doc = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sandbox.api_url, timeout=5) as http:
        yield http


def noise_png(seed: int, side: int = 32) -> bytes:
    """A valid PNG of random pixels (incompressible, so well over 1 KB) with no metadata."""
    rng = random.Random(seed)
    return encode_png_rgb(side, side, bytes(rng.randrange(256) for _ in range(side * side * 3)))


def upload(client: httpx2.Client, data: bytes, name: str, content_type: str) -> str:
    presigned = client.get("/get-presigned-url", params={"file_name": name}, headers={"apikey": KEY})
    assert presigned.status_code == 200, presigned.text
    put = client.put(
        presigned.json()["presigned_url"],
        content=data,
        headers={"Content-Type": content_type, "x-amz-acl": "private"},
    )
    assert put.status_code == 200, put.text
    return presigned.json()["file_path"]


def submit(client: httpx2.Client, server: SandboxServer, file_path: str, **options: object) -> str:
    answer = client.post("/detect", json={"key": KEY, "url": f"{server.storage_url}/{file_path}", **options})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending"
    return answer.json()["id"]


def detect(
    client: httpx2.Client, server: SandboxServer, data: bytes, name: str, ctype: str, **options: object
) -> str:
    return submit(client, server, upload(client, data, name, ctype), **options)


def query(client: httpx2.Client, doc_id: str) -> Doc:
    answer = client.post("/query", json={"id": doc_id})
    assert answer.status_code == 200
    return answer.json()


def poll(client: httpx2.Client, doc_id: str, until: Callable[[Doc], bool], timeout: float = 5.0) -> list[Doc]:
    """Every snapshot seen until `until` holds (the last one satisfies it)."""
    seen: list[Doc] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(query(client, doc_id))
        if until(seen[-1]):
            return seen
        time.sleep(0.03)
    raise AssertionError(f"document never settled: {seen[-1]}")


def settled(doc: Doc) -> bool:
    details: Doc = doc.get("result_details") or {}
    return doc["status"] in ("done", "failed") and details.get("analysis_results_status") != "pending"


def fast(server: SandboxServer) -> None:
    server.sandbox.config.processing_seconds = 0.03
    server.sandbox.config.analysis_seconds = 0.0
    server.sandbox.config.heatmap_seconds = 0.0


def check_png(data: bytes) -> tuple[int, int]:
    """Verify a PNG's chunk CRCs and pixel data length; return its size."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert len(zlib.decompress(idat)) == size[1] * (1 + 3 * size[0])
    return size


# --- the documented flow ---------------------------------------------------------------------


def test_documented_flow_goes_pending_analyzing_done_then_analysis_and_heatmap(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    sandbox.sandbox.config.processing_seconds = 0.6  # each state long enough to be seen on a busy machine
    sandbox.sandbox.config.analysis_seconds = 0.6  # so is the analysis still pending once the verdict is
    doc_id = detect(client, sandbox, AI_PNG, "ai-generated.png", "image/png", generate_analysis_details=True)

    snapshots = poll(client, doc_id, lambda d: d["status"] == "done")
    statuses = [s["status"] for s in snapshots]
    assert statuses[0] == "pending"
    assert "analyzing" in statuses
    assert statuses.index("analyzing") < statuses.index("done")
    analyzing = next(s for s in snapshots if s["status"] == "analyzing")
    assert analyzing["result_details"]["detection_step"] == 1
    assert "final_result" not in analyzing["result_details"]
    assert snapshots[-1]["result_details"]["analysis_results_status"] == "pending"

    done = poll(client, doc_id, lambda d: d["result_details"]["analysis_results_status"] == "done")[-1]
    details = done["result_details"]
    assert done["simulated"] is True
    assert set(details) >= {"is_valid", "detection_step", "final_result", "metadata", "ocr", "ml_model"}
    assert set(details["analysis_results"]) == {
        "agreement",
        "confidence",
        "keyIndicators",
        "detailedReasoning",
        "visualPatterns",
        "recommendations",
    }
    ready = poll(client, doc_id, lambda d: d["result_details"]["heatmap_status"] == "ready")[-1]
    heatmap = httpx2.get(ready["result_details"]["heatmap_url"], timeout=5)
    assert heatmap.status_code == 200
    assert heatmap.headers["content-type"] == "image/png"
    assert check_png(heatmap.content)[0] > 0


def test_presign_tolerates_cache_busting_parameters(sandbox: SandboxServer, client: httpx2.Client) -> None:
    answer = client.get(
        "/get-presigned-url",
        params={"file_name": "photo.JPG", "_": "1718000000"},
        headers={"apikey": KEY, "Cache-Control": "no-cache"},
    )
    assert answer.status_code == 200
    assert answer.json()["file_path"].startswith("uploads/")
    assert answer.json()["presigned_url"].startswith(sandbox.base_url)


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("my photo.jpg", "Invalid pre-signed URL"),
        ("ph?oto.png", "Invalid pre-signed URL"),
        ("a.gif", "Unsupported file format"),
    ],
)
def test_presign_rejects_bad_file_names(client: httpx2.Client, file_name: str, message: str) -> None:
    answer = client.get("/get-presigned-url", params={"file_name": file_name}, headers={"apikey": KEY})
    assert (answer.status_code, answer.json()) == (400, {"error": message})


def test_presign_without_file_name_is_fastapi_422(client: httpx2.Client) -> None:
    answer = client.get("/get-presigned-url", headers={"apikey": KEY})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "file_name"]


def test_unknown_document_id_answers_null(client: httpx2.Client) -> None:
    answer = client.post("/query", json={"id": "00000000-0000-4000-8000-000000000000"})
    assert answer.status_code == 200
    assert answer.content == b"null"


def test_malformed_bodies_are_fastapi_422(client: httpx2.Client) -> None:
    assert client.post("/query", json={}).json()["detail"][0]["loc"] == ["body", "id"]
    not_json = client.post("/detect", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json()["detail"][0]["type"] == "json_invalid"
    assert client.post("/detect", json={"key": KEY}).json()["detail"][0]["loc"] == ["body", "url"]


def test_health_reports_healthy_with_utc_timestamp(client: httpx2.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert body["timestamp"].endswith("Z")


def test_every_response_is_marked_simulated(sandbox: SandboxServer, client: httpx2.Client) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=503))
    answers = [
        client.get("/health"),
        client.get("/check-user-credits", headers={"apikey": KEY}),  # faulted
        client.get("/check-user-credits", headers={"apikey": "invalid-key"}),
        client.post("/query", json={}),
        client.get("/nowhere"),
        client.delete("/detect"),
        client.get("/storage/uploads/missing.png"),
        client.get("/_sandbox/stats"),
    ]
    assert [a.status_code for a in answers] == [200, 503, 403, 422, 404, 405, 404, 200]
    assert all(a.headers.get("X-TruthScan-Simulated") == "true" for a in answers)
    assert answers[4].json() == {"detail": "Not Found"}


# --- keys and credits ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["invalid-key", ""])
def test_invalid_key_is_refused_everywhere(sandbox: SandboxServer, client: httpx2.Client, key: str) -> None:
    refused = {"error": "User verification failed"}
    presign = client.get("/get-presigned-url", params={"file_name": "a.png"}, headers={"apikey": key})
    credits = client.get("/check-user-credits", headers={"apikey": key})
    detect_answer = client.post("/detect", json={"key": key, "url": f"{sandbox.storage_url}/uploads/x.png"})
    for answer in (presign, credits, detect_answer):
        assert (answer.status_code, answer.json()) == (403, refused)
    assert client.get("/check-user-credits").status_code == 403  # no header at all
    assert sandbox.sandbox.stats.accepted_detects == 0


def test_not_enough_credits_is_refused_without_creating_a_document(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    file_path = upload(client, AI_PNG, "a.png", "image/png")
    sandbox.sandbox.set_credits(KEY, 0)
    answer = client.post("/detect", json={"key": KEY, "url": f"{sandbox.storage_url}/{file_path}"})
    assert (answer.status_code, answer.json()) == (403, {"error": "Not enough credits"})
    assert sandbox.sandbox.stats.accepted_detects == 0
    assert sandbox.sandbox.credits_of(KEY) == 0


def test_each_accepted_detect_costs_the_detection_cost_boost_first(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    sandbox.sandbox.config.detection_cost = 2
    sandbox.sandbox.set_credits(KEY, base=10, boost=3)
    file_path = upload(client, AI_PNG, "a.png", "image/png")
    submit(client, sandbox, file_path)
    submit(client, sandbox, file_path)
    credits = client.get("/check-user-credits", headers={"apikey": KEY}).json()
    assert credits == {"baseCredits": 9, "boostCredits": 0, "credits": 9}
    assert sandbox.sandbox.credits_of(KEY) == 9
    assert sandbox.sandbox.stats.credits_spent == 4


def test_new_keys_get_the_configured_credits(client: httpx2.Client) -> None:
    credits = client.get("/check-user-credits", headers={"apikey": "fresh-key"}).json()
    assert credits == {"baseCredits": 1000, "boostCredits": 100, "credits": 1100}


# --- verdicts --------------------------------------------------------------------------------


def test_ai_sample_is_ai_generated_by_its_generator_signature(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    fast(sandbox)
    doc_id = detect(client, sandbox, AI_PNG, "ai.png", "image/png", generate_analysis_details=True)
    details = poll(client, doc_id, settled)[-1]["result_details"]
    assert details["final_result"] == "AI Generated"
    assert details["detection_step"] == 1
    assert details["ml_model"][0] == "AI Generated"
    assert 95 <= details["confidence"] < 100
    assert any("Stable Diffusion" in line for line in details["metadata"])
    assert any("sd_xl_base_1.0" in line for line in details["metadata"])
    assert details["analysis_results"]["agreement"] == "strong"
    assert "Stable Diffusion" in details["analysis_results"]["detailedReasoning"]


def test_camera_sample_is_real_without_heatmap(sandbox: SandboxServer, client: httpx2.Client) -> None:
    fast(sandbox)
    doc_id = detect(client, sandbox, CAMERA_JPG, "photo.jpg", "image/jpeg")
    doc = poll(client, doc_id, settled)[-1]
    details = doc["result_details"]
    assert details["final_result"] == "Real"
    assert 2 <= doc["result"] <= 15
    assert details["detection_step"] == 3
    assert any("Canon EOS R5" in line for line in details["metadata"])
    assert "heatmap_status" not in details  # only for scores >= 20
    assert (details["analysis_results_status"], details["analysis_results"]) == ("skipped", None)


def test_preview_url_only_when_requested_and_served(sandbox: SandboxServer, client: httpx2.Client) -> None:
    fast(sandbox)
    plain = poll(client, detect(client, sandbox, CAMERA_JPG, "p.jpg", "image/jpeg"), settled)[-1]
    assert "preview_url" not in plain
    doc_id = detect(client, sandbox, CAMERA_JPG, "p.jpg", "image/jpeg", generate_preview=True)
    preview = poll(client, doc_id, settled)[-1]["preview_url"]
    assert httpx2.get(preview, timeout=5).content == CAMERA_JPG


def test_metadata_free_image_is_scored_from_its_hash_deterministically(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    fast(sandbox)
    image = noise_png(7)
    first = poll(client, detect(client, sandbox, image, "n.png", "image/png"), settled)[-1]
    second = poll(client, detect(client, sandbox, image, "n.png", "image/png"), settled)[-1]
    assert first["result"] == second["result"]
    details = first["result_details"]
    assert details["detection_step"] == 3
    assert details["metadata"][0] == "No Information Detected for Real/AI"
    assert details["final_result"] == ("AI Generated" if first["result"] >= 50 else "Real")


def test_editor_software_without_ai_is_digitally_edited() -> None:
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHII", 0x0131, 2, 24, 26) + b"\x00\x00\x00\x00" + b"Adobe Photoshop 25.0 Mac\x00"
    app1 = b"Exif\x00\x00" + tiff
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe1"
        + struct.pack(">H", len(app1) + 2)
        + app1
        + b"\xff\xfe\x04\x02"
        + b"x" * 1024
    )
    verdict = judge(jpeg + b"\xff\xd9")
    assert verdict.final_result == "Digitally Edited"
    assert 25 <= verdict.score <= 45


def test_c2pa_ai_claim_is_ai_generated() -> None:
    blob = noise_png(3)[:-12] + b"caBX" + b"jumb jumd c2pa.actions digitalSourceType trainedAlgorithmicMedia"
    verdict = judge(blob)
    assert verdict.final_result == "AI Generated"
    assert verdict.detection_step == 1


def test_flat_schema_answers_the_older_shape(sandbox: SandboxServer, client: httpx2.Client) -> None:
    fast(sandbox)
    sandbox.sandbox.config.flat_schema = True
    doc = poll(client, detect(client, sandbox, CAMERA_JPG, "p.jpg", "image/jpeg"), settled)[-1]
    assert "result_details" not in doc
    assert "analysis_results_status" not in doc
    assert doc["final_result"] == "Not AI Generated"
    assert doc["confidence"] in ("high", "medium", "low")
    assert doc["metadata"] == {"width": 160, "height": 120, "format": "JPEG", "size": len(CAMERA_JPG)}
    assert set(doc["ocr"]) == {"text", "confidence"}
    assert doc["simulated"] is True


# --- uploads ---------------------------------------------------------------------------------


def presigned_url(client: httpx2.Client, name: str = "a.png") -> str:
    return client.get("/get-presigned-url", params={"file_name": name}, headers={"apikey": KEY}).json()[
        "presigned_url"
    ]


def test_upload_without_private_acl_is_403(client: httpx2.Client) -> None:
    answer = client.put(presigned_url(client), content=AI_PNG, headers={"Content-Type": "image/png"})
    assert answer.status_code == 403
    assert b"<Code>AccessDenied</Code>" in answer.content


def test_upload_with_unsupported_content_type_is_400(client: httpx2.Client) -> None:
    headers = {"Content-Type": "image/gif", "x-amz-acl": "private"}
    assert client.put(presigned_url(client), content=AI_PNG, headers=headers).status_code == 400


def test_presigned_url_expires_after_its_ttl(sandbox: SandboxServer, client: httpx2.Client) -> None:
    sandbox.sandbox.config.presign_ttl_seconds = 0.05
    url = presigned_url(client)
    time.sleep(0.1)
    answer = client.put(url, content=AI_PNG, headers={"Content-Type": "image/png", "x-amz-acl": "private"})
    assert answer.status_code == 403
    assert b"Request has expired" in answer.content


def test_oversized_upload_is_refused_as_entity_too_large(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    headers = {"Content-Type": "image/png", "x-amz-acl": "private"}
    answer = client.put(presigned_url(client), content=b"\x00" * (10 * 1024 * 1024 + 1), headers=headers)
    assert answer.status_code == 400
    assert b"EntityTooLarge" in answer.content
    assert sandbox.sandbox.stats.uploads == 0


def test_tiny_image_processing_fails(sandbox: SandboxServer, client: httpx2.Client) -> None:
    fast(sandbox)
    doc = poll(client, detect(client, sandbox, AI_PNG[:500], "t.png", "image/png"), settled)[-1]
    assert doc["status"] == "failed"
    assert "too small" in doc["error_message"]


def test_detect_of_a_never_uploaded_file_is_charged_then_fails(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    fast(sandbox)
    doc_id = submit(client, sandbox, "uploads/never-there.png")
    doc = poll(client, doc_id, settled)[-1]
    assert doc["status"] == "failed"
    assert "upload never completed" in doc["error_message"]
    assert sandbox.sandbox.credits_of(KEY) == 1099


# --- faults ----------------------------------------------------------------------------------


def test_status_fault_answers_429_with_retry_after(sandbox: SandboxServer, client: httpx2.Client) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="query", kind="status", status=429, retry_after=2))
    answer = client.post("/query", json={"id": "x"})
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2"
    assert answer.json() == {"error": "Too Many Requests"}
    assert client.post("/query", json={"id": "x"}).status_code == 200  # times=1: used up


@pytest.mark.parametrize(
    ("style", "content_type", "body"),
    [
        ("detail", "application/json", b'{"detail":"Bad Gateway"}'),
        (
            "detail_list",
            "application/json",
            b'{"detail":[{"loc":["body"],"msg":"Bad Gateway","type":"value_error"}]}',
        ),
        ("text", "text/plain; charset=utf-8", b"502 Bad Gateway"),
        ("empty", None, b""),
    ],
)
def test_status_fault_body_styles(
    sandbox: SandboxServer, client: httpx2.Client, style: str, content_type: str | None, body: bytes
) -> None:
    sandbox.sandbox.add_fault(
        FaultRule.model_validate({"endpoint": "*", "kind": "status", "status": 502, "body_style": style})
    )
    answer = client.get("/health")
    assert (answer.status_code, answer.headers.get("content-type"), answer.content) == (
        502,
        content_type,
        body,
    )


def test_reset_fault_drops_the_connection(sandbox: SandboxServer, client: httpx2.Client) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="health", kind="reset"))
    with pytest.raises(httpx2.RemoteProtocolError):
        client.get("/health")
    assert client.get("/health").status_code == 200
    assert sandbox.sandbox.stats.requests["health"] == 2


def test_reset_fault_on_upload_stores_nothing(sandbox: SandboxServer, client: httpx2.Client) -> None:
    url = presigned_url(client)
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="reset"))
    with pytest.raises(httpx2.RemoteProtocolError):
        client.put(url, content=AI_PNG, headers={"Content-Type": "image/png", "x-amz-acl": "private"})
    assert sandbox.sandbox.stats.uploads == 0


def test_refused_detect_creates_and_charges_nothing(sandbox: SandboxServer, client: httpx2.Client) -> None:
    file_path = upload(client, AI_PNG, "a.png", "image/png")
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="reset"))
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="status", status=503))
    with pytest.raises(httpx2.RemoteProtocolError):
        submit(client, sandbox, file_path)
    answer = client.post("/detect", json={"key": KEY, "url": f"{sandbox.storage_url}/{file_path}"})
    assert answer.status_code == 503
    assert sandbox.sandbox.credits_of(KEY) == 1100
    assert sandbox.sandbox.stats.accepted_detects == 0
    assert sandbox.sandbox.stats.requests["detect"] == 2


def test_reset_after_accept_charges_exactly_once(sandbox: SandboxServer, client: httpx2.Client) -> None:
    file_path = upload(client, AI_PNG, "a.png", "image/png")
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="reset_after_accept"))
    with pytest.raises(httpx2.RemoteProtocolError):
        submit(client, sandbox, file_path)
    assert sandbox.sandbox.credits_of(KEY) == 1099
    assert sandbox.sandbox.stats.accepted_detects == 1
    assert len(sandbox.sandbox.state.documents) == 1


def test_expired_upload_fault_answers_403(sandbox: SandboxServer, client: httpx2.Client) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="expired_upload"))
    url = presigned_url(client)
    headers = {"Content-Type": "image/png", "x-amz-acl": "private"}
    expired = client.put(url, content=AI_PNG, headers=headers)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content
    assert client.put(url, content=AI_PNG, headers=headers).status_code == 200


def test_body_faults_garble_null_and_empty_the_answer(sandbox: SandboxServer, client: httpx2.Client) -> None:
    for kind in ("invalid_json", "null_body", "empty_body"):
        sandbox.sandbox.add_fault(FaultRule.model_validate({"endpoint": "query", "kind": kind}))
    doc_id = detect(client, sandbox, AI_PNG, "a.png", "image/png")
    garbled = client.post("/query", json={"id": doc_id})
    with pytest.raises(ValueError, match=r"."):
        garbled.json()
    assert client.post("/query", json={"id": doc_id}).content == b"null"
    assert client.post("/query", json={"id": doc_id}).content == b""
    assert query(client, doc_id)["id"] == doc_id


def test_document_fault_marks_fail_processing_analysis_and_heatmap(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    fast(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="processing_failed"))
    failed = poll(client, detect(client, sandbox, AI_PNG, "a.png", "image/png"), settled)[-1]
    assert failed["status"] == "failed"
    assert failed["error_message"]

    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="analysis_failed"))
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="heatmap_failed"))
    doc_id = detect(client, sandbox, AI_PNG, "a.png", "image/png", generate_analysis_details=True)
    details = poll(client, doc_id, settled)[-1]["result_details"]
    assert (details["analysis_results_status"], details["analysis_results"]) == ("failed", None)
    assert (details["heatmap_status"], details["heatmap_url"]) == ("failed", None)


def test_flat_schema_fault_marks_only_the_next_document(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    fast(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="flat_schema"))
    flat = poll(client, detect(client, sandbox, AI_PNG, "a.png", "image/png"), settled)[-1]
    nested = poll(client, detect(client, sandbox, AI_PNG, "a.png", "image/png"), settled)[-1]
    assert "final_result" in flat
    assert "result_details" not in flat
    assert nested["result_details"]["final_result"] == "AI Generated"


def test_fault_rule_refuses_a_kind_on_the_wrong_endpoint() -> None:
    with pytest.raises(ValueError, match="only applies"):
        FaultRule(endpoint="health", kind="null_body")


def test_probabilistic_faults_repeat_with_the_same_seed(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    def pattern() -> list[int]:
        sandbox.sandbox.reset()
        sandbox.sandbox.add_fault(
            FaultRule(endpoint="health", kind="status", status=503, times=-1, probability=0.5)
        )
        return [client.get("/health").status_code for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second
    assert {200, 503} == set(first)


@pytest.mark.anyio
async def test_delay_fault_holds_requests_in_flight(sandbox: SandboxServer) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="health", kind="delay", delay_seconds=0.3, times=-1))
    started = time.monotonic()
    async with (
        httpx2.AsyncClient(base_url=sandbox.api_url, timeout=5) as http,
        anyio.create_task_group() as tg,
    ):
        for _ in range(4):
            tg.start_soon(http.get, "/health")
    assert time.monotonic() - started >= 0.3
    for _ in range(100):  # the server finishes its bookkeeping just after the client has the answer
        if sandbox.sandbox.stats.in_flight == 0:
            break
        await anyio.sleep(0.01)
    stats = sandbox.sandbox.stats
    assert (stats.max_in_flight, stats.in_flight, stats.requests["health"]) == (4, 0, 4)


# --- control plane, in-process use -----------------------------------------------------------


def test_control_plane_drives_the_sandbox_over_http(sandbox: SandboxServer, client: httpx2.Client) -> None:
    assert (
        client.post(
            "/_sandbox/faults", json=[{"endpoint": "health", "kind": "status", "status": 500}]
        ).status_code
        == 200
    )
    assert client.get("/health").status_code == 500
    assert client.post("/_sandbox/faults", json={"endpoint": "nope", "kind": "status"}).status_code == 422
    assert client.patch("/_sandbox/config", json={"detection_cost": 5}).json()["detection_cost"] == 5
    assert client.patch("/_sandbox/config", json={"processing_seconds": -1}).status_code == 422
    assert client.post("/_sandbox/credits", json={"key": "k", "base": 7}).json()["credits"] == 7
    assert client.get("/_sandbox/stats").json()["requests"]["health"] == 1
    client.post("/_sandbox/faults", json={"endpoint": "*", "kind": "status", "times": -1})
    assert client.delete("/_sandbox/faults").json() == {"faults": []}
    assert client.post("/_sandbox/reset").status_code == 200
    assert sandbox.sandbox.stats.requests["health"] == 0
    assert sandbox.sandbox.config.detection_cost == 5  # reset keeps the config


@pytest.mark.anyio
async def test_in_process_transport_runs_the_flow_and_raises_on_reset() -> None:
    sandbox = Sandbox(SandboxConfig(processing_seconds=0, analysis_seconds=0, heatmap_seconds=0))
    transport = httpx2.ASGITransport(app=sandbox.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox.truthscan.invalid") as http:
        presign = (
            await http.get("/get-presigned-url", params={"file_name": "a.png"}, headers={"apikey": KEY})
        ).json()
        assert presign["presigned_url"].startswith("http://sandbox.truthscan.invalid/")
        headers = {"Content-Type": "image/png", "x-amz-acl": "private"}
        assert (await http.put(presign["presigned_url"], content=AI_PNG, headers=headers)).status_code == 200
        url = f"http://sandbox.truthscan.invalid/storage/{presign['file_path']}"
        doc_id = (await http.post("/detect", json={"key": KEY, "url": url})).json()["id"]
        doc = (await http.post("/query", json={"id": doc_id})).json()
        assert doc["result_details"]["final_result"] == "AI Generated"
        sandbox.add_fault(FaultRule(endpoint="health", kind="reset"))
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get("/health")
        sandbox.add_fault(FaultRule(endpoint="detect", kind="reset_after_accept"))
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post("/detect", json={"key": KEY, "url": url})
        assert sandbox.stats.accepted_detects == 2


# --- the parser never crashes ----------------------------------------------------------------

_PREFIXES = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_PREFIXES), tail=st.binary(max_size=2048))
def test_inspect_image_never_raises_on_arbitrary_bytes(prefix: bytes, tail: bytes) -> None:
    findings = inspect_image(prefix + tail)
    assert findings.size == len(prefix) + len(tail)


@settings(max_examples=200, deadline=None)
@given(
    sample=st.sampled_from([AI_PNG, CAMERA_JPG]),
    cut=st.integers(min_value=0, max_value=20_000),
    # most structure (chunk lengths, EXIF offsets, text) sits in the first few hundred bytes
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=600), st.integers(0, 255)), max_size=12),
)
def test_a_corrupted_sample_still_gets_a_well_formed_verdict(
    sample: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(sample[:cut])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    verdict = judge(bytes(data))
    assert 0 <= verdict.score <= 100
    assert 0 <= verdict.confidence <= 100
    assert verdict.final_result in {"AI Generated", "Real", "Digitally Edited"}
    assert verdict.findings.size == len(data)


def test_the_control_plane_tells_when_each_query_about_a_document_arrived(
    sandbox: SandboxServer, client: httpx2.Client
) -> None:
    doc_id = detect(client, sandbox, AI_PNG, "ai.png", "image/png")
    for _ in range(3):
        query(client, doc_id)
    ages = client.get("/_sandbox/queries", params={"id": doc_id}).json()
    assert ages["id"] == doc_id
    assert len(ages["ages"]) == 3
    assert ages["ages"] == sorted(ages["ages"])
    assert 0 <= ages["ages"][0] < 5
    assert client.get("/_sandbox/queries", params={"id": "unknown"}).json()["ages"] == []
