"""The credit guard: how many paid detections today, and the daily cap held before any upload.

An agent in a loop can spend a month of credits in minutes; the cap
(`TRUTHSCAN_MAX_DETECTIONS_PER_DAY`) is the one thing between the model and the bill. Counted
per UTC day in the store's ledger, so every server process sharing the cache counts the same
day; a detection answered from the cache is free and not counted. Before a call (or a whole
batch) uploads anything it holds the detections it is about to pay for, in one atomic step in
the store: two processes at the cap never both pay. Each paid id uses one (the store writes
it in the transaction that records the id), and what was not used is given back.

Without a store (the cache off), or while the store cannot tell, this process counts alone.

`user`: with per-user caps (TRUTHSCAN_PER_USER) each user is counted on their own — an opaque
scope the caller derives (the adapter: a hash of the token's issuer and subject); None counts
everyone together. The cap is the same number for each.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from truthscan_mcp.detection.store import Hold, ResultStore
from truthscan_mcp.errors import DailyLimitError
from truthscan_mcp.sanitize import counted
from truthscan_mcp.settings import SettingHints

DAY = 86_400.0


def day_start(now: float) -> float:
    """The start of `now`'s UTC day, in wall-clock seconds."""
    return now - now % DAY


def reset_words(now: float) -> str:
    """When the count starts again: "at 00:00 UTC (in 3 h 12 min)"."""
    left = max(0, int(day_start(now) + DAY - now))
    hours, minutes = divmod((left + 59) // 60, 60)
    span = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"at 00:00 UTC (in {span})"


@dataclass
class Allowance:
    """Detections a call or a batch holds against today's cap; each paid id uses one."""

    holder: str
    left: int

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def give_back(self) -> None:
        """An upload that failed before `/detect` paid nothing: its detection may be used again."""
        self.left += 1


class SpendingGuard:
    """Today's count and the daily cap, for one detector."""

    def __init__(
        self,
        store: ResultStore | None,
        *,
        daily_limit: int | None,
        hints: SettingHints,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.daily_limit = daily_limit
        self._hints = hints
        self._clock = clock
        #: this process's own count, for when the store cannot tell: paid times (and by whom),
        #: and holds (how many, for whom)
        self._paid: list[tuple[float, str | None]] = []
        self._held: dict[str, tuple[int, str | None]] = {}

    async def today(self, user: str | None = None) -> int:
        """Paid detections this UTC day (plus those held right now, about to be paid), of `user`
        or (None) of everyone together."""
        since = day_start(self._clock())
        stored = await self._store.spent_since(since, user=user) if self._store is not None else None
        return max(stored or 0, self._mine(since, user))

    async def check(self, count: int, user: str | None = None) -> None:
        """Refuse now if `count` more would pass the cap (without holding anything)."""
        if self.daily_limit is None or count <= 0:
            return
        used = await self.today(user)
        if used + count > self.daily_limit:
            raise self.refusal(count, used, user)

    async def allow(self, count: int, user: str | None = None) -> Allowance | None:
        """Hold `count` detections under the cap, or raise `DailyLimitError` (nothing held).
        None when there is no cap: then nothing needs holding."""
        if self.daily_limit is None or count <= 0:
            return None
        holder = f"{os.getpid()}-{secrets.token_hex(6)}"
        since = day_start(self._clock())
        held: Hold | None = None
        if self._store is not None:
            held = await self._store.hold(holder, count, limit=self.daily_limit, since=since, user=user)
        if held is None:  # no store, or it cannot hold now: what it can still read, or ours alone
            used = await self.today(user)
            held = Hold(granted=used + count <= self.daily_limit, used=used)
        if not held.granted:
            raise self.refusal(count, held.used, user)
        self._held[holder] = (count, user)
        return Allowance(holder, count)

    def paid(self, allowance: Allowance | None, user: str | None = None) -> None:
        """One detection was paid by `user` (using one of `allowance`'s, if any)."""
        self._paid.append((self._clock(), user))
        if allowance is not None:
            count, whose = self._held.get(allowance.holder, (0, None))
            if count > 0:
                self._held[allowance.holder] = (count - 1, whose)
        cutoff = day_start(self._clock())
        if self._paid and self._paid[0][0] < cutoff:
            self._paid = [(t, who) for t, who in self._paid if t >= cutoff]

    async def release(self, allowance: Allowance | None) -> None:
        """Give back what `allowance` did not use (shielded: it must happen even on cancel)."""
        if allowance is None:
            return
        self._held.pop(allowance.holder, None)
        if self._store is not None:
            with anyio.CancelScope(shield=True):
                await self._store.release(allowance.holder)

    def refusal(self, count: int, used: int, user: str | None = None) -> DailyLimitError:
        limit = self.daily_limit
        assert limit is not None
        left = max(limit - used, 0)
        whose = " by you (the limit is per user)" if user is not None else ""
        where = f"{used} used today (UTC){whose}, counted across every server sharing this cache"
        after = (
            f"The count resets {reset_words(self._clock())}; images already detected are still answered "
            f"from the cache for free. To allow more, {self._hints.daily_limit_hint()}."
        )
        if count == 1:
            return DailyLimitError(
                f"The daily limit of {counted(limit, 'paid detection')} is reached ({where}). Nothing was "
                f"uploaded or spent. {after}"
            )
        room = f"only {left}" if left else "none"
        return DailyLimitError(
            f"This would pay for {counted(count, 'new detection')}, but {room} of today's {limit} "
            f"{'is' if left == 1 else 'are'} left ({where}). The whole batch was refused: nothing was "
            f"uploaded or spent. {after} Or narrow the batch"
            + (f" to at most {counted(left, 'new image')}." if left else ".")
        )

    def _mine(self, since: float, user: str | None) -> int:
        paid = sum(1 for t, who in self._paid if t >= since and (user is None or who == user))
        return paid + sum(count for count, who in self._held.values() if user is None or who == user)
