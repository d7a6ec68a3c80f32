"""A batch against parallel calls: `detect_images` of N images vs N `detect_image` calls at once.

The tool description tells the assistant to prefer the batch, so it must not be slower than
what an assistant gets by issuing parallel calls. One MCP `Client` session over stdio to
`python -m truthscan_mcp` (cache off), pointed at a standalone sandbox through a loopback
proxy (`_proxy.py`) that counts requests in flight per endpoint: the batch may hold at most
`TRUTHSCAN_MAX_CONCURRENCY` (4) uploads or `/detect` submissions at once; nothing bounds the
parallel calls. Both without deep analysis (the batch's default), distinct images per run,
alternating, sandbox default timings.

Bars (issue 13): 20 images ≤ 1.3x the parallel calls' wall, 100 images ≤ 1.5x.

`--page` (issue 24) measures a page sweep instead: `detect_images(page=…)` of a page showing
100 images (served with its images by a static site on loopback, `_site.py`) against 100
`detect_image(url=…)` calls at once on the same kind of images, and the page's own download
and parse (`media.page.fetch_page` + `media.html_images.find_images`, in this process) for a
1 MB page. Bars: the sweep ≤ 1.5x the parallel calls; download and parse < 100 ms.

    python -m bench.batch [--reps 2] [--sizes 20,100]
    python -m bench.batch --page [--reps 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from bench._common import (
    API_KEY,
    distinct_images,
    machine,
    sandbox_process,
    server_params,
    structured,
    table,
    workdir,
)
from bench._proxy import CountingProxy, counting_proxy

MAX_CONCURRENCY = 4
BARS = {20: 1.3, 100: 1.5}


async def batch_run(client: Any, images: list[Path]) -> None:
    result = await client.call_tool(
        "detect_images", {"paths": [str(p) for p in images], "force": True, "wait_seconds": 300}
    )
    summary = structured(result)
    done = [r for r in summary.get("rows", []) if r.get("complete")]
    if len(done) != len(images):
        raise RuntimeError(f"batch: {len(done)} of {len(images)} complete")


async def parallel_run(client: Any, images: list[Path]) -> None:
    async def one(image: Path) -> None:
        result = await client.call_tool(
            "detect_image", {"path": str(image), "deep_analysis": False, "force": True, "wait_seconds": 300}
        )
        if not structured(result)["complete"]:
            raise RuntimeError(f"incomplete report for {image.name}")

    async with anyio.create_task_group() as tg:
        for image in images:
            tg.start_soon(one, image)


async def main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    sizes = [int(x) for x in args.sizes.split(",")]
    walls: dict[tuple[int, str], list[float]] = {}
    peaks: dict[tuple[int, str], dict[str, int]] = {}
    with sandbox_process() as sb, workdir("bench-batch-") as wd:
        async with counting_proxy(sb.base_url) as (proxy_url, proxy):
            env = {
                "TRUTHSCAN_API_URL": proxy_url,
                "TRUTHSCAN_STORAGE_URL": f"{proxy_url}/storage",
                "TRUTHSCAN_API_KEY": API_KEY,
                "TRUTHSCAN_CACHE_PATH": "off",
                "TRUTHSCAN_ALLOWED_DIRS": str(wd),
                "TRUTHSCAN_LOG_LEVEL": "WARNING",
                "TRUTHSCAN_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
            }
            async with Client(server_params(env, wd), mode="legacy", read_timeout_seconds=600) as client:
                await parallel_run(client, distinct_images(2, wd, tag="warm-"))
                for size in sizes:
                    for rep in range(args.reps):
                        order = ["batch", "parallel"] if rep % 2 == 0 else ["parallel", "batch"]
                        for how in order:
                            images = distinct_images(size, wd, tag=f"{how}{size}-{rep}-")
                            proxy.reset()
                            started = time.perf_counter()
                            await (batch_run if how == "batch" else parallel_run)(client, images)
                            wall = time.perf_counter() - started
                            walls.setdefault((size, how), []).append(wall)
                            peak = _peaks(proxy)
                            seen = peaks.setdefault((size, how), {})
                            for k, v in peak.items():
                                seen[k] = max(seen.get(k, 0), v)
                            print(f"  {size:3d} {how:<8} {wall:7.3f}s peaks {peak}", file=sys.stderr)
                            for image in images:
                                image.unlink()

    rows: list[list[object]] = []
    verdicts: list[str] = []
    for size in sizes:
        for how in ("batch", "parallel"):
            w = walls[(size, how)]
            p = peaks[(size, how)]
            rows.append(
                [
                    f"{size} images",
                    "detect_images (one call)" if how == "batch" else f"detect_image x{size} at once",
                    statistics.median(w),
                    f"{min(w):.3f}–{max(w):.3f}",
                    p.get("upload", 0),
                    p.get("detect", 0),
                    p.get("query", 0),
                ]
            )
        ratio = statistics.median(walls[(size, "batch")]) / statistics.median(walls[(size, "parallel")])
        bounded = max(peaks[(size, "batch")].get(k, 0) for k in ("upload", "detect")) <= MAX_CONCURRENCY
        ok = ratio <= BARS.get(size, 1.5) and bounded
        verdicts.append(
            f"{size} images: batch / parallel = {ratio:.2f}x (bar ≤ {BARS.get(size, 1.5)}); batch uploads "
            f"and submissions in flight ≤ {MAX_CONCURRENCY}: {'yes' if bounded else 'NO'} "
            f"→ {'MET' if ok else 'MISSED'}"
        )
    print(f"\n## Batch vs parallel calls ({machine()})")
    print(
        f"sandbox default timings; {args.reps} runs each, alternating; "
        f"TRUTHSCAN_MAX_CONCURRENCY={MAX_CONCURRENCY}\n"
    )
    print(
        table(
            [
                "images",
                "how",
                "median wall s",
                "range s",
                "max uploads in flight",
                "max /detect in flight",
                "max /query in flight",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    return 0


# --- a page sweep (issue 24) -------------------------------------------------------------------

PAGE_IMAGES = 100
PAGE_BYTES = 1024 * 1024
PARSE_RUNS = 30
PAGE_BAR = 1.5
PARSE_BAR_MS = 100.0


def news_page(image_urls: list[str], size: int = PAGE_BYTES) -> bytes:
    """A news-like page of about `size` bytes: navigation, paragraphs, scripts and a figure per
    image (srcset with two widths, alt text, caption), the way an article with a gallery looks."""
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Gallery: the storm in "
        f"{len(image_urls)} pictures</title><meta property='og:image' content='{image_urls[0]}'>"
        "<script>window.dataLayer=[];function track(e){dataLayer.push(e)}</script></head><body>"
        "<nav><ul>"
        + "".join(f"<li><a href='/section/{n}'>Section {n}</a></li>" for n in range(40))
        + "</ul></nav>"
    )
    figures = [
        f"<figure class='gallery-item'><img src='{url}' srcset='{url}?w=640 640w, {url} 1280w' "
        f"alt='Picture {n}: waves over the harbour wall' loading='lazy'><figcaption>Picture {n}. "
        "<span class='credit'>Photo: agency</span></figcaption></figure>"
        for n, url in enumerate(image_urls)
    ]
    paragraph = (
        "<p class='body'>The storm reached the coast in the early hours; <a href='/related'>residents</a> "
        "described <em>waves</em> over the <strong>harbour wall</strong> and <span>streets</span> "
        "under water.</p>"
    )
    body: list[str] = []
    filler = size - len(head) - sum(len(f) for f in figures) - 200
    per_figure = max(0, filler // len(paragraph) // len(figures))
    for figure in figures:
        body.append(paragraph * per_figure)
        body.append(figure)
    page = head + "".join(body) + "</body></html>"
    return (page + "<!--" + "x" * max(0, size - len(page) - 7) + "-->").encode()


async def page_sweep_run(client: Any, page_url: str, count: int) -> None:
    result = await client.call_tool(
        "detect_images", {"page": page_url, "max_images": count, "force": True, "wait_seconds": 300}
    )
    rows = structured(result).get("rows", [])
    done = [r for r in rows if r.get("complete")]
    if len(done) != count:
        raise RuntimeError(f"page sweep: {len(done)} of {count} complete: {rows[:1]}")


async def parallel_urls_run(client: Any, urls: list[str]) -> None:
    async def one(url: str) -> None:
        result = await client.call_tool(
            "detect_image", {"url": url, "deep_analysis": False, "force": True, "wait_seconds": 300}
        )
        if not structured(result)["complete"]:
            raise RuntimeError(f"incomplete report for {url}")

    async with anyio.create_task_group() as tg:
        for url in urls:
            tg.start_soon(one, url)


def publish(site: Any, base: str, images: list[Path], tag: str) -> list[str]:
    urls: list[str] = []
    for n, image in enumerate(images):
        path = f"/{tag}/img-{n:03d}.png"
        site.files[path] = (image.read_bytes(), "image/png")
        urls.append(f"{base}{path}")
    return urls


async def parse_timings(page: bytes, folder: Path) -> list[float]:
    """The page's own download and parse, in this process, as a sweep does them; the page served
    by a web server in another process (`python -m http.server`), so its CPU is not counted."""
    from bench._common import _free_port  # pyright: ignore[reportPrivateUsage]
    from truthscan_mcp.media.html_images import find_images
    from truthscan_mcp.media.page import fetch_page

    (folder / "probe.html").write_bytes(page)
    port = _free_port()
    server = await anyio.open_process(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/probe.html"
    try:
        for _ in range(100):  # up in a moment; polled, as http.server announces nothing
            try:
                await fetch_page(url, allow_private=True, timeout=10)
                break
            except Exception:
                await anyio.sleep(0.05)
        timings: list[float] = []
        for _ in range(PARSE_RUNS):
            started = time.perf_counter()
            fetched = await fetch_page(url, allow_private=True, timeout=10)
            found = find_images(fetched.html, fetched.url)
            timings.append((time.perf_counter() - started) * 1000)
            if len(found.images) != PAGE_IMAGES:
                raise RuntimeError(f"parsed {len(found.images)} images, expected {PAGE_IMAGES}")
        return timings
    finally:
        server.terminate()
        with anyio.move_on_after(10):
            await server.wait()


async def page_main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    from bench._site import static_site

    walls: dict[str, list[float]] = {"page": [], "parallel": []}
    with sandbox_process() as sb, workdir("bench-page-") as wd:
        async with static_site() as (site_url, site):
            env = {
                "TRUTHSCAN_API_URL": sb.base_url,
                "TRUTHSCAN_STORAGE_URL": sb.storage_url,
                "TRUTHSCAN_API_KEY": API_KEY,
                "TRUTHSCAN_CACHE_PATH": "off",
                "TRUTHSCAN_ALLOWED_DIRS": str(wd),
                "TRUTHSCAN_ALLOW_PRIVATE_URLS": "true",
                "TRUTHSCAN_LOG_LEVEL": "WARNING",
                "TRUTHSCAN_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
            }
            probe = news_page([f"{site_url}/probe/img-{n:03d}.png" for n in range(PAGE_IMAGES)])
            page_bytes = len(probe)
            served = wd / "served"
            served.mkdir()
            parse_ms = await parse_timings(probe, served)
            async with Client(server_params(env, wd), mode="legacy", read_timeout_seconds=600) as client:
                await parallel_urls_run(
                    client, publish(site, site_url, distinct_images(2, wd, tag="warm-"), "warm")
                )
                for rep in range(args.reps):
                    order = ["page", "parallel"] if rep % 2 == 0 else ["parallel", "page"]
                    for how in order:
                        tag = f"{how}-{rep}"
                        urls = publish(site, site_url, distinct_images(PAGE_IMAGES, wd, tag=f"{tag}-"), tag)
                        site.files[f"/{tag}.html"] = (news_page(urls), "text/html; charset=utf-8")
                        started = time.perf_counter()
                        if how == "page":
                            await page_sweep_run(client, f"{site_url}/{tag}.html", PAGE_IMAGES)
                        else:
                            await parallel_urls_run(client, urls)
                        wall = time.perf_counter() - started
                        walls[how].append(wall)
                        print(f"  {how:<8} {wall:7.3f}s", file=sys.stderr)
    page_wall, parallel_wall = statistics.median(walls["page"]), statistics.median(walls["parallel"])
    ratio = page_wall / parallel_wall
    parse_median = statistics.median(parse_ms)
    parse_p95 = sorted(parse_ms)[int(0.95 * (len(parse_ms) - 1))]
    print(f"\n## Page sweep vs parallel calls ({machine()})")
    print(
        f"sandbox default timings; {args.reps} runs each, alternating; "
        f"TRUTHSCAN_MAX_CONCURRENCY={MAX_CONCURRENCY}\n"
    )
    print(
        table(
            ["what", "median", "range", "bar"],
            [
                [
                    f"detect_images(page=…), {PAGE_IMAGES} images",
                    f"{page_wall:.3f} s",
                    f"{min(walls['page']):.3f}–{max(walls['page']):.3f} s",
                    f"≤ {PAGE_BAR}x parallel",
                ],
                [
                    f"detect_image(url=…) x{PAGE_IMAGES} at once",
                    f"{parallel_wall:.3f} s",
                    f"{min(walls['parallel']):.3f}–{max(walls['parallel']):.3f} s",
                    "",
                ],
                [
                    f"page download + parse, {page_bytes:,} bytes, {PARSE_RUNS} runs",
                    f"{parse_median:.1f} ms (p95 {parse_p95:.1f})",
                    f"{min(parse_ms):.1f}–{max(parse_ms):.1f} ms",
                    f"< {PARSE_BAR_MS:.0f} ms",
                ],
            ],
        )
    )
    print()
    print(
        f"page sweep / parallel = {ratio:.2f}x (bar ≤ {PAGE_BAR}) → "
        f"{'MET' if ratio <= PAGE_BAR else 'MISSED'}"
    )
    print(
        f"page download + parse median {parse_median:.1f} ms (bar < {PARSE_BAR_MS:.0f}) → "
        f"{'MET' if parse_median < PARSE_BAR_MS else 'MISSED'}"
    )
    return 0


def _peaks(proxy: CountingProxy) -> dict[str, int]:
    return dict(proxy.peak)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--sizes", default="20,100")
    parser.add_argument("--page", action="store_true", help="measure a 100-image page sweep instead")
    args = parser.parse_args()
    return anyio.run(page_main_async if args.page else main_async, args)


if __name__ == "__main__":
    raise SystemExit(main())
