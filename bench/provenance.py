"""What `read_provenance` costs: time and peak memory on 1 MB and 10 MB images, and cold start.

Run from the repository root in the project's venv: `python bench/provenance.py`. Each image
is built in one interpreter and read in another (so peak RSS is reading's alone, native
c2pa memory included): read once to warm up, then read RUNS times; the table shows the median
time, the peak Python allocation (tracemalloc) and the growth of peak RSS over the
interpreter's own once the file is loaded (the c2pa library's load included, when the file
has a manifest). Cold start is the median of several `python -c "import …"` runs. Nothing
here opens a socket. Progress goes to stderr, the Markdown table to stdout.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
COLD_RUNS = 7

#: Each case: a label and the expression (in tests.support.provenance) that builds it.
CASES = [
    ("plain PNG, 1 MB", "fx.png(side=592)"),
    ("plain PNG, 10 MB", "fx.png(side=1870)"),
    ("SD-parameters PNG, 10 MB", "fx.png(fx.text_chunk('parameters', fx.A1111_PARAMETERS), side=1870)"),
    ("camera JPEG + XMP, 1 MB", "fx.jpeg_padded(1)"),
    ("C2PA-signed PNG, 1 MB", "fx.c2pa_signed_png(side=592)"),
    ("C2PA-signed PNG, 10 MB", "fx.c2pa_signed_png(side=1870)"),
]

_CASE_CODE = """
import json, resource, statistics, sys, time, tracemalloc
from pathlib import Path
from truthscan_mcp.provenance import read_provenance
data = Path({path!r}).read_bytes()
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
read_provenance(data, media_type=None, source=None)  # warm-up: the c2pa import, if a manifest
times = []
for _ in range({runs}):
    started = time.perf_counter()
    result = read_provenance(data, media_type=None, source=None)
    times.append(time.perf_counter() - started)
tracemalloc.start()
read_provenance(data, media_type=None, source=None)
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"bytes": len(data), "median_ms": statistics.median(times) * 1000,
    "traced_kb": traced / 1024, "rss_growth_kb": rss - base_rss, "peak_rss_kb": rss,
    "finding": result.finding, "valid": result.c2pa.valid}}))
"""


def build(expr: str, path: Path) -> None:
    """Made in its own interpreter, so signing's memory never counts against reading."""
    code = (
        "from pathlib import Path; from tests.support import provenance as fx; "
        f"Path({str(path)!r}).write_bytes({expr})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=900)


def run_case(path: Path) -> dict[str, object]:
    code = _CASE_CODE.format(path=str(path), runs=RUNS)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=900
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start(statement: str) -> float:
    times: list[float] = []
    for _ in range(COLD_RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    print(f"# read_provenance, median of {RUNS} runs per case, each case in a fresh interpreter\n")
    print("| case | size | median | peak Python alloc | peak RSS growth | finding | c2pa valid |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for index, (label, expr) in enumerate(CASES):
        print(f"running {label}", file=sys.stderr)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"case{index}.img"
            build(expr, path)
            row = run_case(path)
        size = int(str(row["bytes"])) / 1024 / 1024
        traced = float(str(row["traced_kb"])) / 1024
        growth = int(str(row["rss_growth_kb"])) / 1024
        print(
            f"| {label} | {size:.1f} MB | {float(str(row['median_ms'])):.1f} ms | {traced:.1f} MB "
            f"| {growth:.1f} MB | {row['finding']} | {row['valid']} |"
        )
    print(f"\n# cold start, median of {COLD_RUNS} runs\n")
    print("| command | median |")
    print("| --- | ---: |")
    for label, statement in [
        ("python -c pass", "pass"),
        ("import truthscan_mcp.provenance", "import truthscan_mcp.provenance"),
        ("import truthscan_mcp.adapter.server (the server)", "import truthscan_mcp.adapter.server"),
        ("server + provenance", "import truthscan_mcp.adapter.server, truthscan_mcp.provenance"),
        ("import c2pa (paid only when a file has a manifest)", "import c2pa"),
    ]:
        print(f"cold start: {label}", file=sys.stderr)
        print(f"| `{label}` | {cold_start(statement):.0f} ms |")
    print(f"| `import truthscan_mcp.provenance` after the server, in-process | {added_import():.0f} ms |")


def added_import() -> float:
    """What importing the engine adds to a process that already imported the server."""
    code = (
        "import time, truthscan_mcp.adapter.server; started = time.perf_counter(); "
        "import truthscan_mcp.provenance; print(time.perf_counter() - started)"
    )
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(COLD_RUNS)
    ]
    return statistics.median(times) * 1000


if __name__ == "__main__":
    main()
