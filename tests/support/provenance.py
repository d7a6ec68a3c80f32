"""Images the provenance tests make themselves: signed, tampered, declared, plain, broken.

Nothing here is a canned binary: each builder writes the structure the way the real writer
does (c2pa-python's Builder for Content Credentials, a throwaway certificate chain made with
`cryptography`, XMP packets in Adobe's RDF form, AUTOMATIC1111 and ComfyUI text chunks,
camera EXIF), so a test fails if the engine stops reading what real files carry.
"""

from __future__ import annotations

import datetime
import io
import json
import random
import struct
import zlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
_OFFLINE: dict[str, dict[str, object]] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
    "builder": {"thumbnail": {"enabled": False}},
}


# --- PNG -------------------------------------------------------------------------------------


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _rows(width: int, height: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))


def png(*chunks: bytes, side: int = 48, seed: int = 1, pixels: bytes | None = None) -> bytes:
    """An RGB PNG of random pixels (so it is over the 1 KB floor) with `chunks` after IHDR."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(pixels if pixels is not None else _rows(side, side, seed)))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + chunk(b"IEND", b"")


def text_chunk(key: str, value: str) -> bytes:
    return chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))


def itxt_chunk(key: str, value: str | bytes, *, compressed: bool = False) -> bytes:
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    body = zlib.compress(raw) if compressed else raw
    return chunk(b"iTXt", key.encode("latin-1") + b"\x00" + bytes([int(compressed), 0]) + b"\x00\x00" + body)


A1111_PARAMETERS = (
    "a lighthouse at dusk, volumetric light\n"
    "Negative prompt: blurry\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 1024x1024, "
    "Model: sd_xl_base_1.0, Version: v1.7.0"
)


def stable_diffusion_png() -> bytes:
    return png(text_chunk("parameters", A1111_PARAMETERS))


def comfyui_png() -> bytes:
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}}}
    workflow = {"last_node_id": 9, "nodes": [{"id": 4, "type": "CheckpointLoaderSimple"}]}
    return png(text_chunk("prompt", json.dumps(prompt)), text_chunk("workflow", json.dumps(workflow)))


# --- XMP -------------------------------------------------------------------------------------


def xmp_packet(
    *, source_type: str | None = None, creator_tool: str | None = None, as_element: bool = False
) -> str:
    """An XMP packet as Adobe writes it; the source type as an attribute or an element."""
    attributes = ""
    elements = ""
    if creator_tool:
        attributes += f' xmp:CreatorTool="{creator_tool}"'
    if source_type and as_element:
        elements += f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC}{source_type}"/>'
    elif source_type:
        attributes += f' Iptc4xmpExt:DigitalSourceType="{IPTC}{source_type}"'
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f"{attributes}>{elements}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def png_with_xmp(packet: str | bytes) -> bytes:
    return png(itxt_chunk("XML:com.adobe.xmp", packet))


def jpeg_with_xmp(packet: str) -> bytes:
    body = b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode("utf-8")
    return jpeg(app_segment(0xE1, body))


def _entities() -> str:
    lines = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        lines.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return "".join(lines)


#: Ten levels of ten-fold entity expansion: 10^9 "lol"s if anything ever expanded it.
BILLION_LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE x:xmpmeta [{_entities()}]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol9;</x:xmpmeta>'
)


def deeply_nested_xmp(depth: int = 100_000) -> str:
    return '<x:xmpmeta xmlns:x="adobe:ns:meta/">' + "<a>" * depth + "</a>" * depth + "</x:xmpmeta>"


# --- JPEG and EXIF ---------------------------------------------------------------------------


def app_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def exif_block(**tags: str) -> bytes:
    """A big-endian TIFF structure with IFD0 ASCII tags (Make, Model, Software)."""
    ids = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131}
    entries = sorted((ids[name], value.encode("ascii") + b"\x00") for name, value in tags.items())
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd, data = b"", b""
    for tag, raw in entries:
        ifd += struct.pack(">HHII", tag, 2, len(raw), data_at + len(data))
        data += raw
    return b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", len(entries)) + ifd + b"\x00" * 4 + data


def jpeg(*segments: bytes) -> bytes:
    """A JPEG's metadata structure (SOI, segments, a frame header, scan data, EOI)."""
    sof = app_segment(
        0xC0, b"\x08" + struct.pack(">HH", 48, 64) + b"\x03\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    )
    scan = app_segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00") + random.Random(5).randbytes(2048)
    return b"\xff\xd8" + b"".join(segments) + sof + scan + b"\xff\xd9"


def jpeg_padded(megabytes: int) -> bytes:
    """A camera JPEG with EXIF and an XMP packet, its scan data padded to `megabytes` MB."""
    exif = app_segment(0xE1, b"Exif\x00\x00" + exif_block(Make="Canon", Model="Canon EOS R5"))
    xmp = app_segment(
        0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet(source_type="digitalCapture").encode()
    )
    head = jpeg(exif, xmp)[:-2]
    return head + random.Random(11).randbytes(megabytes * 1024 * 1024 - len(head) - 2) + b"\xff\xd9"


def camera_jpeg(make: str = "NIKON CORPORATION", model: str = "NIKON Z 6_2", **more: str) -> bytes:
    return jpeg(app_segment(0xE1, b"Exif\x00\x00" + exif_block(Make=make, Model=model, **more)))


# --- C2PA ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chain:
    """A throwaway root CA and the ES256 signing certificate it issued, in PEM."""

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Throwaway Test CA"),
        ]
    )


