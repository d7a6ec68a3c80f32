"""The detection workflow (`Detector`) end to end against the loopback sandbox.

Each test follows one document through one path of its life — the status sequence, deep
analysis, heatmaps, the older flat schema, failures — or checks one guarantee of the wait:
the deadline hand-off and cancellation that leaves nothing running.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import pytest

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    assert_quiet,
    eventually,
    fast_sandbox,
    open_detector,
    wait_until_idle,
)
from truthscan_mcp.detection import polling
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.detection.progress import Phase, Progress
from truthscan_mcp.errors import InvalidInputError, NotFoundError
from truthscan_mcp.sandbox import FaultRule

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


class Recorder:
    """Collects progress notifications, and can cancel a scope when a phase is first reached."""

    def __init__(self, cancel_at: Phase | None = None, scope: anyio.CancelScope | None = None) -> None:
        self.seen: list[Progress] = []
        self._cancel_at = cancel_at
        self._scope = scope

    async def __call__(self, progress: Progress) -> None:
        self.seen.append(progress)
        if self._scope is not None and progress.phase == self._cancel_at:
            self._scope.cancel()

    @property
    def phases(self) -> list[Phase]:
        return [p.phase for p in self.seen]

    @property
    def messages(self) -> list[str]:
        return [p.message for p in self.seen]


# --- status paths ----------------------------------------------------------------------------


async def test_a_detection_goes_pending_then_analyzing_then_done(sandbox: SandboxServer) -> None:
    recorder = Recorder()
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG), progress=recorder)

    assert (report.status, report.complete, report.verdict) == ("done", True, "AI Generated")
    assert report.ai_score is not None
    assert report.ai_score > 90
    assert report.simulated is True
    assert any("Queued" in m for m in recorder.messages), recorder.messages
    assert any("analysing" in m for m in recorder.messages), recorder.messages
    fractions = [p.fraction for p in recorder.seen]
    assert fractions == sorted(fractions)
    assert len(set(fractions)) == len(fractions)
    assert recorder.seen[-1].phase == "done"
    assert recorder.seen[-1].fraction == 1.0


async def test_deep_analysis_is_awaited_after_the_verdict(sandbox: SandboxServer) -> None:
    sandbox.sandbox.config.analysis_seconds = 0.5
    recorder = Recorder()
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG), progress=recorder)

    assert "deep_analysis" in recorder.phases
    assert report.analysis_status == "done"
    assert report.analysis is not None
    assert report.analysis.reasoning
    assert report.analysis.key_indicators
    assert report.complete
    assert report.next_step is None


async def test_analysis_not_requested_is_reported_as_not_requested(sandbox: SandboxServer) -> None:
    sandbox.sandbox.config.analysis_seconds = 30  # would be waited for, were it requested
    recorder = Recorder()
    async with open_detector(sandbox) as detector:
        report = await detector.detect(
            path=str(CAMERA_JPG), options=DetectOptions(deep_analysis=False), progress=recorder
        )

    assert (report.status, report.complete, report.verdict) == ("done", True, "Real")
    assert report.analysis_status == "not_requested"
    assert report.analysis is None
    assert "deep_analysis" not in recorder.phases
    assert not report.warnings


async def test_failed_processing_is_a_failed_report_with_reason_and_next_step(sandbox: SandboxServer) -> None:
    fast_sandbox(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="processing_failed"))
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG))

    assert (report.status, report.complete, report.verdict) == ("failed", True, None)
    assert report.id is not None
    assert any("could not process" in w for w in report.warnings), report.warnings
    assert report.next_step is not None
    assert "force=true" in report.next_step
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_failed_analysis_keeps_the_verdict_and_says_so(sandbox: SandboxServer) -> None:
    fast_sandbox(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="analysis_failed"))
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG))

    assert (report.status, report.complete, report.verdict) == ("done", True, "AI Generated")
    assert (report.analysis_status, report.analysis) == ("failed", None)
    assert any("deep analysis failed" in w for w in report.warnings), report.warnings


async def test_a_coming_heatmap_is_awaited_for_high_scores(sandbox: SandboxServer) -> None:
    config = sandbox.sandbox.config
    config.analysis_seconds, config.heatmap_seconds = 0.05, 0.5  # the heatmap settles last
    recorder = Recorder()
    async with open_detector(sandbox) as detector:
        report = await detector.detect(
            path=str(AI_PNG), options=DetectOptions(include_heatmap=True), progress=recorder
        )

    assert "heatmap" in recorder.phases
    assert report.heatmap_status == "ready"
    assert report.heatmap_url is not None
    assert report.heatmap_url.startswith(sandbox.base_url)
    assert report.complete


async def test_low_scores_get_no_heatmap_and_no_wait_for_one(sandbox: SandboxServer) -> None:
    fast_sandbox(sandbox)
    recorder = Recorder()
    async with open_detector(sandbox) as detector:
        report = await detector.detect(
            path=str(CAMERA_JPG), options=DetectOptions(include_heatmap=True), progress=recorder
        )

    assert report.ai_score is not None
    assert report.ai_score < 20
    assert (report.heatmap_status, report.heatmap_url) == (None, None)
    assert report.complete
    assert "heatmap" not in recorder.phases


async def test_a_failed_heatmap_is_a_warning_not_a_failure(sandbox: SandboxServer) -> None:
    fast_sandbox(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="heatmap_failed"))
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG), options=DetectOptions(include_heatmap=True))

    assert (report.status, report.complete, report.verdict) == ("done", True, "AI Generated")
    assert report.heatmap_status == "failed"
    assert any("heatmap" in w for w in report.warnings), report.warnings


@pytest.mark.parametrize(
    ("image", "nested_verdict", "flat_verdict"),
    [(AI_PNG, "AI Generated", "AI Generated"), (CAMERA_JPG, "Real", "Not AI Generated")],
    ids=["ai", "camera"],
)
async def test_both_schemas_give_the_verdict_and_a_confidence_band(
    sandbox: SandboxServer, image: object, nested_verdict: str, flat_verdict: str
) -> None:
    fast_sandbox(sandbox)
    async with open_detector(sandbox) as detector:
        nested = await detector.detect(path=str(image))
        sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="flat_schema"))
        flat = await detector.detect(path=str(image))

    assert (nested.verdict, flat.verdict) == (nested_verdict, flat_verdict)
    assert nested.confidence is not None
    assert nested.confidence_band is not None
    assert flat.confidence is None  # the flat schema says a word, not a number
    assert flat.confidence_band == "high"
    assert flat.ai_score == pytest.approx(nested.ai_score)
    assert flat.detection_step == nested.detection_step


async def test_flat_schema_analysis_counts_as_skipped_without_an_endless_wait(sandbox: SandboxServer) -> None:
    fast_sandbox(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="flat_schema"))
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=20))

    assert (report.status, report.complete) == ("done", True)
    assert (report.analysis_status, report.analysis) == ("skipped", None)
    assert any("did not provide deep analysis" in w for w in report.warnings), report.warnings
    assert report.elapsed_seconds < 10  # settled as soon as the verdict came, not at the deadline


# --- the deadline hand-off -------------------------------------------------------------------


async def test_the_deadline_hands_off_a_partial_report_that_get_result_finishes(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.config.analysis_seconds = 120
    async with open_detector(sandbox) as detector:
        partial = await detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=1.0))

        assert partial.id is not None
        assert (partial.status, partial.complete, partial.verdict) == ("done", False, "AI Generated")
        assert partial.analysis_status == "pending"
        assert partial.next_step is not None
        assert "get_result" in partial.next_step
        assert partial.id in partial.next_step
        assert partial.elapsed_seconds >= 1.0

        sandbox.sandbox.clock = lambda: time.monotonic() + 300  # the analysis has finished since
        final = await detector.get_result(partial.id, wait_seconds=5, expect_analysis=True)

    assert (final.id, final.status, final.complete) == (partial.id, "done", True)
    assert final.analysis_status == "done"
    assert final.analysis is not None
    assert final.next_step is None
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_zero_wait_submits_and_hands_off_at_once(sandbox: SandboxServer) -> None:
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=0))

    assert report.id is not None
    assert (report.status, report.complete, report.verdict) == ("pending", False, None)
    assert report.next_step is not None
    assert report.id in report.next_step
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_get_result_without_waiting_answers_the_current_state(sandbox: SandboxServer) -> None:
    sandbox.sandbox.config.processing_seconds = 60
    async with open_detector(sandbox) as detector:
        submitted = await detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=0))
        assert submitted.id is not None
        report = await detector.get_result(submitted.id)

    assert report.status in ("pending", "analyzing")
    assert report.complete is False
    assert report.next_step is not None
    assert submitted.id in report.next_step
    assert report.source.kind == "id"


async def test_the_deadline_holds_when_a_poll_is_slow(sandbox: SandboxServer) -> None:
    sandbox.sandbox.config.analysis_seconds = 120
    async with open_detector(sandbox) as detector:
        sandbox.sandbox.add_fault(FaultRule(endpoint="query", kind="delay", delay_seconds=3, times=-1))
        started = time.monotonic()
        report = await detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=0.3))
        took = time.monotonic() - started

    assert took < 2.5, f"the 0.3 s deadline was overrun by a 3 s poll ({took:.1f} s)"
    assert report.complete is False
    assert report.id is not None
    assert report.next_step is not None
    assert report.id in report.next_step
    assert any("slow to answer" in w for w in report.warnings), report.warnings
    await wait_until_idle(sandbox)  # the sandbox is still sleeping on the abandoned poll


async def test_a_just_accepted_document_that_stays_invisible_is_handed_over(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "VISIBILITY_GRACE_SECONDS", 0.5)
    sandbox.sandbox.add_fault(FaultRule(endpoint="query", kind="null_body", times=-1))
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG))

    assert report.id is not None
    assert report.complete is False
    assert report.next_step is not None
    assert report.id in report.next_step
    assert any("does not show" in w for w in report.warnings), report.warnings
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_a_null_answer_after_the_verdict_does_not_erase_it(sandbox: SandboxServer) -> None:
    sandbox.sandbox.config.analysis_seconds = 120
    null_from_now_on = FaultRule(endpoint="query", kind="null_body", times=-1)

    async def break_queries_once_the_verdict_is_in(progress: Progress) -> None:
        if progress.phase == "deep_analysis":
            sandbox.sandbox.add_fault(null_from_now_on)

    async with open_detector(sandbox) as detector:
        report = await detector.detect(
            path=str(AI_PNG),
            options=DetectOptions(wait_seconds=1.0),
            progress=break_queries_once_the_verdict_is_in,
        )

    assert sandbox.sandbox.stats.query_calls > 0
    assert (report.status, report.verdict, report.complete) == ("done", "AI Generated", False)
    assert report.next_step is not None


async def test_get_result_of_an_unknown_id_is_not_found(sandbox: SandboxServer) -> None:
    async with open_detector(sandbox) as detector:
        with pytest.raises(NotFoundError, match="no document with id"):
            await detector.get_result(UNKNOWN_ID)


async def test_get_result_refuses_a_non_uuid_before_any_request(sandbox: SandboxServer) -> None:
    async with open_detector(sandbox) as detector:
        with pytest.raises(InvalidInputError, match="not a TruthScan document id"):
            await detector.get_result("../../etc/passwd")

    assert sandbox.sandbox.stats.requests["query"] == 0


# --- cancellation ----------------------------------------------------------------------------


async def _detect_until_cancelled(
    detector: Detector, recorder: Recorder, scope: anyio.CancelScope, **options: object
) -> None:
    with scope:
        await detector.detect(path=str(AI_PNG), options=DetectOptions(**options), progress=recorder)  # type: ignore[arg-type]
        pytest.fail("the detection finished instead of being cancelled")


async def _cancel_when(sandbox: SandboxServer, endpoint: str, scope: anyio.CancelScope) -> None:
    """Cancel once the sandbox is serving a request to `endpoint` (it is held by a delay fault)."""
    await eventually(lambda: sandbox.sandbox.stats.requests[endpoint] > 0)
    await anyio.sleep(0.05)
    scope.cancel()


async def _assert_nothing_left(sandbox: SandboxServer, detector: Detector, tasks_before: int) -> None:
    await assert_quiet(sandbox, 0.3)
    assert len(anyio.get_running_tasks()) == tasks_before, "a task outlived the cancelled detection"
    # The same detector (and its connection pool) still works after the cancellation.
    sandbox.sandbox.clear_faults()
    fast_sandbox(sandbox)
    report = await detector.detect(path=str(CAMERA_JPG))
    assert report.complete
    assert report.verdict == "Real"


@pytest.mark.parametrize("endpoint", ["upload", "detect", "query"])
async def test_cancelling_mid_request_leaves_nothing_running(sandbox: SandboxServer, endpoint: str) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint=endpoint, kind="delay", delay_seconds=1.0))  # type: ignore[arg-type]
    tasks_before = len(anyio.get_running_tasks())
    async with open_detector(sandbox) as detector:
        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_when, sandbox, endpoint, scope)
            await _detect_until_cancelled(detector, Recorder(), scope)
        assert scope.cancelled_caught

        stats = await wait_until_idle(sandbox)
        assert stats.requests["detect"] <= 1
        assert stats.accepted_detects <= stats.requests["detect"]
        if endpoint == "upload":
            assert stats.requests["detect"] == 0
        await _assert_nothing_left(sandbox, detector, tasks_before)


@pytest.mark.parametrize("phase", ["validating", "uploading", "submitted", "processing", "deep_analysis"])
async def test_cancelling_at_any_phase_stops_all_requests(sandbox: SandboxServer, phase: Phase) -> None:
    sandbox.sandbox.config.processing_seconds = 0.6  # long enough to be seen processing on a busy machine
    sandbox.sandbox.config.analysis_seconds = 30
    tasks_before = len(anyio.get_running_tasks())
    async with open_detector(sandbox) as detector:
        scope = anyio.CancelScope()
        recorder = Recorder(cancel_at=phase, scope=scope)
        await _detect_until_cancelled(detector, recorder, scope, wait_seconds=30)
        assert scope.cancelled_caught
        assert recorder.phases[-1] == phase

        stats = await wait_until_idle(sandbox)
        assert stats.accepted_detects == (1 if phase in ("submitted", "processing", "deep_analysis") else 0)
        await _assert_nothing_left(sandbox, detector, tasks_before)
