"""The simulator's core: its behaviour as plain Python, its route table, its identity."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from pydantic import TypeAdapter, ValidationError

import truthscan_mcp.samples
import truthscan_mcp.sandbox
from truthscan_mcp.sandbox import Simulator, service
from truthscan_mcp.sandbox.answers import Answer, ApiRefusal, FileAnswer, JsonAnswer, StorageRefusal
from truthscan_mcp.sandbox.api import API_ROUTES, endpoint_for
from truthscan_mcp.sandbox.config import ENDPOINTS, SandboxConfig

SANDBOX_DIR = Path(truthscan_mcp.sandbox.__file__).parent
AI_PNG = (Path(truthscan_mcp.samples.__file__).parent / "ai-generated.png").read_bytes()
KEY = "core-key"
BASE = "http://sandbox.test"
#: What the core may never reach, however indirectly: it is the part without HTTP.
FRAMEWORKS = ("starlette", "uvicorn", "httpx2", "httpx")


def _imports_of(module: str) -> set[str]:
    tree = ast.parse((SANDBOX_DIR / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            if node.module == "truthscan_mcp.sandbox":
                found.update(f"truthscan_mcp.sandbox.{alias.name}" for alias in node.names)
    return found


def _reachable(start: str) -> set[str]:
    """Every module `start` imports, following imports inside the sandbox package."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in _imports_of(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            inner = name.removeprefix("truthscan_mcp.sandbox.")
            if inner != name and (SANDBOX_DIR / f"{inner}.py").exists():
                todo.append(inner)
    return seen


@pytest.mark.parametrize("module", ["simulator", "service"])
def test_the_core_reaches_no_web_framework(module: str) -> None:
    reached = {name.partition(".")[0] for name in _reachable(module)}
    assert reached.isdisjoint(FRAMEWORKS), sorted(reached & set(FRAMEWORKS))


def test_every_counted_endpoint_has_a_route() -> None:
    assert {route.endpoint for route in API_ROUTES} == set(ENDPOINTS)


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/get-presigned-url", "presign"),
        ("/storage-upload/tok", "upload"),
        ("/storage/heatmaps/abc.png", "heatmap"),
        ("/storage/previews/abc.png", "storage"),
        ("/storage/uploads/abc_x.png", "storage"),
        ("/_sandbox/stats", None),
        ("/nowhere", None),
    ],
)
def test_endpoint_for_follows_the_route_table_first_match_first(path: str, endpoint: str | None) -> None:
    assert endpoint_for(path) == endpoint


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), 64 * 1024):
        yield data[at : at + 64 * 1024]


def _json(answer: Answer) -> dict[str, object]:
    """The JSON object of a successful answer (failing the test on anything else)."""
    assert isinstance(answer, JsonAnswer), answer
    return TypeAdapter(dict[str, object]).validate_python(answer.body)


def _presign(sim: Simulator) -> tuple[str, str, str]:
    body = _json(service.presign(sim, key=KEY, file_name="ai.png", base_url=BASE))
    url = urlsplit(str(body["presigned_url"]))
    token = url.path.rpartition("/")[2]
    signature = parse_qs(url.query)["X-Amz-Signature"][0]
    return token, signature, f"{BASE}/storage/{body['file_path']}"


def _upload(sim: Simulator, token: str, signature: str, data: bytes) -> Answer:
    request = service.UploadRequest(token, signature, "private", "image/png", str(len(data)), _chunks(data))
    return anyio.run(service.upload, sim, request)


