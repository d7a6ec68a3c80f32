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


@dataclass(frozen=True)
class Hold:
    """How a request to hold some of the day's paid detections ended: `granted`, and how many
    were used before it (paid since the day began, plus those other holders still hold)."""

    granted: bool
    used: int


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
        self,
        document_id: str,
        source: ReportSource,
        *,
        deep_analysis: bool,
        preview: bool,
        hold: str | None = None,
        user: str | None = None,
    ) -> None:
        """A paid document, and in the same transaction its row in the ledger of paid detections
        (and one detection less held by `hold`, which it used): a paid id is never recorded
        without being counted, nor counted without being recorded. `user`: whose count and
        history it goes into (an opaque scope; None: everyone's)."""
        ...

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None: ...

    async def record_answer(
        self, document_id: str, source_name: str | None, *, user: str | None = None
    ) -> None: ...

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

    # --- the ledger of paid detections: the daily cap, shared by every process ------------------
    #
    # Counted per UTC day from `since` (wall-clock seconds of the day's start, the caller's).
    # Before paying, a call (or a whole batch) holds the detections it is about to pay for, in
    # one atomic step against the cap, so two processes at the cap never both pay; each paid id
    # turns one held detection into a ledger row (`record_submission(hold=…)`), and the caller
    # releases what it did not use. A hold not renewed by use within its lease lapses (its
    # holder died). Each returns None when the store cannot tell. With `user` (per-user caps)
    # the count is that user's alone; None counts everyone who is not counted per user.

    async def spent_since(self, since: float, *, user: str | None = None) -> int | None:
        """Paid detections since `since`, plus those held now by anyone."""
        ...

    async def hold(
        self, holder: str, count: int, *, limit: int, since: float, user: str | None = None
    ) -> Hold | None:
        """Hold `count` detections for `holder` if they fit under `limit` (with what was paid
        since `since` and what others hold); refused (not held) if they do not."""
        ...

    async def release(self, holder: str) -> None:
        """Give back whatever `holder` still holds."""
        ...
