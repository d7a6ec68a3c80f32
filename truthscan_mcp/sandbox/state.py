"""Everything the simulator remembers: accounts, upload grants, stored uploads, documents.

Tests drive the simulator from their own thread (set credits, read stats) while uvicorn
serves it from another, so every read-modify-write happens under one lock, held only for
dictionary work and never across an `await`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from truthscan_mcp.sandbox.config import SandboxConfig, SandboxStats
from truthscan_mcp.sandbox.documents import Document


@dataclass(slots=True)
class Account:
    base: int
    boost: int

    @property
    def total(self) -> int:
        return self.base + self.boost


@dataclass(frozen=True, slots=True)
class Grant:
    """One presigned upload URL: where the bytes will be stored, and since when it is valid."""

    token: str
    file_path: str
    issued_at: float
    signature: str


@dataclass(frozen=True, slots=True)
class StoredUpload:
    data: bytes
    content_type: str


class FoundUpload(NamedTuple):
    """A stored upload and the `uploads/…` path a `/detect` URL found it by."""

    path: str
    upload: StoredUpload


#: Per document: beyond this many `/query` calls (a 50 ms poller's for ten minutes) the log
#: stops growing, so a runaway client cannot exhaust the simulator's memory.
MAX_QUERIES_LOGGED = 12_000

Charge = Literal["charged", "invalid_key", "not_enough_credits"]


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: Signs presigned URLs, so a client that mangles the URL is refused like by S3.
        self._secret = secrets.token_bytes(16)
        self.accounts: dict[str, Account] = {}
        self.grants: dict[str, Grant] = {}
        self.uploads: dict[str, StoredUpload] = {}
        self.documents: dict[str, Document] = {}
        #: per document, when each `/query` about it arrived (seconds since its creation)
        self.queries: dict[str, list[float]] = {}
        self.stats = SandboxStats()

    def clear(self) -> None:
        with self.lock:
            self.accounts.clear()
            self.grants.clear()
            self.uploads.clear()
            self.documents.clear()
            self.queries.clear()
            # `in_flight` is a gauge of requests still being served, not history: keep it.
            self.stats = SandboxStats(in_flight=self.stats.in_flight, max_in_flight=self.stats.in_flight)

    # --- accounts --------------------------------------------------------------------------

    def account(self, key: str | None, config: SandboxConfig) -> Account | None:
        """The key's account, opened with the configured credits on first use; None if invalid."""
        if key is None or not key.strip() or key in config.invalid_keys:
            return None
        with self.lock:
            account = self.accounts.get(key)
            if account is None:
                account = self.accounts[key] = Account(config.base_credits, config.boost_credits)
            return account

    def set_credits(self, key: str, base: int, boost: int) -> None:
        with self.lock:
            self.accounts[key] = Account(base, boost)

    def charge(self, key: str, config: SandboxConfig) -> Charge:
        """Take `detection_cost` credits, boost credits first.

        Boost credits are the top-up on top of the plan, so they are spent before the plan's
        base credits; the total is what a client can observe either way.
        """
        cost = config.detection_cost
        with self.lock:
            account = self.account(key, config)
            if account is None:
                return "invalid_key"
            if account.total < cost:
                return "not_enough_credits"
            from_boost = min(account.boost, cost)
            account.boost -= from_boost
            account.base -= cost - from_boost
            self.stats.accepted_detects += 1
            self.stats.credits_spent += cost
            return "charged"

    # --- uploads ---------------------------------------------------------------------------

    def issue_grant(self, file_name: str, now: float) -> Grant:
        token = secrets.token_urlsafe(18)
        signature = hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()
        grant = Grant(token, f"uploads/{uuid.uuid4()}_{file_name}", now, signature)
        with self.lock:
            self.grants[token] = grant
        return grant

    def grant(self, token: str) -> Grant | None:
        with self.lock:
            return self.grants.get(token)

    def store(self, file_path: str, upload: StoredUpload) -> None:
        with self.lock:
            self.uploads[file_path] = upload
            self.stats.uploads += 1

    def upload(self, file_path: str) -> StoredUpload | None:
        with self.lock:
            return self.uploads.get(file_path)

    def upload_for_url(self, url: str) -> FoundUpload | None:
        """The stored upload a `/detect` URL points at, whatever its host: by the `uploads/…` path."""
        path = unquote(urlsplit(url).path)
        at = path.rfind("uploads/")
        if at < 0 or (at > 0 and path[at - 1] != "/"):
            return None
        file_path = path[at:]
        found = self.upload(file_path)
        return None if found is None else FoundUpload(file_path, found)

    # --- documents -------------------------------------------------------------------------

    def add_document(self, document: Document) -> None:
        with self.lock:
            self.documents[document.id] = document

    def document(self, document_id: str) -> Document | None:
        with self.lock:
            return self.documents.get(document_id)

    # --- counters --------------------------------------------------------------------------

    def count_request(self, endpoint: str) -> None:
        with self.lock:
            stats = self.stats
            stats.requests[endpoint] = stats.requests.get(endpoint, 0) + 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)

    def request_done(self) -> None:
        with self.lock:
            self.stats.in_flight = max(0, self.stats.in_flight - 1)

    def count_query(self) -> None:
        with self.lock:
            self.stats.query_calls += 1

    def record_query(self, document_id: str, age: float) -> None:
        with self.lock:
            ages = self.queries.setdefault(document_id, [])
            if len(ages) < MAX_QUERIES_LOGGED:
                ages.append(age)

    def query_ages(self, document_id: str) -> list[float]:
        with self.lock:
            return list(self.queries.get(document_id, ()))

    def snapshot_stats(self) -> SandboxStats:
        with self.lock:
            return self.stats.model_copy(deep=True)
