"""The API key never leaves the requests that must carry it.

A canary key runs the whole product at DEBUG — every tool, the happy path and the errors —
and then every place a key could escape to is searched for it: tool results (text and
structuredContent), everything logged, stderr, exception messages and tracebacks, and the
cache files. A service that echoes the key back in its error bodies (real APIs do) gets the
same search: our messages quote what the service said, so they must scrub it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support import AI_PNG, SAMPLES, http_client, make_server, serve_app
from truthscan_mcp.api.client import RetryPolicy, TruthScanClient
from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.logs import RedactingFilter, configure_logging
from truthscan_mcp.redaction import redact
from truthscan_mcp.sandbox import FaultRule
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio

CANARY = "tsk-CANARY-7f3a9"
#: Fragments a partial or re-encoded leak would still show.
MARKS = (CANARY, "CANARY-7f3a9", "tsk-CANARY")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
NO_RETRY = RetryPolicy(attempts=1, timeout=2.0)
NOW = {"Retry-After": "0"}


class Outputs:
    """Everything the product said, gathered for one search at the end."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def add_result(self, call: str, result: CallToolResult) -> None:
        for block in result.content:
            if isinstance(block, TextContent):
                self.add(f"{call} text", block.text)
        if result.structured_content is not None:
            self.add(f"{call} structuredContent", json.dumps(result.structured_content))

    def add_error(self, call: str, exc: BaseException) -> None:
        self.add(f"{call} str", str(exc))
        self.add(f"{call} repr", repr(exc))
        self.add(f"{call} traceback", "".join(traceback.format_exception(exc)))

    def add_files(self, directory: Path) -> None:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                self.add(f"file {path.name}", path.read_bytes().decode("latin-1"))

    def leaks(self) -> list[str]:
        """Where the key showed up, with the text around it."""
        found: list[str] = []
        for where, text in self.texts:
            for mark in MARKS:
                if (at := text.find(mark)) >= 0:
                    found.append(f"{where}: ...{text[max(0, at - 120) : at + 40]}...")
                    break
        return found


class RecordEverything(logging.Handler):
    """Every record of every logger, fully formatted (message, arguments and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.__dict__))


@pytest.fixture
def debug_logs() -> Iterator[RecordEverything]:
    """DEBUG logging as the product configures it — but with no secret to redact, so a leak
    shows instead of being masked by the redaction filter (our second line of defence)."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    configure_logging("DEBUG", secrets=())
    handler = RecordEverything()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
        configure_logging("WARNING")
        root.handlers[:] = saved[1]


# --- a service that echoes the caller's key in every error ------------------------------------


