"""Asking the person before a batch spends more than `TRUTHSCAN_CONFIRM_ABOVE` detections.

Through MCP elicitation, where the client declares it: the SDK's resolvers (`Resolve`,
`Elicit`) ask before the tool body runs, as a standalone `elicitation/create` request on
handshake-era connections and as `input_required` on 2026-07-28 ones, so nothing is uploaded
before the answer in either era. A client without elicitation is not asked (the daily cap
still holds). Here: the form, what the resolvers hand the tool, and the words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from truthscan_mcp.detection.batch import Quote
from truthscan_mcp.sanitize import counted


class SpendConfirmation(BaseModel):
    """The form the person answers: accept (with the box left checked) to spend."""

    spend: bool = Field(
        default=True,
        title="Spend these detections",
        description="Accept to go ahead; decline (or uncheck this) to spend nothing.",
    )


@dataclass(frozen=True)
class SpendPlan:
    """What the first resolver found, for the question and for the tool body."""

    #: whether the person is to be asked
    ask: bool
    #: the batch's price, when it was worked out (only for clients that can be asked)
    quote: Quote | None = None
    #: the most the body may pay without asking again; None: no bound (the client cannot ask)
    most: int | None = None


def can_elicit(ctx: Context[Any]) -> bool:
    """Whether this client declared form elicitation (a bare `elicitation: {}` counts, as the
    SDK counts it; URL-only does not)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def question(quote: Quote) -> str:
    """What the person reads: the count, the credits left, and what will not be paid.

    Stable for the same batch and balance: on 2026-07-28 connections the SDK accepts the
    answer only for the question exactly as it was shown."""
    credits = "credits left unknown" if quote.credits is None else f"{quote.credits} credits left"
    free = (
        f" {counted(quote.free, 'other image')} {'is' if quote.free == 1 else 'are'} already known or "
        "duplicates: answered from the cache, not paid."
        if quote.free
        else ""
    )
    return (
        f"Spend {counted(quote.to_pay, 'TruthScan detection')} ({counted(quote.to_pay, 'credit')}) on "
        f"this batch? {credits}.{free} Nothing is uploaded until you answer; declining spends nothing."
    )


def refused(plan: SpendPlan, action: str) -> str:
    """The tool's answer when the person declined or dismissed the question."""
    count = counted(plan.quote.to_pay, "detection") if plan.quote is not None else "the detections"
    how = "declined" if action == "decline" else "dismissed the question about"
    return (
        f"The person {how} spending {count} on this batch, so nothing was uploaded and no credits "
        "were spent. Do not run it again unless they ask; a smaller batch (or max_detections) "
        "asks for less."
    )
