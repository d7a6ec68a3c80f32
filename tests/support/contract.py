"""The public contract (`/work/shared/product.md`) written down once, as plain sets and tuples,
so the in-process, stdio and HTTP tests all hold the server to the same names."""

from __future__ import annotations

#: the evidence view's tool (issue 15): listed by tools/list, but with MCP Apps visibility
#: ["app"], so hosts hide it from the model; manifest.json leaves it out
APP_TOOL_NAMES = frozenset({"get_report_images", "submit_upload"})
#: the contract's four tools, the batch tool `detect_images` (issue 6) and the free
#: `check_provenance` (issue 14); tools/list lists them and the app-only tool (TOOL_NAMES)
MODEL_TOOL_NAMES = frozenset(
    {
        "detect_image",
        "detect_images",
        "get_result",
        "check_credits",
        "health",
        "check_provenance",
        "request_image",
        "export_report",
    }
)
TOOL_NAMES = MODEL_TOOL_NAMES | APP_TOOL_NAMES
DETECT_ARGUMENTS = frozenset(
    {
        "path",
        "url",
        "data",
        "clipboard",
        "upload",
        "deep_analysis",
        "wait_seconds",
        "include_heatmap",
        "preview",
        "force",
    }
)
GET_RESULT_ARGUMENTS = frozenset({"id", "wait_seconds", "include_heatmap"})
REPORT_FIELDS = frozenset(
    {
        "id",
        "status",
        "complete",
        "verdict",
        "ai_score",
        "confidence",
        "confidence_band",
        "detection_step",
        "signals",
        "analysis_status",
        "analysis",
        "heatmap_status",
        "heatmap_url",
        "preview_url",
        "source",
        "cached",
        "simulated",
        "elapsed_seconds",
        "warnings",
        "next_step",
    }
)
CREDITS_FIELDS = frozenset({"base_credits", "boost_credits", "credits", "detections_today", "daily_limit"})
HEALTH_FIELDS = frozenset(
    {"status", "timestamp", "reachable", "latency_ms", "api_key_configured", "sandbox", "server_version"}
)
PROTOCOL_MODES = ("legacy", "auto")
#: the prompts (slash commands) and their arguments
PROMPT_ARGUMENTS = {"check_image": ["source"], "check_page": ["url"]}
