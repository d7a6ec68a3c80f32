"""When to ask TruthScan again about a job: near a 50 ms poller's latency at a quarter of its calls.

Pure: no clock, no I/O. Times are seconds since the job's first `/query` (its submission, near
enough). The poll loop builds one `PollPlan` per job, tells it after every answer which phases
are still pending, and sleeps for the delay it returns; at the end it hands the measured phase
durations to whatever stores them (`DurationSource`, the result cache's job), so the next plan
for that API can predict when its job will settle and ask densely around that moment only.

The budgets, and why the gaps are what they are (bench/latency.py measures them):

* Lateness. A job that ends uniformly within a gap ``g`` is noticed ``g/2`` late in the median.
  The bar is ≤ 1.10x a 50 ms poller and ≤ +0.30 s. The MCP path itself costs ~45 ms, so a
  0.5 s job leaves ~40 ms: gaps start at `MIN_GAP` (50 ms) and grow with 8 % of the age of
  the job, to 0.25 s at ~3 s (+0.125 s median, under 10 % of any job of 2 s or more).
* Calls. In a job's first 10 s the only limit is the total (≤ 1/4 of the poller's 20 a second,
  summed over all jobs); beyond 10 s at most one call a second on average. `PollPlan` enforces
  the second as a budget: its k-th call after 10 s is never earlier than 10 + k s. One call a
  second alone would mean noticing a long job ~0.5 s late, so the plan saves calls while the
  outcome is far off and spends them where it is likely, keeping `RESERVE` of them, while the
  verdict is pending, for the end of the deep analysis that follows it.
* Without history (`DefaultSchedule`) nothing says where the end is likely. The plan then polls
  every 2 s after the first 10 s, from 13 s on with the reserve (saving half a call a second)
  and, as soon as the verdict is seen, spends the savings densely on what remains (deep
  analysis, heatmap), which on the simulator settles 0.8 s after the verdict: the verdict is
  noticed up to 2 s late but the end of the job still within ~0.2 s in the median. A job that
  ends with its verdict (no deep analysis) is noticed ~1 s late in the median beyond 10 s:
  honest, and the reason to learn.
* With history (`LearnedSchedule`), the plan predicts the end of the whole job from the past
  durations of each phase (detection; analysis and heatmap, counted from the verdict), polls
  ever closer while approaching that window, densely inside it, and falls back to the default
  gaps if the job overruns it.
* Progress. Every poll sends a progress notification; no gap exceeds `MAX_GAP` (8 s), inside
  the 10 s at which clients that reset their timeout on progress give up.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple, Protocol

#: What a job may still be waiting for: the verdict, then (from the verdict on) the deep analysis
#: and the heatmap, which TruthScan works on side by side.
PollPhase = Literal["detection", "analysis", "heatmap"]
PHASES: tuple[PollPhase, ...] = ("detection", "analysis", "heatmap")
AFTER_VERDICT: frozenset[PollPhase] = frozenset({"analysis", "heatmap"})

MIN_GAP = 0.05
#: Below the 10 s within which a progress notification must reach the client, with room for a
#: slow answer.
MAX_GAP = 8.0
#: The first seconds of a job, during which calls are limited only by the total budget.
FREE_SECONDS = 10.0
#: Calls a second allowed on average beyond `FREE_SECONDS`.
LATE_RATE = 1.0
#: A measurement this precise (± seconds) outranks vaguer ones.
SHARP = 0.3
#: How many past durations of a phase are kept per API (the newest win).
HISTORY_SIZE = 50
#: Late calls kept, while the verdict is pending, for the phases after it: their end is what the
#: caller waits for, and it is predicted best once the verdict's moment is known; a job that
#: overruns its history (slower than any before) is then still asked about densely at its end.
RESERVE = 2


class PollSchedule(Protocol):
    """The gap before the next `/query`, given the seconds since the job's first one."""

    def delay(self, elapsed: float) -> float: ...


class DurationSource(Protocol):
    """Where past phase durations live: the result cache, per API URL (`TRUTHSCAN_API_URL`).

    The cache stores rows of (api_url, phase, seconds, within, recorded_at) and answers with the newest
    `HISTORY_SIZE` per phase, oldest first. Like the result store, it never raises for storage
    trouble: a broken cache costs the prediction, never a detection.
    """

    async def durations(self, api_url: str) -> DurationHistory: ...

    async def record_durations(self, api_url: str, durations: Mapping[PollPhase, Duration]) -> None: ...


class Duration(NamedTuple):
    """One measured phase duration: it lay within `seconds` ± `within` (the polls' resolution)."""

    seconds: float
    within: float = 0.0


