"""TruthScan's wire dialect: its answers, read tolerantly into one normalised shape.

TruthScan's answers come in several dialects (the nested schema, the older flat one, camelCase
or snake_case analysis fields, confidence as a number or a word, lists or objects). The
`parse_*` functions here absorb all of them into one normalised `ApiDocument`, so nothing
above this module ever branches on the dialect. Anything that cannot be read raises
`UnexpectedResponseError`, never a bare `KeyError`/`ValidationError`.

Every string is cleaned on its way in (`truthscan_mcp.sanitize`): no control character or
escape sequence from an answer reaches a report, so neither the model's text, the structured
content, the cache nor a terminal ever holds one. Only the reasoning keeps its line breaks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from truthscan_mcp.errors import UnexpectedResponseError
from truthscan_mcp.models import Analysis, ConfidenceBand, Credits, Signal, Signals, Status
from truthscan_mcp.sanitize import clean_text, clean_url, truthscan_says

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

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


def _text(value: Any, limit: int = 4000, *, multiline: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = clean_text(value[: limit * 2], multiline=multiline)
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
            text = clean_text(str(item)[:1000])  # pyright: ignore[reportUnknownArgumentType]
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
        reasoning=_text(
            pick("detailedReasoning", "detailed_reasoning", "reasoning", "explanation"), 6000, multiline=True
        ),
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
    warnings = _status_warnings(raw_status)

    confidence_raw = pick("confidence")
    confidence = _percent(confidence_raw)
    band = _band_word(confidence_raw) or band_of(confidence)

    step = _step(pick("detection_step"))

    # Eight lines say all a reader needs; a long tail only costs tokens (bench/tokens.py).
    metadata = _texts(pick("metadata"), 8)
    signals = Signals(metadata=metadata, ocr=_signal(pick("ocr")), ml_model=_signal(pick("ml_model")))

    analysis_raw = _first((details, "analysis_results_status"), (top, "analysis_results_status"))
    analysis_status = _analysis_status(analysis_raw, warnings)
    analysis = _analysis(_first((details, "analysis_results"), (top, "analysis_results")))
    if analysis is not None and analysis_status in (None, "pending"):
        analysis_status = "done"

    heatmap_url = _url(pick("heatmap_url"))
    heatmap_status = _heatmap_status(pick("heatmap_status"), heatmap_url)

    warnings.extend(_listed_warnings(top.get("warnings")))

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


def _step(raw: Any) -> int | None:
    """Which of TruthScan's three stages decided (1-3); anything else is not said."""
    step = _number(raw)
    return int(step) if step is not None and 1 <= step <= 3 else None


def _heatmap_status(raw: Any, url: str | None) -> str | None:
    """The heatmap's state in our words; a URL without a state means it is ready."""
    word = _text(raw, 50)
    status = _HEATMAP.get(word.lower(), word.lower()) if word else None
    return "ready" if url and status is None else status


def _status_warnings(raw_status: str | None) -> list[str]:
    if raw_status and raw_status.lower() not in _STATUS:
        said = truthscan_says(raw_status)
        return [f"TruthScan reported an unknown status ({said}); treated as still processing."]
    return []


def _analysis_status(raw: Any, warnings: list[str]) -> Literal["pending", "done", "skipped", "failed"] | None:
    """The deep analysis's state; a word TruthScan never documented is pending, and said so."""
    if raw is None:
        return None
    word = str(raw).strip().lower()
    if word not in _ANALYSIS:
        warnings.append(f"TruthScan reported an unknown analysis status ({truthscan_says(word)}).")
    return _ANALYSIS.get(word, "pending")


def _listed_warnings(raw: Any) -> list[str]:
    """The document's own warnings, each quoted as TruthScan's words."""
    warnings: list[str] = []
    for item in _as_list(raw):
        if isinstance(item, dict):
            w: dict[str, Any] = item  # pyright: ignore[reportUnknownVariableType]
            label = _text(w.get("label") or w.get("message") or w.get("type"), 300)
            if label:
                warnings.append(truthscan_says(label))
        elif (text := _text(item, 300)) is not None:
            warnings.append(truthscan_says(text))
    return warnings


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []  # pyright: ignore[reportUnknownArgumentType]


def _url(value: Any) -> str | None:
    text = _text(value, 4000)
    if text and text.startswith(("http://", "https://")):
        return clean_url(text)
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
    """The id of an accepted submission, which must be a UUID (lower-cased).

    An id is sent back in every /query and shown as what to pass to get_result: one that is no
    UUID (a path escape, a 2 KB string) is refused here, before it goes anywhere, with the
    warning that the credit may be spent all the same.
    """
    if isinstance(raw, dict):
        obj: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        value = obj.get("id") or obj.get("document_id")
        if isinstance(value, str) and _UUID.fullmatch(value.strip()):
            return value.strip().lower()
        if value is not None:
            shown = clean_text(str(value))  # pyright: ignore[reportUnknownArgumentType]
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise UnexpectedResponseError(
                f"TruthScan accepted the submission but answered with an id that is not a UUID "
                f"({shown!r}), so it was not used to fetch the result. A credit may have been spent: "
                "run check_credits to see, and report this to TruthScan support if it happens again."
            )
    raise UnexpectedResponseError(
        "TruthScan accepted the submission but its answer carried no document id, so the result "
        "cannot be fetched. It was not resubmitted, to avoid paying twice; run check_credits to "
        "see whether a credit was spent, then try again."
    )


@dataclass(frozen=True)
class Presigned:
    """Where to upload (a presigned URL) and the path TruthScan will know the file by."""

    url: str
    file_path: str


def parse_presign(raw: Any) -> Presigned:
    """The presigned URL and file path of a presign answer."""
    if isinstance(raw, dict):
        obj: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        url = _url(obj.get("presigned_url") or obj.get("url"))
        path = _text(obj.get("file_path"), 2000)
        if url and path:
            return Presigned(url=url, file_path=path.lstrip("/"))
    raise UnexpectedResponseError(
        "TruthScan's upload-URL answer was missing presigned_url or file_path. "
        "Nothing was charged; try again in a moment."
    )
