"""Generate the two bundled sample images (dev tool; needs Pillow, which the package never imports).

- `ai-generated.png`: smooth, noise-free shading as diffusion models make it, with the
  AUTOMATIC1111 `parameters` text chunk Stable Diffusion web UIs write.
- `camera-photo.jpg`: gradient plus sensor-like noise, with Canon EOS R5 EXIF.

Deterministic: rerunning it rewrites byte-identical files. Run from the repository root:
    python scripts/make_samples.py
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

SAMPLES = Path(__file__).resolve().parent.parent / "truthscan_mcp" / "samples"
PARAMETERS = (
    "a photo of a cat, sitting on a windowsill, golden hour, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 96x96, Model: sd_xl_base_1.0"
)


def ai_png(path: Path) -> None:
    rng = random.Random(1234)
    size = 96
    image = Image.new("RGB", (size, size))
    pixels = image.load()
    assert pixels is not None
    for y in range(size):
        for x in range(size):
            # a soft, glowing blob on a pastel sky: the too-clean look of a diffusion render
            d = math.hypot(x - 48, y - 56) / 48
            glow = max(0.0, 1 - d) ** 2
            r = int(120 + 110 * glow + 20 * math.sin(y / 9)) + rng.randint(-3, 3)
            g = int(140 + 70 * glow + 25 * math.cos(x / 11)) + rng.randint(-3, 3)
            b = int(200 - 90 * glow) + rng.randint(-3, 3)
            pixels[x, y] = (min(255, max(0, r)), min(255, max(0, g)), min(255, max(0, b)))
    info = PngInfo()
    info.add_text("parameters", PARAMETERS)
    image.save(path, "PNG", pnginfo=info, optimize=True)


def camera_jpeg(path: Path) -> None:
    rng = random.Random(5)
    width, height = 160, 120
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    assert pixels is not None
    for y in range(height):
        for x in range(width):
            base = 60 + 120 * x / width + 40 * y / height
            noise = rng.gauss(0, 14)
            pixels[x, y] = tuple(
                min(255, max(0, int(base * k + noise + rng.gauss(0, 5)))) for k in (1.0, 0.85, 0.7)
            )
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif[0x0132] = "2024:05:18 17:42:10"
    exif[0x013B] = "Sample Photographer"
    image.save(path, "JPEG", quality=85, exif=exif.tobytes())


def main() -> None:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    ai_png(SAMPLES / "ai-generated.png")
    camera_jpeg(SAMPLES / "camera-photo.jpg")
    for name in ("ai-generated.png", "camera-photo.jpg"):
        size = (SAMPLES / name).stat().st_size
        assert 1536 <= size <= 40 * 1024, f"{name} is {size} bytes"
        print(f"{name}: {size} bytes")


if __name__ == "__main__":
    main()
