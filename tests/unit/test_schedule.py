"""The poll schedule: bounded gaps, the late-call budget, density where a job is predicted to end."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterator

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from truthscan_mcp.detection.schedule import (
    AFTER_VERDICT,
    FREE_SECONDS,
    MAX_GAP,
    MIN_GAP,
    DefaultSchedule,
    Duration,
    DurationHistory,
    Estimate,
    LearnedSchedule,
    MemoryDurations,
    Planner,
    PollPhase,
    PollPlan,
)

ANALYSIS = 0.8  # the simulator's deep analysis, after the verdict
HEATMAP = 0.5


def _pending(t: float, verdict_at: float, analysis: float = ANALYSIS) -> frozenset[PollPhase]:
    if t < verdict_at:
        return frozenset({"detection"})
    pending: set[PollPhase] = set()
    if t < verdict_at + analysis:
        pending.add("analysis")
    if t < verdict_at + HEATMAP:
        pending.add("heatmap")
    return frozenset(pending)


def _poll_times(plan: PollPlan, verdict_at: float, analysis: float = ANALYSIS) -> Iterator[float]:
    """Drive `plan` like the poll loop does, with answers arriving instantly; the poll moments."""
    t = 0.0
    while True:
        yield t
        pending = _pending(t, verdict_at, analysis)
        if not pending:
            plan.after_answer(t, pending)
            return
        t += plan.after_answer(t, pending)


def _learned(verdict_at: float, runs: int = 4) -> DurationHistory:
    history = DurationHistory()
    for i in range(runs):
        plan = PollPlan(history=history, then=AFTER_VERDICT)
        list(_poll_times(plan, verdict_at + 0.1 * i))
        history = history.adding(plan.durations())
    return history


lengths = st.floats(min_value=0.3, max_value=60.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(verdict_at=lengths, learned=st.booleans())
def test_no_gap_is_shorter_than_50_ms_or_longer_than_the_progress_promise(
    verdict_at: float, learned: bool
) -> None:
    history = _learned(verdict_at) if learned else DurationHistory()
    times = list(_poll_times(PollPlan(history=history, then=AFTER_VERDICT), verdict_at))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= MIN_GAP - 1e-9
    assert max(gaps) <= MAX_GAP + 1e-9 < 10.0


@settings(max_examples=60, deadline=None)
@given(verdict_at=lengths, learned=st.booleans())
def test_beyond_the_first_10_seconds_a_job_asks_at_most_once_a_second(
    verdict_at: float, learned: bool
) -> None:
    history = _learned(verdict_at) if learned else DurationHistory()
    times = list(_poll_times(PollPlan(history=history, then=AFTER_VERDICT), verdict_at))
    late = [t for t in times if t > FREE_SECONDS]
    assert len(late) <= max(0.0, times[-1] - FREE_SECONDS)


@settings(max_examples=40, deadline=None)
@given(verdict_at=st.floats(min_value=0.3, max_value=8.0))
def test_without_history_a_short_job_is_noticed_within_a_quarter_second(verdict_at: float) -> None:
    times = list(_poll_times(PollPlan(then=AFTER_VERDICT), verdict_at))
    assert times[-1] - (verdict_at + ANALYSIS) <= 0.25 + 1e-9


def test_without_history_a_long_job_polls_every_2_seconds_until_its_verdict() -> None:
    times = list(_poll_times(PollPlan(then=AFTER_VERDICT), verdict_at=40.0))
    waiting = [t for t in times if 12.0 < t < 40.0]
    gaps = [b - a for a, b in itertools.pairwise(waiting)]
    assert gaps
    assert all(abs(g - 2.0) < 1e-6 for g in gaps)


def test_without_history_the_phase_after_the_verdict_is_polled_densely() -> None:
    times = list(_poll_times(PollPlan(then=AFTER_VERDICT), verdict_at=41.0))
    after = [t for t in times if t >= 41.0]
    assert len(after) >= 3  # the calls saved while sparse are spent here
    assert times[-1] - (41.0 + ANALYSIS) <= 0.3


def test_with_history_a_long_job_is_asked_densely_only_near_its_predicted_end() -> None:
    history = _learned(30.0)
    times = list(_poll_times(PollPlan(history=history, then=AFTER_VERDICT), verdict_at=30.2))
    end = 30.2 + ANALYSIS
    near = [t for t in times if end - 1.5 <= t <= end + 0.5]
    middle = [t for t in times if 12.0 <= t <= end - 3.0]
    assert len(near) >= 5
    assert len(middle) <= 3
    assert times[-1] - end <= 0.2


def test_with_history_a_job_that_overruns_its_window_is_still_asked_every_second() -> None:
    history = _learned(20.0)
    times = list(_poll_times(PollPlan(history=history, then=AFTER_VERDICT), verdict_at=35.0))
    overdue = [t for t in times if 24.0 <= t <= 35.0]
    gaps = [b - a for a, b in itertools.pairwise(overdue)]
    assert gaps
    assert max(gaps) <= 1.0 + 1e-6
    assert times[-1] - (35.0 + ANALYSIS) <= 1.0


def test_with_history_15_second_jobs_slower_than_any_before_are_noticed_within_0_3_seconds() -> None:
    history = _learned(15.0)  # verdicts at 15.0 to 15.3 s
    lateness: list[float] = []
    for overrun in (0.25, 0.5, 0.75, 1.0, 1.5):  # swept across the gaps, as the benchmark does
        verdict_at = 15.3 + overrun
        times = list(_poll_times(PollPlan(history=history, then=AFTER_VERDICT), verdict_at))
        lateness.append(times[-1] - (verdict_at + ANALYSIS))
        assert len([t for t in times if t > FREE_SECONDS]) <= times[-1] - FREE_SECONDS  # budget kept
    assert statistics.median(lateness) <= 0.3


def test_a_job_far_shorter_than_its_history_is_noticed_within_half_its_length() -> None:
    history = _learned(40.0)
    times = list(_poll_times(PollPlan(history=history, then=AFTER_VERDICT), verdict_at=2.0))
    assert times[-1] <= 1.5 * (2.0 + ANALYSIS) + MIN_GAP


def test_a_plan_measures_the_phases_it_saw_to_within_its_gaps() -> None:
    plan = PollPlan(then=AFTER_VERDICT)
    list(_poll_times(plan, verdict_at=3.0))
    measured = plan.durations()
    assert abs(measured["detection"].seconds - 3.0) <= measured["detection"].within + 1e-9
    assert abs(measured["analysis"].seconds - ANALYSIS) <= measured["analysis"].within + 1e-9
    assert measured["detection"].within <= 0.125


def test_a_deep_analysis_measured_vaguer_than_half_a_second_is_not_learned() -> None:
    plan = PollPlan(then=AFTER_VERDICT)
    plan.after_answer(14.0, {"detection"})
    plan.after_answer(15.0, {"analysis"})  # the verdict came within this second: ±0.5 s
    plan.after_answer(15.5, {"analysis"})
    plan.after_answer(15.9, set())  # so the analysis lasted 0.5 to 1.9 s
    measured = plan.durations()
    assert set(measured) == {"detection"}


def test_a_plan_that_never_saw_the_verdict_measures_nothing() -> None:
    plan = PollPlan(then=AFTER_VERDICT)
    plan.after_answer(0.0, {"detection"})
    plan.after_answer(0.5, {"detection"})
    assert plan.durations() == {}


def test_the_default_schedule_grows_from_50_ms_and_settles_at_2_seconds() -> None:
    schedule = DefaultSchedule()
    assert schedule.delay(0.0) == MIN_GAP
    assert schedule.delay(1.0) < schedule.delay(3.0) <= 0.25
    assert schedule.delay(30.0) == 2.0


def test_from_history_without_durations_is_the_default() -> None:
    assert LearnedSchedule.from_history([]) == DefaultSchedule()


def test_from_history_lands_a_poll_on_the_start_of_the_window() -> None:
    schedule = LearnedSchedule.from_history([20.0, 20.4, 20.2])
    assert isinstance(schedule, LearnedSchedule)
    t = 0.0
    while t < schedule.start:
        t += schedule.delay(t)
    assert abs(t - schedule.start) < 1e-9


def test_an_estimate_prefers_sharp_measurements_to_vague_ones() -> None:
    estimate = Estimate.of([Duration(14.0, 1.0), Duration(15.5, 0.1), Duration(15.4, 0.1)])
    assert estimate is not None
    assert estimate.low > 14.5
    assert estimate.high < 16.0


def test_an_estimate_ignores_a_stray_outlier_once_the_history_is_long() -> None:
    estimate = Estimate.of([10.0 + 0.01 * i for i in range(30)] + [45.0])
    assert estimate is not None
    assert estimate.high < 11.0


def test_a_history_keeps_only_the_newest_durations() -> None:
    history = DurationHistory()
    for i in range(60):
        history = history.adding({"detection": Duration(float(i))}, keep=50)
    assert len(history.detection) == 50
    assert history.detection[0].seconds == 10.0


def test_a_history_refuses_impossible_durations() -> None:
    history = DurationHistory().adding({"detection": Duration(float("nan")), "analysis": Duration(-1.0)})
    assert history == DurationHistory()


def test_a_planner_learns_from_each_job_per_api() -> None:
    async def scenario() -> tuple[DurationHistory, DurationHistory]:
        source = MemoryDurations()
        planner = Planner(source, api_url="http://127.0.0.1:1")
        plan = await planner.plan(AFTER_VERDICT)
        list(_poll_times(plan, verdict_at=5.0))
        await planner.learn_from(plan)
        return await source.durations("http://127.0.0.1:1"), await source.durations("http://127.0.0.1:2")

    mine, other = anyio.run(scenario)
    assert len(mine.detection) == 1
    assert len(mine.analysis) == 1
    assert other == DurationHistory()
