"""The C2PA trust list a signature is judged against: a dated snapshot, never fetched at read time.

A valid C2PA signature only says that whoever holds a certificate signed the claim; what makes
it worth more is that the certificate chains to an authority the C2PA Conformance Program
admits. That list changes (authorities join, keys rotate), and checking it online at read
time would send every image's signer to a third party and make a verdict depend on the
network. So the package ships a dated copy (`provenance/trust/`, with its source, SHA-256 and
licence attribution in `snapshot.json`), and a person can install a newer one with
`truthscan-mcp trust update`, stored in their data folder, never in site-packages (which an
upgrade replaces and a user may not be allowed to write). Every answer names the snapshot
that judged it, so a reader knows how old the list was.

The installed list is read on each call only if its file changed (one `stat`), so an update
takes effect in a running server without a restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

#: The file names of the snapshot, bundled and installed alike.
ANCHORS_FILE = "C2PA-TRUST-LIST.pem"
TSA_FILE = "C2PA-TSA-TRUST-LIST.pem"
SNAPSHOT_FILE = "snapshot.json"
#: A trust list is a few dozen certificates (40 KB today); anything near this is not one.
MAX_LIST_BYTES = 2 * 1024 * 1024
MAX_CERTIFICATES = 2000
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")

Origin = Literal["bundled", "installed", "given"]


class TrustListError(ValueError):
    """A file offered as a trust list is not one; the message says what is wrong."""


@dataclass(frozen=True)
class TrustList:
    """One snapshot of the list: the anchors in PEM, and what names it in every answer."""

    name: str
    #: the day the snapshot was taken (ISO 8601), or None for anchors given by a caller
    date: str | None
    anchors_pem: str
    sha256: str
    origin: Origin
    source_url: str | None = None
    certificates: int = 0

    @property
    def label(self) -> str:
        """How answers name it: "C2PA Trust List (snapshot of 2026-08-14)"."""
        return f"{self.name} (snapshot of {self.date})" if self.date else self.name


def installed_dir() -> Path:
    """Where `trust update` keeps a newer list: the user's data folder, per platform."""
    from platformdirs import user_data_path

    return user_data_path("truthscan-mcp", appauthor=False) / "trust"


def count_certificates(pem: bytes) -> int:
    """How many well-formed certificates `pem` holds; raises `TrustListError` when it is not a
    certificate list (text between blocks, like the C2PA file's "Subject" lines, is allowed)."""
    if len(pem) > MAX_LIST_BYTES:
        raise TrustListError(
            f"The file is {len(pem):,} bytes; a trust list is a PEM file of certificates well under "
            f"{MAX_LIST_BYTES // (1024 * 1024)} MB. Use C2PA-TRUST-LIST.pem from the C2PA conformance "
            "repository."
        )
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        raise TrustListError(
            "The file holds no PEM certificate (no -----BEGIN CERTIFICATE----- block). Use "
            "C2PA-TRUST-LIST.pem from https://github.com/c2pa-org/conformance-public (trust-list/)."
        )
    if len(blocks) > MAX_CERTIFICATES:
        raise TrustListError(f"The file holds {len(blocks):,} certificates, more than any trust list.")
    for number, block in enumerate(blocks, start=1):
        try:
            der = base64.b64decode(b"".join(block.split()), validate=True)
        except (binascii.Error, ValueError):
            raise TrustListError(f"Certificate {number} in the file is not valid base64.") from None
        if len(der) < 64 or der[0] != 0x30:  # an X.509 certificate is a DER SEQUENCE
            raise TrustListError(f"Certificate {number} in the file is not a DER-encoded certificate.")
    return len(blocks)


def given_anchors(pem: str) -> TrustList:
    """Anchors a caller passes directly (an embedder, a test): named as such, not as the C2PA list."""
    data = pem.encode()
    return TrustList(
        name="trust anchors given by the caller",
        date=None,
        anchors_pem=pem,
        sha256=hashlib.sha256(data).hexdigest(),
        origin="given",
        certificates=len(_PEM_BLOCK.findall(data)),
    )


