"""The fault matrix: every endpoint × every transport and answer fault, and the document
faults, each with the outcome it must have — written down in the table below.

A case injects its fault into the loopback sandbox, runs the operation that meets it (a whole
detection for presign/upload/detect/query, `credits()` or `health()` for the others), checks
the outcome, counts the accepted `/detect` requests (one when a detection got that far, none
when it failed before; never two), then lifts the fault and checks the next call still works
on the same connection pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

import pytest

from tests.support import AI_PNG, CAMERA_JPG, SHORT_READ, Stopwatch, open_detector, wait_until_idle
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.errors import (
    RateLimitedError,
    TruthScanError,
    UnavailableError,
    UnexpectedResponseError,
    UploadExpiredError,
)
from truthscan_mcp.models import DetectionReport
from truthscan_mcp.sandbox import FaultRule
from truthscan_mcp.sandbox.faults import FaultEndpoint, FaultKind

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio

#: A "delay" this long outlasts the matrix's short read timeout.
SLOW = 2 * SHORT_READ
#: Every case, even a persistent fault, ends within this (the retry policy's bound, plus slack).
TIME_BOUND = 8.0

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"kind": "status", "status": 429, "retry_after": 0.2},
    "500": {"kind": "status", "status": 500},
    "502": {"kind": "status", "status": 502, "body_style": "text"},
    "503": {"kind": "status", "status": 503, "body_style": "detail"},
    "504": {"kind": "status", "status": 504, "body_style": "empty"},
    "reset": {"kind": "reset"},
    "read_timeout": {"kind": "delay", "delay_seconds": SLOW},
    "invalid_json": {"kind": "invalid_json"},
    "empty_body": {"kind": "empty_body"},
    "null_body": {"kind": "null_body"},
    "expired_upload": {"kind": "expired_upload"},
    "reset_after_accept": {"kind": "reset_after_accept"},
    "processing_failed": {"kind": "processing_failed"},
    "analysis_failed": {"kind": "analysis_failed"},
    "heatmap_failed": {"kind": "heatmap_failed"},
    "flat_schema": {"kind": "flat_schema"},
}


# --- expected outcomes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recovered:
    """The operation succeeds: a complete verdict (or the credits / health answer)."""

    def __str__(self) -> str:
        return "recovered"


@dataclass(frozen=True)
class Reported:
    """A report comes back that says what happened: `check` holds on it."""

    what: str
    check: Callable[[DetectionReport], bool]

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class Fails:
    """A clear error of this class whose message says what to do."""

    error: type[TruthScanError]
    says: str

    def __str__(self) -> str:
        return f"{self.error.__name__}: '{self.says}'"


RECOVERED = Recovered()
PARTIAL = Reported(
    "partial report: id + next_step get_result",
    lambda r: r.id is not None and not r.complete and r.next_step is not None and r.id in r.next_step,
)
FAILED_DOC = Reported(
    "failed report + reason + next_step",
    lambda r: (
        r.status == "failed" and r.complete and bool(r.warnings) and "force=true" in (r.next_step or "")
    ),
)
NO_ANALYSIS = Reported(
    "verdict + 'deep analysis failed' warning",
    lambda r: r.verdict is not None and r.analysis_status == "failed" and bool(r.warnings),
)
NO_HEATMAP = Reported(
    "verdict + heatmap warning",
    lambda r: r.verdict is not None and r.heatmap_status == "failed" and bool(r.warnings),
)
AMBIGUOUS = Fails(UnavailableError, "not re-sent")
NO_ID = Fails(UnexpectedResponseError, "not resubmitted")


@dataclass(frozen=True)
class Case:
    endpoint: str
    fault: str
    expected: Recovered | Reported | Fails
    #: accepted /detect requests after the faulted operation (the follow-up adds its own)
    accepted: int
    #: how many requests the fault affects; -1 = every one (a persistent fault)
    times: int = 1

    @property
    def id(self) -> str:
        return f"{self.endpoint}-{self.fault}" + ("-persistent" if self.times == -1 else "")

    def rule(self) -> FaultRule:
        return FaultRule.model_validate(
            {"endpoint": self.endpoint, "times": self.times, **FAULTS[self.fault]}
        )


# fmt: off
MATRIX: list[Case] = [
    # endpoint   fault                 expected outcome          accepted /detect
    Case("presign", "429",             RECOVERED,                1),
    Case("presign", "500",             RECOVERED,                1),
    Case("presign", "502",             RECOVERED,                1),
    Case("presign", "503",             RECOVERED,                1),
    Case("presign", "504",             RECOVERED,                1),
    Case("presign", "reset",           RECOVERED,                1),
    Case("presign", "read_timeout",    RECOVERED,                1),
    Case("presign", "invalid_json",    RECOVERED,                1),
    Case("presign", "empty_body",      RECOVERED,                1),
    Case("upload",  "429",             RECOVERED,                1),
    Case("upload",  "500",             RECOVERED,                1),
    Case("upload",  "502",             RECOVERED,                1),
    Case("upload",  "503",             RECOVERED,                1),
    Case("upload",  "504",             RECOVERED,                1),
    Case("upload",  "reset",           RECOVERED,                1),
    Case("upload",  "read_timeout",    RECOVERED,                1),
    Case("upload",  "invalid_json",    RECOVERED,                1),  # the upload's body is not read
    Case("upload",  "empty_body",      RECOVERED,                1),
    Case("detect",  "429",             RECOVERED,                1),  # refused: re-sent
    Case("detect",  "500",             AMBIGUOUS,                0),  # may have been accepted: not re-sent
    Case("detect",  "502",             AMBIGUOUS,                0),
    Case("detect",  "503",             RECOVERED,                1),  # maintenance refusal: re-sent
    Case("detect",  "504",             AMBIGUOUS,                0),
    Case("detect",  "reset",           AMBIGUOUS,                0),
    # The sandbox delays before handling and sees the client hang up, so nothing is charged;
    # the client cannot know that, so it must not re-send.
    Case("detect",  "read_timeout",    Fails(UnavailableError, "check_credits"), 0),
    Case("detect",  "invalid_json",    NO_ID,                    1),  # accepted, its id unreadable
    Case("detect",  "empty_body",      NO_ID,                    1),
    Case("query",   "429",             RECOVERED,                1),
    Case("query",   "500",             RECOVERED,                1),
    Case("query",   "502",             RECOVERED,                1),
    Case("query",   "503",             RECOVERED,                1),
    Case("query",   "504",             RECOVERED,                1),
    Case("query",   "reset",           RECOVERED,                1),
    Case("query",   "read_timeout",    RECOVERED,                1),
    Case("query",   "invalid_json",    RECOVERED,                1),
    Case("query",   "empty_body",      RECOVERED,                1),
    Case("credits", "429",             RECOVERED,                0),
    Case("credits", "500",             RECOVERED,                0),
    Case("credits", "502",             RECOVERED,                0),
    Case("credits", "503",             RECOVERED,                0),
    Case("credits", "504",             RECOVERED,                0),
    Case("credits", "reset",           RECOVERED,                0),
    Case("credits", "read_timeout",    RECOVERED,                0),
    Case("credits", "invalid_json",    RECOVERED,                0),
    Case("credits", "empty_body",      RECOVERED,                0),
    Case("health",  "429",             RECOVERED,                0),
    Case("health",  "500",             RECOVERED,                0),
    Case("health",  "502",             RECOVERED,                0),
    Case("health",  "503",             RECOVERED,                0),
    Case("health",  "504",             RECOVERED,                0),
    Case("health",  "reset",           RECOVERED,                0),
    Case("health",  "read_timeout",    RECOVERED,                0),
    Case("health",  "invalid_json",    RECOVERED,                0),
    Case("health",  "empty_body",      RECOVERED,                0),
    # the faults of one endpoint only
    Case("upload",  "expired_upload",  RECOVERED,                1),  # a fresh presigned URL
    Case("query",   "null_body",       RECOVERED,                1),  # not visible yet: polled again
    Case("detect",  "reset_after_accept", AMBIGUOUS,             1),  # accepted, answer lost
    Case("detect",  "processing_failed",  FAILED_DOC,            1),
    Case("detect",  "analysis_failed", NO_ANALYSIS,              1),
    Case("detect",  "heatmap_failed",  NO_HEATMAP,               1),
    Case("detect",  "flat_schema",     RECOVERED,                1),
    # persistent faults: a clear outcome within the retry bound, never a hang
    Case("presign", "503",             Fails(UnavailableError, "maintenance"),        0, times=-1),
    Case("presign", "reset",           Fails(UnavailableError, "health tool"),        0, times=-1),
    Case("presign", "invalid_json",    Fails(UnexpectedResponseError, "not JSON"),    0, times=-1),
    Case("upload",  "500",             Fails(UnavailableError, "HTTP 500"),           0, times=-1),
    Case("upload",  "read_timeout",    Fails(UnavailableError, "timed out"),          0, times=-1),
    Case("upload",  "expired_upload",  Fails(UploadExpiredError, "Nothing was charged"), 0, times=-1),
    Case("detect",  "429",             Fails(RateLimitedError, "Wait a little"),      0, times=-1),
    Case("detect",  "503",             Fails(UnavailableError, "maintenance"),        0, times=-1),
    Case("query",   "500",             PARTIAL,                  1, times=-1),  # the paid id is handed over
    Case("query",   "read_timeout",    PARTIAL,                  1, times=-1),
    Case("query",   "invalid_json",    PARTIAL,                  1, times=-1),
    Case("credits", "503",             Fails(UnavailableError, "maintenance"),        0, times=-1),
    Case("credits", "empty_body",      Fails(UnexpectedResponseError, "empty body"),  0, times=-1),
    Case("health",  "500",             Fails(UnavailableError, "health tool"),        0, times=-1),
    Case("health",  "read_timeout",    Fails(UnavailableError, "timed out"),          0, times=-1),
]
# fmt: on

#: Faults met by a failed attempt that is then retried (a garbled upload answer is never read).
RETRIED = frozenset({"429", "500", "502", "503", "504", "reset", "read_timeout"})
UNREAD_ON_UPLOAD = frozenset({"invalid_json", "empty_body"})
DETECTION_ENDPOINTS = frozenset({"presign", "upload", "detect", "query"})


async def _operate(detector: Detector, endpoint: str) -> object:
    """The call that meets a fault on `endpoint`."""
    if endpoint == "credits":
        return await detector.client.credits()
    if endpoint == "health":
        return await detector.client.health()
    return await detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=10))


def _check_recovered(endpoint: str, outcome: object) -> None:
    if isinstance(outcome, DetectionReport):
        assert outcome.complete, outcome
        assert outcome.verdict == "AI Generated"
        assert not [w for w in outcome.warnings if "Lost contact" in w], outcome.warnings
    elif endpoint == "credits":
        assert getattr(outcome, "credits", 0) > 0
    else:
        assert getattr(outcome, "status", None) == "healthy"


def _quick_documents(server: SandboxServer) -> None:
    """Documents that settle in ~0.1 s: the matrix is about faults, not about waiting."""
    config = server.sandbox.config
    config.processing_seconds, config.analysis_seconds, config.heatmap_seconds = 0.06, 0.03, 0.02


@pytest.mark.parametrize("case", MATRIX, ids=[case.id for case in MATRIX])
async def test_fault_matrix(sandbox: SandboxServer, case: Case) -> None:
    _quick_documents(sandbox)
    sandbox.sandbox.add_fault(case.rule())
    slow = case.fault == "read_timeout"
    async with open_detector(sandbox, read=SHORT_READ if slow else None) as detector:
        with Stopwatch() as watch:
            if isinstance(case.expected, Fails):
                with pytest.raises(case.expected.error) as caught:
                    await _operate(detector, case.endpoint)
                assert case.expected.says in caught.value.message
                assert "test-key" not in caught.value.message
            else:
                outcome = await _operate(detector, case.endpoint)
                if isinstance(case.expected, Reported):
                    assert isinstance(outcome, DetectionReport)
                    assert case.expected.check(outcome), outcome
                else:
                    _check_recovered(case.endpoint, outcome)
        assert watch.elapsed < TIME_BOUND
        if case.times == 1:
            assert sandbox.sandbox.fault_rules() == [], "the operation never met the fault"
        retried = case.fault in RETRIED or (case.fault in UNREAD_ON_UPLOAD and case.endpoint != "upload")
        if case.times == 1 and retried and case.endpoint not in ("query", "detect"):
            assert sandbox.sandbox.stats.requests[case.endpoint] >= 2, "the fault was not retried"

        stats = await wait_until_idle(sandbox)
        assert stats.accepted_detects == case.accepted
        assert stats.credits_spent == stats.accepted_detects
        if case.endpoint == "detect" and case.fault not in ("429", "503"):
            assert stats.requests["detect"] == 1, "an ambiguous /detect was sent again"

        # Lifted, the fault leaves nothing behind: the next call works on the same pool.
        sandbox.sandbox.clear_faults()
        if case.endpoint in DETECTION_ENDPOINTS:
            again = await detector.detect(path=str(CAMERA_JPG), options=DetectOptions(deep_analysis=False))
            assert again.complete
            assert again.verdict == "Real"
            assert sandbox.sandbox.stats.accepted_detects == case.accepted + 1
        else:
            _check_recovered(case.endpoint, await _operate(detector, case.endpoint))


def test_the_matrix_covers_every_fault_the_sandbox_can_inject_on_every_endpoint_it_names() -> None:
    """Read against the simulator's own vocabulary, not a list restated here: a fault kind or an
    endpoint added to the sandbox fails this test until the matrix says what it must do."""
    kinds = {FAULTS[case.fault]["kind"] for case in MATRIX}
    assert kinds == set(get_args(FaultKind))
    # a heatmap fault needs a finished detection with a heatmap: tests/integration/test_workflow.py
    endpoints = set(get_args(FaultEndpoint)) - {"*", "heatmap"}
    assert {case.endpoint for case in MATRIX} == endpoints
    transport = {"429", "500", "502", "503", "504", "reset", "read_timeout", "invalid_json", "empty_body"}
    covered = {(case.endpoint, case.fault) for case in MATRIX if case.times == 1}
    assert {(e, f) for e in endpoints for f in transport} <= covered