def echoing_api() -> Starlette:
    """Answers presign normally, then echoes the key it was given in each error dialect."""

    async def presign(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        name = request.query_params.get("file_name", "x.png")
        return JSONResponse(
            {"status": "success", "presigned_url": f"{base}/put/{name}", "file_path": f"uploads/{name}"}
        )

    async def upload(request: Request) -> Response:
        await request.body()
        return Response(b"", 200)

    async def detect(request: Request) -> Response:
        body = await request.json()
        key = body.get("key", "")
        item = {"type": "value_error", "loc": ["body", "key"], "msg": f"bad key {key}", "input": key}
        return JSONResponse({"detail": [item]}, 422)

    async def credits(request: Request) -> Response:
        key = request.headers.get("apikey", "")
        return JSONResponse({"error": f"User verification failed for apikey={key}"}, 403)

    async def query(request: Request) -> Response:
        # Retry-After 0 keeps the product's own (unshortened) retries quick.
        return JSONResponse({"detail": f"upstream failure (caller key {_last_key[0]})"}, 500, NOW)

    async def health(request: Request) -> Response:
        return PlainTextResponse(f"maintenance; last key seen: {_last_key[0]}", 503, NOW)

    _last_key = [CANARY]  # the service "remembers" the caller, like a log line in an error page
    return Starlette(
        routes=[
            Route("/get-presigned-url", presign, methods=["GET"]),
            Route("/put/{name}", upload, methods=["PUT"]),
            Route("/detect", detect, methods=["POST"]),
            Route("/check-user-credits", credits, methods=["GET"]),
            Route("/query", query, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


# --- the tests ---------------------------------------------------------------------------------


def _settings(api_url: str, storage_url: str, cache: Path) -> Settings:
    return Settings.model_validate(
        {
            "api_key": CANARY,
            "api_url": api_url,
            "storage_url": storage_url,
            "allowed_dirs": [SAMPLES],
            "cache_path": cache,
            "log_level": "DEBUG",
            "wait_seconds": 10,
        }
    )


async def _call(
    client: Client, outputs: Outputs, name: str, args: dict[str, Any] | None = None
) -> CallToolResult:
    result = await client.call_tool(name, args or {})
    outputs.add_result(f"{name}({args or ''})", result)
    return result


async def test_the_key_appears_in_no_output_log_error_or_file(
    sandbox: SandboxServer,
    tmp_path: Path,
    debug_logs: RecordEverything,
    capfd: pytest.CaptureFixture[str],
) -> None:
    outputs = Outputs()
    cache = tmp_path / "cache" / "results.sqlite3"
    cache.parent.mkdir()
    settings = _settings(sandbox.api_url, sandbox.storage_url, cache)

    async with Client(make_server(settings)) as client:
        detected = await _call(
            client, outputs, "detect_image", {"path": str(AI_PNG), "include_heatmap": True}
        )
        assert not detected.is_error, detected
        doc_id = detected.structured_content["id"] if detected.structured_content else None
        assert doc_id
        assert not (await _call(client, outputs, "detect_image", {"path": str(AI_PNG)})).is_error  # cached
        assert not (await _call(client, outputs, "get_result", {"id": doc_id, "wait_seconds": 5})).is_error
        assert not (await _call(client, outputs, "check_credits")).is_error
        assert not (await _call(client, outputs, "health")).is_error
        assert (await _call(client, outputs, "get_result", {"id": UNKNOWN_ID})).is_error
        assert (await _call(client, outputs, "detect_image", {"path": str(SAMPLES / "missing.png")})).is_error
        sandbox.sandbox.add_fault(
            FaultRule(endpoint="credits", kind="status", status=500, retry_after=0, times=-1)
        )
        assert (await _call(client, outputs, "check_credits")).is_error
        sandbox.sandbox.clear_faults()
        # Now TruthScan no longer accepts the key.
        sandbox.sandbox.config.invalid_keys = frozenset({CANARY})
        rejected = await _call(client, outputs, "check_credits")
        assert rejected.is_error
        refused = await _call(client, outputs, "detect_image", {"path": str(AI_PNG), "force": True})
        assert refused.is_error

    # The same flow against a service that echoes the key in its error bodies.
    with serve_app(echoing_api()) as echo_url:
        echo_settings = _settings(echo_url, f"{echo_url}/storage", tmp_path / "cache" / "echo.sqlite3")
        async with Client(make_server(echo_settings)) as client:
            for name, args in (
                ("check_credits", {}),
                ("detect_image", {"path": str(AI_PNG)}),
                ("get_result", {"id": UNKNOWN_ID}),
            ):
                assert (await _call(client, outputs, name, args)).is_error
            health = await _call(client, outputs, "health")
            assert health.structured_content is not None
            assert health.structured_content["reachable"] is False
        # And straight from the client, exceptions and their tracebacks.
        async with http_client() as http:
            direct = TruthScanClient(
                http, api_url=echo_url, storage_url=echo_url, api_key=SecretStr(CANARY), retry=NO_RETRY
            )
            calls = {
                "credits": direct.credits(),
                "query": direct.query(UNKNOWN_ID),
                "health": direct.health(),
                "detect": direct.detect("uploads/x.png", deep_analysis=True, preview=False),
            }
            for name, call in calls.items():
                with pytest.raises(TruthScanError) as caught:
                    await call
                outputs.add_error(f"client.{name}", caught.value)

    captured = capfd.readouterr()
    outputs.add("stderr", captured.err)
    outputs.add("stdout", captured.out)
    for line in debug_logs.lines:
        outputs.add("log record", line)
    outputs.add_files(tmp_path / "cache")

    assert any(where.startswith("file ") for where, _ in outputs.texts), "the cache file was not written"
    echoed = [text for where, text in outputs.texts if where.startswith("client.") and "***" in text]
    assert echoed, "the echoing service's words were not quoted (masked) at all"
    assert len(debug_logs.lines) > 50, "DEBUG logging did not capture the flow"
    assert outputs.leaks() == []


async def test_the_key_stays_out_of_a_stdio_server_running_at_debug(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The real start-up path: `python -m truthscan_mcp` over stdio, configured by environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUTHSCAN_")}
    env.update(
        TRUTHSCAN_API_KEY=CANARY,
        TRUTHSCAN_API_URL=sandbox.api_url,
        TRUTHSCAN_STORAGE_URL=sandbox.storage_url,
        TRUTHSCAN_ALLOWED_DIRS=str(SAMPLES),
        TRUTHSCAN_CACHE_PATH=str(tmp_path / "stdio.sqlite3"),
        TRUTHSCAN_LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
    )
    outputs = Outputs()
    params = StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp"], env=env)
    stderr_path = tmp_path / "server-stderr.txt"
    with stderr_path.open("w") as stderr:
        async with Client(stdio_client(params, errlog=stderr)) as client:
            detect_args = {"path": str(AI_PNG), "deep_analysis": False}
            detected = await _call(client, outputs, "detect_image", detect_args)
            assert not detected.is_error, detected
            assert detected.structured_content is not None
            await _call(client, outputs, "get_result", {"id": detected.structured_content["id"]})
            await _call(client, outputs, "check_credits")
            await _call(client, outputs, "health")
            sandbox.sandbox.config.invalid_keys = frozenset({CANARY})
            assert (await _call(client, outputs, "check_credits")).is_error
    outputs.add_files(tmp_path)

    assert "DEBUG" in stderr_path.read_text(), "the server did not log at DEBUG"
    assert outputs.leaks() == []


def percent_spellings(key: str = CANARY) -> dict[str, str]:
    """The key percent-encoded byte by byte, as a proxy or a service's logger writes it back."""
    every = key.encode()
    return {
        "every byte, upper-case hex": "".join(f"%{b:02X}" for b in every),
        "every byte, lower-case hex": "".join(f"%{b:02x}" for b in every),
        "only the dashes": key.replace("-", "%2D"),
        "raw and encoded bytes mixed, either case": "".join(
            chr(b) if i % 3 == 0 else f"%{b:02X}" if i % 3 == 1 else f"%{b:02x}" for i, b in enumerate(every)
        ),
        "encoded twice": "".join(f"%25{b:02X}" for b in every),
    }


def spells_the_key(text: str, key: str = CANARY) -> bool:
    """Whether `text` still carries the key once every layer of percent-encoding is undone."""
    for _ in range(3):
        if key.lower() in text.lower():
            return True
        text = unquote(text)
    return key.lower() in text.lower()


def percent_echoing_api() -> Starlette:
    """Answers presign normally; every error body carries the key in each percent spelling."""
    echoed = " / ".join(percent_spellings().values())

    async def presign(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        name = request.query_params.get("file_name", "x.png")
        return JSONResponse(
            {"status": "success", "presigned_url": f"{base}/put/{name}", "file_path": f"uploads/{name}"}
        )

    async def upload(request: Request) -> Response:
        await request.body()
        return Response(b"", 200)

    async def refuse(request: Request) -> Response:
        return JSONResponse({"error": f"User verification failed for apikey={echoed}"}, 403)

    return Starlette(
        routes=[
            Route("/get-presigned-url", presign, methods=["GET"]),
            Route("/put/{name}", upload, methods=["PUT"]),
            Route("/detect", refuse, methods=["POST"]),
            Route("/check-user-credits", refuse, methods=["GET"]),
            Route("/query", refuse, methods=["POST"]),
        ]
    )


async def test_the_key_percent_encoded_byte_by_byte_reaches_no_result_and_no_log(
    tmp_path: Path, debug_logs: RecordEverything, capfd: pytest.CaptureFixture[str]
) -> None:
    outputs = Outputs()
    with serve_app(percent_echoing_api()) as url:
        settings = _settings(url, f"{url}/storage", tmp_path / "cache.sqlite3")
        async with Client(make_server(settings)) as client:
            for name, args in (
                ("check_credits", {}),
                ("detect_image", {"path": str(AI_PNG)}),
                ("get_result", {"id": UNKNOWN_ID}),
            ):
                assert (await _call(client, outputs, name, args)).is_error
    captured = capfd.readouterr()
    outputs.add("stderr", captured.err)
    for line in debug_logs.lines:
        outputs.add("log record", line)

    said = "\n".join(text for where, text in outputs.texts if "text" in where)
    assert "User verification failed" in said, "the service's words were not quoted at all"
    assert "***" in said
    assert [where for where, text in outputs.texts if spells_the_key(text)] == []


# --- the one redaction helper ------------------------------------------------------------------

#: A key with characters that change when percent-encoded or JSON-escaped.
ODD_KEY = 'Key/with+odd "chars"&é'
ECHOED_FORMS = {
    "raw": ODD_KEY,
    "other case": ODD_KEY.swapcase(),
    "percent-encoded": quote(ODD_KEY, safe=""),
    "percent-encoded, lower-case hex": quote(ODD_KEY, safe="").lower(),
    "form-encoded": quote_plus(ODD_KEY, safe=""),
    "JSON-escaped": json.dumps(ODD_KEY)[1:-1],
    "JSON-escaped, non-ASCII kept": json.dumps(ODD_KEY, ensure_ascii=False)[1:-1],
    "every byte percent-encoded": "".join(f"%{b:02X}" for b in ODD_KEY.encode()),
    "JSON-escaped, every character": "".join(f"\\u{ord(c):04x}" for c in ODD_KEY),
}


@pytest.mark.parametrize("form", ECHOED_FORMS.values(), ids=ECHOED_FORMS.keys())
def test_redact_masks_every_form_a_service_may_echo_the_key_in(form: str) -> None:
    assert redact(f"bad key {form} in request", [ODD_KEY]) == "bad key *** in request"


@pytest.mark.parametrize("form", ECHOED_FORMS.values(), ids=ECHOED_FORMS.keys())
def test_the_log_filter_masks_every_form_of_the_key(form: str) -> None:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "echoed %s back", (form,), None)
    assert RedactingFilter([ODD_KEY]).filter(record)
    assert record.getMessage() == "echoed *** back"


def test_redact_leaves_text_without_the_key_alone() -> None:
    assert redact("Key/with nothing to hide", [ODD_KEY]) == "Key/with nothing to hide"


#: Keys of printable ASCII and a few non-ASCII characters (never `<` or `>`: they delimit it).
_KEY_CHARS = st.sampled_from(
    [chr(c) for c in range(0x20, 0x7F) if chr(c) not in "<>"] + ["é", "ü", "€", "ß", "😀"]
)


def _spellings(char: str) -> list[str]:
    """Every way one character of the key may come back: raw, re-cased, %XX either case, \\uXXXX."""
    data = char.encode()
    units = char.encode("utf-16-be")
    forms = [
        char,
        "".join(f"%{b:02X}" for b in data),
        "".join(f"%{b:02x}" for b in data),
        "".join(f"\\u{units[i]:02x}{units[i + 1]:02X}" for i in range(0, len(units), 2)),
    ]
    if char.isascii() and char.isalpha():
        forms.append(char.swapcase())
    return forms


@st.composite
def _key_and_echo(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(st.text(_KEY_CHARS, min_size=4, max_size=40))
    echo = "".join(draw(st.sampled_from(_spellings(c))) for c in key)
    return key, echo


def _decoded(text: str) -> str:
    """`text` with JSON escapes and (two layers of) percent-encoding undone: what a reader recovers."""
    units = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), text)
    text = units.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\\\\", "\\").replace('\\"', '"')
    return unquote(unquote(text))


@given(_key_and_echo())
def test_redact_masks_the_key_in_any_mix_of_raw_and_encoded_characters(key_and_echo: tuple[str, str]) -> None:
    key, echo = key_and_echo
    masked = redact(f"<{echo}>", [key])
    # Usually "<***>"; where an echo reads two ways (`\\` then `u0055`, or `\` then `\u0055`) the
    # mask may end one escape early: what is left must still not spell the key.
    assert masked.startswith("<***")
    assert key.lower() not in _decoded(masked).lower()
