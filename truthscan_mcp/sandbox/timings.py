"""Each new document's phase timings: the configured ones, or seeded draws within ranges.

Its own generator, apart from the faults', so that arming a fault never changes which timings
the next documents get, and a rerun with the same seed replays the same jobs.
"""

from __future__ import annotations

import random
import threading

from truthscan_mcp.sandbox.config import SandboxConfig
from truthscan_mcp.sandbox.documents import Timings


class TimingDice:
    """Draws `Timings` for new documents; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seed: int | None = None
        self._rng = random.Random(0)

    def restart(self) -> None:
        """The next draw starts the sequence again from the configured seed."""
        with self._lock:
            self._seed = None

    def draw(self, config: SandboxConfig) -> Timings:
        with self._lock:
            if self._seed != config.seed:  # a new seed: a new sequence, from its start
                self._seed = config.seed
                self._rng.seed(config.seed)
            return Timings(
                self._one(config.processing_seconds, config.processing_seconds_max),
                self._one(config.analysis_seconds, config.analysis_seconds_max),
                self._one(config.heatmap_seconds, config.heatmap_seconds_max),
            )

    def _one(self, low: float, high: float | None) -> float:
        return low if high is None else self._rng.uniform(low, high)
