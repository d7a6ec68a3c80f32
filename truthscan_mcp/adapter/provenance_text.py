"""check_provenance's text, and the provenance line of a report: what a file declares, as the
file's words, with what such a declaration is worth."""

from __future__ import annotations

from truthscan_mcp.adapter.clip import clip
from truthscan_mcp.models import Provenance
from truthscan_mcp.provenance.engine import trust_phrase
from truthscan_mcp.sanitize import clean_line, file_says, named, quoted


def _items(values: list[str], limit: int, width: int) -> str:
    shown = [clip(v, width) for v in values[:limit]]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return "; ".join(shown) + more


def _names(values: list[str], limit: int, width: int) -> str:
    """Strings a file supplied, each quoted: `"a"; "b" (+1 more)`."""
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return "; ".join(quoted(v, max_length=width) for v in values[:limit]) + more


# --- provenance --------------------------------------------------------------------------------

#: check_provenance's text budget, as for a report
MAX_PROVENANCE_CHARS = 1500
_UNSIGNED = "Unsigned metadata (EXIF, XMP, PNG text) is forged or stripped in seconds: a lead, not proof."
_ABSENT = "Absence of provenance says nothing: most images, real or AI-made, lose their metadata when shared."


def _file_text(value: str, limit: int) -> str:
    """A string the file supplied, as its words: `the file says: "…"`, on one line, clipped."""
    return file_says(value, max_length=limit)


def _declares(p: Provenance) -> str:
    """What the file declares, in a few words: the finding and what names it."""
    if p.finding == "ai_declared":
        # both names are ours: a generator from our table, a term of the IPTC vocabulary
        which = ", ".join(clip(x, 60) for x in (p.generator, p.digital_source_type) if x)
        return f"AI generation{f' ({which})' if which else ''}"
    if p.finding == "edited_declared":
        return f"editing{f' (software: {_file_text(p.software, 60)})' if p.software else ''}"
    if p.finding == "camera_declared":
        camera = _camera(p, 40)
        return f"a camera capture{f' ({camera})' if camera else ''}"
    return "nothing about its origin"


def _camera(p: Provenance, limit: int) -> str:
    """Make and model as a person says them, quoted as the file's words: `the file says: "Canon
    EOS R5"`, not "Canon Canon EOS R5" (EXIF models often repeat the make)."""
    if p.camera is None:
        return ""
    make, model = p.camera.make, p.camera.model
    if make and model and model.lower().startswith(make.lower()):
        make = None
    camera = " ".join(clean_line(x) for x in (make, model) if x)
    return _file_text(camera, 2 * limit) if camera else ""


def _signed(p: Provenance, *, short: bool = False) -> str | None:
    """The C2PA state in a phrase, or None without a manifest."""
    c2pa = p.c2pa
    if not c2pa.present:
        return None
    signer = f" ({_file_text(c2pa.signer, 60)})" if c2pa.signer else " (unnamed)"
    if c2pa.valid is True:
        if short:
            return (
                f"C2PA-signed, its signer{signer} {trust_phrase(c2pa)}: attributable to the signer, not proof"
            )
        return f"C2PA signature valid, its signer{signer} {trust_phrase(c2pa)}"
    if c2pa.valid is False:
        return "C2PA manifest does NOT verify (changed after signing, or damaged): it proves nothing"
    if any(e.startswith("C2PA present; cannot validate here") for e in c2pa.errors):
        return (
            "C2PA present; cannot validate here (verification is not available on this platform):"
            " unverified, it proves nothing"
        )
    return "C2PA manifest present but unreadable: unverified, it proves nothing"


def _unsigned(p: Provenance) -> bool:
    """Whether any declaration rests on unsigned metadata (EXIF, XMP, PNG text)."""
    from_c2pa = p.c2pa.present and p.digital_source_type == p.c2pa.digital_source_type
    return (
        p.camera is not None
        or (p.software is not None and p.finding != "none")
        or (p.digital_source_type is not None and not from_c2pa)
        or any(not e.startswith("c2pa") for e in p.generator_evidence)
    )


