"""Paying for a detection: presign → upload → `/detect`, the one stretch of a detection that costs.

Apart from the detector because it is what a batch's concurrency limit bounds (`spend`), and
because its one recovery, a fresh upload URL when the first expired, is local to it.
"""

from __future__ import annotations

import contextlib
import logging

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.detection.progress import Tracker
from truthscan_mcp.errors import UploadExpiredError
from truthscan_mcp.media.formats import human_size
from truthscan_mcp.media.sources import LoadedImage

logger = logging.getLogger(__name__)


async def submit(
    client: TruthScanClient,
    image: LoadedImage,
    track: Tracker,
    *,
    deep_analysis: bool,
    preview: bool,
    heatmap: bool = False,
    spend: anyio.CapacityLimiter | None = None,
) -> str:
    """Upload `image` and submit it; the new document's id. Holds `spend` (if any) throughout."""
    async with spend if spend is not None else contextlib.nullcontext():
        await track("uploading", 0.08, f"Uploading {image.upload_name} ({human_size(image.size)})")
        presigned = await client.presign(image.upload_name)
        try:
            await client.upload(presigned, image)
        except UploadExpiredError:
            logger.info("presigned URL refused; asking for a fresh one")
            await track("uploading", 0.15, "Upload URL expired; retrying with a fresh one")
            presigned = await client.presign(image.upload_name)
            try:
                await client.upload(presigned, image)
            except UploadExpiredError as exc:
                raise UploadExpiredError(
                    f"{exc.message} A fresh upload URL was refused too. Nothing was charged; "
                    "try again in a minute, and if it persists check the health tool."
                ) from None
        await track("uploading", 0.25, "Uploaded; submitting for detection")
        # The client shields each /detect attempt on the wire (not its back-off), so a cancelled
        # caller still hears the id it paid for.
        return await client.detect(
            presigned.file_path, deep_analysis=deep_analysis, preview=preview, heatmap=heatmap
        )
