"""The simulator's knobs, its counters, and the API limits it enforces.

The limits live here, in one place, because the simulator must refuse exactly what the real
service refuses: a client that passes against the sandbox but trips over a limit in
production is worse than no sandbox at all.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The names requests are counted under in `SandboxStats.requests` and fault rules match.
#: Which path reaches which name is said once, by the route table in `sandbox.api`.
FaultableEndpoint = Literal["presign", "upload", "detect", "query", "credits", "health", "heatmap"]
#: Plain storage reads (uploads, previews) are counted too, but cannot be faulted.
Endpoint = Literal[FaultableEndpoint, "storage"]
FAULTABLE_ENDPOINTS: Final[tuple[FaultableEndpoint, ...]] = get_args(FaultableEndpoint)
ENDPOINTS: Final[tuple[Endpoint, ...]] = get_args(Endpoint)

#: File name extensions `/get-presigned-url` accepts (compared case-insensitively).
SUPPORTED_EXTENSIONS: Final = frozenset(
    {"jpg", "jpeg", "png", "webp", "jfif", "heic", "heif", "avif", "bmp", "tiff", "tif"}
)
#: Content types the storage accepts on the presigned PUT.
UPLOAD_CONTENT_TYPES: Final = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "image/heif",
        "image/avif",
        "image/bmp",
        "image/tiff",
    }
)
MIN_IMAGE_BYTES: Final = 1024
MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024


class SandboxConfig(BaseModel):
    """Behaviour of one simulator instance; all times in seconds.

    Mutable at runtime (assignments are validated) so a test can shorten the clock without
    restarting the server. Timings are copied into each document when it is created, so
    changing them never rewrites the history of documents already in flight.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    #: from `/detect` to the verdict
    processing_seconds: float = Field(default=1.5, ge=0)
    #: from the verdict to the deep analysis (for a detection that asked for one)
    analysis_seconds: float = Field(default=1.0, ge=0)
    #: from the verdict to the heatmap (for a verdict that gets one)
    heatmap_seconds: float = Field(default=1.0, ge=0)
    #: When set, each new document draws its time uniformly between the setting above and this
    #: one, from a generator seeded with `seed` (a reset restarts it): timings no client was
    #: tuned to, the same again on a rerun.
    processing_seconds_max: float | None = Field(default=None, ge=0)
    analysis_seconds_max: float | None = Field(default=None, ge=0)
    heatmap_seconds_max: float | None = Field(default=None, ge=0)
    base_credits: int = Field(default=1000, ge=0)
    boost_credits: int = Field(default=100, ge=0)
    detection_cost: int = Field(default=1, ge=0)
    invalid_keys: frozenset[str] = frozenset({"invalid-key"})
    presign_ttl_seconds: float = Field(default=900, ge=0)
    flat_schema: bool = False
    seed: int = 0

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SandboxConfig:
        for name in ("processing", "analysis", "heatmap"):
            low, high = getattr(self, f"{name}_seconds"), getattr(self, f"{name}_seconds_max")
            if high is not None and high < low:
                raise ValueError(
                    f"{name}_seconds_max ({high}) is below {name}_seconds ({low}); raise it or unset it"
                )
        return self


def _zeroed_counters() -> dict[str, int]:
    return dict.fromkeys(ENDPOINTS, 0)


class SandboxStats(BaseModel):
    """What the simulator has seen, for assertions in tests and numbers in benchmarks.

    `requests` counts every request to a named endpoint, faulted or not; the other counters
    only count work that actually happened (an accepted detect, a stored upload, ...).
    """

    requests: dict[str, int] = Field(default_factory=_zeroed_counters)
    accepted_detects: int = 0
    credits_spent: int = 0
    query_calls: int = 0
    uploads: int = 0
    #: Requests being served right now, and the most ever served at once (to check a
    #: client's concurrency limit).
    in_flight: int = 0
    max_in_flight: int = 0
