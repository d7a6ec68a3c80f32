"""A detection document, and how it looks to `/query` at any moment of its life.

The real service processes asynchronously and a client only ever sees snapshots; what a
client must cope with is the sequence of snapshots (pending → analyzing → done, deep analysis
and heatmap settling later, or failure). Computing each snapshot lazily from the time since
creation reproduces that sequence exactly, with no background task to manage or leak.
"""

from __future__ import annotations

from dataclasses import dataclass

from truthscan_mcp.sandbox.verdict import Verdict

Json = dict[str, object]


@dataclass(frozen=True, slots=True)
class Timings:
    """Copied from the config at creation, so later config changes never rewrite history."""

    processing: float
    analysis: float
    heatmap: float


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    created_at: float
    timings: Timings
    #: None when processing is bound to fail (see `error_message`).
    verdict: Verdict | None
    error_message: str | None
    generate_preview: bool
    generate_analysis: bool
    #: Fault marks: "processing_failed", "analysis_failed", "heatmap_failed", "flat_schema".
    marks: frozenset[str]
    upload_path: str | None

    def status(self, now: float) -> str:
        age = now - self.created_at
        if age < self.timings.processing / 3:
            return "pending"
        if self.verdict is None:
            return "failed"  # a missing or unusable upload is noticed as soon as work starts
        if age < self.timings.processing:
            return "analyzing"
        return "failed" if "processing_failed" in self.marks else "done"

    def has_heatmap(self) -> bool:
        return self.verdict is not None and self.verdict.score >= 20

    def heatmap_status(self, now: float) -> str:
        if now - self.created_at < self.timings.processing + self.timings.heatmap:
            return "pending"
        return "failed" if "heatmap_failed" in self.marks else "ready"

    def analysis_status(self, now: float) -> str:
        if not self.generate_analysis:
            return "skipped"
        if now - self.created_at < self.timings.processing + self.timings.analysis:
            return "pending"
        return "failed" if "analysis_failed" in self.marks else "done"

    def heatmap_ready(self, now: float) -> bool:
        return self.status(now) == "done" and self.has_heatmap() and self.heatmap_status(now) == "ready"

    def failure_message(self) -> str:
        return self.error_message or "Processing failed (simulated fault)"


def heatmap_url(base_url: str, document_id: str) -> str:
    return f"{base_url}/storage/heatmaps/{document_id}.png"


def preview_url(base_url: str, document_id: str) -> str:
    return f"{base_url}/storage/previews/{document_id}.png"


def render(doc: Document, *, now: float, base_url: str, flat: bool) -> Json:
    """The `/query` answer for `doc` at time `now`, in the nested or the older flat schema."""
    status = doc.status(now)
    if status in ("pending", "failed") or doc.verdict is None:
        body: Json = {"id": doc.id, "status": status, "result": None}
        if not flat:
            body["result_details"] = None
        if status == "failed":
            body["error_message"] = doc.failure_message()
        return _finish(body)
    verdict = doc.verdict
    if flat:
        return _finish(_render_flat(doc, verdict, status, base_url))
    if status == "analyzing":
        details: Json = {
            "is_valid": True,
            "detection_step": 1,
            "metadata": list(verdict.metadata),
            "metadata_basic_source": verdict.metadata_basic_source,
        }
        return _finish({"id": doc.id, "status": status, "result": None, "result_details": details})
    details = {
        "is_valid": True,
        "detection_step": verdict.detection_step,
        "final_result": verdict.final_result,
        "metadata": list(verdict.metadata),
        "metadata_basic_source": verdict.metadata_basic_source,
        "ocr": list(verdict.ocr),
        "ml_model": [verdict.ml_label, verdict.score],
        "confidence": verdict.confidence,
    }
    if doc.has_heatmap():
        heatmap = doc.heatmap_status(now)
        details["heatmap_status"] = heatmap
        details["heatmap_url"] = heatmap_url(base_url, doc.id) if heatmap == "ready" else None
    analysis = doc.analysis_status(now)
    details["analysis_results_status"] = analysis
    details["analysis_results"] = verdict.analysis.as_json() if analysis == "done" else None
    body = {"id": doc.id, "status": status, "result": verdict.score, "result_details": details}
    if doc.generate_preview:
        body["preview_url"] = preview_url(base_url, doc.id)
    return _finish(body)


def _render_flat(doc: Document, verdict: Verdict, status: str, base_url: str) -> Json:
    if status == "analyzing":
        return {"id": doc.id, "status": status, "result": None}
    findings = verdict.findings
    body: Json = {
        "id": doc.id,
        "status": status,
        "result": verdict.score,
        "final_result": verdict.flat_final_result,
        "confidence": verdict.confidence_word,
        "detection_step": verdict.detection_step,
        "metadata": {
            "width": findings.width,
            "height": findings.height,
            "format": findings.format,
            "size": findings.size,
        },
        "ocr": {"text": "", "confidence": verdict.ocr[1]},
    }
    if doc.generate_preview:
        body["preview_url"] = preview_url(base_url, doc.id)
    return body


def _finish(body: Json) -> Json:
    body["simulated"] = True
    return body
