"""The fault model: what can go wrong between a client and TruthScan, on demand.

A client's retry and recovery logic is only as good as the failures it was tested against,
and the real service cannot be made to fail on cue. Each rule here reproduces one failure a
client meets in the wild — rate limits, gateway errors, dropped connections, garbled bodies,
expired upload URLs, documents that fail late — with a count and a seeded probability, so a
test gets exactly the failure it asks for and a soak test gets a repeatable mix.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from truthscan_mcp.sandbox.config import FaultableEndpoint

FaultEndpoint = Literal[FaultableEndpoint, "*"]
FaultKind = Literal[
    "status",
    "reset",
    "delay",
    "invalid_json",
    "empty_body",
    "null_body",
    "expired_upload",
    "reset_after_accept",
    "processing_failed",
    "analysis_failed",
    "heatmap_failed",
    "flat_schema",
]
BodyStyle = Literal["error", "detail", "detail_list", "text", "empty"]

#: Kinds that only make sense on one endpoint; with endpoint "*" they still only hit that one.
_ONLY_ON: Final[dict[str, str]] = {
    "null_body": "query",
    "expired_upload": "upload",
    "reset_after_accept": "detect",
    "processing_failed": "detect",
    "analysis_failed": "detect",
    "heatmap_failed": "detect",
    "flat_schema": "detect",
}
#: Kinds applied before the endpoint does anything (so nothing is created or charged).
REFUSALS: Final = frozenset({"status", "reset"})
#: Kinds that replace the body of an otherwise normal answer (the work is done).
BODY_REWRITES: Final = frozenset({"invalid_json", "empty_body", "null_body"})
#: Kinds that mark the next documents `/detect` creates.
DOCUMENT_MARKS: Final = frozenset({"processing_failed", "analysis_failed", "heatmap_failed", "flat_schema"})


class FaultRule(BaseModel):
    """One failure to inject into the next matching request(s)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: FaultEndpoint
    kind: FaultKind
    status: int = Field(default=500, ge=100, le=599)
    #: Sets `Retry-After` (seconds) on "status" answers.
    retry_after: float | None = Field(default=None, ge=0)
    body_style: BodyStyle = "error"
    #: For "delay": how long to wait before answering normally.
    delay_seconds: float = Field(default=0.0, ge=0)
    #: How many matching requests it affects; -1 = unlimited.
    times: int = Field(default=1, ge=-1)
    #: Chance that a matching request is affected, drawn from a RNG seeded with `config.seed`.
    probability: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _fits_endpoint(self) -> Self:
        only = _ONLY_ON.get(self.kind)
        if only is not None and self.endpoint not in (only, "*"):
            raise ValueError(f"fault kind {self.kind!r} only applies to endpoint {only!r}")
        if self.times == 0:
            raise ValueError("times must be positive, or -1 for unlimited")
        return self

    def matches(self, endpoint: str) -> bool:
        only = _ONLY_ON.get(self.kind)
        return self.endpoint in (endpoint, "*") and only in (None, endpoint)


@dataclass(slots=True)
class _Armed:
    rule: FaultRule
    remaining: int


class FaultBook:
    """The rules in force, consumed as requests match them; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._seed: int | None = None
        self._rng = random.Random(0)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._armed.append(_Armed(rule, rule.times))

    def clear(self, *, reseed: bool = False) -> None:
        """Drop every rule; with `reseed`, the RNG restarts from the seed so a rerun draws alike."""
        with self._lock:
            self._armed.clear()
            if reseed:
                self._seed = None

    def rules(self) -> list[FaultRule]:
        """The rules still armed, with `times` showing what is left of each."""
        with self._lock:
            return [armed.rule.model_copy(update={"times": armed.remaining}) for armed in self._armed]

    def take(self, endpoint: str, kinds: frozenset[str], seed: int) -> FaultRule | None:
        """The first armed rule of one of `kinds` that fires for this request, using it up once."""
        fired = self._take(endpoint, kinds, seed, first_only=True)
        return fired[0] if fired else None

    def take_all(self, endpoint: str, kinds: frozenset[str], seed: int) -> list[FaultRule]:
        """Every armed rule of one of `kinds` that fires for this request, each used up once."""
        return self._take(endpoint, kinds, seed, first_only=False)

    def _take(self, endpoint: str, kinds: frozenset[str], seed: int, *, first_only: bool) -> list[FaultRule]:
        fired: list[FaultRule] = []
        with self._lock:
            if self._seed != seed:  # config.seed changed: restart the sequence from it
                self._seed = seed
                self._rng.seed(seed)
            for armed in list(self._armed):
                rule = armed.rule
                if rule.kind not in kinds or not rule.matches(endpoint):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if armed.remaining > 0:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                fired.append(rule)
                if first_only:
                    break
        return fired


def rewritten_body(kind: str, original: bytes) -> bytes:
    """The body a "body rewrite" fault sends instead of `original`."""
    if kind == "null_body":
        return b"null"
    if kind == "empty_body":
        return b""
    # A body cut short mid-transfer by a proxy: JSON that stops in the middle of a value.
    return (
        original[: len(original) // 2] + b"\x00<!-- truncated" if len(original) > 2 else b'{"status": "succ'
    )


class ConnectionDropped(Exception):
    """Raised by the simulated service to make the sandbox drop the connection without answering."""
