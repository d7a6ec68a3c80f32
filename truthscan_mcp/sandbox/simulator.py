"""`Simulator`: one simulated TruthScan's memory and its controls, with no HTTP in it.

Everything a test, a benchmark or the control plane can change or read lives here: the
config, the accounts, uploads and documents, the armed faults, the clock. The service
(`sandbox.service`) acts on it request by request; the HTTP layer (`sandbox.asgi`) only
translates. Nothing here imports a web framework, so the behaviour can be driven and typed
as plain Python.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Final

from truthscan_mcp.sandbox.config import SandboxConfig, SandboxStats
from truthscan_mcp.sandbox.faults import FaultBook, FaultRule
from truthscan_mcp.sandbox.state import SandboxState
from truthscan_mcp.sandbox.timings import TimingDice

#: Namespaces start with this scheme, which no real TruthScan URL has, so a cache keyed on
#: `Simulator.namespace` can never confuse a simulated id with one of the live API.
NAMESPACE_SCHEME: Final = "truthscan-sandbox"


class Simulator:
    """One simulated TruthScan: its accounts, uploads, documents, faults and clock.

    `config` may be replaced or mutated at any time; each request reads it afresh. Every
    method is safe to call from another thread than the one serving requests.
    """

    def __init__(self, config: SandboxConfig | None = None, *, instance_id: str | None = None) -> None:
        self.config: SandboxConfig = config if config is not None else SandboxConfig()
        self.state = SandboxState()
        self.faults = FaultBook()
        self.timings = TimingDice()
        #: Monotonic seconds; replaceable so a test can drive document time by hand.
        self.clock: Callable[[], float] = time.monotonic
        self._instance_id = instance_id if instance_id is not None else uuid.uuid4().hex

    @property
    def instance_id(self) -> str:
        """Who issued this simulator's document ids: fixed for its lifetime, unique to it.

        The documents live in this object's memory only, so an id is meaningful to this
        instance and to no other — not to another process's sandbox, nor to a later run.
        """
        return self._instance_id

    @property
    def namespace(self) -> str:
        """The key a result cache files this simulator's ids under (never a real API URL)."""
        return f"{NAMESPACE_SCHEME}://{self._instance_id}"

    # --- faults ----------------------------------------------------------------------------

    def add_fault(self, rule: FaultRule) -> None:
        self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    def fault_rules(self) -> list[FaultRule]:
        """Rules still armed; `times` shows how many uses each has left."""
        return self.faults.rules()

    # --- config, accounts, counters --------------------------------------------------------

    def configure(self, patch: Mapping[str, object]) -> SandboxConfig:
        """Apply a partial config as one validated whole (raises pydantic's ValidationError)."""
        merged = SandboxConfig.model_validate({**self.config.model_dump(), **patch})
        self.config = merged
        return merged

    def reset(self) -> None:
        """Forget documents, accounts, uploads, stats and faults (the config is kept)."""
        self.state.clear()
        self.faults.clear(reseed=True)
        self.timings.restart()

    @property
    def stats(self) -> SandboxStats:
        """A consistent snapshot of the counters."""
        return self.state.snapshot_stats()

    def query_ages(self, document_id: str) -> list[float]:
        """When `/query` asked about this document: seconds since its `/detect`, oldest first.

        What a rate limit on the API would see of one job; tests and benchmarks check a
        client's poll budget against it.
        """
        return self.state.query_ages(document_id)

    def credits_of(self, key: str) -> int:
        """The key's total credits (opening its account on first use, like the API would)."""
        account = self.state.account(key, self.config)
        if account is None:
            raise ValueError("this key is configured as invalid: it has no account")
        return account.total

    def set_credits(self, key: str, base: int, boost: int = 0) -> None:
        self.state.set_credits(key, base, boost)
