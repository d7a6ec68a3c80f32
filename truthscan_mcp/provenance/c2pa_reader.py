"""Reading and verifying a C2PA manifest (Content Credentials) with the official library.

`c2pa-python` binds the C2PA reference implementation (c2pa-rs): verifying a claim
signature, its certificate chain and the hard bindings to the pixels is exactly what a
hand-written reader would get wrong. It is imported only when a file actually carries a
manifest, so neither the server's cold start nor a file without one pays for its 20 MB
native library. Its network features — fetching remote manifests and OCSP responses — are
turned off, and no host is allowed: nothing leaves the machine.

Where the library cannot be imported (a platform without a wheel: the dependency is declared
only where one exists, and the error says verification is "not available on this platform"),
or cannot read the manifest (damaged, truncated, garbage JUMBF), the store's raw bytes are
still scanned for an IPTC source type and a generator name, reported as unverified.
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Final

from truthscan_mcp.provenance.generators import RAW_TERM, first_tool, iptc_term

#: Settings for every read: no network at all, a cap on decompressed manifest data.
_OFFLINE_SETTINGS: Final[dict[str, dict[str, object]]] = {
    "verify": {
        "remote_manifest_fetch": False,
        "ocsp_fetch": False,
        "verify_trust": True,
        "verify_after_reading": True,
    },
    "core": {"allowed_network_hosts": [], "max_decompressed_manifest_size_in_mb": 8},
}
#: A failure code that is not a verification failure: the signer is merely unknown to us.
_UNTRUSTED: Final = "signingCredential.untrusted"
_MAX_ERRORS: Final = 8
_MAX_ACTIONS: Final = 20
_MAX_TEXT: Final = 200
_RAW_SCAN: Final = 1024 * 1024
#: The AI terms without the IPTC URI in front (some writers store the bare term).
_BARE_TERM: Final = re.compile(r"\b(trainedAlgorithmicMedia|compositeWithTrainedAlgorithmicMedia)\b")

#: How an error starts when the library could not be imported (the renderer looks for it).
UNAVAILABLE: Final = "C2PA present; cannot validate here"

_lock = threading.Lock()
_contexts: dict[str | None, Any] = {}
#: Contexts kept (one per anchor set: the bundled snapshot, an installed update, a test's list).
_MAX_CONTEXTS: Final = 4
#: The success code c2pa gives a signing certificate that chains to a configured anchor.
_TRUSTED: Final = "signingCredential.trusted"


@dataclass(slots=True)
class C2paRead:
    """What the manifest store says; `verified` is False when only raw bytes were scanned."""

    verified: bool = False
    valid: bool | None = None
    trusted: bool | None = None
    claim_generator: str | None = None
    signer: str | None = None
    digital_source_type: str | None = None
    actions: list[str] = field(default_factory=list[str])
    #: Names of the software agents in the actions (where generators are named).
    agents: list[str] = field(default_factory=list[str])
    errors: list[str] = field(default_factory=list[str])


def read_c2pa(
    data: bytes, *, media_type: str | None, stores: list[bytes], trust_anchors: str | None = None
) -> C2paRead:
    """Verify the manifest in `data`; never raises. `stores` are its raw JUMBF bytes."""
    try:
        import c2pa  # lazy: only files with a manifest pay for the native library
    except (ImportError, OSError) as exc:
        found = _raw_scan(stores)
        # c2pa-python is declared only where it has a wheel (pyproject's marker): elsewhere this is
        # the expected outcome, not a fault, and the reader says so in words a user can act on.
        reason = f"C2PA verification is not available on this platform (c2pa-python: {exc})"
        found.errors.insert(0, f"{UNAVAILABLE}: {reason}"[:240])
        return found
    try:
        context = _context(c2pa, trust_anchors)
        with c2pa.Reader(media_type or "", io.BytesIO(data), context=context) as reader:
            store: Any = json.loads(reader.json())
    except Exception as exc:  # a hostile manifest may raise anything from the binding
        found = _raw_scan(stores)
        found.errors.insert(0, f"C2PA manifest could not be read: {_short(exc)}")
        return found
    return _from_store(store)


def _context(c2pa: Any, trust_anchors: str | None) -> Any:
    """One offline Context per trust-anchor set, built once: building it parses the settings."""
    with _lock:
        context = _contexts.get(trust_anchors)
        if context is None:
            settings: dict[str, Any] = json.loads(json.dumps(_OFFLINE_SETTINGS))
            if trust_anchors:
                settings["trust"] = {"trust_anchors": trust_anchors}
            context = c2pa.Context.from_dict(settings)
            if len(_contexts) >= _MAX_CONTEXTS:
                _contexts.pop(next(iter(_contexts)))
            _contexts[trust_anchors] = context
        return context


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:_MAX_TEXT]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())[:_MAX_TEXT]
    return None


def _from_store(store: Any) -> C2paRead:
    top = _as_dict(store)
    found = C2paRead(verified=True)
    manifests = _as_dict(top.get("manifests"))
    active = _as_dict(manifests.get(str(top.get("active_manifest"))))
    found.claim_generator = _claim_generator(active)
    signature = _as_dict(active.get("signature_info"))
    name, issuer = _text(signature.get("common_name")), _text(signature.get("issuer"))
    found.signer = f"{name} ({issuer})" if name and issuer and name != issuer else (name or issuer)
    for assertion in _as_list(active.get("assertions")):
        entry = _as_dict(assertion)
        if str(entry.get("label", "")).startswith("c2pa.actions"):
            _read_actions(_as_dict(entry.get("data")), found)

    state = top.get("validation_state")
    results = _as_dict(_as_dict(top.get("validation_results")).get("activeManifest"))
    failures = [_as_dict(item) for item in _as_list(results.get("failure"))]
    if not results and "validation_status" in top:  # older stores: one flat list of problems
        failures = [_as_dict(item) for item in _as_list(top.get("validation_status"))]
    codes = [str(item.get("code", "")) for item in failures]
    found.valid = state in ("Valid", "Trusted") if state else not [c for c in codes if c != _UNTRUSTED]
    successes = [str(_as_dict(item).get("code", "")) for item in _as_list(results.get("success"))]
    # The reader ran, so the chain was judged against the anchors it was given: trusted or not.
    found.trusted = state == "Trusted" or _TRUSTED in successes
    for item in failures:
        code = str(item.get("code", ""))
        if code != _UNTRUSTED and len(found.errors) < _MAX_ERRORS:
            explanation = _text(item.get("explanation"))
            found.errors.append(f"{code}: {explanation}" if explanation else code)
    return found


def _claim_generator(active: dict[str, Any]) -> str | None:
    info = [_as_dict(item) for item in _as_list(active.get("claim_generator_info"))]
    if info and _text(info[0].get("name")):
        name, version = _text(info[0].get("name")), _text(info[0].get("version"))
        return f"{name} {version}" if version else name
    return _text(active.get("claim_generator"))


def _read_actions(data: dict[str, Any], found: C2paRead) -> None:
    for item in _as_list(data.get("actions"))[:_MAX_ACTIONS]:
        action = _as_dict(item)
        name = _text(action.get("action"))
        if name and name not in found.actions:
            found.actions.append(name)
        term = iptc_term(_text(action.get("digitalSourceType")))
        if term and (found.digital_source_type is None or "Algorithmic" in term):
            found.digital_source_type = term
        agent = action.get("softwareAgent")
        agent_name = _text(_as_dict(agent).get("name")) if isinstance(agent, dict) else _text(agent)
        if agent_name and agent_name not in found.agents:
            found.agents.append(agent_name)


def _raw_scan(stores: list[bytes]) -> C2paRead:
    """Unverified reading of the store's bytes: an IPTC term and a generator name, if any."""
    found = C2paRead()
    blob = b"".join(stores)[:_RAW_SCAN].decode("latin-1")
    match = RAW_TERM.search(blob) or _BARE_TERM.search(blob)
    found.digital_source_type = iptc_term(match.group(1)) if match else None
    tool = first_tool(blob)
    if tool:
        found.agents.append(tool)
    return found
