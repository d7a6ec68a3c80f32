"""From a file's bytes to what it declares about its origin: one engine for the server and sandbox.

`examine` gathers everything (container metadata, XMP, C2PA) into an `Examination`;
`read_provenance` turns that into the public `Provenance` result. The sandbox's simulated
metadata stage builds its findings from the same `Examination`, so the simulator and
`check_provenance` can never disagree about a file.

Finding precedence: ai_declared > edited_declared > camera_declared > none (see
`ProvenanceFinding` in models.py for why). Every declaration counts towards the finding,
signed or not; what it is worth is said in the summary, never hidden in the finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from truthscan_mcp.models import (
    C2paInfo,
    CameraInfo,
    Provenance,
    ProvenanceFinding,
    ReportSource,
    TrustListInfo,
)
from truthscan_mcp.provenance.c2pa_reader import C2paRead, read_c2pa
from truthscan_mcp.provenance.containers import SCAN_WINDOW, RawMetadata, read_metadata
from truthscan_mcp.provenance.generators import (
    GENERATOR_KEYS,
    IPTC_TERMS,
    SETTINGS_LINE,
    SourceKind,
    editor_of,
    excerpt,
    first_tool,
    iptc_term,
    model_name,
    settings_line,
)
from truthscan_mcp.provenance.trust_list import TrustList, current_trust_list, given_anchors
from truthscan_mcp.provenance.xmp import XmpProperties, read_xmp
from truthscan_mcp.sanitize import clean_line, file_says, quoted

#: The longest quote of a file's words in one evidence line.
_QUOTE: Final = 120
#: Files above this are not read at all (the server accepts 10 MB; this bounds a direct caller).
MAX_INPUT: Final = 32 * 1024 * 1024
_MIME: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "HEIC": "image/heic",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
}
#: C2PA actions that mean the pixels were changed after creation or capture.
_EDIT_ACTIONS: Final = frozenset(
    {
        "c2pa.edited",
        "c2pa.color_adjustments",
        "c2pa.cropped",
        "c2pa.drawing",
        "c2pa.filtered",
        "c2pa.placed",
        "c2pa.removed",
    }
)


@dataclass(slots=True)
class Examination:
    """Everything one file's bytes say about its origin, before it is written up."""

    raw: RawMetadata
    xmp: XmpProperties
    c2pa: C2paRead | None
    #: Canonical names of AI tools found, in order of first evidence, and where each was found.
    generators: list[str] = field(default_factory=list[str])
    generator_evidence: list[str] = field(default_factory=list[str])
    #: One line per piece of AI evidence, for a person.
    ai_lines: list[str] = field(default_factory=list[str])
    evidence: list[str] = field(default_factory=list[str])
    generation_settings: str | None = None
    model_name: str | None = None
    digital_source_type: str | None = None
    source_type_origin: str | None = None
    software: str | None = None
    editor: str | None = None
    make: str | None = None
    model: str | None = None
    #: (where, key) of the text chunks read as generator parameters.
    consumed: set[tuple[str, str]] = field(default_factory=set[tuple[str, str]])

    @property
    def ai_claim(self) -> bool:
        """A provenance claim (C2PA or an IPTC source type) declares machine generation."""
        return self.source_kind == "ai" or any(e.startswith("c2pa") for e in self.generator_evidence)

    @property
    def source_kind(self) -> SourceKind | None:
        return IPTC_TERMS.get(self.digital_source_type or "")

    @property
    def finding(self) -> ProvenanceFinding:
        if self.generators or self.source_kind == "ai":
            return "ai_declared"
        edited_actions = self.c2pa is not None and bool(_EDIT_ACTIONS.intersection(self.c2pa.actions))
        if self.editor or self.source_kind == "edited" or edited_actions:
            return "edited_declared"
        if self.make or self.model or self.source_kind == "camera":
            return "camera_declared"
        return "none"

    def add_generator(self, name: str, line: str, where: str) -> None:
        if name not in self.generators:
            self.generators.append(name)
        entry = f"{where} ({name})"
        if entry not in self.generator_evidence:
            self.generator_evidence.append(entry)
        self.note_ai(line)

    def note_ai(self, line: str) -> None:
        if line not in self.ai_lines:
            self.ai_lines.append(line)
        self.note(line)

    def note(self, line: str) -> None:
        if line not in self.evidence and len(self.evidence) < 24:
            self.evidence.append(line)