def _worth(p: Provenance) -> list[str]:
    """What the declaration is worth, said every time."""
    c2pa = p.c2pa
    worth: list[str] = []
    if c2pa.present and c2pa.valid is True:
        worth.append(
            "A valid C2PA signature makes the claim attributable to its signer, not true: "
            "anyone can sign with a certificate of their own."
        )
    elif c2pa.present:
        worth.append("A manifest that does not verify proves nothing.")
    if _unsigned(p):
        worth.append(_UNSIGNED)
    if p.finding == "none":
        worth.append(_ABSENT)
    return worth


def provenance_line(p: Provenance) -> str:
    """The report's one line on what the file declares (free, local), and what that is worth."""
    signed = _signed(p, short=True)
    if signed is None and p.finding == "none":
        state = "that says nothing either way"
    elif signed is None or (_unsigned(p) and not p.c2pa.valid):
        state = "unsigned metadata, forged or stripped in seconds: a lead, not proof"
    else:
        state = signed
    damaged = " Some metadata was unreadable." if p.errors else ""
    return f"Provenance (free, from the file itself): declares {_declares(p)}; {state}.{damaged}"


def render_provenance(p: Provenance) -> str:
    """check_provenance's text: the finding, each source of it, what it is worth, and the next
    step, within MAX_PROVENANCE_CHARS (the evidence list is cut first)."""
    text = ""
    for items, width in ((6, 160), (4, 120), (3, 90), (2, 70), (1, 60)):
        text = _render_provenance(p, items, width)
        if len(text) <= MAX_PROVENANCE_CHARS:
            return text
    return text[: MAX_PROVENANCE_CHARS - 1] + "…"


def _render_provenance(p: Provenance, items: int, width: int) -> str:
    name = f" of {named(p.source.name, max_length=80)}" if p.source and p.source.name else ""
    lines = [
        f"Provenance{name}: the file declares {_declares(p)} (finding: {p.finding}).",
        "Free and local: read from the file itself; nothing was sent to TruthScan, no credits spent.",
    ]
    signed = _signed(p)
    if signed is not None:
        c2pa = p.c2pa
        details = [
            f"claim generator ({_file_text(c2pa.claim_generator, 60)})" if c2pa.claim_generator else "",
            f"source type {clip(c2pa.digital_source_type, 60)}" if c2pa.digital_source_type else "",
            f"actions {_names(c2pa.actions, 4, 40)}" if c2pa.actions else "",
        ]
        extra = "; ".join(d for d in details if d)
        lines.append(f"{signed}{f'; {extra}' if extra else ''}.")
        if c2pa.errors:
            lines.append(f"C2PA errors: {_items([clean_line(e) for e in c2pa.errors], 2, width)}")
    else:
        lines.append("No C2PA manifest (Content Credentials).")
    if p.digital_source_type:
        lines.append(f"Digital source type: {clip(p.digital_source_type, 80)}")
    if p.generator:
        where = f" (found in {_names(p.generator_evidence, 3, 60)})" if p.generator_evidence else ""
        lines.append(f"Generator: {clip(p.generator, 60)}{where}")
    if p.camera is not None:
        camera = _camera(p, 60)
        lines.append(f"Camera: {camera}")
    if p.software:
        lines.append(f"Software: {_file_text(p.software, 80)}")
    if p.evidence:
        lines.append(f"Evidence: {_items([clean_line(e) for e in p.evidence], items, width)}")
    if p.errors:
        lines.append(f"Unreadable metadata: {_items([clean_line(e) for e in p.errors], 2, width)}")
    lines.append("What it is worth: " + " ".join(_worth(p)))
    lines.append(
        "Next step: detect_image judges the pixels themselves (spends credits; its report carries "
        "this same provenance)."
    )
    return "\n".join(lines)
