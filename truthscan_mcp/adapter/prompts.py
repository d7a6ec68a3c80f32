"""The prompts (slash commands): `check_image` and `check_page`.

Clients show prompts as slash commands (`/mcp__truthscan__check_image` in Claude Code). Each
returns one user message that has the model call the right tool and present the answer as this
server means it: the verdict with its tier, TruthScan's reasoning quoted as TruthScan's, a
probability and not proof, and a declared provenance first. The argument is the person's own
text, so it is passed on as quoted data (a line, at most so long), never as instructions.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field

from truthscan_mcp.sanitize import clean_line

MAX_ARGUMENT = 2048

PRESENTING = """\
Then present the answer as TruthScan means it:
- If the file declares its origin (the report's `provenance` finding is not "none"), say that first: \
what it declares and that a declaration is evidence, not proof (only a valid C2PA signature makes \
it attributable).
- Give the verdict with its tier and the AI score (e.g. "Likely Synthetic, 72/100").
- Quote TruthScan's reasoning and key indicators as TruthScan's words, in quotation marks.
- Say plainly that the score is a probability, not proof, and do not overstate certainty.
- If the result is marked simulated, say it comes from the sandbox and says nothing about the image.
- If the result is not complete, say so and follow its next_step (get_result with its id).\
"""

CHECK_IMAGE_DESCRIPTION = (
    "Check whether an image is AI-generated with TruthScan: a path or URL, or (without one) the "
    "image on your clipboard or one you drop on an upload page."
)
CHECK_PAGE_DESCRIPTION = "Check every image a web page shows for AI generation with TruthScan."


def _quoted(value: str) -> str:
    return json.dumps(clean_line(value, max_length=MAX_ARGUMENT), ensure_ascii=False)


def check_image(
    source: Annotated[
        str | None,
        Field(description="The image: a local file path or an http(s) URL (optional)."),
    ] = None,
) -> str:
    if source and source.strip():
        text = source.strip()
        is_url = text[:8].lower().startswith(("http://", "https://"))
        argument = "url" if is_url else "path"
        ask = (
            f"Check whether this image is AI-generated: call the TruthScan tool detect_image with "
            f"`{argument}` set to exactly this value (the person's own text, quoted): {_quoted(text)}."
        )
    else:
        ask = (
            "Check whether the image I have is AI-generated with TruthScan. An image attached or "
            "pasted in this chat does not reach the TruthScan server, so: if I have copied it "
            "(right-click → Copy Image), call detect_image with `clipboard: true`. Otherwise, or if "
            "the clipboard holds no image, call request_image and give me its upload link (apps "
            "that show the TruthScan view also show a drop zone); when I say the image is there, "
            "call detect_image with `upload` set to the upload_id."
        )
    return f"{ask}\n\n{PRESENTING}"


def check_page(
    url: Annotated[str, Field(description="The web page (http or https) whose images to check.")],
) -> str:
    return (
        "Check every image this web page shows for AI generation: call the TruthScan tool "
        "detect_images with `page` set to exactly this value (the person's own text, quoted): "
        f"{_quoted(url.strip())}. It spends one detection per new image (at most 20 by default); "
        "images it skips are listed with the reason.\n\n"
        "Then give a short table of the images (alt text or URL, verdict, tier, AI score) with the "
        "totals, and for each image that scores Likely Synthetic or Synthetic, the points below.\n\n"
        f"{PRESENTING}"
    )
