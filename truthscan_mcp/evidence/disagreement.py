"""When what a file declares and what TruthScan detects point opposite ways, saying so plainly.

Either alone can mislead: a camera's EXIF survives into AI edits and is forged in seconds, and
a detector's score is a probability that misses some images. When the two disagree, that is
the finding a fact-checker most needs to see, so every place a verdict is shown (the tool's
text and the evidence report) names the conflict instead of leaving a reader to notice it.
"""

from __future__ import annotations

from truthscan_mcp.models import DetectionReport, Provenance

_SYNTHETIC = frozenset({"Likely Synthetic", "Synthetic"})
_REAL = frozenset({"Real", "Likely Real"})


def _declared_how(provenance: Provenance) -> str:
    c2pa = provenance.c2pa
    if c2pa.present and c2pa.valid is True:
        return "in a valid C2PA signature"
    return "in unsigned metadata"


def disagreement(report: DetectionReport) -> str | None:
    """One plain sentence when the declaration and the detection disagree, else None."""
    provenance, tier, score = report.provenance, report.tier, report.ai_score
    if provenance is None or tier is None or score is None:
        return None
    scored = f"TruthScan scores it {score:.0f}/100 ({tier})"
    how = _declared_how(provenance)
    if provenance.finding == "camera_declared" and tier in _SYNTHETIC:
        return (
            f"Declaration and detection disagree: the file declares a camera capture ({how}), but "
            f"{scored}. Camera metadata can be forged or left over from an edit, and a score is not "
            "proof: weigh both before concluding."
        )
    if provenance.finding == "ai_declared" and tier in _REAL:
        return (
            f"Declaration and detection disagree: the file declares it was made by AI ({how}), but "
            f"{scored}. A detector can miss AI images; the declaration says who made the claim, "
            "not that it is true: weigh both before concluding."
        )
    return None
