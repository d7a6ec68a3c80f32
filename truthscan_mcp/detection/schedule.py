"""When to ask TruthScan again about a job: a budget of calls per job, spent where its end is likely.

Pure: no clock, no I/O. Times are seconds since the plan's first `/query` (a moment after
TruthScan accepted the job). The poll loop builds one `PollPlan` per job, tells it after every
answer which phases are still pending, and sleeps for the delay it returns; at the end it hands
the measured phase durations to whatever stores them (`DurationSource`, the result cache's job),
so that the next plan for that API knows where its job will probably end.

The budget comes first, because a service that rate-limits counts each client's calls whatever
its jobs look like, and no simulator's timings say what the real service's are (`PollBudget`):

* At every moment of a job, no more calls than a quarter of what a poller asking every 50 ms
  would have sent by then, plus `HEAD_START` for the first ones; beyond its first 10 s, no more
  than one a second on average. Every delay a plan returns ends no sooner than
  `PollBudget.earliest`, whatever the job, the history or the wishes below: wrong history costs
  latency, never budget. A call planned in the last `LATE_MARGIN` before 10 s already counts as
  a late one, so the moment between TruthScan's clock and ours (the upload's answer, a cache
  write) or a call delayed on the way never moves one past the allowance as the API counts it.

Within the budget the plan wishes for the gaps that keep a job's lateness small against its
length, which is what the caller feels (the bar: a mean latency within 5 % of a 50 ms poller's):

* `RELATIVE` (3 %) of the job's age: noticed ~1.5 % late in the median at any length. The
  budget binds this until ~7 s (5 calls a second) and again beyond 10 s (1 a second) and then
  decides alone: without history a job asks about as often as its budget allows, since any
  call saved is a call not spent near an end nobody predicted. The head start is not spent in
  the first `FIRST_GAP`, when no TruthScan job has ended yet, but right after it, when the
  shortest ones do. (Tried on a sweep of timings: 5 % and 8 % were later for the same calls;
  a head start spread over the first seconds instead changed nothing measurable.)
* With history, the end of the job is predicted (detection; deep analysis and heatmap, counted
  from the verdict) as a window: before it the plan asks at most every `SAVING` (35 %) of the
  job's age or `SAVING_CAP` (3 s), so a job that ends far sooner than predicted is still
  noticed ~17 % (at most 1.5 s) late in the median, and saves the calls the budget then lets it
  spend inside the window, spread evenly over it. Past the window (a job that overruns its
  history) the wishes are those without history again. Once the verdict is seen, the window is
  predicted afresh from its moment.
* Beyond 10 s the first call can come no sooner than 11 s, so the last one before comes just
  before the edge of the late calls (`EDGE`: a real sleep overruns a little, and a call that
  slips past the edge would count as the first late one and push the next to 12 s).
* Progress: every poll sends a progress notification, and no gap exceeds `MAX_GAP` (8 s),
  inside the 10 s at which clients that reset their timeout on progress give up.
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
#: The budget's yardstick: a poller asking every 50 ms from the job's start.
FLOOR_GAP = 0.05
#: The share of that poller's calls a job may make so far, at every moment ...
SHARE = 0.25
#: ... plus this many, for the first calls (a job's first seconds are when it is least known).
HEAD_START = 3
#: The first seconds of a job, limited by the share alone ...
FREE_SECONDS = 10.0
#: ... and the calls a second allowed on average beyond them.
LATE_RATE = 1.0
#: Calls planned this close before `FREE_SECONDS` count as beyond it (see the module docstring).
LATE_MARGIN = 0.25
#: The wished gap, as a share of the job's age: lateness ~1.5 % of it in the median.
RELATIVE = 0.03
#: No call between the first and this moment: no TruthScan job ends sooner.
FIRST_GAP = 0.3
#: Before a predicted window the wished gap grows to this share of the job's age, saving calls ...
SAVING = 0.35
#: ... up to this many seconds: a long job that ends far sooner than its history said is then
#: noticed ~1.5 s late in the median, not a third of its age.
SAVING_CAP = 3.0
#: The last call before the late ones comes this long before their edge: sleeps overrun a little.
EDGE = 0.1
#: A measurement this precise (± seconds) outranks vaguer ones.
SHARP = 0.3
#: How many past durations of a phase are kept per API (the newest win).
HISTORY_SIZE = 50
#: Slack for sums of floats that land on a boundary (0.05 x 3 = 0.15000000000000002).
_EPSILON = 1e-9


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


@dataclass(frozen=True)
class Every:
    """A constant gap: what tests that are not about waiting and the benchmarks' floor poll on."""

    gap: float

    def delay(self, elapsed: float) -> float:
        return self.gap