def _key_usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


@cache
def throwaway_chain() -> Chain:
    """A chain C2PA accepts (leaf: digitalSignature + emailProtection EKU) that nobody trusts."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Throwaway Root"))
        .issuer_name(_name("Throwaway Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Throwaway Signer"))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Chain(
        root_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def c2pa_manifest(
    source_type: str = "trainedAlgorithmicMedia", agent: str = "Adobe Firefly"
) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "Throwaway Generator", "version": "1.0"}],
        "title": "image.png",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC + source_type,
                            "softwareAgent": {"name": agent},
                        }
                    ]
                },
            }
        ],
    }


def c2pa_sign(source: bytes, media_type: str, manifest: dict[str, Any] | None = None) -> bytes:
    """`source` signed by c2pa-python's Builder with the throwaway chain (no timestamp authority)."""
    import c2pa

    chain = throwaway_chain()
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem, chain.key_pem, None)
    )
    out = io.BytesIO()
    with c2pa.Builder(
        manifest or c2pa_manifest(), context=c2pa.Context.from_json(json.dumps(_OFFLINE))
    ) as builder:
        builder.sign(signer, media_type, io.BytesIO(source), out)
    return out.getvalue()


def c2pa_signed_png(manifest: dict[str, Any] | None = None, *, pixels_seed: int = 3, side: int = 64) -> bytes:
    return c2pa_sign(png(seed=pixels_seed, side=side), "image/png", manifest)


def tamper_one_pixel(signed: bytes) -> bytes:
    """The same PNG with one pixel byte changed (re-encoded, CRCs right): only the pixels differ."""
    pos, out = 8, bytearray(signed[:8])
    while pos < len(signed):
        length, kind = struct.unpack(">I4s", signed[pos : pos + 8])
        body = signed[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            pixels = bytearray(zlib.decompress(body))
            pixels[10] ^= 0x01
            body = zlib.compress(bytes(pixels))
        out += chunk(kind, body)
        pos += 12 + length
    return bytes(out)


def garbage_jumbf_png(size: int = 4096) -> bytes:
    """A PNG whose caBX chunk holds a JUMBF header and then noise."""
    junk = (
        struct.pack(">I4s", size + 8, b"jumb")
        + b"\x00\x00\x00\x1ejumd"
        + b"c2pa"
        + random.Random(9).randbytes(size)
    )
    return png(chunk(b"caBX", junk))


def hostile_exif_segment(ifds: int = 8, entries: int = 512, segment: int = 65_533) -> bytes:
    """One APP1 EXIF segment as large as JPEG allows, built to cost a reader the most work.

    `ifds` IFDs chained through Exif sub-IFD pointers, each of `entries` entries, and every
    entry but the pointer a UserComment pointing at the same long UTF-16 comment that fills
    the rest of the segment: a reader that decodes each entry decodes that comment thousands
    of times."""
    ifd_size = 2 + 12 * entries + 4
    first = 8
    text_at = first + ifds * ifd_size
    body_size = segment - 2 - 6  # the length field and "Exif\0\0"
    comment = b"UNICODE\x00" + ("a lighthouse at dusk, " * 4096).encode("utf-16-be")
    comment = comment[: body_size - text_at]
    tiff = bytearray(b"MM\x00*" + struct.pack(">I", first))
    for index in range(ifds):
        at = first + index * ifd_size
        tiff += struct.pack(">H", entries)
        next_ifd = at + ifd_size if index + 1 < ifds else 0
        tiff += struct.pack(">HHII", 0x8769, 4, 1, next_ifd)
        for _ in range(entries - 1):
            tiff += struct.pack(">HHII", 0x9286, 7, len(comment), text_at)
        tiff += b"\x00" * 4
    tiff += comment
    return app_segment(0xE1, b"Exif\x00\x00" + bytes(tiff))


def hostile_exif_jpeg(segments: int = 2) -> bytes:
    """A JPEG of `segments` hostile EXIF segments (2: 131 KB, the file of issue 20; 160: 10 MB)."""
    return jpeg(*(hostile_exif_segment() for _ in range(segments)))
