"""What a user of the vendor's Python client writes: a loop over `ImageDetectionClient.detect`.

    python bench/_vendor_detect.py BASE_URL IMAGE...

The client is used as its README shows, with its defaults (0.5 s polling, preview on), only
`base_url` pointed at the sandbox and its console logger silenced. Prints one line per image.
The key comes from TRUTHSCAN_API_KEY, as the README's example reads it.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class Quiet:
    """The vendor logger prints every step to stdout (and the key on a credit check)."""

    def info(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def error(self, message: str) -> None:
        sys.stderr.write(f"vendor client error: {message}\n")


def main() -> int:
    from truthscan.image_detection import ImageDetectionClient  # pyright: ignore[reportMissingImports]

    base_url, *images = sys.argv[1:]
    client: Any = ImageDetectionClient(
        api_key=os.environ["TRUTHSCAN_API_KEY"], base_url=base_url, logger=Quiet()
    )
    failures = 0
    for image in images:
        result = client.detect(image)
        details: dict[str, Any] = result.get("result_details") or {}
        verdict = details.get("final_result")
        analysis = details.get("analysis_results_status")
        if result.get("status") != "done" or analysis != "done":
            failures += 1
        sys.stdout.write(f"{os.path.basename(image)}: {result.get('status')} {verdict} analysis={analysis}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
