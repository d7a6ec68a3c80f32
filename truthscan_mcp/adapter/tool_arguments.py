"""What each tool's arguments are: their types, bounds and the descriptions the model reads.

Shared by the tools that take the same argument (one image source for `detect_image` and
`check_provenance`; the batch sources of `detect_images`), so a description is written once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from truthscan_mcp.detection.batch import MAX_BATCH
from truthscan_mcp.detection.sweep import DEFAULT_PAGE_IMAGES

#: the one image source of `detect_image` and `check_provenance` (exactly one of the three)
PathArgument = Annotated[
    str | None, Field(description="Local image file path (~ expanded) or file:// URI.", max_length=4096)
]
UrlArgument = Annotated[
    str | None, Field(description="http(s) URL of the image; this server downloads it.", max_length=8192)
]
DataArgument = Annotated[
    str | None, Field(description="The image as base64, or a data:image/...;base64, URI.")
]
ClipboardArgument = Annotated[
    bool,
    Field(
        description="true: the image on the person's system clipboard (they copy it first: "
        "right-click → Copy Image, or copy the file)."
    ),
]
UploadArgument = Annotated[
    str | None,
    Field(
        description="The upload_id from request_image: the image the person dropped on its page.",
        max_length=100,
    ),
]

PathsArgument = Annotated[
    list[Annotated[str, Field(max_length=4096)]] | None,
    Field(description="Local image file paths (or file:// URIs), at most 100.", max_length=MAX_BATCH),
]
DirectoryArgument = Annotated[
    str | None,
    Field(
        description="A local directory whose images to check (inside the allowed directories).",
        max_length=4096,
    ),
]
PatternArgument = Annotated[
    str | None,
    Field(
        description="Glob for `directory`, e.g. '*.jpg' or '**/*.png' (default: every "
        "supported image file directly inside it).",
        max_length=200,
    ),
]
RecursiveArgument = Annotated[bool, Field(description="Also look in the directory's subdirectories.")]
UrlsArgument = Annotated[
    list[Annotated[str, Field(max_length=8192)]] | None,
    Field(description="http(s) image URLs, at most 100.", max_length=MAX_BATCH),
]
BatchDeepArgument = Annotated[
    bool, Field(description="Request and wait for deep-analysis reasoning for every image (slower).")
]
ForceArgument = Annotated[bool, Field(description="Bypass the local result cache and spend credits again.")]
AllowPartialArgument = Annotated[
    bool,
    Field(
        description="When the credits cannot cover the batch, detect as many as they cover "
        "instead of refusing."
    ),
]
PageArgument = Annotated[
    str | None,
    Field(
        description="The http(s) URL of a web page: every image it shows (img, srcset, picture, "
        "og:image, twitter:image, video poster, data: images) is checked; tiny and unreadable "
        "images are listed in `skipped` instead of paid for.",
        max_length=8192,
    ),
]
MaxImagesArgument = Annotated[
    int | None,
    Field(
        description=f"At most this many images are detected (default {DEFAULT_PAGE_IMAGES} for "
        f"`page`; for the other sources every input, up to {MAX_BATCH}).",
        ge=1,
        le=MAX_BATCH,
    ),
]
BatchWaitArgument = Annotated[
    float | None,
    Field(
        description="Seconds to wait for the whole batch before handing off unfinished images "
        "(default from TRUTHSCAN_WAIT_SECONDS, 45).",
        ge=0,
        le=600,
    ),
]
MaxDetectionsArgument = Annotated[
    int | None,
    Field(
        description="Refuse the whole batch, before spending anything, if it would pay for more new "
        "detections than this (images already known and duplicates are free and not counted).",
        ge=0,
        le=MAX_BATCH,
    ),
]
