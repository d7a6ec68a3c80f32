"""Typed shapes at every boundary: what TruthScan answers, and what we report.

TruthScan's answers come in several dialects (the nested schema, the older flat one, camelCase
or snake_case analysis fields, confidence as a number or a word, lists or objects). The
`parse_*` functions here absorb all of them into one normalised `ApiDocument`, so nothing
above this module ever branches on the dialect. Anything that cannot be read raises
`UnexpectedResponseError`, never a bare `KeyError`/`ValidationError`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from truthscan_mcp.errors import UnavailableError

Status = Literal["pending", "analyzing", "done", "failed"]
AnalysisStatus = Literal["pending", "done", "skipped", "failed", "not_requested"]
ConfidenceBand = Literal["low", "medium", "high"]
SourceKind = Literal["path", "url", "data", "id"]


class UnexpectedResponseError(UnavailableError):
    """TruthScan answered something we cannot read (not JSON, wrong shape)."""

    code = "unexpected_response"


# --- public result models -------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signal(_Model):
    """One detector's opinion: a label and a score (0–100 for the ML model)."""

    label: str | None = Field(default=None, description="What the detector concluded or found.")
    score: float | None = Field(default=None, description="The detector's score, as TruthScan gives it.")


class Signals(_Model):
    metadata: list[str] = Field(default_factory=list, description="What the image's metadata revealed.")
    ocr: Signal | None = Field(default=None, description="Watermark/text detection.")
    ml_model: Signal | None = Field(default=None, description="The ML classifier's label and score.")


class Analysis(_Model):
    """TruthScan's deep-analysis reasoning: why the verdict is what it is."""

    agreement: str | None = Field(default=None, description="How strongly the detectors agree.")
    confidence: float | None = Field(default=None, description="Analysis confidence, 0–100.")
    key_indicators: list[str] = Field(default_factory=list)
    reasoning: str | None = Field(default=None, description="The detailed reasoning, in prose.")
    visual_patterns: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class ReportSource(_Model):
    kind: SourceKind
    name: str | None = None
    media_type: str | None = None
    bytes: int | None = None
    sha256: str | None = None


class DetectionReport(_Model):
    """The one answer to "is this image AI-generated, and why?"."""

    id: str | None = Field(description="TruthScan document id; pass it to get_result.")
    status: Status = Field(description="Processing status at TruthScan.")
    complete: bool = Field(description="True when the verdict and everything requested has settled.")
    verdict: str | None = Field(default=None, description="TruthScan's final_result, e.g. 'AI Generated'.")
    ai_score: float | None = Field(default=None, description="0–100; higher = more likely AI-generated.")
    confidence: float | None = Field(default=None, description="0–100, when TruthScan gives a number.")
    confidence_band: ConfidenceBand | None = None
    detection_step: int | None = Field(default=None, description="1 metadata, 2 +OCR, 3 +ML model.")
    signals: Signals = Field(default_factory=Signals)
    analysis_status: AnalysisStatus = "not_requested"
    analysis: Analysis | None = None
    heatmap_status: str | None = None
    heatmap_url: str | None = None
    preview_url: str | None = None
    source: ReportSource
    cached: bool = False
    simulated: bool = False
    elapsed_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    next_step: str | None = None
    #: Why TruthScan could not process the image, when it could not: internal (callers such as
    #: the batch read it instead of searching the warnings), so kept out of every dump and schema.
    failure_reason: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class Credits(_Model):
    base_credits: int = Field(description="Credits of the plan.")
    boost_credits: int = Field(description="Extra purchased credits.")
    credits: int = Field(description="Total credits available.")
    simulated: bool = False


class Health(_Model):
    status: str | None = Field(description="TruthScan's reported status, e.g. 'healthy'.")
    timestamp: str | None = None
    reachable: bool
    latency_ms: float | None = None
    api_key_configured: bool
    sandbox: bool
    server_version: str
    error: str | None = Field(default=None, description="Why TruthScan could not be reached.")


