"""Every job keeps its poll budget at every moment, whatever its timings and whatever the history says.

The budget is stated in `tests.support.polling`, apart from the schedule it judges; the jobs
sweep the timings a real service might have (verdict 0.3–15 s, deep analysis 0.2–12 s after it
or none, a heatmap or none), with no history, with the history of the same timings, and with
the history of other ones (a job that overruns or undercuts everything learned).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import Job, budget_breach, floor_calls, poll_times
from truthscan_mcp.detection.schedule import DurationHistory, PollPlan

verdicts = st.floats(min_value=0.3, max_value=15.0, allow_nan=False)
analyses = st.none() | st.floats(min_value=0.2, max_value=12.0, allow_nan=False)
heatmaps = st.none() | st.floats(min_value=0.1, max_value=3.0, allow_nan=False)
jobs = st.builds(Job, verdicts, analyses, heatmaps)


def _history_of(*past: Job) -> DurationHistory:
    """What a planner learns from these jobs, polled one after the other."""
    history = DurationHistory()
    for job in past:
        plan = PollPlan(history=history, then=job.then)
        list(poll_times(plan, job))
        history = history.adding(plan.durations())
    return history


def _calls(job: Job, history: DurationHistory | None = None) -> list[float]:
    return list(poll_times(PollPlan(history=history or DurationHistory(), then=job.then), job))


@settings(max_examples=150, deadline=None)
@given(job=jobs)
def test_without_history_every_job_keeps_its_poll_budget_at_every_moment(job: Job) -> None:
    assert budget_breach(_calls(job)) is None


@settings(max_examples=80, deadline=None)
@given(job=jobs)
def test_with_the_history_of_its_own_timings_every_job_keeps_its_poll_budget(job: Job) -> None:
    assert budget_breach(_calls(job, _history_of(job, job, job))) is None


@settings(max_examples=120, deadline=None)
@given(job=jobs, past=st.lists(jobs, min_size=1, max_size=4))
def test_with_the_history_of_other_timings_every_job_keeps_its_poll_budget(job: Job, past: list[Job]) -> None:
    assert budget_breach(_calls(job, _history_of(*past))) is None


@pytest.mark.parametrize(
    "job",
    [
        Job(0.5),  # a 0.5 s job
        Job(1.2, analysis=1.4, heatmap=0.5),  # 2.6 s, its deep analysis 1.4 s after the verdict
        Job(8.2, analysis=0.8, heatmap=0.5),  # 9 s
        Job(14.2, analysis=0.8, heatmap=0.5),  # 15 s
    ],
    ids=["0.5s", "2.6s-analysis-1.4s", "9s", "15s"],
)
def test_the_jobs_of_issue_20_ask_at_most_a_quarter_of_a_50_ms_pollers_calls(job: Job) -> None:
    calls = _calls(job)
    assert calls[-1] >= job.end  # noticed, not given up on
    assert len(calls) <= 0.25 * floor_calls(calls[-1]) + 3


def test_a_job_that_overruns_a_short_history_keeps_its_budget_long_after() -> None:
    history = _history_of(Job(0.5, analysis=0.8), Job(0.6, analysis=0.8))
    calls = _calls(Job(12.0, analysis=1.4), history)
    assert budget_breach(calls) is None
    assert calls[-1] >= 13.4


@settings(max_examples=80, deadline=None)
@given(job=jobs, stretch=st.floats(min_value=0.7, max_value=1.3))
def test_a_batch_row_whose_gaps_are_drawn_shorter_keeps_its_poll_budget(job: Job, stretch: float) -> None:
    plan, t, calls = PollPlan(then=job.then), 0.0, list[float]()
    while True:
        calls.append(t)
        gap = plan.after_answer(t, job.pending(t), stretch=stretch)
        if not job.pending(t):
            break
        t += gap
    assert budget_breach(calls) is None
