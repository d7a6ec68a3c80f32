"""`python -m truthscan_mcp` (stdio) with another polling schedule, to compare schedules in one run.

Benchmarks only. `BENCH_POLL_SCHEDULE` picks the schedule handed to `create_server`'s
`poll_schedule` (and so to `open_app` and the detector); nothing is patched:

* `learned`: `detection.schedule.Planner`, learning in memory from this process's jobs;
* `first,share,minimum,maximum`: the detector's `PollSchedule` with those numbers;
* unset: the product's default.
"""

from __future__ import annotations

import os

from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.detection.detector import PollSchedule
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.logs import configure_logging
from truthscan_mcp.settings import Settings


def schedule_from(spec: str | None, api_url: str) -> PollSchedule | Planner | None:
    if not spec:
        return None
    if spec == "learned":
        return Planner(api_url=api_url)
    first, share, minimum, maximum = (float(x) for x in spec.split(","))
    return PollSchedule(first=first, share=share, minimum=minimum, maximum=maximum)


def main() -> None:
    settings = Settings()
    secrets = [s.get_secret_value() for s in (settings.api_key, settings.http_token) if s is not None]
    configure_logging(settings.log_level, secrets)
    schedule = schedule_from(os.environ.get("BENCH_POLL_SCHEDULE"), settings.api_url)
    create_server(settings, poll_schedule=schedule).run("stdio")


if __name__ == "__main__":
    main()
