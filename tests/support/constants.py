"""Names every tier shares: the test key, the sample images, and the fast timings.

The fast timings shorten waits only (retry backoff, polling, read timeouts): a fault that costs a
real client seconds costs a test milliseconds, and the client still does exactly what it does.
"""

from __future__ import annotations

from pathlib import Path

import truthscan_mcp.samples
from truthscan_mcp.api.client import RetryPolicy
from truthscan_mcp.detection.schedule import Every, Planner

#: the repository root (manifest, README, CI script)
ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key"
SAMPLES = Path(truthscan_mcp.samples.__file__).parent
AI_PNG = SAMPLES / "ai-generated.png"  # "AI Generated", score ≈ 99: gets a heatmap
CAMERA_JPG = SAMPLES / "camera-photo.jpg"  # "Real", score ≈ 14: never gets a heatmap

#: Retries as the product does them, only with waits in milliseconds.
FAST_RETRY = RetryPolicy(
    attempts=4, timeout=5.0, wait_initial=0.02, wait_max=0.1, wait_jitter=0.02, max_retry_after=5.0
)
#: Polls at least every 50 ms, so a 0.2 s sandbox job is noticed at once.
FAST_POLL = Planner.fixed(Every(0.05))
#: A read timeout short enough that a sandbox "delay" fault of 1 s trips it.
SHORT_READ = 0.5