def test_a_detection_runs_to_a_verdict_without_http() -> None:
    now = [0.0]
    sim = Simulator(SandboxConfig(processing_seconds=3, analysis_seconds=0, heatmap_seconds=0))
    sim.clock = lambda: now[0]
    token, signature, url = _presign(sim)
    stored = _upload(sim, token, signature, AI_PNG)
    assert isinstance(stored, FileAnswer)
    assert "ETag" in stored.headers
    document_id = str(_json(service.detect(sim, service.DetectRequest(key=KEY, url=url)))["id"])
    pending = _json(service.query(sim, service.QueryRequest(id=document_id), base_url=BASE))
    now[0] = 10.0
    done = _json(service.query(sim, service.QueryRequest(id=document_id), base_url=BASE))
    assert (pending["status"], done["status"]) == ("pending", "done")
    assert isinstance(done["result"], float | int)
    assert (sim.stats.accepted_detects, sim.credits_of(KEY)) == (1, 1099)


def test_an_upload_with_a_forged_signature_stores_nothing() -> None:
    sim = Simulator()
    token, _, _ = _presign(sim)
    refused = _upload(sim, token, "0" * 64, AI_PNG)
    assert isinstance(refused, StorageRefusal)
    assert refused.code == "SignatureDoesNotMatch"
    assert sim.stats.uploads == 0


def test_an_invalid_key_is_refused_before_anything_is_issued() -> None:
    sim = Simulator()
    answer = service.presign(sim, key="invalid-key", file_name="a.png", base_url=BASE)
    assert answer == ApiRefusal(403, "User verification failed")
    assert sim.state.grants == {}


def test_a_rejected_config_patch_leaves_the_config_unchanged() -> None:
    sim = Simulator()
    with pytest.raises(ValidationError):
        sim.configure({"processing_seconds": 0.1, "base_credits": -1})
    assert sim.config == SandboxConfig()


def test_each_simulator_has_its_own_namespace() -> None:
    first, second = Simulator(), Simulator()
    assert first.namespace != second.namespace
    assert first.instance_id in first.namespace


def test_a_namespace_is_never_a_real_api_url() -> None:
    assert urlsplit(Simulator().namespace).scheme not in ("http", "https")


def test_a_given_instance_id_names_the_namespace() -> None:
    assert Simulator(instance_id="alice-1").namespace == Simulator(instance_id="alice-1").namespace


def _detect(sim: Simulator) -> str:
    token, signature, url = _presign(sim)
    _upload(sim, token, signature, AI_PNG)
    return str(_json(service.detect(sim, service.DetectRequest(key=KEY, url=url)))["id"])


DRAWN = {
    "processing_seconds": 0.3,
    "processing_seconds_max": 15.0,
    "analysis_seconds": 0.2,
    "analysis_seconds_max": 12.0,
    "heatmap_seconds": 0.1,
    "heatmap_seconds_max": 1.0,
    "seed": 7,
}


def test_drawn_timings_stay_in_their_ranges_and_a_reset_replays_them() -> None:
    sim = Simulator()
    sim.configure(DRAWN)
    first = [sim.state.documents[_detect(sim)].timings for _ in range(5)]
    sim.reset()
    again = [sim.state.documents[_detect(sim)].timings for _ in range(5)]
    assert first == again
    assert len({t.processing for t in first}) == 5  # each job its own
    assert all(0.3 <= t.processing <= 15.0 and 0.2 <= t.analysis <= 12.0 for t in first)
    assert all(0.1 <= t.heatmap <= 1.0 for t in first)


def test_a_range_whose_top_is_below_its_bottom_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="analysis_seconds_max"):
        SandboxConfig(analysis_seconds=2.0, analysis_seconds_max=1.0)


def test_the_sandbox_logs_when_each_query_about_a_document_arrived() -> None:
    now = [100.0]
    sim = Simulator()
    sim.clock = lambda: now[0]
    document_id = _detect(sim)
    for at in (100.0, 100.25, 101.5):
        now[0] = at
        service.query(sim, service.QueryRequest(id=document_id), base_url=BASE)
    service.query(sim, service.QueryRequest(id="no-such-document"), base_url=BASE)
    assert sim.query_ages(document_id) == [0.0, 0.25, 1.5]
    assert sim.query_ages("no-such-document") == []
