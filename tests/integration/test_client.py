"""`TruthScanClient`: how each answer of the API becomes a result or one of our errors, and
which failures are retried — above all, that an accepted `/detect` is never sent twice.

Everything runs over real HTTP on loopback: against the sandbox, or, for answers the
sandbox never gives (an HTML error page, an HTTP-date Retry-After), a scripted server.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import socket
import time
from collections.abc import AsyncGenerator
from contextlib import ExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import httpx2
import pytest
import stamina.instrumentation
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import (
    AI_PNG,
    FAST_RETRY,
    KEY,
    SHORT_READ,
    Canned,
    ScriptedAPI,
    Stopwatch,
    eventually,
    fast_sandbox,
    http_client,
    make_settings,
    open_client,
    open_detector,
    serve_app,
    wait_until_idle,
)
from truthscan_mcp.api.client import RetryPolicy, TruthScanClient
from truthscan_mcp.errors import (
    BadRequestError,
    ImageSizeError,
    InvalidKeyError,
    NotEnoughCreditsError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
    UnexpectedResponseError,
    UnsupportedFormatError,
    UploadExpiredError,
)
from truthscan_mcp.logs import log_retry
from truthscan_mcp.media.sources import load_image
from truthscan_mcp.sandbox import FaultRule, serve_in_thread

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio


def _json(status: int, body: object, *headers: tuple[str, str]) -> Canned:
    return Canned(status, json.dumps(body).encode(), headers)


async def _uploaded(sandbox: SandboxServer, client: TruthScanClient) -> str:
    """Presign and upload the AI sample; the file path `/detect` needs."""
    async with await load_image(path=str(AI_PNG), settings=make_settings(sandbox)) as image:
        presigned = await client.presign(image.upload_name)
        await client.upload(presigned, image)
    return presigned.file_path


@asynccontextmanager
async def open_client_at(url: str) -> AsyncGenerator[TruthScanClient]:
    """A client whose API (and storage) is the scripted server at `url`."""
    async with http_client() as http:
        yield TruthScanClient(
            http, api_url=url, storage_url=f"{url}/storage", api_key=SecretStr(KEY), retry=FAST_RETRY
        )


# --- error mapping ---------------------------------------------------------------------------


async def test_a_rejected_key_is_an_invalid_key_error_that_names_the_setting(sandbox: SandboxServer) -> None:
    async with open_client(sandbox, key="invalid-key") as client:
        with pytest.raises(InvalidKeyError, match="TRUTHSCAN_API_KEY") as caught:
            await client.credits()

    assert "User verification failed" in caught.value.message
    assert sandbox.sandbox.stats.requests["credits"] == 1  # a 403 is final: not retried


async def test_no_credits_left_is_not_enough_credits_pointing_at_check_credits(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.set_credits(KEY, 0)
    async with open_detector(sandbox) as detector:
        with pytest.raises(NotEnoughCreditsError, match="check_credits"):
            await detector.detect(path=str(AI_PNG))

    stats = sandbox.sandbox.stats
    assert (stats.requests["detect"], stats.accepted_detects, stats.credits_spent) == (1, 0, 0)


async def test_an_unsupported_format_refusal_is_an_unsupported_format_error(sandbox: SandboxServer) -> None:
    async with open_client(sandbox) as client:
        with pytest.raises(UnsupportedFormatError, match="Unsupported file format"):
            await client.presign("animation.gif")


async def test_a_size_refusal_is_an_image_size_error() -> None:
    api = ScriptedAPI([_json(400, {"error": "File too large: the maximum is 10 MB"})])
    with serve_app(api) as url:
        async with open_client_at(url) as client:
            with pytest.raises(ImageSizeError, match="1 KB to 10 MB"):
                await client.presign("big.png")


async def test_an_unknown_endpoint_is_not_found(sandbox: SandboxServer) -> None:
    async with open_client(sandbox, api_url=f"{sandbox.api_url}/v9") as client:
        with pytest.raises(NotFoundError, match="404"):
            await client.credits()


async def test_a_422_detail_list_is_spelled_out_in_the_message(sandbox: SandboxServer) -> None:
    sandbox.sandbox.add_fault(
        FaultRule(endpoint="credits", kind="status", status=422, body_style="detail_list")
    )
    async with open_client(sandbox) as client:
        with pytest.raises(BadRequestError, match=r'HTTP 422\) \(TruthScan says: "body: Unprocessable'):
            await client.credits()


@pytest.mark.parametrize(
    ("style", "quoted"),
    [
        ("error", '(TruthScan says: "Bad Request")'),
        ("detail", '(TruthScan says: "Bad Request")'),
        ("detail_list", '(TruthScan says: "body: Bad Request")'),
        ("text", '(TruthScan says: "400 Bad Request")'),
        ("empty", None),
    ],
)
async def test_error_bodies_of_every_dialect_are_quoted(
    sandbox: SandboxServer, style: str, quoted: str | None
) -> None:
    sandbox.sandbox.add_fault(
        FaultRule.model_validate(
            {"endpoint": "credits", "kind": "status", "status": 400, "body_style": style}
        )
    )
    async with open_client(sandbox) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.credits()

    message = caught.value.message
    assert message.startswith("TruthScan refused the credits request (HTTP 400)")
    if quoted is None:
        assert "(HTTP 400)." in message
    else:
        assert quoted in message


async def test_an_html_error_page_is_not_quoted() -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    api = ScriptedAPI([Canned(400, page, media_type="text/html")])
    with serve_app(api) as url:
        async with open_client_at(url) as client:
            with pytest.raises(BadRequestError) as caught:
                await client.credits()

    assert "<" not in caught.value.message


async def test_a_persistent_429_is_rate_limited_carrying_retry_after(sandbox: SandboxServer) -> None:
    sandbox.sandbox.add_fault(
        FaultRule(endpoint="credits", kind="status", status=429, retry_after=0.1, times=-1)
    )
    async with open_client(sandbox) as client:
        with pytest.raises(RateLimitedError, match="rate-limiting") as caught:
            await client.credits()

    assert caught.value.retry_after == pytest.approx(0.1)
    assert sandbox.sandbox.stats.requests["credits"] == FAST_RETRY.attempts


async def test_a_retry_after_beyond_the_bound_is_raised_instead_of_waited(sandbox: SandboxServer) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=429, retry_after=600))
    async with open_client(sandbox) as client:
        with Stopwatch() as watch, pytest.raises(RateLimitedError) as caught:
            await client.credits()

    assert caught.value.retry_after == 600
    assert sandbox.sandbox.stats.requests["credits"] == 1
    assert watch.elapsed < 5


@pytest.mark.parametrize(
    ("status", "says"), [(500, "HTTP 500"), (502, "HTTP 502"), (503, "maintenance"), (504, "HTTP 504")]
)
async def test_a_persistent_5xx_is_unavailable_after_bounded_retries(
    sandbox: SandboxServer, status: int, says: str
) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=status, times=-1))
    async with open_client(sandbox) as client:
        with pytest.raises(UnavailableError, match=says) as caught:
            await client.credits()

    assert caught.value.status == status
    assert "health tool" in caught.value.message
    assert sandbox.sandbox.stats.requests["credits"] == FAST_RETRY.attempts


async def test_failures_of_changing_kinds_share_one_budget_of_attempts(sandbox: SandboxServer) -> None:
    """Two 5xx, then answers that cannot be read: one loop, so still `attempts` requests in all."""
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=502, times=2))
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="invalid_json", times=-1))
    async with open_client(sandbox) as client:
        with pytest.raises(UnexpectedResponseError, match="not JSON"):
            await client.credits()

    assert sandbox.sandbox.stats.requests["credits"] == FAST_RETRY.attempts


async def test_a_persistently_failing_call_starts_no_attempt_after_its_timeout(
    sandbox: SandboxServer,
) -> None:
    """With attempts to spare, the time budget ends the call: no attempt starts after
    `timeout`, so it returns within the timeout plus one (fast, local) answer."""
    budget = RetryPolicy(attempts=1000, timeout=0.8, wait_initial=0.1, wait_max=0.1, wait_jitter=0.0)
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=500, times=-1))
    async with open_client(sandbox, retry=budget) as client:
        with Stopwatch() as watch, pytest.raises(UnavailableError, match="HTTP 500"):
            await client.credits()

    sent = sandbox.sandbox.stats.requests["credits"]
    assert 2 <= sent <= 9  # one at 0 s, then one per 0.1 s wait while less than 0.8 s have passed
    assert watch.elapsed < budget.timeout + 1.0


async def test_a_retry_after_ending_past_the_time_budget_fails_at_once(sandbox: SandboxServer) -> None:
    budget = RetryPolicy(attempts=5, timeout=0.5, wait_initial=0.02, max_retry_after=5.0)
    sandbox.sandbox.add_fault(
        FaultRule(endpoint="credits", kind="status", status=429, retry_after=2, times=-1)
    )
    async with open_client(sandbox, retry=budget) as client:
        with Stopwatch() as watch, pytest.raises(RateLimitedError):
            await client.credits()

    assert sandbox.sandbox.stats.requests["credits"] == 1
    assert watch.elapsed < 1.5  # the 2 s the service asked for were not slept in vain


@pytest.mark.parametrize(("kind", "says"), [("invalid_json", "not JSON"), ("empty_body", "empty body")])
async def test_an_unreadable_success_answer_is_retried_then_reported(
    sandbox: SandboxServer, kind: str, says: str
) -> None:
    sandbox.sandbox.add_fault(FaultRule.model_validate({"endpoint": "credits", "kind": kind, "times": -1}))
    async with open_client(sandbox) as client:
        with pytest.raises(UnexpectedResponseError, match=says):
            await client.credits()

    assert sandbox.sandbox.stats.requests["credits"] == FAST_RETRY.attempts


async def test_a_null_query_answer_means_no_such_document(sandbox: SandboxServer) -> None:
    async with open_client(sandbox) as client:
        assert await client.query("00000000-0000-4000-8000-000000000000") is None


# --- Retry-After -------------------------------------------------------------------------------


async def test_retry_after_seconds_is_waited_before_the_retry(sandbox: SandboxServer) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=429, retry_after=1))
    async with open_client(sandbox) as client:
        with Stopwatch() as watch:
            credits = await client.credits()

    assert credits.credits > 0
    assert watch.elapsed >= 1.0
    assert sandbox.sandbox.stats.requests["credits"] == 2


async def test_retry_after_as_an_http_date_is_waited_too() -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    api = ScriptedAPI(
        [
            _json(503, {"error": "Service Unavailable"}, ("Retry-After", when)),
            _json(200, {"baseCredits": 5, "boostCredits": 1, "credits": 6}),
        ]
    )
    with serve_app(api) as url:
        async with open_client_at(url) as client:
            credits = await client.credits()
    answered = time.time()

    assert credits.credits == 6
    # Asked again no earlier than the date (however long the setup above took on a busy machine).
    assert answered >= email.utils.parsedate_to_datetime(when).timestamp() - 0.05
    assert len(api.seen) == 2


# --- /detect: retried only when it cannot have been accepted -----------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_detect_refused_with_429_or_503_is_resent_and_charged_once(
    sandbox: SandboxServer, status: int
) -> None:
    async with open_client(sandbox) as client:
        file_path = await _uploaded(sandbox, client)
        sandbox.sandbox.add_fault(
            FaultRule(endpoint="detect", kind="status", status=status, retry_after=0.05)
        )
        doc_id = await client.detect(file_path, deep_analysis=True, preview=False)

    stats = sandbox.sandbox.stats
    assert doc_id
    assert (stats.requests["detect"], stats.accepted_detects, stats.credits_spent) == (2, 1, 1)


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_detect_failing_with_another_5xx_is_not_resent(sandbox: SandboxServer, status: int) -> None:
    async with open_client(sandbox) as client:
        file_path = await _uploaded(sandbox, client)
        sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="status", status=status))
        with pytest.raises(UnavailableError, match="check_credits") as caught:
            await client.detect(file_path, deep_analysis=True, preview=False)

    assert "not re-sent" in caught.value.message
    assert sandbox.sandbox.stats.requests["detect"] == 1


async def test_detect_whose_connection_drops_after_acceptance_is_not_resent(sandbox: SandboxServer) -> None:
    async with open_client(sandbox) as client:
        file_path = await _uploaded(sandbox, client)
        sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="reset_after_accept"))
        with pytest.raises(UnavailableError, match="check_credits") as caught:
            await client.detect(file_path, deep_analysis=True, preview=False)

    stats = await wait_until_idle(sandbox)
    assert "not re-sent" in caught.value.message
    assert (stats.requests["detect"], stats.accepted_detects, stats.credits_spent) == (1, 1, 1)


async def test_detect_that_times_out_after_sending_is_not_resent(sandbox: SandboxServer) -> None:
    async with open_client(sandbox, read=SHORT_READ) as client:
        file_path = await _uploaded(sandbox, client)
        sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="delay", delay_seconds=1.0))
        with pytest.raises(UnavailableError, match="timed out") as caught:
            await client.detect(file_path, deep_analysis=True, preview=False)

    stats = await wait_until_idle(sandbox)
    assert "not re-sent" in caught.value.message
    assert "check_credits" in caught.value.message
    assert stats.requests["detect"] == 1
    assert stats.credits_spent == stats.accepted_detects <= 1


def answering_late(upstream: str, path: str, delay: float) -> Starlette:
    """A proxy to the sandbox that holds the answer to `path` back for `delay` seconds: the
    request is served (and charged) at once, only the answer is slow to come back."""

    async def forward(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k in ("apikey", "content-type")}
        async with httpx2.AsyncClient(base_url=upstream, timeout=10) as http:
            answer = await http.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=await request.body(),
                headers=headers,
            )
        if request.url.path == path:
            await anyio.sleep(delay)
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

    return Starlette(routes=[Route("/{rest:path}", forward, methods=["GET", "POST", "PUT"])])


async def test_detect_whose_answer_times_out_after_acceptance_is_not_resent(sandbox: SandboxServer) -> None:
    with serve_app(answering_late(sandbox.api_url, "/detect", delay=1.0)) as proxy:
        async with open_client(sandbox, read=SHORT_READ, api_url=proxy) as client:
            file_path = await _uploaded(sandbox, client)
            with pytest.raises(UnavailableError, match="timed out") as caught:
                await client.detect(file_path, deep_analysis=True, preview=False)

    stats = sandbox.sandbox.stats
    assert "not re-sent" in caught.value.message
    assert "check_credits" in caught.value.message
    assert (stats.requests["detect"], stats.accepted_detects, stats.credits_spent) == (1, 1, 1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_detect_whose_connection_is_refused_is_resent_once_reachable(sandbox: SandboxServer) -> None:
    port = _free_port()  # nothing listens there yet: connecting is refused
    slow_retry = RetryPolicy(attempts=5, timeout=10, wait_initial=0.4, wait_max=0.5, wait_jitter=0.0)
    attempts: list[str] = []

    async def count_detect_attempts(request: httpx2.Request) -> None:
        if request.url.path == "/detect":
            attempts.append(request.url.path)

    doc_id = ""
    with ExitStack() as later:
        async with open_client(sandbox) as uploader:
            file_path = await _uploaded(sandbox, uploader)
        async with (
            http_client() as http,
            anyio.create_task_group() as tg,
        ):
            http.event_hooks["request"].append(count_detect_attempts)
            client = TruthScanClient(
                http,
                api_url=f"http://127.0.0.1:{port}",
                storage_url=sandbox.storage_url,
                api_key=SecretStr(KEY),
                retry=slow_retry,
            )

            async def open_the_port_after_the_first_refusal() -> None:
                # A second attempt means the first was refused; it may be refused too, or not.
                await eventually(lambda: len(attempts) >= 2)
                later.enter_context(serve_in_thread(sandbox.sandbox, port=port))

            tg.start_soon(open_the_port_after_the_first_refusal)
            doc_id = await client.detect(file_path, deep_analysis=True, preview=False)

    assert doc_id
    assert len(attempts) >= 2
    stats = sandbox.sandbox.stats
    assert (stats.requests["detect"], stats.accepted_detects, stats.credits_spent) == (1, 1, 1)


# --- upload ----------------------------------------------------------------------------------


async def test_an_expired_upload_url_is_replaced_once(sandbox: SandboxServer) -> None:
    fast_sandbox(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="expired_upload"))
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG))

    stats = sandbox.sandbox.stats
    assert report.complete
    assert report.verdict == "AI Generated"
    assert (stats.requests["presign"], stats.requests["upload"], stats.uploads) == (2, 2, 1)
    assert stats.accepted_detects == 1


async def test_an_upload_url_refused_twice_fails_before_anything_is_charged(sandbox: SandboxServer) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="expired_upload", times=2))
    async with open_detector(sandbox) as detector:
        with pytest.raises(UploadExpiredError, match="Nothing was charged"):
            await detector.detect(path=str(AI_PNG))

    stats = sandbox.sandbox.stats
    assert (stats.requests["presign"], stats.requests["detect"], stats.accepted_detects) == (2, 0, 0)


async def test_a_scheduled_retry_is_reported_through_staminas_instrumentation(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The retry loop names itself after the endpoint; the process's logging hook (installed by
    `configure_logging`) writes one line per scheduled retry, with what caused it."""
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=503, times=1))
    stamina.instrumentation.set_on_retry_hooks([log_retry])
    try:
        with caplog.at_level(logging.INFO, logger="truthscan_mcp.retries"):
            async with open_client(sandbox) as client:
                await client.credits()
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)

    lines = [r.getMessage() for r in caplog.records if r.name == "truthscan_mcp.retries"]
    assert len(lines) == 1, lines
    assert re.fullmatch(
        r"retrying TruthScan credits \(retry 1 in \d+\.\d\ds\) after UnavailableError", lines[0]
    )