# --- the normalised API document --------------------------------------------------------------


class ApiDocument(BaseModel):
    """A /query answer in one dialect-free shape. Internal: not part of the contract."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    status: Status = "pending"
    raw_status: str | None = None
    ai_score: float | None = None
    verdict: str | None = None
    confidence: float | None = None
    confidence_band: ConfidenceBand | None = None
    detection_step: int | None = None
    signals: Signals = Field(default_factory=Signals)
    #: the API's own analysis status, normalised: pending/done/skipped/failed, or None (absent)
    analysis_status: Literal["pending", "done", "skipped", "failed"] | None = None
    analysis: Analysis | None = None
    heatmap_status: str | None = None
    heatmap_url: str | None = None
    preview_url: str | None = None
    error_message: str | None = None
    api_warnings: list[str] = Field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _percent(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    return round(min(100.0, max(0.0, number)), 4)


def _text(value: Any, limit: int = 4000) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int | float | bool):
        text = str(value)
    else:
        return None
    if not text or text.lower() in {"null", "none"}:
        return None
    return text[:limit]


def _texts(value: Any, limit: int = 20) -> list[str]:
    if value is None:
        return []
    items: list[Any]
    if isinstance(value, list):
        items = list(value)  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(value, dict):
        items = [f"{k}: {v}" for k, v in value.items()]  # pyright: ignore[reportUnknownVariableType]
    else:
        items = [value]
    out: list[str] = []
    for item in items:
        text = _text(item, 1000)
        if text is None and isinstance(item, dict | list):
            text = str(item)[:1000]  # pyright: ignore[reportUnknownArgumentType]
        if text:
            out.append(text)
    return out[:limit]


def band_of(confidence: float | None) -> ConfidenceBand | None:
    """Bands for a 0–100 confidence: what a reader should make of the number."""
    if confidence is None:
        return None
    if confidence >= 80:
        return "high"
    if confidence >= 55:
        return "medium"
    return "low"


def _band_word(value: Any) -> ConfidenceBand | None:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("low", "medium", "high"):
            return word  # type: ignore[return-value]
        if word in ("very high", "very_high"):
            return "high"
        if word in ("very low", "very_low"):
            return "low"
        if word in ("moderate",):
            return "medium"
    return None


def _signal(value: Any) -> Signal | None:
    """`[label, score]` (nested schema), `{text, confidence}` / `{label, score}` (flat), or a word."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        seq: list[Any] = list(value)  # pyright: ignore[reportUnknownArgumentType]
        label = _text(seq[0], 500) if seq else None
        score = _number(seq[1]) if len(seq) > 1 else None
        if label is None and score is None:
            return None
        return Signal(label=label, score=score)
    if isinstance(value, dict):
        obj: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        label = _text(
            obj.get("label") or obj.get("text") or obj.get("result") or obj.get("final_result"), 500
        )
        score = _number(obj.get("score") if obj.get("score") is not None else obj.get("confidence"))
        if label is None and score is None:
            return None
        return Signal(label=label, score=score)
    label = _text(value, 500)
    return Signal(label=label) if label else None


def _first(*candidates: tuple[dict[str, Any], str]) -> Any:
    for mapping, key in candidates:
        if key in mapping and mapping[key] is not None:
            return mapping[key]
    return None


def _analysis(value: Any) -> Analysis | None:
    if not isinstance(value, dict) or not value:
        return None
    obj: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]

    def pick(*keys: str) -> Any:
        return _first(*((obj, k) for k in keys))

    analysis = Analysis(
        agreement=_text(pick("agreement"), 200),
        confidence=_percent(pick("confidence")),
        key_indicators=_texts(pick("keyIndicators", "key_indicators", "indicators")),
        reasoning=_text(pick("detailedReasoning", "detailed_reasoning", "reasoning", "explanation"), 6000),
        visual_patterns=_texts(pick("visualPatterns", "visual_patterns")),
        recommendations=_texts(pick("recommendations")),
    )
    if analysis == Analysis():
        return None
    return analysis


