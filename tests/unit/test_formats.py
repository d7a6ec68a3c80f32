from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truthscan_mcp.media.formats import (
    AVIF,
    BMP,
    FORMATS,
    HEIC,
    HEIF,
    JPEG,
    PNG,
    SNIFF_BYTES,
    TIFF,
    WEBP,
    ImageFormat,
    describe_supported,
    describe_unsupported,
    human_size,
    sanitize_upload_name,
    sniff_format,
)

SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    size = 16 + 4 * len(compatible)
    return struct.pack(">I", size) + b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible) + b"\0\0\0\x08mdat"


def bmp_header(dib_size: int = 40) -> bytes:
    return b"BM" + struct.pack("<IHHII", 70, 0, 0, 14 + dib_size, dib_size) + b"\0" * dib_size


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", JPEG, id="jpeg-jfif"),
        pytest.param(b"\xff\xd8\xff\xe1\x00\x16Exif\x00\x00", JPEG, id="jpeg-exif"),
        pytest.param(b"\xff\xd8\xff\xdb\x00\x43\x00", JPEG, id="jpeg-raw"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG, id="png"),
        pytest.param(b"RIFF\x24\x00\x00\x00WEBPVP8 ", WEBP, id="webp"),
        pytest.param(ftyp(b"heic", b"mif1", b"heic"), HEIC, id="heic"),
        pytest.param(ftyp(b"heix", b"mif1"), HEIC, id="heix"),
        pytest.param(ftyp(b"mif1", b"mif1", b"heic"), HEIC, id="mif1-with-heic"),
        pytest.param(ftyp(b"msf1", b"msf1", b"hevc"), HEIC, id="msf1-with-hevc"),
        pytest.param(ftyp(b"mif1", b"mif1", b"miaf"), HEIF, id="heif-generic"),
        pytest.param(ftyp(b"avif", b"avif", b"mif1", b"miaf"), AVIF, id="avif"),
        pytest.param(ftyp(b"avis", b"avis", b"msf1"), AVIF, id="avif-sequence"),
        pytest.param(ftyp(b"mif1", b"mif1", b"avif"), AVIF, id="mif1-with-avif"),
        pytest.param(bmp_header(40), BMP, id="bmp-v3"),
        pytest.param(bmp_header(124), BMP, id="bmp-v5"),
        pytest.param(b"II*\x00\x08\x00\x00\x00", TIFF, id="tiff-little-endian"),
        pytest.param(b"MM\x00*\x00\x00\x00\x08", TIFF, id="tiff-big-endian"),
        pytest.param(b"II+\x00\x08\x00\x00\x00", TIFF, id="bigtiff"),
    ],
)
def test_each_supported_format_is_recognised_by_its_magic_bytes(head: bytes, expected: ImageFormat) -> None:
    assert sniff_format(head + b"\0" * 64) == expected


