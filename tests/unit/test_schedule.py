"""The poll plan: bounded gaps, the late-call allowance, density where a job is predicted to end.

The budget at every moment, over a sweep of timings, is `test_poll_budget`'s; here are the
plan's other promises, each on jobs of the timings it is about.
"""

from __future__ import annotations

import itertools
import statistics

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import Job, poll_times
from truthscan_mcp.detection.schedule import (
    AFTER_VERDICT,
    FREE_SECONDS,
    MAX_GAP,
    MIN_GAP,
    Duration,
    DurationHistory,
    Estimate,
    MemoryDurations,
    Planner,
    PollBudget,
    PollPlan,
)

ANALYSIS = 0.8  # the simulator's deep analysis, after the verdict
HEATMAP = 0.5


def _job(verdict_at: float, analysis: float = ANALYSIS) -> Job:
    return Job(verdict_at, analysis, HEATMAP)


def _times(verdict_at: float, history: DurationHistory | None = None) -> list[float]:
    plan = PollPlan(history=history or DurationHistory(), then=AFTER_VERDICT)
    return list(poll_times(plan, _job(verdict_at)))


def _learned(verdict_at: float, runs: int = 4) -> DurationHistory:
    history = DurationHistory()
    for i in range(runs):
        plan = PollPlan(history=history, then=AFTER_VERDICT)
        list(poll_times(plan, _job(verdict_at + 0.1 * i)))
        history = history.adding(plan.durations())
    return history


lengths = st.floats(min_value=0.3, max_value=60.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(verdict_at=lengths, learned=st.booleans())
def test_no_gap_is_shorter_than_50_ms_or_longer_than_the_progress_promise(
    verdict_at: float, learned: bool
) -> None:
    times = _times(verdict_at, _learned(verdict_at) if learned else None)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= MIN_GAP - 1e-9
    assert max(gaps) <= MAX_GAP + 1e-9 < 10.0


@settings(max_examples=60, deadline=None)
@given(verdict_at=lengths, learned=st.booleans())
def test_beyond_the_first_10_seconds_a_job_asks_at_most_once_a_second(
    verdict_at: float, learned: bool
) -> None:
    times = _times(verdict_at, _learned(verdict_at) if learned else None)
    late = [t for t in times if t > FREE_SECONDS]
    assert len(late) <= max(0.0, times[-1] - FREE_SECONDS)


@settings(max_examples=60, deadline=None)
@given(verdict_at=st.floats(min_value=0.3, max_value=8.5), deep=st.booleans())
def test_without_history_a_job_of_the_first_10_seconds_is_noticed_within_0_3_seconds(
    verdict_at: float, deep: bool
) -> None:
    job = _job(verdict_at) if deep else Job(verdict_at)
    times = list(poll_times(PollPlan(then=job.then), job))
    assert times[-1] - job.end <= 0.3


def test_without_history_no_call_but_the_first_comes_in_the_first_quarter_second() -> None:
    times = _times(5.0)
    assert times[0] == 0.0
    assert times[1] >= 0.25


def test_without_history_a_long_job_spends_its_late_allowance_until_3_percent_of_its_age_is_more() -> None:
    times = _times(verdict_at=60.0)
    gaps = [(a, b - a) for a, b in itertools.pairwise(times) if a > 11.0]
    assert gaps
    assert all(abs(gap - max(1.0, 0.03 * at)) < 1e-6 for at, gap in gaps if at < 59.0)


def test_with_history_a_short_job_is_noticed_sooner_for_fewer_calls() -> None:
    for verdict_at in (2.0, 3.0, 5.0):
        alone, learned = _times(verdict_at), _times(verdict_at, _learned(verdict_at))
        end = verdict_at + ANALYSIS
        assert learned[-1] - end < alone[-1] - end
        assert len(learned) < len(alone)


def test_with_history_a_long_job_is_asked_densely_only_near_its_predicted_end() -> None:
    times = _times(30.2, _learned(30.0))
    end = 30.2 + ANALYSIS
    near = [t for t in times if end - 1.5 <= t <= end + 0.5]
    middle = [t for t in times if 12.0 <= t <= end - 3.0]
    assert len(near) >= 5
    assert len(middle) <= (end - 3.0 - 12.0) / 3.0 + 1  # every 3 s, saving for the end
    assert times[-1] - end <= 0.2


def test_with_history_a_job_that_overruns_its_window_is_still_asked_every_second() -> None:
    times = _times(35.0, _learned(20.0))
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
        times = _times(verdict_at, history)
        lateness.append(times[-1] - (verdict_at + ANALYSIS))
    assert statistics.median(lateness) <= 0.3


def test_a_job_far_shorter_than_its_history_is_noticed_within_a_tenth_of_its_length() -> None:
    history = _learned(40.0)
    for verdict_at in (0.5, 1.0, 2.0, 5.0):
        times = _times(verdict_at, history)
        assert times[-1] <= 1.1 * (verdict_at + ANALYSIS)


def test_polls_that_each_come_a_few_ms_late_still_ask_at_11_seconds_not_12() -> None:
    # A real sleep overruns: the last call before the late ones must not slip past their edge
    # and count as the first of them.
    job = Job(10.2)
    plan, t, times = PollPlan(), 0.0, list[float]()
    while True:
        times.append(t)
        gap = plan.after_answer(t, job.pending(t))
        if not job.pending(t):
            break
        t += gap + 0.004
    assert [round(t) for t in times if t > 9.0][-2:] == [10, 11]  # 9.65 s, then 11 s
    assert times[-1] < 11.1


def test_the_budget_names_the_first_moment_one_more_call_keeps_it() -> None:
    budget = PollBudget()
    assert budget.earliest([0.0, 0.3, 0.35], want=0.0) == pytest.approx(0.15)  # the 4th: a poller's 4th
    assert budget.earliest([0.0] * 5, want=0.0) == pytest.approx(0.55)  # the 6th: its 12th
    assert budget.earliest([0.0] * 5, want=0.7) == 0.7
    assert budget.earliest([9.7], want=9.9) == 11.0  # the first call past 9.75 s: 11 s, not sooner
    assert budget.earliest([9.7, 9.8], want=9.9) == 12.0  # 9.8 s counts as late already


def test_a_plan_measures_the_phases_it_saw_to_within_its_gaps() -> None:
    plan = PollPlan(then=AFTER_VERDICT)
    list(poll_times(plan, _job(3.0)))
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
        list(poll_times(plan, _job(5.0)))
        await planner.learn_from(plan)
        return await source.durations("http://127.0.0.1:1"), await source.durations("http://127.0.0.1:2")

    mine, other = anyio.run(scenario)
    assert len(mine.detection) == 1
    assert len(mine.analysis) == 1
    assert other == DurationHistory()
