"""What the detector asks of a place where results outlive the process, and what it gets back.

The protocol lives with its consumer, not with the SQLite cache that implements it: the
detector must not depend on storage, and another store (in memory, for a test or an embedder)
needs nothing from `cache` to satisfy it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from truthscan_mcp.models import DetectionReport, ReportSource


@dataclass(frozen=True)
class StoredResult:
    """One TruthScan document as the store knows it; `report` is None until the first answer."""

    document_id: str
    source: ReportSource
    deep_analysis: bool
    preview: bool
    report: DetectionReport | None
    submitted_at: float
    updated_at: float
    #: when TruthScan's answer first settled (wall clock), where the store records it
    completed_at: float | None = None

    def covers(self, *, deep_analysis: bool, preview: bool) -> bool:
        """A document made with deep analysis (or a preview) also answers a request without it."""
        return (self.deep_analysis or not deep_analysis) and (self.preview or not preview)


@dataclass(frozen=True)
class ContentKey:
    """What a paid detection is for: these bytes, with these options (a claim's key)."""

    sha256: str
    deep_analysis: bool
    preview: bool


#: How a wait for another process's claim ended without a document: the claim is gone (its
#: holder failed before paying, or died and its lease ran out), or it still stands at `until`.
ClaimWait = Literal["free", "held"]


class ResultStore(Protocol):
    """Where results outlive the process: the content cache (`cache.store.ResultCache`); optional.

    Implementations never raise for storage trouble: a broken cache must not cost a detection.
    """

    async def find(self, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        """The newest document of these bytes made with at least these options."""
        ...

    async def get(self, document_id: str) -> StoredResult | None: ...

    async def record_submission(
        self, document_id: str, source: ReportSource, *, deep_analysis: bool, preview: bool
    ) -> None: ...

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None: ...

    async def record_answer(self, document_id: str, source_name: str | None) -> None: ...

    # --- single flight across processes: a claim on the bytes, with a lease -------------------
    #
    # A process about to pay claims the bytes; one that finds the claim taken waits for the
    # holder's document id (`record_submission`) and follows it instead of paying. A holder
    # renews its claim while it works and releases it when done; if it dies, the lease runs
    # out and the claim is nobody's. Each returns None when the store cannot tell (broken or
    # locked file): the caller then detects as if there were no other process.

    async def claim(self, key: ContentKey, holder: str) -> bool | None:
        """Take the claim on `key` for `holder`; False while another live holder has it."""
        ...

    async def renew_claim(self, key: ContentKey, holder: str) -> bool | None:
        """Extend `holder`'s claim by one lease; False if it lapsed (another may now pay too)."""
        ...

    async def release_claim(self, key: ContentKey, holder: str) -> None: ...

    async def wait_claim(
        self, key: ContentKey, *, until: float, skip: str | None = None
    ) -> StoredResult | ClaimWait | None:
        """Until `until` (anyio time): the document another process recorded for `key` (other
        than `skip`, one known to be gone), or how its claim ended."""
        ...
