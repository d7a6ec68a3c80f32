"""`truthscan-mcp trust show|update`: which C2PA trust list judges signers, and installing a newer one.

The list is data that changes: this command replaces the bundled snapshot with a newer one in
the user's data folder (never in site-packages), from a file the person downloaded (`--from`) or
from the C2PA's published copy, validated as a certificate list and recorded with its date and
SHA-256. The next C2PA check uses it, also in a running server.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from truthscan_mcp.provenance.trust_list import (
    MAX_LIST_BYTES,
    TrustListError,
    current_trust_list,
    install_trust_list,
    installed_dir,
)

#: Where the C2PA publishes the list (its conformance repository's main branch).
PUBLISHED_URL = (
    "https://raw.githubusercontent.com/c2pa-org/conformance-public/main/trust-list/C2PA-TRUST-LIST.pem"
)


def run_trust(args: argparse.Namespace) -> int:
    if args.trust_action == "show":
        return _show()
    try:
        if args.from_file:
            pem, source = Path(args.from_file).expanduser().read_bytes(), Path(args.from_file).name
        else:
            pem, source = _download(args.url), args.url
        day = date.fromisoformat(args.date) if args.date else None
        installed = install_trust_list(pem, source=source, snapshot_date=day)
    except (TrustListError, ValueError) as exc:
        sys.stderr.write(f"truthscan-mcp trust update: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"truthscan-mcp trust update: {exc}\n")
        return 1
    sys.stdout.write(
        f"Installed {installed.label}: {installed.certificates} certificates, SHA-256 {installed.sha256}, "
        f"from {source}, in {installed_dir()}.\n"
    )
    return 0


def _show() -> int:
    current = current_trust_list()
    where = installed_dir() if current.origin == "installed" else "bundled with truthscan-mcp"
    sys.stdout.write(
        f"{current.label}: {current.certificates} certificates, SHA-256 {current.sha256}\n"
        f"source: {current.source_url or 'unknown'}\nkept: {where}\n"
    )
    return 0


def _download(url: str) -> bytes:
    """The published list over HTTPS (plain HTTP only on loopback), size-capped, time-limited."""
    import httpx2

    if not url.startswith("https://") and not url.startswith(("http://127.0.0.1", "http://[::1]")):
        raise TrustListError("Only https:// URLs are accepted for a trust list (http only on loopback).")
    body = b""
    try:
        with (
            httpx2.Client(timeout=30.0, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise TrustListError(f"Downloading {url} failed: HTTP {response.status_code}.")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_LIST_BYTES:
                    raise TrustListError(f"{url} is larger than a trust list can be.")
    except httpx2.HTTPError as exc:
        raise TrustListError(
            f"Downloading {url} failed ({type(exc).__name__}). Download C2PA-TRUST-LIST.pem yourself "
            "and pass it with --from FILE."
        ) from None
    return body