@dataclass(frozen=True)
class DurationHistory:
    """Past durations of each phase, oldest first: detection from submission to the verdict,
    analysis and heatmap from the verdict to their own end."""

    detection: tuple[Duration, ...] = ()
    analysis: tuple[Duration, ...] = ()
    heatmap: tuple[Duration, ...] = ()

    def of(self, phase: PollPhase) -> tuple[Duration, ...]:
        return getattr(self, phase)

    def adding(self, durations: Mapping[PollPhase, Duration], keep: int = HISTORY_SIZE) -> DurationHistory:
        """A history with these measurements appended, the oldest beyond `keep` dropped."""
        changes = {
            phase: (*self.of(phase), measured)[-keep:]
            for phase, measured in durations.items()
            if math.isfinite(measured.seconds) and measured.seconds >= 0 and math.isfinite(measured.within)
        }
        return replace(self, **changes)


@dataclass(frozen=True)
class Estimate:
    """Where a duration probably falls: `low`..`high` covers ~80 % of the history."""

    low: float
    high: float

    @classmethod
    def of(cls, durations: Sequence[Duration | float]) -> Estimate | None:
        if not durations:
            return None
        measured = [d if isinstance(d, Duration) else Duration(d) for d in durations]
        # Once some were measured sharply, the vague ones (taken while polling sparsely) only
        # widen the window.
        # ("Sharp" is relative: late in a job every measurement is a few tenths vague.)
        finest = min(d.within for d in measured)
        sharp = [d for d in measured if d.within <= max(SHARP, 1.5 * finest)]
        measured = sharp or measured
        # Each duration lies somewhere in its ± range; with several, their scatter already
        # shows that vagueness, so only half of each range is added to it.
        shrink = 1.0 if len(measured) < 3 else 0.5
        lows = sorted(d.seconds - shrink * d.within for d in measured)
        highs = sorted(d.seconds + shrink * d.within for d in measured)
        if len(measured) < 5:
            low, high = lows[0], highs[-1]
        else:  # a stray outlier must not stretch every window
            low = statistics.quantiles(lows, n=10, method="inclusive")[0]
            high = statistics.quantiles(highs, n=10, method="inclusive")[-1]
        # Durations vary a little even when the history does not show it yet.
        margin = max(0.05, 0.02 * statistics.median(d.seconds for d in measured))
        return cls(max(0.0, low - margin), high + margin)

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.low + other.low, self.high + other.high)


def _young_gap(age: float) -> float:
    """8 % of the age, from 50 ms to 0.25 s: lateness under 10 % of any job of ~1 s or more."""
    return min(0.25, max(MIN_GAP, 0.08 * age))


@dataclass(frozen=True)
class DefaultSchedule:
    """No history: dense while the job is young, then every `late` seconds.

    `late` is 2 s rather than 1 s so that a `PollPlan` has calls saved for the phase after the
    verdict (see the module docstring for what this achieves).
    """

    late: float = 2.0

    def delay(self, elapsed: float) -> float:
        if elapsed < FREE_SECONDS:
            return min(_young_gap(elapsed), FREE_SECONDS - elapsed + MIN_GAP)
        return min(self.late, MAX_GAP)


@dataclass(frozen=True)
class LearnedSchedule:
    """Sparse until the predicted window, dense inside it, the default past it.

    Before the window, in the job's free first seconds, each gap is at most `approach` of both
    the time left to the window and the job's age, so the polls close in geometrically; beyond
    them the next poll jumps to the window (at most `MAX_GAP` at a time), saving the budgeted
    calls for it. One poll lands on the window's start.
    """

    start: float
    end: float
    dense: float
    approach: float = 0.5
    #: past the window the prediction failed: ask every second (what the budget allows)
    fallback: PollSchedule = field(default_factory=lambda: DefaultSchedule(late=1.0))

    @classmethod
    def from_history(cls, durations: Sequence[Duration | float], *, offset: float = 0.0) -> PollSchedule:
        """The schedule for a phase that began at `offset`; the default without history."""
        estimate = Estimate.of(durations)
        if estimate is None:
            return DefaultSchedule()
        return cls.around(Estimate(offset + estimate.low, offset + estimate.high))

    @classmethod
    def around(cls, window: Estimate, *, fallback: PollSchedule | None = None) -> LearnedSchedule:
        """Dense across `window`: ~12 polls over it, each gap 50 ms to 0.25 s."""
        width = window.high - window.low
        dense = min(0.25, max(MIN_GAP, width / 12))
        return cls(window.low, window.high, dense, fallback=fallback or DefaultSchedule(late=1.0))

    def delay(self, elapsed: float) -> float:
        if elapsed < self.start:
            left = self.start - elapsed
            if elapsed < FREE_SECONDS:
                # Free calls: close in from both sides, never waiting more than half the age of
                # the job, so one that ends far sooner than predicted is noticed ≤ 50 % late.
                gap = min(self.approach * left, max(MIN_GAP, self.approach * elapsed))
                if elapsed + gap > FREE_SECONDS:
                    gap = left  # the next call is budgeted anyway: make it the window's first
            else:
                gap = left  # budgeted calls: save them for the window
            gap = min(MAX_GAP, max(self.dense, gap))
            return left if left <= gap + self.dense else gap
        if elapsed <= self.end:
            return self.dense
        return self.fallback.delay(elapsed)


