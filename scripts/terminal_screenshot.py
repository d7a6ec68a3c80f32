"""Make docs/terminal.png: `truthscan-mcp detect` on a folder, as a terminal shows it.

The command runs for real in a tmux pane (a real terminal: its live line, its colours) on the
built-in sandbox; the pane is captured with its escape sequences (`capture-pane -e`) once while
the live line moves and once at the end, rendered by rich as an SVG terminal window, and
photographed by Debian's chromium through Playwright. Needs tmux and /usr/bin/chromium.

    python scripts/terminal_screenshot.py [docs/terminal.png]
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.images import png_bytes  # noqa: E402

COLUMNS, ROWS = 140, 46
SESSION = "truthscan-screenshot"
NAMES = [
    *(f"IMG_{2040 + n}.jpg" for n in range(12)),
    *(f"press-{n:02d}.png" for n in range(1, 9)),
    *(f"upload-{n}.webp" for n in range(1, 8)),
]


def _folder(work: Path) -> Path:
    folder = work / "inbox"
    folder.mkdir()
    for index, name in enumerate(NAMES):
        (folder / name).write_bytes(png_bytes(6000, seed=index + 7))  # named as sent: read by content
    (folder / "copy-of-press-03.png").write_bytes((folder / "press-03.png").read_bytes())
    samples = ROOT / "truthscan_mcp" / "samples"  # files that declare their origin: provenance
    (folder / "IMG_2043.jpg").write_bytes((samples / "camera-photo.jpg").read_bytes())
    (folder / "upload-3.webp").write_bytes((samples / "ai-generated.png").read_bytes())
    (folder / "caption.txt").write_text("Photo desk, 8 December\n" * 20)
    return folder


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _capture() -> str:
    return _tmux("capture-pane", "-e", "-p", "-t", SESSION)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "terminal.png"
    bin_dir = Path(shutil.which("truthscan-mcp") or Path(sys.executable).parent / "truthscan-mcp").parent
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _folder(work)
        env = [f"PATH={bin_dir}:/usr/bin:/bin", "TRUTHSCAN_CACHE_PATH=off", "TERM=xterm-256color", "PS1=$ "]
        _tmux(
            "new-session", "-d", "-s", SESSION, "-x", str(COLUMNS), "-y", str(ROWS), "-c", str(work),
            *(arg for pair in (("-e", e) for e in env) for arg in pair), "bash --norc --noprofile -i",
        )  # fmt: skip
        try:
            time.sleep(0.5)
            _tmux("send-keys", "-t", SESSION, "PS1='$ '; clear", "Enter")
            time.sleep(0.3)
            _tmux("send-keys", "-t", SESSION, "truthscan-mcp --sandbox detect inbox", "Enter")
            moving, deadline = "", time.monotonic() + 60
            while time.monotonic() < deadline:
                screen = _capture()
                if "time left: ~" in screen and not moving:
                    moving = screen
                if "credits spent" in screen:
                    break
                time.sleep(0.1)
            final = _capture()
        finally:
            subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False)
    _render(moving, final, out)


def _render(moving: str, final: str, out: Path) -> None:
    """The final screen as captured, and under it the live line as it was while moving."""
    console = Console(
        record=True, file=io.StringIO(), width=COLUMNS, force_terminal=True, color_system="truecolor"
    )
    for line in final.rstrip().splitlines():
        if line.strip() != "$":
            console.print(Text.from_ansi(line))
    live = next((line for line in moving.splitlines() if "Detecting" in line), "")
    if live:
        console.print()
        console.print(
            Text("(the same line a moment earlier, while the images were checked:)", style="dim italic")
        )
        console.print(Text.from_ansi(live))
    svg = console.export_svg(title="truthscan-mcp detect")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1500, "height": 1200})
        sized = svg.replace("<svg ", '<svg style="width:1480px;display:block" ', 1)
        page.set_content(f'<body style="margin:0;background:#fff">{sized}</body>')
        page.locator("svg").screenshot(path=str(out))
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