def examine(data: bytes, *, media_type: str | None = None, trust_anchors: str | None = None) -> Examination:
    """Everything the file declares; never raises, bounded in time and memory by the caps."""
    if len(data) > MAX_INPUT:
        raw = RawMetadata()
        raw.error(f"File larger than {MAX_INPUT // (1024 * 1024)} MiB: metadata not read")
        return Examination(raw=raw, xmp=XmpProperties(), c2pa=None)
    raw = read_metadata(data)
    found = Examination(raw=raw, xmp=read_xmp(raw.xmp), c2pa=None)
    _generator_chunks(found)
    _named_tools(found)
    if raw.jumbf:
        mime = _MIME.get(raw.format or "") or media_type
        found.c2pa = read_c2pa(
            data, media_type=mime, stores=[store for _, store in raw.jumbf], trust_anchors=trust_anchors
        )
        _c2pa_evidence(found, found.c2pa)
    _source_type(found)
    _camera_and_software(found)
    return found


def read_provenance(
    data: bytes,
    *,
    media_type: str | None,
    source: ReportSource | None,
    trust_anchors: str | None = None,
    trust: TrustList | None = None,
) -> Provenance:
    """What `data` declares about its origin, and what that is worth. Pure and synchronous.

    A C2PA signer is judged against `trust` (default: the current snapshot of the C2PA trust
    list, `trust_list.current_trust_list`), or against `trust_anchors` (PEM) when a caller
    passes its own; the answer names the list that judged it.
    """
    if trust is None:
        trust = given_anchors(trust_anchors) if trust_anchors else current_trust_list()
    found = examine(data, media_type=media_type, trust_anchors=trust.anchors_pem)
    c2pa = found.c2pa
    info = C2paInfo()
    if c2pa is not None:
        judged = c2pa.verified  # the reader ran: the chain was judged against `trust`
        info = C2paInfo(
            present=True,
            valid=c2pa.valid,
            trusted=c2pa.trusted if judged else None,
            trust_list=TrustListInfo(name=trust.name, date=trust.date, sha256=trust.sha256)
            if judged
            else None,
            claim_generator=_line(c2pa.claim_generator),
            signer=_line(c2pa.signer),
            digital_source_type=c2pa.digital_source_type,
            actions=[clean_line(action) for action in c2pa.actions],
            errors=[clean_line(error) for error in c2pa.errors],
        )
    # The file's strings stay data in these fields, each one line without controls; the texts
    # quote them as the file's words.
    camera = (
        CameraInfo(make=_line(found.make), model=_line(found.model)) if found.make or found.model else None
    )
    provenance = Provenance(
        finding=found.finding,
        c2pa=info,
        digital_source_type=found.digital_source_type,
        generator=found.generators[0] if found.generators else None,
        generator_evidence=[clean_line(where) for where in found.generator_evidence],
        camera=camera,
        software=_line(found.software),
        evidence=list(found.evidence),
        errors=[*found.raw.errors, *found.xmp.errors],
        source=source,
    )
    return provenance.model_copy(update={"summary": _summary(provenance)})


def _line(value: str | None) -> str | None:
    return clean_line(value) if value else value


# --- gathering -------------------------------------------------------------------------------


def _generator_chunks(found: Examination) -> None:
    """PNG text chunks that only generators write (AUTOMATIC1111 `parameters`, ComfyUI JSON)."""
    for where, key, value in found.raw.texts:
        lowered = key.lower()
        if lowered not in GENERATOR_KEYS or not value:
            continue
        if lowered == "parameters" and not SETTINGS_LINE.search(value):
            continue  # a `parameters` chunk without a settings line is not AUTOMATIC1111's
        if GENERATOR_KEYS[lowered] == "ComfyUI" and not value.lstrip().startswith("{"):
            continue  # ComfyUI stores JSON; free text under `prompt` proves nothing
        found.consumed.add((where, key))
        found.generation_settings = found.generation_settings or settings_line(value)
        found.model_name = found.model_name or model_name(value)
        name = (first_tool(value) if lowered == "parameters" else None) or GENERATOR_KEYS[lowered]
        found.add_generator(
            name, f"Generation parameters of {name} in {_describe(where)} {quoted(key)}", f"{where}:{key}"
        )


