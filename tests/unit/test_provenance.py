"""What a file declares about its origin, and what that is worth: the provenance engine.

Every image is made by the fixtures (tests/support/provenance.py). No test opens a
socket: a guard makes any connection attempt from Python fail the test, and the c2pa library
runs with remote manifests, OCSP and every network host turned off.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import provenance as fx
from truthscan_mcp.models import Provenance, ReportSource
from truthscan_mcp.provenance import MAX_INPUT, read_provenance
from truthscan_mcp.sandbox import judge


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the provenance engine tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def read(data: bytes, media_type: str = "image/png", **options: Any) -> Provenance:
    return read_provenance(data, media_type=media_type, source=None, **options)


# --- C2PA ------------------------------------------------------------------------------------


def test_signed_ai_manifest_is_valid_untrusted_and_declares_ai(signed: bytes) -> None:
    result = read(signed)
    assert result.finding == "ai_declared"
    c2pa = result.c2pa
    assert (c2pa.present, c2pa.valid, c2pa.trusted) == (True, True, False)
    assert c2pa.digital_source_type == result.digital_source_type == "trainedAlgorithmicMedia"
    assert "Throwaway Signer" in (c2pa.signer or "")
    assert c2pa.claim_generator == "Throwaway Generator 1.0"
    assert c2pa.actions == ["c2pa.created"]
    assert c2pa.errors == []
    assert (result.generator, result.generator_evidence) == (
        "Adobe Firefly",
        ["c2pa:softwareAgent (Adobe Firefly)"],
    )


def test_valid_signature_is_attributable_to_its_signer_not_true(signed: bytes) -> None:
    summary = read(signed).summary
    assert "signature is valid" in summary
    assert "not proven true" in summary
    assert "not on the C2PA Trust List (snapshot of " in summary


def test_signer_among_the_trust_anchors_is_trusted(signed: bytes) -> None:
    anchors = fx.throwaway_chain().root_pem.decode()
    result = read(signed, trust_anchors=anchors)
    assert (result.c2pa.valid, result.c2pa.trusted) == (True, True)
    assert "on the trust anchors given by the caller" in result.summary


def test_tampered_pixel_breaks_the_hash_binding(signed: bytes) -> None:
    result = read(fx.tamper_one_pixel(signed))
    assert (result.c2pa.present, result.c2pa.valid) == (True, False)
    assert any("dataHash.mismatch" in error for error in result.c2pa.errors)
    assert "does NOT verify" in result.summary
    # the declaration is still reported, for what it is worth
    assert result.finding == "ai_declared"


def test_signed_camera_capture_is_camera_declared() -> None:
    signed = fx.c2pa_signed_png(fx.c2pa_manifest("digitalCapture", agent="Throwaway Camera Firmware"))
    result = read(signed)
    assert (result.finding, result.c2pa.valid, result.generator) == ("camera_declared", True, None)


def test_signed_jpeg_manifest_is_read_from_its_app11_segments() -> None:
    result = read(fx.c2pa_sign(fx.camera_jpeg(), "image/jpeg"), "image/jpeg")
    assert (result.c2pa.present, result.c2pa.valid, result.c2pa.trusted) == (True, True, False)
    assert result.finding == "ai_declared"  # the AI claim beats the camera EXIF it also carries
    assert result.camera is not None


def test_garbage_jumbf_is_reported_present_but_unreadable() -> None:
    result = read(fx.garbage_jumbf_png())
    assert (result.c2pa.present, result.c2pa.valid, result.c2pa.trusted) == (True, None, None)
    assert result.c2pa.errors[0].startswith("C2PA manifest could not be read")
    assert result.finding == "none"


def test_truncated_manifest_is_an_error_not_a_crash(signed: bytes) -> None:
    start = signed.index(b"caBX")
    result = read(signed[: start + 200])
    assert result.c2pa.present
    assert result.c2pa.valid is not True
    assert result.c2pa.errors


def test_without_the_c2pa_library_the_claim_is_reported_unverified(
    signed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)  # what a platform without a wheel sees
    result = read(signed)
    assert result.c2pa.errors[0].startswith("C2PA present; cannot validate here")
    assert (result.c2pa.valid, result.c2pa.trusted) == (None, None)
    assert (result.finding, result.digital_source_type) == ("ai_declared", "trainedAlgorithmicMedia")


def test_files_without_a_manifest_never_import_the_c2pa_library() -> None:
    # The child imports the reader alone (not the test helpers, which import the whole SDK): the
    # image comes on its stdin.
    code = (
        "import sys; from truthscan_mcp.provenance import read_provenance; "
        "read_provenance(sys.stdin.buffer.read(), media_type='image/png', source=None); "
        "print('c2pa' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=fx.stable_diffusion_png(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.decode().strip() == "False"


# --- XMP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "finding"),
    [
        ("trainedAlgorithmicMedia", "ai_declared"),
        ("compositeWithTrainedAlgorithmicMedia", "ai_declared"),
        ("algorithmicMedia", "ai_declared"),
        ("compositeSynthetic", "ai_declared"),
        ("digitalCapture", "camera_declared"),
        ("computationalCapture", "camera_declared"),
        ("negativeFilm", "camera_declared"),
        ("humanEdits", "edited_declared"),
        ("minorHumanEdits", "edited_declared"),
        ("compositeCapture", "edited_declared"),
        ("algorithmicallyEnhanced", "edited_declared"),
        ("digitalArt", "edited_declared"),
        ("screenCapture", "none"),
        ("virtualRecording", "none"),
    ],
)
def test_each_iptc_source_type_in_xmp_gives_its_finding(term: str, finding: str) -> None:
    as_attribute = read(fx.png_with_xmp(fx.xmp_packet(source_type=term)))
    as_element = read(fx.jpeg_with_xmp(fx.xmp_packet(source_type=term, as_element=True)), "image/jpeg")
    for result in (as_attribute, as_element):
        assert (result.finding, result.digital_source_type) == (finding, term)
        assert result.c2pa.present is False
        assert result.errors == []


def test_unsigned_xmp_declaration_says_it_is_forgeable() -> None:
    result = read(fx.png_with_xmp(fx.xmp_packet(source_type="trainedAlgorithmicMedia")))
    assert "forged or stripped in seconds" in result.summary


def test_xmp_creator_tool_names_the_generator() -> None:
    result = read(fx.png_with_xmp(fx.xmp_packet(creator_tool="Midjourney v6")))
    assert (result.finding, result.generator, result.software) == (
        "ai_declared",
        "Midjourney",
        "Midjourney v6",
    )
    assert result.generator_evidence == ["xmp:CreatorTool (Midjourney)"]


def test_xmp_creator_tool_of_an_editor_is_edited_declared() -> None:
    result = read(fx.png_with_xmp(fx.xmp_packet(creator_tool="Adobe Photoshop 25.0 (Macintosh)")))
    assert (result.finding, result.generator) == ("edited_declared", None)


def test_billion_laughs_is_refused_without_expanding_anything() -> None:
    started = time.perf_counter()
    result = read(fx.png_with_xmp(fx.BILLION_LAUGHS))
    assert time.perf_counter() - started < 2
    assert result.finding == "none"
    assert result.errors == ["XMP packet declares a DTD or entities (refused, never expanded)"]


def test_deeply_nested_xmp_stops_at_the_depth_cap() -> None:
    result = read(fx.png_with_xmp(fx.deeply_nested_xmp()))
    assert result.errors == ["XMP packet nested too deep or too large: read no further"]


def test_malformed_xmp_is_an_error() -> None:
    packet = fx.xmp_packet(source_type="trainedAlgorithmicMedia")
    result = read(fx.png_with_xmp(packet[: len(packet) // 2]))
    assert result.digital_source_type is None
    assert result.errors[0].startswith("XMP packet is not well-formed XML")


def test_ten_megabyte_xmp_is_not_parsed_and_costs_little() -> None:
    padding = " " * (10 * 1024 * 1024)
    packet = fx.xmp_packet(source_type="trainedAlgorithmicMedia").replace(
        "</x:xmpmeta>", padding + "</x:xmpmeta>"
    )
    data = fx.png_with_xmp(packet)
    tracemalloc.start()
    started = time.perf_counter()
    result = read(data)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "XMP packet larger than 1024 KiB: not read" in result.errors
    assert elapsed < 2
    assert peak < 16 * 1024 * 1024


def test_compressed_xmp_bomb_is_inflated_only_to_the_cap() -> None:
    result = read(fx.png(_compressed_xmp(_deflate_bomb(64))))
    assert result.errors == ["XMP packet larger than 1024 KiB: not read"]


def _deflate_bomb(megabytes: int) -> bytes:
    """`megabytes` MB of spaces after a '<', deflated to a few tens of KB, built in streaming."""
    packer = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    parts = [packer.compress(b"<")] + [packer.compress(block) for _ in range(megabytes)]
    return b"".join([*parts, packer.flush()])


def _compressed_xmp(deflated: bytes) -> bytes:
    return fx.chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + deflated)


# --- PNG text chunks and EXIF ----------------------------------------------------------------


def test_stable_diffusion_parameters_chunk_is_ai_declared() -> None:
    result = read(fx.stable_diffusion_png())
    assert (result.finding, result.generator) == ("ai_declared", "Stable Diffusion")
    assert result.generator_evidence == ["png:tEXt:parameters (Stable Diffusion)"]
    assert result.digital_source_type is None


def test_comfyui_prompt_and_workflow_chunks_are_ai_declared() -> None:
    result = read(fx.comfyui_png())
    assert (result.finding, result.generator) == ("ai_declared", "ComfyUI")
    assert result.generator_evidence == ["png:tEXt:prompt (ComfyUI)", "png:tEXt:workflow (ComfyUI)"]


def test_free_text_under_a_generator_key_is_not_evidence() -> None:
    result = read(fx.png(fx.text_chunk("prompt", "a note someone typed")))
    assert (result.finding, result.generator) == ("none", None)


def test_camera_exif_is_camera_declared() -> None:
    result = read(fx.camera_jpeg(), "image/jpeg")
    assert result.finding == "camera_declared"
    assert result.camera is not None
    assert (result.camera.make, result.camera.model) == ("NIKON CORPORATION", "NIKON Z 6_2")
    assert "forged or stripped" in result.summary


def test_editor_beats_camera() -> None:
    result = read(fx.camera_jpeg(Software="Adobe Photoshop 25.0 (Windows)"), "image/jpeg")
    assert (result.finding, result.software) == ("edited_declared", "Adobe Photoshop 25.0 (Windows)")
    assert result.camera is not None  # the camera is still reported


def test_ai_software_in_exif_beats_camera() -> None:
    result = read(fx.camera_jpeg(Software="DALL-E 3"), "image/jpeg")
    assert (result.finding, result.generator) == ("ai_declared", "DALL·E")
    assert result.generator_evidence == ["exif:Software (DALL·E)"]


def test_ai_source_type_beats_camera_exif() -> None:
    xmp = fx.app_segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\x00" + fx.xmp_packet(source_type="trainedAlgorithmicMedia").encode(),
    )
    exif = fx.app_segment(0xE1, b"Exif\x00\x00" + fx.exif_block(Make="Canon", Model="Canon EOS R5"))
    result = read(fx.jpeg(exif, xmp), "image/jpeg")
    assert result.finding == "ai_declared"
    assert result.camera is not None


def test_plain_image_declares_nothing_and_says_absence_means_nothing() -> None:
    result = read(fx.png())
    assert result.finding == "none"
    assert (result.c2pa.present, result.generator, result.camera, result.software) == (
        False,
        None,
        None,
        None,
    )
    assert result.evidence == result.errors == []
    assert "Absence of provenance says nothing" in result.summary


def test_truncated_text_chunk_is_reported() -> None:
    data = fx.stable_diffusion_png()
    cut = data[: data.index(b"tEXt") + 40]
    result = read(cut)
    assert any("truncated" in error for error in result.errors)


def test_file_over_the_input_cap_is_not_read() -> None:
    result = read(b"\x89PNG\r\n\x1a\n" + bytes(MAX_INPUT))
    assert result.finding == "none"
    assert result.errors == ["File larger than 32 MiB: metadata not read"]


def test_source_is_carried_through() -> None:
    source = ReportSource(kind="data", name="x.png", media_type="image/png", bytes=10, sha256="0" * 64)
    assert read_provenance(fx.png(), media_type="image/png", source=source).source == source


# --- one engine, any input -------------------------------------------------------------------


def test_the_simulator_reads_the_same_c2pa_claim(signed: bytes) -> None:
    verdict = judge(signed)
    assert (verdict.final_result, verdict.detection_step) == ("AI Generated", 1)
    assert verdict.findings.ai_generators == ("Adobe Firefly",)


def _corrupt(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data[:cut])
    for position, value in flips:
        if position < len(out):
            out[position] = value
    return bytes(out)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cut=st.integers(min_value=0, max_value=20_000),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=16_000), st.integers(0, 255)), max_size=16),
)
def test_corrupted_signed_images_never_raise(signed: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    result = read(_corrupt(signed, cut, flips))
    assert result.finding in ("ai_declared", "camera_declared", "edited_declared", "none")
    assert result.summary


@settings(max_examples=150, deadline=None)
@given(
    base=st.sampled_from(
        [
            fx.stable_diffusion_png(),
            fx.camera_jpeg(),
            fx.png_with_xmp(fx.xmp_packet(source_type="digitalCapture")),
        ]
    ),
    cut=st.integers(min_value=0, max_value=12_000),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=1_200), st.integers(0, 255)), max_size=12),
)
def test_corrupted_metadata_never_raises(base: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    assert read(_corrupt(base, cut, flips)).summary


# --- one work budget per file (issue 20) --------------------------------------------------------


@pytest.mark.parametrize("segments", [2, 160], ids=["131KB", "10MB"])
def test_a_hostile_exif_costs_milliseconds_not_seconds_of_cpu(segments: int) -> None:
    """Thousands of IFD entries pointing at one long UTF-16 UserComment, in every APP1 segment:
    6 s of CPU for 131 KB before the per-file budget (about 440 s for 10 MB)."""
    data = fx.hostile_exif_jpeg(segments)
    started = time.process_time()
    found = read(data, "image/jpeg")
    assert time.process_time() - started < 0.5
    assert found.finding == "none"
    assert any("EXIF" in error for error in found.errors), found.errors


def test_only_the_first_exif_block_of_a_file_is_read() -> None:
    first = fx.app_segment(0xE1, b"Exif\x00\x00" + fx.exif_block(Make="Canon", Model="EOS R5"))
    second = fx.app_segment(0xE1, b"Exif\x00\x00" + fx.exif_block(Make="Midjourney", Model="v6"))
    found = read(fx.jpeg(first, second), "image/jpeg")
    assert found.camera is not None
    assert (found.camera.make, found.camera.model) == ("Canon", "EOS R5")
    assert found.generator is None
    assert "more than one EXIF block: only the first was read" in found.errors


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_user_comment_is_read_in_its_own_byte_order(order: str, encoding: str) -> None:
    comment = "Steps: 20, Sampler: Euler a, Model: sd_xl_base_1.0 — Stable Diffusion"
    raw = b"UNICODE\x00" + comment.encode(encoding)
    head = b"II*\x00" if order == "<" else b"MM\x00*"
    at = 8 + 2 + 12 + 4
    tiff = head + struct.pack(order + "IH", 8, 1) + struct.pack(order + "HHII", 0x9286, 7, len(raw), at)
    exif = tiff + b"\x00" * 4 + raw
    found = read(fx.jpeg(fx.app_segment(0xE1, b"Exif\x00\x00" + exif)), "image/jpeg")
    assert found.generator == "Stable Diffusion", found.evidence