@dataclass(frozen=True)
class PollBudget:
    """How many `/query` calls one job may make by each moment of it (see the module docstring)."""

    floor_gap: float = FLOOR_GAP
    share: float = SHARE
    head_start: int = HEAD_START
    free_seconds: float = FREE_SECONDS
    late_rate: float = LATE_RATE
    late_margin: float = LATE_MARGIN

    def floor_calls(self, t: float) -> int:
        """What the yardstick poller has sent by `t` (at 0, 50 ms, 100 ms, …)."""
        return math.floor(max(0.0, t) / self.floor_gap + _EPSILON) + 1

    def allowed(self, t: float) -> float:
        """Calls allowed by `t` in all: the share of the poller's, and the head start."""
        return self.share * self.floor_calls(t) + self.head_start

    def earliest(self, calls: Sequence[float], want: float) -> float:
        """The first moment from `want` on at which one more call than `calls` keeps the budget."""
        # the share: call n needs the poller at ≥ (n - head_start) / share calls
        needed = math.ceil((len(calls) + 1 - self.head_start) / self.share - _EPSILON)
        at = max(want, (needed - 1) * self.floor_gap)
        late_from = self.free_seconds - self.late_margin
        if at > late_from:  # the k-th late call comes no sooner than k seconds after 10 s
            late = sum(1 for c in calls if c > late_from)
            at = max(at, self.free_seconds + (late + 1) / self.late_rate)
        return at

    def spare(self, calls: Sequence[float], until: float) -> int:
        """How many more calls than `calls` the budget allows by `until`."""
        spare = math.floor(self.allowed(until) + _EPSILON) - len(calls)
        if until > self.free_seconds:
            late = sum(1 for c in calls if c > self.free_seconds - self.late_margin)
            spare = min(spare, math.floor((until - self.free_seconds) * self.late_rate + _EPSILON) - late)
        return max(0, spare)


