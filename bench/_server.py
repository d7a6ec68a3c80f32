"""`python -m truthscan_mcp` (stdio) with another poll schedule, to compare schedules in one run.

Benchmarks only. `BENCH_POLL_SCHEDULE` picks the `Planner` handed to `create_server`'s
`schedule` (and so to `open_app` and the detector); nothing is patched:

* `default`: the planner that never learns (every job planned as an account's first);
* `every:SECONDS`: a constant gap (`Planner.fixed(Every(SECONDS))`);
* unset or `learned`: the product's own (learning; in memory, since the benchmarks run with
  the cache off).
"""

from __future__ import annotations

import os

from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.detection.schedule import Every, Planner
from truthscan_mcp.logs import configure_logging
from truthscan_mcp.settings import Settings


def schedule_from(spec: str | None, api_url: str) -> Planner | None:
    if not spec or spec == "learned":
        return None
    if spec == "default":
        return Planner(api_url=api_url, learn=False)
    if spec.startswith("every:"):
        return Planner.fixed(Every(float(spec.removeprefix("every:"))))
    raise SystemExit(f"unknown BENCH_POLL_SCHEDULE {spec!r}: default, learned or every:SECONDS")


def main() -> None:
    settings = Settings()
    secrets = [s.get_secret_value() for s in (settings.api_key, settings.http_token) if s is not None]
    configure_logging(settings.log_level, secrets)
    schedule = schedule_from(os.environ.get("BENCH_POLL_SCHEDULE"), settings.api_url)
    create_server(settings, schedule=schedule).run("stdio")


if __name__ == "__main__":
    main()