def _named_tools(found: Examination) -> None:
    """An AI tool named in any other text field, EXIF Software or the XMP tool properties."""
    for where, key, value in found.raw.texts:
        tool = None if (where, key) in found.consumed else first_tool(value)
        if tool:
            line = f"{tool} named in {_describe(where)} {quoted(key)}, {file_says(excerpt(value, tool))}"
            found.add_generator(tool, line, f"{where}:{key}")
    xmp = found.xmp
    named = [(k, xmp.values[k]) for k in ("CreatorTool", "Software") if k in xmp.values]
    named += [("History", agent) for agent in xmp.history]
    for key, value in named:
        tool = first_tool(value)
        if tool:
            line = f"{tool} named in XMP {key}, {file_says(excerpt(value, tool))}"
            found.add_generator(tool, line, f"xmp:{key}")


def _c2pa_evidence(found: Examination, c2pa: C2paRead) -> None:
    for where, value in [
        ("c2pa:claim_generator", c2pa.claim_generator or ""),
        *(("c2pa:softwareAgent", agent) for agent in c2pa.agents),
    ]:
        tool = first_tool(value)
        if tool:
            state = "" if c2pa.verified else " (unverified)"
            found.add_generator(tool, f"C2PA content credentials{state} name {tool} as the generator", where)
    if c2pa.verified:
        found.note(f"C2PA manifest: {_c2pa_state(c2pa)}")
    else:
        found.note(
            f"C2PA manifest present but not verified: {c2pa.errors[0] if c2pa.errors else 'unreadable'}"
        )


def _source_type(found: Examination) -> None:
    c2pa_term = found.c2pa.digital_source_type if found.c2pa else None
    xmp_term = iptc_term(found.xmp.values.get("DigitalSourceType"))
    for term, origin in ((c2pa_term, "c2pa"), (xmp_term, "xmp")):
        if term is None:
            continue
        if found.digital_source_type is None:
            found.digital_source_type, found.source_type_origin = term, origin
        where = "C2PA content credentials" if origin == "c2pa" else "XMP (unsigned) IPTC DigitalSourceType"
        line = f"{where} declare{'s' if origin == 'xmp' else ''} the source type {term}"
        if IPTC_TERMS[term] == "ai":
            found.note_ai(f"{line}: made by AI")
        else:
            found.note(line)


def _camera_and_software(found: Examination) -> None:
    exif, xmp = found.raw.exif, found.xmp.values
    found.make = exif.get("Make") or xmp.get("Make")
    found.model = exif.get("Model") or xmp.get("Model")
    software = exif.get("Software") or _text_value(found.raw, "software")
    creator = xmp.get("CreatorTool") or xmp.get("Software")
    found.software = software or creator
    found.editor = (
        editor_of(software)
        or editor_of(creator)
        or next(filter(None, map(editor_of, found.xmp.history)), None)
    )
    if found.editor:
        said = file_says(found.software or found.editor, max_length=_QUOTE)
        found.note(f"Edited with {found.editor} (software, {said})")
    if found.make or found.model:
        said = file_says(camera_name(found.make, found.model), max_length=_QUOTE)
        found.note(f"Camera named in EXIF (unsigned), {said}")
    for where, key, _ in found.raw.texts:
        if (where, key) not in found.consumed and key.lower() in GENERATOR_KEYS:
            found.note(f"{_describe(where)} {quoted(key)} present but not a generator's format")


def camera_name(make: str | None, model: str | None) -> str:
    """`Make Model` without repeating the make when the model already names it."""
    if make and model:
        return model if model.lower().startswith(make.lower()) else f"{make} {model}"
    return make or model or ""


def _text_value(raw: RawMetadata, key: str) -> str | None:
    return next((value for _, k, value in raw.texts if k.lower() == key and value), None)


def _describe(where: str) -> str:
    kind = where.split(":", 1)[0]
    return {"png": "PNG text chunk", "exif": "EXIF", "xmp": "XMP metadata", "jpeg": "JPEG comment"}.get(
        kind, where
    )


def _c2pa_state(c2pa: C2paRead) -> str:
    signer = _signer(c2pa.signer)
    if c2pa.valid is False:
        reason = c2pa.errors[0] if c2pa.errors else "verification failed"
        return f"does NOT verify ({reason}); its signer: {signer}"
    if c2pa.trusted:
        return f"signature valid, its signer on the trust list: {signer}"
    return f"signature valid, its signer not on the trust list: {signer}"