_STATUS: dict[str, Status] = {
    "pending": "pending",
    "queued": "pending",
    "processing": "analyzing",
    "analyzing": "analyzing",
    "done": "done",
    "completed": "done",
    "complete": "done",
    "failed": "failed",
    "error": "failed",
}
_ANALYSIS: dict[str, Literal["pending", "done", "skipped", "failed"]] = {
    "pending": "pending",
    "analyzing": "pending",
    "processing": "pending",
    "queued": "pending",
    "done": "done",
    "ready": "done",
    "completed": "done",
    "skipped": "skipped",
    "not_requested": "skipped",
    "unsupported": "skipped",
    "failed": "failed",
    "error": "failed",
}
_HEATMAP = {
    "pending": "pending",
    "processing": "pending",
    "ready": "ready",
    "done": "ready",
    "failed": "failed",
}


def parse_document(raw: Any, *, queried_id: str | None = None) -> ApiDocument | None:
    """Read a /query answer. `None` (JSON null) means TruthScan does not know the id."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise UnexpectedResponseError(
            f"TruthScan answered /query with a {type(raw).__name__} instead of a document. "
            "This is usually transient: try get_result again in a moment."
        )
    top: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    details_raw = top.get("result_details")
    details: dict[str, Any] = details_raw if isinstance(details_raw, dict) else {}  # pyright: ignore[reportUnknownVariableType]

    def pick(key: str) -> Any:
        return _first((details, key), (top, key))

    raw_status = _text(top.get("status"), 50)
    status: Status = _STATUS.get(raw_status.lower(), "pending") if raw_status else "pending"
    warnings: list[str] = []
    if raw_status and raw_status.lower() not in _STATUS:
        warnings.append(f"TruthScan reported an unknown status {raw_status!r}; treated as still processing.")

    confidence_raw = pick("confidence")
    confidence = _percent(confidence_raw)
    band = _band_word(confidence_raw) or band_of(confidence)

    step_raw = _number(pick("detection_step"))
    step = int(step_raw) if step_raw is not None and 1 <= step_raw <= 3 else None

    # Eight lines say all a reader needs; a long tail only costs tokens (bench/tokens.py).
    metadata = _texts(pick("metadata"), 8)
    signals = Signals(metadata=metadata, ocr=_signal(pick("ocr")), ml_model=_signal(pick("ml_model")))

    analysis_raw = _first((details, "analysis_results_status"), (top, "analysis_results_status"))
    analysis_status = None
    if analysis_raw is not None:
        word = str(analysis_raw).strip().lower()
        analysis_status = _ANALYSIS.get(word, "pending")
        if word not in _ANALYSIS:
            warnings.append(f"TruthScan reported an unknown analysis status {word!r}.")
    analysis = _analysis(_first((details, "analysis_results"), (top, "analysis_results")))
    if analysis is not None and analysis_status in (None, "pending"):
        analysis_status = "done"

    heat_raw = _text(pick("heatmap_status"), 50)
    heatmap_status = _HEATMAP.get(heat_raw.lower(), heat_raw.lower()) if heat_raw else None
    heatmap_url = _url(pick("heatmap_url"))
    if heatmap_url and heatmap_status is None:
        heatmap_status = "ready"

    for item in _as_list(top.get("warnings")):
        if isinstance(item, dict):
            w: dict[str, Any] = item  # pyright: ignore[reportUnknownVariableType]
            label = _text(w.get("label") or w.get("message") or w.get("type"), 300)
            if label:
                warnings.append(f"TruthScan: {label}")
        elif (text := _text(item, 300)) is not None:
            warnings.append(f"TruthScan: {text}")

    doc_id = _text(top.get("id"), 100) or queried_id
    return ApiDocument(
        id=doc_id,
        status=status,
        raw_status=raw_status,
        ai_score=_percent(top.get("result")),
        verdict=_text(pick("final_result"), 200),
        confidence=confidence,
        confidence_band=band,
        detection_step=step,
        signals=signals,
        analysis_status=analysis_status,
        analysis=analysis,
        heatmap_status=heatmap_status,
        heatmap_url=heatmap_url,
        preview_url=_url(top.get("preview_url")) or _url(details.get("preview_url")),
        error_message=_text(pick("error_message") or pick("error"), 500),
        api_warnings=warnings,
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []  # pyright: ignore[reportUnknownArgumentType]


def _url(value: Any) -> str | None:
    text = _text(value, 4000)
    if text and text.startswith(("http://", "https://")):
        return text
    return None


def parse_credits(raw: Any) -> Credits:
    if not isinstance(raw, dict):
        raise UnexpectedResponseError(
            "TruthScan answered /check-user-credits with something other than a credits object. "
            "Try check_credits again in a moment."
        )
    obj: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    base = _number(_first((obj, "baseCredits"), (obj, "base_credits")))
    boost = _number(_first((obj, "boostCredits"), (obj, "boost_credits")))
    total = _number(obj.get("credits"))
    if base is None and boost is None and total is None:
        raise UnexpectedResponseError(
            "TruthScan's credits answer had no credit figures. Try check_credits again in a moment."
        )
    base_i = int(base or 0)
    boost_i = int(boost or 0)
    total_i = int(total) if total is not None else base_i + boost_i
    return Credits(base_credits=base_i, boost_credits=boost_i, credits=total_i)


def parse_detect(raw: Any) -> str:
    """The id of an accepted submission."""
    if isinstance(raw, dict):
        obj: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        doc_id = _text(obj.get("id") or obj.get("document_id"), 100)
        if doc_id:
            return doc_id
    raise UnexpectedResponseError(
        "TruthScan accepted the submission but its answer carried no document id, so the result "
        "cannot be fetched. It was not resubmitted, to avoid paying twice; run check_credits to "
        "see whether a credit was spent, then try again."
    )


def parse_presign(raw: Any) -> tuple[str, str]:
    """(presigned_url, file_path) of a presign answer."""
    if isinstance(raw, dict):
        obj: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        url = _url(obj.get("presigned_url") or obj.get("url"))
        path = _text(obj.get("file_path"), 2000)
        if url and path:
            return url, path.lstrip("/")
    raise UnexpectedResponseError(
        "TruthScan's upload-URL answer was missing presigned_url or file_path. "
        "Nothing was charged; try again in a moment."
    )


# --- a batch (`detect_images`) -----------------------------------------------------------------


class BatchRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The path or URL as given (or as found in the directory).")
    name: str | None = Field(default=None, description="The image's file name or URL, for display.")
    verdict: str | None = None
    ai_score: float | None = None
    confidence_band: ConfidenceBand | None = None
    id: str | None = Field(default=None, description="TruthScan document id; get_result takes it.")
    complete: bool = False
    cached: bool = Field(default=False, description="Answered without spending credits.")
    duplicate_of: str | None = Field(default=None, description="An earlier input with the same bytes.")
    error: str | None = Field(default=None, description="Why this image has no verdict.")


class BatchSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    complete: int
    incomplete: int
    errors: int
    verdicts: dict[str, int] = Field(description="How many images got each verdict.")
    detections_paid: int = Field(description="New TruthScan detections submitted by this batch.")
    credits_spent: int | None = Field(description="Credits before minus after, when both were read.")
    cached: int = Field(description="Images answered from the cache or as duplicates, for free.")


class BatchResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[BatchRow]
    summary: BatchSummary
    simulated: bool = False
    elapsed_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    next_step: str | None = None
