"""Reading the few XMP properties that speak about an image's origin, from hostile packets.

XMP is RDF/XML, so it is parsed as XML — a regex would be fooled by attribute-vs-element
forms, namespaces and `rdf:Alt` lists — but through `defusedxml` with DTDs forbidden, so
no entity is ever declared, let alone expanded (billion laughs, external entities). The
packet size, element count and nesting depth are capped; past a cap, or on malformed XML,
the packet yields an error line instead of properties.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from truthscan_mcp.provenance.containers import XMP_MAX

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

_MAX_DEPTH: Final = 64
_MAX_ELEMENTS: Final = 20_000
_MAX_VALUE: Final = 300

_IPTC_EXT: Final = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_XMP: Final = "http://ns.adobe.com/xap/1.0/"
_TIFF: Final = "http://ns.adobe.com/tiff/1.0/"
_EXIF_AUX: Final = "http://ns.adobe.com/exif/1.0/aux/"
_ST_EVT: Final = "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
_RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

#: Qualified names (ElementTree's `{namespace}local`) read, and the name they are reported as.
_WANTED: Final = {
    f"{{{_IPTC_EXT}}}DigitalSourceType": "DigitalSourceType",
    f"{{{_XMP}}}CreatorTool": "CreatorTool",
    f"{{{_TIFF}}}Software": "Software",
    f"{{{_TIFF}}}Make": "Make",
    f"{{{_TIFF}}}Model": "Model",
    f"{{{_EXIF_AUX}}}Lens": "Lens",
    f"{{{_ST_EVT}}}softwareAgent": "HistorySoftwareAgent",
}


@dataclass(slots=True)
class XmpProperties:
    """The origin-related properties of one or more XMP packets (first value of each wins)."""

    values: dict[str, str] = field(default_factory=dict[str, str])
    #: Every stEvt:softwareAgent of xmpMM:History, in order (the tools that saved the file).
    history: list[str] = field(default_factory=list[str])
    errors: list[str] = field(default_factory=list[str])

    def put(self, name: str, value: str) -> None:
        value = " ".join(value.split())[:_MAX_VALUE]
        if not value:
            return
        if name == "HistorySoftwareAgent":
            if value not in self.history and len(self.history) < 20:
                self.history.append(value)
        else:
            self.values.setdefault(name, value)


def read_xmp(packets: list[bytes]) -> XmpProperties:
    """The properties of every packet; a bad packet adds an error and nothing else."""
    found = XmpProperties()
    for packet in packets:
        _read_packet(packet, found)
    return found


def _read_packet(packet: bytes, found: XmpProperties) -> None:
    # Imported here: most images carry no XMP, and the XML stack is a third of this package's
    # import time.
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    if len(packet) > XMP_MAX:
        found.errors.append(f"XMP packet larger than {XMP_MAX // 1024} KiB: not read")
        return
    start, end = packet.find(b"<"), packet.rfind(b">")
    if start < 0 or end < start:
        found.errors.append("XMP packet holds no XML: not read")
        return
    depth = elements = 0
    try:
        for event, element in iterparse(
            io.BytesIO(packet[start : end + 1]), events=("start", "end"), forbid_dtd=True
        ):
            if event == "start":
                depth += 1
                elements += 1
                if depth > _MAX_DEPTH or elements > _MAX_ELEMENTS:
                    found.errors.append("XMP packet nested too deep or too large: read no further")
                    return
                _attributes(element, found)
            else:
                depth -= 1
                name = _WANTED.get(element.tag)
                if name:
                    found.put(name, _text_of(element))
    except DefusedXmlException:
        found.errors.append("XMP packet declares a DTD or entities (refused, never expanded)")
    except ParseError as exc:
        found.errors.append(f"XMP packet is not well-formed XML ({str(exc)[:80]})")


def _attributes(element: Element, found: XmpProperties) -> None:
    for key, value in element.attrib.items():
        name = _WANTED.get(key)
        if name:
            found.put(name, value)
    resource = element.attrib.get(f"{{{_RDF}}}resource")
    if resource and element.tag in _WANTED:
        found.put(_WANTED[element.tag], resource)


def _text_of(element: Element) -> str:
    """An element's value: its text, or the first `rdf:li` of an Alt/Seq/Bag."""
    if element.text and element.text.strip():
        return element.text
    for item in element.iter(f"{{{_RDF}}}li"):
        if item.text and item.text.strip():
            return item.text
    return ""