@dataclass
class PollPlan:
    """The polls of one job: the budget, where its end is predicted, what was measured.

    `then` names the phases this job waits for after its verdict (deep analysis when asked for,
    the heatmap when the caller waits for it); the end of the last of them is what the plan
    predicts while the verdict is still coming. Tell it every answer with `after_answer`.
    A `fixed` schedule replaces all of that (no prediction, no budget: for tests that are not
    about waiting and for comparisons), and a plan that is not `learnable` (its first poll was
    not the job's first: a lookup, or a job another call submitted) only waits: its timings say
    nothing about how long jobs take.
    """

    history: DurationHistory = field(default_factory=DurationHistory)
    then: frozenset[PollPhase] = frozenset()
    fixed: PollSchedule | None = None
    learnable: bool = True
    budget: PollBudget = field(default_factory=PollBudget)
    #: when each call was made (the answers told), for the budget
    _calls: list[float] = field(default_factory=list[float])
    _pending: frozenset[PollPhase] | None = None
    _last: float | None = None
    #: between which two answers (job time) each phase was seen to end
    _ended: dict[PollPhase, tuple[float, float]] = field(default_factory=dict[PollPhase, tuple[float, float]])
    #: where the job's end is predicted from what is pending now; None: unknown
    _window: Estimate | None = None

    @property
    def calls(self) -> tuple[float, ...]:
        return tuple(self._calls)

    def after_answer(self, elapsed: float, pending: Iterable[PollPhase], *, stretch: float = 1.0) -> float:
        """Record an answer (what is still pending at `elapsed`) and return the delay to the next.

        `stretch` scales the wished gap (a batch draws it around 1 so its rows drift apart);
        the budget still has the last word.
        """
        now_pending = frozenset(pending)
        if self.fixed is not None:
            return max(MIN_GAP, min(MAX_GAP, self.fixed.delay(elapsed) * stretch))
        self._calls.append(elapsed)
        if self._pending is None or now_pending != self._pending:
            self._note_endings(elapsed, now_pending)
            self._pending = now_pending
            self._window = self._predict(elapsed)
        self._last = elapsed
        want = elapsed + max(MIN_GAP, min(MAX_GAP, self._wish(elapsed) * stretch))
        late_from = self.budget.free_seconds - self.budget.late_margin
        if elapsed < late_from - EDGE < want:
            # the last call before the late ones just before their edge, not a second past it
            want = max(elapsed + MIN_GAP, late_from - EDGE)
        return max(MIN_GAP, self.budget.earliest(self._calls, want) - elapsed)

    def durations(self, *, vague: float = 1.25, vague_after: float = 0.5) -> dict[PollPhase, Duration]:
        """The phase durations this job showed, for the history (analysis and heatmap from the verdict).

        Each lay between two answers; it is kept as their middle ± half their distance, and
        left out when that half exceeds `vague`, or `vague_after` for the phases after the
        verdict: those last about a second, so a measurement vaguer than that says little about
        them, and learned it would widen every later window by its whole range; left out, the
        plan asks as without history from the verdict on instead.
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

    def _wish(self, elapsed: float) -> float:
        """The gap this plan would like before the next call, before the budget has its say."""
        unknown = max(MIN_GAP, RELATIVE * elapsed, FIRST_GAP - elapsed)
        window = self._window
        if window is None or elapsed >= window.high:
            return unknown  # no prediction, or the job overran it
        if elapsed < window.low:
            left = window.low - elapsed
            gap = max(unknown, min(SAVING * elapsed, SAVING_CAP, left))
            return left if left <= gap + MIN_GAP else gap  # one call lands on the window's start
        # inside the window: what the budget allows by its end, spread evenly over what is left
        spare = self.budget.spare(self._calls, window.high)
        return (window.high - elapsed) / max(1, spare)

    def _note_endings(self, elapsed: float, now_pending: frozenset[PollPhase]) -> None:
        before = self._pending
        if before is None:
            return
        since = self._last if self._last is not None else elapsed
        for phase in before - now_pending:
            self._ended.setdefault(phase, (since, elapsed))

    def _predict(self, elapsed: float) -> Estimate | None:
        """Where the job will probably end, given what is pending now; None when history can't say."""
        pending = self._pending or frozenset()
        if not pending:
            return None
        if "detection" in pending:
            detection = Estimate.of(self.history.of("detection"))
            after = self._after_verdict(self.then)
            if detection is None:
                return None
            return detection if after is None else detection + after
        verdict = self._ended.get("detection")
        after = self._after_verdict(pending)
        if verdict is None or after is None:
            return None
        # The verdict came somewhere between the last two answers: the window spans both ends.
        return Estimate(max(elapsed, verdict[0] + after.low), max(elapsed, verdict[1] + after.high))

    def _after_verdict(self, phases: frozenset[PollPhase]) -> Estimate | None:
        """When the last of `phases` ends, counted from the verdict; None when none was measured.

        A phase never measured (a heatmap always ready with the verdict, say) is not waited for.
        """
        estimates = [Estimate.of(self.history.of(p)) for p in phases & AFTER_VERDICT]
        known = [e for e in estimates if e is not None]
        if not known:
            return None
        return Estimate(max(e.low for e in known), max(e.high for e in known))


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
    plan without history.
    """

    source: DurationSource = field(default_factory=MemoryDurations)
    api_url: str = ""
    #: every job follows this schedule, whatever the history; nothing is learned
    schedule: PollSchedule | None = None
    #: add each job's timings to the history (False: every job planned as without history)
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
