"""Tokens: how much a complete report with deep analysis costs the assistant's context.

A tool result stays in the conversation for every later turn, so its size is paid again and
again. Measured through a real MCP `Client` over stdio on the two bundled samples and on
images crafted to give the sandbox's longest deep analysis: every generator signature the
sandbox knows, each in its own PNG text chunk, plus the longest settings line and model
name it keeps (its analysis and metadata lists grow with each signature found).

Bars: the text block ≤ 1,500 characters; `structuredContent` ≤ 4 KB (compact JSON, UTF-8).

    python -m bench.tokens
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from bench._common import (
    AI_SAMPLE,
    CAMERA_SAMPLE,
    machine,
    sandbox_process,
    server_env,
    server_params,
    structured,
    table,
    text_of,
    with_text_chunk,
    workdir,
)

#: One phrase per AI tool the sandbox recognises (truthscan_mcp/sandbox/inspect_image.py).
TOOLS = (
    "Stable Diffusion XL",
    "ComfyUI",
    "Midjourney v6",
    "DALL-E 3",
    "Adobe Firefly",
    "Google Imagen 3",
    "FLUX.1 dev",
    "NovelAI",
    "Leonardo.Ai",
    "InvokeAI",
    "Fooocus",
    "Ideogram",
    "RunwayML",
    "Kandinsky 3",
    "DreamStudio",
    "Bing Image Creator",
    "ChatGPT",
    "Stability AI",
    "Craiyon",
    "NightCafe",
)

PARAMETERS = (
    "a cinematic portrait of an astronaut in a sunflower field at golden hour, ultra detailed, "
    "volumetric light, 85mm, film grain\nNegative prompt: blurry, lowres, watermark, text\n"
    "Steps: 40, Sampler: DPM++ 2M Karras, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, "
    "Size: 1024x1536, Model hash: 31e35c80fc, Model: juggernautXL_v9Rundiffusionphoto2_extra_long_name, "
    "Denoising strength: 0.35, Hires upscale: 1.5, Hires upscaler: 4x-UltraSharp, Version: v1.10.1"
)


def rich_image(directory: Path) -> Path:
    """A realistic heavy case: A1111 parameters, an XMP packet naming Firefly, a comment."""
    png = AI_SAMPLE.read_bytes()
    png = with_text_chunk(png, "parameters", PARAMETERS)
    png = with_text_chunk(png, "Comment", "Upscaled in Midjourney v6 after the first pass")
    path = directory / "rich.png"
    path.write_bytes(png)
    return path


def longest_image(directory: Path) -> Path:
    """Every recognised generator, each in its own text chunk: the longest analysis there is."""
    png = AI_SAMPLE.read_bytes()
    png = with_text_chunk(png, "parameters", PARAMETERS)
    for i, tool in enumerate(TOOLS):
        png = with_text_chunk(png, f"Comment{i}", f"This picture was generated with {tool} for a long test")
    path = directory / "longest.png"
    path.write_bytes(png)
    return path


async def main_async() -> int:
    from mcp import Client

    rows: list[list[object]] = []
    worst_text = worst_json = 0
    with (
        sandbox_process(processing_seconds=0.3, analysis_seconds=0.2, heatmap_seconds=0.1) as sb,
        workdir("bench-tokens-") as wd,
    ):
        images = {
            "ai-generated.png (sample)": AI_SAMPLE,
            "camera-photo.jpg (sample)": CAMERA_SAMPLE,
            "rich A1111 + Midjourney": rich_image(wd),
            "longest: all 20 generators": longest_image(wd),
        }
        async with Client(server_params(server_env(sb, wd), wd), mode="legacy") as client:
            for label, source in images.items():
                image = wd / source.name
                if source.parent != wd:
                    image.write_bytes(source.read_bytes())
                result = await client.call_tool(
                    "detect_image", {"path": str(image), "deep_analysis": True, "force": True}
                )
                report = structured(result)
                if not report["complete"] or report["analysis_status"] != "done":
                    raise RuntimeError(f"{label}: incomplete report")
                text = text_of(result)
                size = len(json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode())
                worst_text, worst_json = max(worst_text, len(text)), max(worst_json, size)
                rows.append(
                    [
                        label,
                        report["verdict"],
                        len(report["analysis"]["reasoning"] or ""),
                        len(report["signals"]["metadata"]),
                        len(text),
                        size,
                    ]
                )
                if "--show" in sys.argv:
                    print(f"--- {label}\n{text}\n", file=sys.stderr)
    print(f"\n## Tokens ({machine()})\n")
    print(
        table(
            [
                "image",
                "verdict",
                "reasoning chars",
                "metadata lines",
                "text block chars",
                "structuredContent bytes",
            ],
            rows,
        )
    )
    text_ok = "MET" if worst_text <= 1500 else "MISSED"
    json_ok = "MET" if worst_json <= 4096 else "MISSED"
    print(f"\nlongest text block {worst_text} chars (bar ≤ 1500) → {text_ok}; ", end="")
    print(f"largest structuredContent {worst_json} B (bar ≤ 4096) → {json_ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(anyio.run(main_async))
