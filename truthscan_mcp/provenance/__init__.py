"""What an image file declares about its origin — C2PA, XMP, EXIF, PNG text — read locally.

The entry point is `read_provenance`: pure, synchronous and bounded (callers run it in a
worker thread). It never sends anything anywhere and never trusts what the file says beyond
reporting it. The c2pa library is imported only when a file carries a manifest.
"""

from truthscan_mcp.provenance.engine import MAX_INPUT, Examination, examine, read_provenance

__all__ = ["MAX_INPUT", "Examination", "examine", "read_provenance"]