@dataclass(frozen=True)
class Every:
    """A constant gap: what tests that are not about waiting and the benchmarks' floor poll on."""

    gap: float

    def delay(self, elapsed: float) -> float:
        return self.gap


@dataclass
class PollPlan:
    """The polls of one job: which schedule applies now, the late-call budget, what was measured.

    `then` names the phases this job waits for after its verdict (deep analysis when asked for,
    the heatmap when the caller waits for it); the end of the last of them is what the plan
    predicts while the verdict is still coming. Tell it every answer with `after_answer`.
    A `fixed` schedule replaces all of that (no prediction, no budget), and a plan that is not
    `learnable` (its first poll was not the job's first: a lookup, or a job another call
    submitted) only waits: its timings say nothing about how long jobs take.
    """

    history: DurationHistory = field(default_factory=DurationHistory)
    then: frozenset[PollPhase] = frozenset()
    fixed: PollSchedule | None = None
    learnable: bool = True
    _pending: frozenset[PollPhase] | None = None
    _last: float | None = None
    _late_calls: int = 0
    #: between which two answers (job time) each phase was seen to end
    _ended: dict[PollPhase, tuple[float, float]] = field(default_factory=dict[PollPhase, tuple[float, float]])
    _schedule: PollSchedule | None = None

    def after_answer(self, elapsed: float, pending: Iterable[PollPhase]) -> float:
        """Record an answer (what is still pending at `elapsed`) and return the delay to the next."""
        now_pending = frozenset(pending)
        if self.fixed is not None:
            return max(MIN_GAP, min(MAX_GAP, self.fixed.delay(elapsed)))
        if elapsed > FREE_SECONDS:
            self._late_calls += 1
        if self._schedule is None or now_pending != self._pending:
            self._note_endings(elapsed, now_pending)
            self._pending = now_pending
            self._schedule = self._plan(elapsed)
        self._last = elapsed
        gap = max(MIN_GAP, min(MAX_GAP, self._schedule.delay(elapsed)))
        return self._within_budget(elapsed, gap)

    def durations(self, *, vague: float = 1.25, vague_after: float = 0.5) -> dict[PollPhase, Duration]:
        """The phase durations this job showed, for the history (analysis and heatmap from the verdict).

        Each lay between two answers; it is kept as their middle ± half their distance, and
        left out when that half exceeds `vague` (the default asks every 2 s late in a job), or
        `vague_after` for the phases after the verdict: those last about a second, so a
        measurement vaguer than that says little about them, and learned it would widen every
        later window by its whole range (a 15 s job's few budgeted calls spread over 3 s
        instead of 1); left out, the plan asks densely from the verdict on instead.
        """
        verdict = self._ended.get("detection")
        if verdict is None or (verdict[1] - verdict[0]) / 2 > vague:
            return {}
        seen = Duration((verdict[0] + verdict[1]) / 2, (verdict[1] - verdict[0]) / 2)
        measured: dict[PollPhase, Duration] = {"detection": seen}
        for phase in AFTER_VERDICT:
            ended = self._ended.get(phase)
            if ended is None or ended[0] < verdict[1]:
                continue  # ended with the verdict, or seen first with it: no start to count from
            within = (ended[1] - ended[0]) / 2 + seen.within
            if within <= min(vague, vague_after):
                measured[phase] = Duration(max(0.0, (ended[0] + ended[1]) / 2 - seen.seconds), within)
        return measured

    def _note_endings(self, elapsed: float, now_pending: frozenset[PollPhase]) -> None:
        before = self._pending
        if before is None:
            return
        since = self._last if self._last is not None else elapsed
        for phase in before - now_pending:
            self._ended.setdefault(phase, (since, elapsed))

    def _plan(self, elapsed: float) -> PollSchedule:
        pending = self._pending or frozenset()
        if not pending:
            return DefaultSchedule()
        if "detection" in pending:
            detection = Estimate.of(self.history.of("detection"))
            after = self._after_verdict(self.then)
            if detection is None:
                return DefaultSchedule()
            # Dense around the job's predicted end, or around its verdict while what follows
            # it is unknown (the default then takes over, densely, from the verdict).
            return LearnedSchedule.around(detection if after is None else detection + after)
        verdict = self._ended.get("detection")
        after = self._after_verdict(pending)
        origin = self._last if self._last is not None else 0.0
        if verdict is None or after is None:
            return _Rebased(DefaultSchedule(), origin)
        # The verdict came somewhere between the last two answers: the window spans both ends.
        window = Estimate(max(elapsed, verdict[0] + after.low), max(elapsed, verdict[1] + after.high))
        return LearnedSchedule.around(window, fallback=_Rebased(DefaultSchedule(late=1.0), origin))

    def _after_verdict(self, phases: frozenset[PollPhase]) -> Estimate | None:
        """When the last of `phases` ends, counted from the verdict; None when none was measured.

        A phase never measured (a heatmap always ready with the verdict, say) is not waited for.
        """
        estimates = [Estimate.of(self.history.of(p)) for p in phases & AFTER_VERDICT]
        known = [e for e in estimates if e is not None]
        if not known:
            return None
        return Estimate(max(e.low for e in known), max(e.high for e in known))

    def _within_budget(self, elapsed: float, gap: float) -> float:
        """Delay the next call so that the k-th call after the free seconds comes at ≥ 10 + k s.

        Inside a predicted window late in a job, the calls the budget still allows are spread
        evenly over what is left of it rather than spent at its start. While the verdict is
        pending and phases follow it, `RESERVE` calls stay unspent for them: a 15 s job that
        runs a second past its history would otherwise find its budget gone just as its deep
        analysis ends, and be noticed ~0.5 s late.
        """
        if elapsed + gap <= FREE_SECONDS:
            return gap
        window = self._schedule
        # While the verdict is pending, calls are kept for the phases after it (`RESERVE`).
        pending = self._pending or frozenset()
        reserve = RESERVE if "detection" in pending and self.then & AFTER_VERDICT else 0
        if isinstance(window, LearnedSchedule) and window.start <= elapsed < window.end:
            allowed = (window.end - FREE_SECONDS) * LATE_RATE - self._late_calls - reserve
            if allowed >= 1:
                gap = max(gap, min(MAX_GAP, (window.end - elapsed) / allowed))
        earliest = FREE_SECONDS + (self._late_calls + 1 + reserve) / LATE_RATE
        return max(gap, earliest - elapsed)


