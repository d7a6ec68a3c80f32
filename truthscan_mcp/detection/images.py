"""What the detector hands on of an image once TruthScan's id for it is known.

A viewer of results (the evidence view, `adapter.evidence_view.ImageStore`) wants to show the picture a
report is about, by document id. Only the detector knows both at once — the validated bytes and
the id they were submitted (or found in the cache) as — and, for a download, only for a moment:
its temporary copy is removed as soon as it is uploaded. So the detector calls a sink, once per
detection, right after the id is known and before the image is closed.

The protocol lives with its consumer, like `store.ResultStore`: the detector depends on nothing
of the adapter, and a caller that shows no pictures (the command line, a client without MCP
Apps) passes no sink, so nothing is read twice or kept for it.
"""

from __future__ import annotations

from typing import Protocol

from truthscan_mcp.media.image import LoadedImage


class ImageSink(Protocol):
    """Where the image of a detection goes, by TruthScan document id; optional, per call.

    Implementations never raise for their own trouble (an unreadable or undecodable image is a
    missing preview, never a failed detection) and read `image` before returning: the detector
    may close it right after.
    """

    async def keep(self, document_id: str, image: LoadedImage) -> None: ...