# --- the text --------------------------------------------------------------------------------


def trust_phrase(c2pa: C2paInfo) -> str:
    """ "on the C2PA trust list (snapshot of 2026-08-14)" or "not on it": the list is named with
    its date, because a signer added after the snapshot is "not on it" until the list is updated."""
    listed = c2pa.trust_list
    name = "trust list" if listed is None else listed.name
    if listed is not None and listed.date:
        name = f"{listed.name} (snapshot of {listed.date})"
    if c2pa.trusted is None:
        return "not judged against a trust list (the C2PA reader could not run)"
    return f"on the {name}" if c2pa.trusted else f"not on the {name}"


_UNSIGNED: Final = (
    "Unsigned metadata (EXIF, XMP, PNG text) is forged or stripped in seconds: a lead, not proof."
)
_ABSENT: Final = (
    "Absence of provenance says nothing: most images, real or AI-made, lose their metadata when shared."
)


def _signer(signer: str | None) -> str:
    """The signer a manifest names, as the file's words (a certificate says whatever its maker
    put in it)."""
    return file_says(signer, max_length=80) if signer else "unnamed"


def _summary(p: Provenance) -> str:
    """What the file declares and what that is worth, in a few plain sentences; every string
    the file supplied is quoted as its words (the generator and the source type are names of
    ours: a generator from our table, a term of the IPTC vocabulary)."""
    term = f" ({p.digital_source_type})" if p.digital_source_type else ""
    if p.finding == "ai_declared":
        named = ", ".join(filter(None, (p.generator, p.digital_source_type)))
        head = f"Provenance: the file declares it was made by AI{f' ({named})' if named else ''}."
    elif p.finding == "edited_declared":
        tool = f" (software, {file_says(p.software, max_length=80)})" if p.software else ""
        head = f"Provenance: the file declares it was edited{tool}{term}."
    elif p.finding == "camera_declared":
        camera = camera_name(p.camera.make, p.camera.model) if p.camera else ""
        camera = f" ({file_says(camera, max_length=80)})" if camera else ""
        head = f"Provenance: the file declares a camera capture{camera}{term}."
    else:
        head = "Provenance: the file declares nothing about its origin."
    parts = [head]
    c2pa = p.c2pa
    signer = _signer(c2pa.signer)
    signed_claim = False
    if c2pa.present and c2pa.valid is True:
        signed_claim = True
        listed = trust_phrase(c2pa)
        if c2pa.trusted:
            parts.append(
                f"Its C2PA signature is valid and its signer ({signer}) is {listed}: the claim is "
                "attributable to that signer, which makes it their claim, not a proven fact."
            )
        else:
            parts.append(
                f"Its C2PA signature is valid but its signer ({signer}) is {listed}: the claim is "
                "attributable to whoever holds that certificate, not proven true."
            )
    elif c2pa.present and c2pa.valid is False:
        reason = c2pa.errors[0] if c2pa.errors else "verification failed"
        parts.append(
            f"Its C2PA manifest does NOT verify ({reason}): the file was changed after signing or the "
            "manifest is damaged, so it proves nothing."
        )
    elif c2pa.present:
        reason = c2pa.errors[0] if c2pa.errors else "unreadable"
        parts.append(f"It carries a C2PA manifest that could not be verified here ({reason}).")
    unsigned = bool(p.generator_evidence and not all(e.startswith("c2pa") for e in p.generator_evidence))
    unsigned = unsigned or p.camera is not None or (p.software is not None and p.finding != "none")
    unsigned = unsigned or (p.digital_source_type is not None and not signed_claim)
    if p.finding == "none" and not c2pa.present:
        parts.append(_ABSENT)
    elif unsigned or not signed_claim:
        parts.append(_UNSIGNED)
    if p.evidence:
        parts.append("Evidence: " + "; ".join(p.evidence[:3]) + ".")
    if p.errors:
        parts.append(f"Unreadable metadata: {p.errors[0]}.")
    return " ".join(parts)


__all__ = [
    "MAX_INPUT",
    "SCAN_WINDOW",
    "Examination",
    "camera_name",
    "examine",
    "read_provenance",
    "trust_phrase",
]