@dataclass(frozen=True)
class _Rebased:
    """A schedule that starts counting at `origin`: the default for a phase whose length is unknown."""

    schedule: PollSchedule
    origin: float

    def delay(self, elapsed: float) -> float:
        return self.schedule.delay(max(0.0, elapsed - self.origin))


@dataclass
class MemoryDurations:
    """A `DurationSource` that lives as long as the process: until the cache keeps them, and in tests."""

    _by_api: dict[str, DurationHistory] = field(default_factory=dict[str, DurationHistory])

    async def durations(self, api_url: str) -> DurationHistory:
        return self._by_api.get(api_url, DurationHistory())

    async def record_durations(self, api_url: str, durations: Mapping[PollPhase, Duration]) -> None:
        self._by_api[api_url] = self._by_api.get(api_url, DurationHistory()).adding(durations)


@dataclass
class Planner:
    """Plans the polls of each job on one API from its history, and adds each job to it.

    The one thing the detector polls by: `open_app` builds one per server over the result cache
    (or memory when the cache is off); tests and benchmarks hand their own to `open_app` or
    `Detector` as `schedule=` — `Planner.fixed(Every(0.05))` to poll fast, `learn=False` for the
    default schedule without history.
    """

    source: DurationSource = field(default_factory=MemoryDurations)
    api_url: str = ""
    #: every job follows this schedule, whatever the history; nothing is learned
    schedule: PollSchedule | None = None
    #: add each job's timings to the history (False: always the default schedule)
    learn: bool = True

    @classmethod
    def fixed(cls, schedule: PollSchedule) -> Planner:
        return cls(schedule=schedule, learn=False)

    async def plan(self, then: Iterable[PollPhase] = (), *, fresh: bool = True) -> PollPlan:
        """The plan of one wait; `fresh` when its first poll follows the job's submission."""
        if self.schedule is not None:
            return PollPlan(then=frozenset(then), fixed=self.schedule, learnable=False)
        learnable = fresh and self.learn
        history = await self.source.durations(self.api_url) if fresh else DurationHistory()
        return PollPlan(history=history, then=frozenset(then), learnable=learnable)

    async def learn_from(self, plan: PollPlan) -> None:
        if not plan.learnable:
            return
        measured = plan.durations()
        if measured:
            await self.source.record_durations(self.api_url, measured)