# --- the bundled snapshot and an installed one ---------------------------------------------------

_lock = threading.Lock()
_bundled: TrustList | None = None
_installed: dict[Path, tuple[tuple[int, int], TrustList | None]] = {}


def bundled_trust_list() -> TrustList:
    """The snapshot shipped in the package (read once)."""
    global _bundled
    with _lock:
        if _bundled is None:
            folder = files("truthscan_mcp.provenance").joinpath("trust")
            meta: dict[str, Any] = json.loads(folder.joinpath(SNAPSHOT_FILE).read_text(encoding="utf-8"))
            pem = folder.joinpath(ANCHORS_FILE).read_bytes()
            _bundled = TrustList(
                name=str(meta["name"]),
                date=str(meta["date"]),
                anchors_pem=pem.decode("ascii", "replace"),
                sha256=hashlib.sha256(pem).hexdigest(),
                origin="bundled",
                source_url=str(meta["source_url"]),
                certificates=len(_PEM_BLOCK.findall(pem)),
            )
        return _bundled


def current_trust_list(directory: Path | None = None) -> TrustList:
    """The newest list this machine has: an installed one if it is usable, else the bundled one.

    Never raises: a damaged installed list is passed over for the bundled snapshot (it was
    validated when installed, so damage means someone edited it)."""
    folder = directory if directory is not None else installed_dir()
    anchors = folder / ANCHORS_FILE
    try:
        info = os.stat(anchors)
    except OSError:
        return bundled_trust_list()
    stamp = (info.st_mtime_ns, info.st_size)
    with _lock:
        known = _installed.get(folder)
    if known is not None and known[0] == stamp:
        return known[1] or bundled_trust_list()
    loaded = _read_installed(folder)
    with _lock:
        _installed[folder] = (stamp, loaded)
    return loaded or bundled_trust_list()


def _read_installed(folder: Path) -> TrustList | None:
    try:
        pem = (folder / ANCHORS_FILE).read_bytes()
        meta: dict[str, Any] = json.loads((folder / SNAPSHOT_FILE).read_text(encoding="utf-8"))
        count = count_certificates(pem)
        return TrustList(
            name=str(meta.get("name") or "C2PA Trust List"),
            date=str(meta["date"]),
            anchors_pem=pem.decode("ascii", "replace"),
            sha256=hashlib.sha256(pem).hexdigest(),
            origin="installed",
            source_url=meta.get("source_url") if isinstance(meta.get("source_url"), str) else None,
            certificates=count,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def install_trust_list(
    pem: bytes,
    *,
    source: str,
    snapshot_date: date | None = None,
    name: str = "C2PA Trust List",
    directory: Path | None = None,
) -> TrustList:
    """Validate `pem` and make it the current list (atomically: a reader never sees half a file).

    `snapshot_date` is the day the list was taken from its source (default: today, UTC).
    Raises `TrustListError` for a file that is not a certificate list, `OSError` when the data
    folder cannot be written."""
    count = count_certificates(pem)
    folder = directory if directory is not None else installed_dir()
    folder.mkdir(parents=True, exist_ok=True)
    day = (snapshot_date or datetime.now(UTC).date()).isoformat()
    digest = hashlib.sha256(pem).hexdigest()
    meta = {
        "name": name,
        "date": day,
        "source_url": source,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "files": {ANCHORS_FILE: digest},
        "certificates": count,
    }
    # metadata first, then the list: the list's stat is what readers key on
    _write_atomically(folder / SNAPSHOT_FILE, json.dumps(meta, indent=2).encode())
    _write_atomically(folder / ANCHORS_FILE, pem)
    return TrustList(
        name=name,
        date=day,
        anchors_pem=pem.decode("ascii", "replace"),
        sha256=digest,
        origin="installed",
        source_url=source,
        certificates=count,
    )


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