@pytest.mark.parametrize(
    ("head", "looks_like"),
    [
        pytest.param(b"GIF89a\x01\x00\x01\x00", "a GIF image", id="gif89a"),
        pytest.param(b"GIF87a\x01\x00\x01\x00", "a GIF image", id="gif87a"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document", id="pdf"),
        pytest.param(b"Hello, this is a plain text file.\n", "text", id="text"),
        pytest.param(
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">', "an SVG image", id="svg"
        ),
        pytest.param(b"<!DOCTYPE html><html><body>Not found</body></html>", "an HTML page", id="html"),
        pytest.param(b"", "an empty file", id="empty"),
        pytest.param(ftyp(b"isom", b"isom", b"avc1", b"mp41"), "an MP4/QuickTime video", id="mp4"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", "a WAV audio file", id="wav"),
        pytest.param(b"BMW is a car maker, not a bitmap", "text", id="bm-text"),
    ],
)
def test_unsupported_content_is_refused_and_described(head: bytes, looks_like: str) -> None:
    assert sniff_format(head) is None
    description = describe_unsupported(head)
    assert description is not None
    assert description.startswith(looks_like)


def test_random_binary_has_no_description() -> None:
    assert describe_unsupported(bytes(range(256)) * 2) is None


def test_a_truncated_header_is_not_recognised() -> None:
    assert sniff_format(b"\xff\xd8") is None
    assert sniff_format(b"RIFF\x00\x00") is None
    assert sniff_format(b"\x00\x00\x00\x18ftyp") is None
    assert sniff_format(b"BM\x00") is None


def test_sniff_bytes_covers_a_long_ftyp_box() -> None:
    many = [b"iso%d" % i for i in range(8)]
    assert sniff_format(ftyp(b"mif1", *many, b"avif")[:SNIFF_BYTES]) == AVIF


def test_media_types_and_extensions_follow_the_api_reference() -> None:
    table = {f.name: (f.extension, f.media_type) for f in FORMATS}
    assert table == {
        "jpeg": ("jpg", "image/jpeg"),
        "png": ("png", "image/png"),
        "webp": ("webp", "image/webp"),
        "heic": ("heic", "image/heic"),
        "heif": ("heif", "image/heif"),
        "avif": ("avif", "image/avif"),
        "bmp": ("bmp", "image/bmp"),
        "tiff": ("tiff", "image/tiff"),
    }


def test_describe_supported_names_every_format() -> None:
    assert describe_supported() == "JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF"


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        pytest.param("my holiday photo.png", PNG, "my_holiday_photo.png", id="spaces"),
        pytest.param("photo.png", JPEG, "photo.jpg", id="wrong-extension"),
        pytest.param("photo.JPEG", JPEG, "photo.jpeg", id="kept-jpeg-spelling"),
        pytest.param("scan.jfif", JPEG, "scan.jfif", id="kept-jfif"),
        pytest.param("scan.TIF", TIFF, "scan.tif", id="kept-tif"),
        pytest.param("scan.tif", PNG, "scan.png", id="tif-that-is-png"),
        pytest.param("../../etc/passwd", PNG, "passwd.png", id="posix-traversal"),
        pytest.param("C:\\Users\\me\\cat.webp", WEBP, "cat.webp", id="windows-path"),
        pytest.param("café crème.jpg", JPEG, "cafe_creme.jpg", id="accents-folded"),
        pytest.param("写真.png", PNG, "image.png", id="no-ascii-left"),
        pytest.param("README", HEIC, "README.heic", id="no-extension"),
        pytest.param(".hidden", PNG, "hidden.png", id="leading-dot"),
        pytest.param("...", PNG, "image.png", id="only-dots"),
        pytest.param("", BMP, "image.bmp", id="empty"),
        pytest.param("IMG_2024.01.05", JPEG, "IMG_2024.01.05.jpg", id="numeric-suffix-is-not-an-extension"),
        pytest.param("a  b__c..d.png", PNG, "a_b_c.d.png", id="repeats-collapsed"),
        pytest.param("evil\x00name;rm -rf.png", PNG, "evil_name_rm_-rf.png", id="control-and-shell-chars"),
    ],
)
def test_sanitize_upload_name_examples(name: str, fmt: ImageFormat, expected: str) -> None:
    assert sanitize_upload_name(name, fmt) == expected


def test_sanitize_caps_a_very_long_name() -> None:
    result = sanitize_upload_name("a" * 500 + ".png", PNG)
    assert len(result) <= 100
    assert result.endswith(".png")
    assert result.startswith("aaaa")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (10 * 1024 * 1024, "10 MB"),
    ],
)
def test_human_size_uses_the_units_of_the_api_docs(size: int, text: str) -> None:
    assert human_size(size) == text


@given(st.binary(max_size=2 * SNIFF_BYTES))
def test_sniffing_never_raises(head: bytes) -> None:
    result = sniff_format(head)
    assert result is None or result in FORMATS
    describe_unsupported(head)


@given(st.text(max_size=300), st.sampled_from(FORMATS))
def test_sanitized_names_are_always_safe_and_carry_the_real_extension(name: str, fmt: ImageFormat) -> None:
    result = sanitize_upload_name(name, fmt)
    assert SAFE_NAME.match(result)
    assert len(result) <= 100
    assert not result.startswith(".")
    assert result.rsplit(".", 1)[1] in fmt.extensions
