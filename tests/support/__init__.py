"""What the test tiers share, imported one way everywhere: `from tests.support import NAME`.

constants (key, samples, fast timings), contract (the public names), settings (the one
`make_settings` factory and subprocess environments), servers (the sandbox, any ASGI app on
loopback, a scripted API), polling (the poll budget and simulated jobs), waiting, clients
(client/detector on the sandbox), mcp (reading tool results, stdio servers) and cli (running the
command).
"""

from tests.support.cli import Run, run_cli, run_cli_process
from tests.support.clients import http_client, open_client, open_detector
from tests.support.constants import AI_PNG, CAMERA_JPG, FAST_POLL, FAST_RETRY, KEY, ROOT, SAMPLES, SHORT_READ
from tests.support.contract import (
    APP_TOOL_NAMES,
    CREDITS_FIELDS,
    DETECT_ARGUMENTS,
    GET_RESULT_ARGUMENTS,
    HEALTH_FIELDS,
    PROTOCOL_MODES,
    REPORT_FIELDS,
    TOOL_NAMES,
)
from tests.support.guards import ConnectLog
from tests.support.mcp import (
    ProgressLog,
    assert_error,
    assert_valid_output,
    cancel_detection_while_polling,
    images_of,
    make_server,
    stdio_params,
    structured,
    text_of,
)
from tests.support.polling import Job, budget_breach, floor_calls, poll_times
from tests.support.servers import (
    Canned,
    SandboxServer,
    ScriptedAPI,
    StaticSite,
    fast_sandbox,
    free_port,
    quick_sandbox,
    serve_app,
    short_sandbox_config,
)
from tests.support.settings import child_env, live_env, make_settings, scrub_truthscan_env
from tests.support.waiting import Stopwatch, assert_quiet, eventually, wait_until, wait_until_idle

__all__ = [
    "AI_PNG",
    "APP_TOOL_NAMES",
    "CAMERA_JPG",
    "CREDITS_FIELDS",
    "DETECT_ARGUMENTS",
    "FAST_POLL",
    "FAST_RETRY",
    "GET_RESULT_ARGUMENTS",
    "HEALTH_FIELDS",
    "KEY",
    "PROTOCOL_MODES",
    "REPORT_FIELDS",
    "ROOT",
    "SAMPLES",
    "SHORT_READ",
    "TOOL_NAMES",
    "Canned",
    "ConnectLog",
    "Job",
    "ProgressLog",
    "Run",
    "SandboxServer",
    "ScriptedAPI",
    "StaticSite",
    "Stopwatch",
    "assert_error",
    "assert_quiet",
    "assert_valid_output",
    "budget_breach",
    "cancel_detection_while_polling",
    "child_env",
    "eventually",
    "fast_sandbox",
    "floor_calls",
    "free_port",
    "http_client",
    "images_of",
    "live_env",
    "make_server",
    "make_settings",
    "open_client",
    "open_detector",
    "poll_times",
    "quick_sandbox",
    "run_cli",
    "run_cli_process",
    "scrub_truthscan_env",
    "serve_app",
    "short_sandbox_config",
    "stdio_params",
    "structured",
    "text_of",
    "wait_until",
    "wait_until_idle",
]
