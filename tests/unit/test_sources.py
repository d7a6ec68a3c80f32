"""Loading images from paths and inline data, and checking document ids.

Nothing here opens a socket (the unit tier's conftest makes any connection fail); loading
from URLs is in tests/integration/test_url_sources.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import time
import urllib.parse
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.images import JPEG_BYTES, PNG_BYTES, jpeg_bytes, png_bytes
from truthscan_mcp.errors import (
    ImageSizeError,
    InvalidInputError,
    SourceNotAllowedError,
    UnsupportedFormatError,
)
from truthscan_mcp.media.formats import JPEG, MAX_IMAGE_BYTES, PNG
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.inline import MAX_DATA_CHARS
from truthscan_mcp.media.paths import PathKind, allowed_path
from truthscan_mcp.media.sources import load_image, validate_document_id
from truthscan_mcp.settings import Settings

# --- exactly one source ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_source_is_refused(cfg: Settings) -> None:
    with pytest.raises(InvalidInputError, match="No image was given"):
        await load_image(settings=cfg)


@pytest.mark.anyio
async def test_several_sources_are_refused(cfg: Settings, allowed: Path) -> None:
    with pytest.raises(InvalidInputError, match="`path` and `url`"):
        await load_image(path=str(allowed / "a.png"), url="https://example.com/a.png", settings=cfg)


@pytest.mark.anyio
async def test_blank_arguments_count_as_not_given(cfg: Settings) -> None:
    image = await load_image(path="", url="  ", data=base64.b64encode(PNG_BYTES).decode(), settings=cfg)
    assert image.kind == "data"


# --- path ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_png_file_in_an_allowed_dir_is_loaded(cfg: Settings, allowed: Path) -> None:
    target = allowed / "cat photo.png"
    target.write_bytes(PNG_BYTES)
    async with await load_image(path=str(target), settings=cfg) as image:
        assert image.kind == "path"
        assert image.name == "cat photo.png"
        assert image.upload_name == "cat_photo.png"
        assert image.format == PNG
        assert image.media_type == "image/png"
        assert image.size == len(PNG_BYTES)
        assert image.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
        assert image.path == target
        assert image.content is None
    assert target.exists()  # closing never deletes the user's own file


@pytest.mark.anyio
async def test_tilde_is_expanded(cfg: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(allowed))
    (allowed / "me.jpg").write_bytes(JPEG_BYTES)
    image = await load_image(path="~/me.jpg", settings=cfg)
    assert image.path == allowed / "me.jpg"
    assert image.format == JPEG


@pytest.mark.anyio
async def test_file_uri_is_percent_decoded(cfg: Settings, allowed: Path) -> None:
    target = allowed / "my photo #1.png"
    target.write_bytes(PNG_BYTES)
    uri = "file://" + urllib.parse.quote(str(target))
    image = await load_image(path=uri, settings=cfg)
    assert image.path == target
    assert image.upload_name == "my_photo_1.png"


@pytest.mark.anyio
async def test_file_uri_with_localhost_is_accepted(cfg: Settings, allowed: Path) -> None:
    (allowed / "a.png").write_bytes(PNG_BYTES)
    image = await load_image(path=f"file://localhost{allowed}/a.png", settings=cfg)
    assert image.path == allowed / "a.png"


@pytest.mark.anyio
async def test_file_uri_for_another_host_is_refused(cfg: Settings, allowed: Path) -> None:
    with pytest.raises(SourceNotAllowedError, match="another host"):
        await load_image(path=f"file://fileserver{allowed}/a.png", settings=cfg)


@pytest.mark.anyio
async def test_relative_path_is_resolved_against_the_working_directory(
    cfg: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (allowed / "rel.png").write_bytes(PNG_BYTES)
    monkeypatch.chdir(allowed)
    image = await load_image(path="rel.png", settings=cfg)
    assert image.path == allowed / "rel.png"


@pytest.mark.anyio
async def test_missing_relative_path_error_mentions_the_working_directory(
    cfg: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(allowed)
    with pytest.raises(InvalidInputError, match="working directory") as caught:
        await load_image(path="nope.png", settings=cfg)
    assert str(allowed) in caught.value.message


@pytest.mark.anyio
async def test_a_file_outside_the_allowed_dirs_is_refused(
    cfg: Settings, allowed: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG_BYTES)
    with pytest.raises(SourceNotAllowedError) as caught:
        await load_image(path=str(outside), settings=cfg)
    assert str(allowed) in caught.value.message
    assert "TRUTHSCAN_ALLOWED_DIRS" in caught.value.message
    assert os.pathsep in caught.value.message


@pytest.mark.anyio
async def test_a_missing_file_outside_the_allowed_dirs_is_refused_not_reported_missing(
    cfg: Settings, tmp_path: Path
) -> None:
    with pytest.raises(SourceNotAllowedError):
        await load_image(path=str(tmp_path / "secret" / "missing.png"), settings=cfg)


@pytest.mark.anyio
async def test_dotdot_escape_is_refused(cfg: Settings, allowed: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.png").write_bytes(PNG_BYTES)
    with pytest.raises(SourceNotAllowedError):
        await load_image(path=str(allowed / ".." / "outside.png"), settings=cfg)


@pytest.mark.anyio
async def test_symlink_escape_is_refused(cfg: Settings, allowed: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.png").write_bytes(PNG_BYTES)
    (allowed / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(SourceNotAllowedError, match="symlinks"):
        await load_image(path=str(allowed / "link.png"), settings=cfg)


@pytest.mark.anyio
async def test_symlink_inside_the_allowed_dir_is_followed(cfg: Settings, allowed: Path) -> None:
    (allowed / "real.png").write_bytes(PNG_BYTES)
    (allowed / "latest.png").symlink_to(allowed / "real.png")
    image = await load_image(path=str(allowed / "latest.png"), settings=cfg)
    assert image.name == "latest.png"
    assert image.path == allowed / "real.png"


@pytest.mark.anyio
async def test_a_directory_is_refused(cfg: Settings, allowed: Path) -> None:
    (allowed / "album.png").mkdir()
    with pytest.raises(InvalidInputError, match="directory"):
        await load_image(path=str(allowed / "album.png"), settings=cfg)


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
async def test_a_fifo_is_refused_without_blocking(cfg: Settings, allowed: Path) -> None:
    fifo = allowed / "pipe.png"
    os.mkfifo(fifo)
    with anyio.fail_after(5), pytest.raises(InvalidInputError, match="FIFO"):
        await load_image(path=str(fifo), settings=cfg)


@pytest.mark.anyio
async def test_an_empty_file_is_refused(cfg: Settings, allowed: Path) -> None:
    (allowed / "empty.png").write_bytes(b"")
    with pytest.raises(ImageSizeError, match="empty"):
        await load_image(path=str(allowed / "empty.png"), settings=cfg)


@pytest.mark.anyio
async def test_a_too_small_file_is_refused(cfg: Settings, allowed: Path) -> None:
    (allowed / "tiny.png").write_bytes(PNG_BYTES[:500])
    with pytest.raises(ImageSizeError, match="1 KB") as caught:
        await load_image(path=str(allowed / "tiny.png"), settings=cfg)
    assert "500 bytes" in caught.value.message


@pytest.mark.anyio
async def test_a_too_large_file_is_refused_without_reading_it(cfg: Settings, allowed: Path) -> None:
    big = allowed / "big.png"
    with big.open("wb") as handle:
        handle.write(PNG_BYTES[:64])
        handle.truncate(MAX_IMAGE_BYTES + 1)  # sparse: no 10 MB actually written
    with pytest.raises(ImageSizeError, match="10 MB") as caught:
        await load_image(path=str(big), settings=cfg)
    assert "10,485,761 bytes" in caught.value.message


@pytest.mark.anyio
async def test_a_file_of_exactly_the_maximum_size_is_accepted(cfg: Settings, allowed: Path) -> None:
    big = allowed / "max.png"
    with big.open("wb") as handle:
        handle.write(PNG_BYTES[:64])
        handle.truncate(MAX_IMAGE_BYTES)
    image = await load_image(path=str(big), settings=cfg)
    assert image.size == MAX_IMAGE_BYTES


@pytest.mark.anyio
async def test_a_wrongly_named_file_gets_the_real_extension(cfg: Settings, allowed: Path) -> None:
    (allowed / "photo.png").write_bytes(JPEG_BYTES)
    image = await load_image(path=str(allowed / "photo.png"), settings=cfg)
    assert image.format == JPEG
    assert image.upload_name == "photo.jpg"
    assert image.media_type == "image/jpeg"


@pytest.mark.anyio
async def test_a_text_file_named_png_is_refused_as_text(cfg: Settings, allowed: Path) -> None:
    (allowed / "notes.png").write_text("These are my notes.\n" * 100)
    with pytest.raises(UnsupportedFormatError, match="looks like text") as caught:
        await load_image(path=str(allowed / "notes.png"), settings=cfg)
    assert "JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF" in caught.value.message


@pytest.mark.anyio
async def test_a_gif_is_refused_as_unsupported(cfg: Settings, allowed: Path) -> None:
    (allowed / "anim.gif").write_bytes(b"GIF89a" + b"\0" * 2000)
    with pytest.raises(UnsupportedFormatError, match="does not accept GIF"):
        await load_image(path=str(allowed / "anim.gif"), settings=cfg)


@pytest.mark.anyio
async def test_iter_chunks_streams_the_exact_validated_bytes(cfg: Settings, allowed: Path) -> None:
    content = png_bytes(300_000, seed=7)
    (allowed / "stream.png").write_bytes(content)
    image = await load_image(path=str(allowed / "stream.png"), settings=cfg)
    chunks = [chunk async for chunk in image.iter_chunks(chunk_size=65_536)]
    assert max(len(c) for c in chunks) <= 65_536
    assert b"".join(chunks) == content
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == image.sha256
    assert await image.read_bytes() == content  # and it can be streamed again


@pytest.mark.anyio
async def test_a_file_that_grows_after_validation_is_caught(cfg: Settings, allowed: Path) -> None:
    target = allowed / "growing.png"
    target.write_bytes(PNG_BYTES)
    image = await load_image(path=str(target), settings=cfg)
    with target.open("ab") as handle:
        handle.write(b"more")
    with pytest.raises(InvalidInputError, match="changed after it was validated"):
        async for _ in image.iter_chunks():
            pass


@pytest.mark.anyio
async def test_a_file_rewritten_with_the_same_size_is_caught(cfg: Settings, allowed: Path) -> None:
    target = allowed / "swapped.png"
    target.write_bytes(png_bytes(4096, seed=1))
    image = await load_image(path=str(target), settings=cfg)
    target.write_bytes(png_bytes(4096, seed=2))
    with pytest.raises(InvalidInputError, match="changed"):
        await image.read_bytes()


@pytest.mark.anyio
async def test_a_file_deleted_after_validation_is_reported(cfg: Settings, allowed: Path) -> None:
    target = allowed / "gone.png"
    target.write_bytes(PNG_BYTES)
    image = await load_image(path=str(target), settings=cfg)
    target.unlink()
    with pytest.raises(InvalidInputError, match="cannot be read"):
        await image.read_bytes()


# --- data ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plain_base64_is_decoded(cfg: Settings) -> None:
    image = await load_image(data=base64.b64encode(PNG_BYTES).decode(), settings=cfg)
    assert image.kind == "data"
    assert image.name == "inline data"
    assert image.upload_name == "image.png"
    assert image.content == PNG_BYTES
    assert image.path is None
    assert image.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
    assert b"".join([c async for c in image.iter_chunks(1000)]) == PNG_BYTES


@pytest.mark.anyio
async def test_base64_wrapped_in_lines_is_accepted(cfg: Settings) -> None:
    wrapped = base64.encodebytes(PNG_BYTES).decode()  # 76-column lines
    assert "\n" in wrapped
    image = await load_image(data=wrapped, settings=cfg)
    assert image.content == PNG_BYTES


@pytest.mark.anyio
async def test_urlsafe_base64_without_padding_is_accepted(cfg: Settings) -> None:
    content = jpeg_bytes(2000) + b"\xfb\xff\xbf" * 10 + b"xy"  # forces '-' and '_' and padding
    encoded = base64.urlsafe_b64encode(content).decode()
    assert "=" in encoded
    assert "-" in encoded or "_" in encoded
    image = await load_image(data=encoded.rstrip("="), settings=cfg)
    assert image.content == content


@pytest.mark.anyio
async def test_a_data_uri_is_decoded(cfg: Settings) -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
    image = await load_image(data=uri, settings=cfg)
    assert image.format == PNG
    assert image.content == PNG_BYTES


@pytest.mark.anyio
async def test_a_data_uri_declaring_the_wrong_image_type_uses_the_sniffed_one(cfg: Settings) -> None:
    uri = "data:image/png;name=holiday%20pic.png;base64," + base64.b64encode(JPEG_BYTES).decode()
    image = await load_image(data=uri, settings=cfg)
    assert image.format == JPEG
    assert image.media_type == "image/jpeg"
    assert image.upload_name == "holiday_pic.jpg"


@pytest.mark.anyio
async def test_a_non_image_data_uri_is_refused(cfg: Settings) -> None:
    uri = "data:text/plain;base64," + base64.b64encode(b"just some words\n" * 100).decode()
    with pytest.raises(UnsupportedFormatError, match="text/plain"):
        await load_image(data=uri, settings=cfg)


@pytest.mark.anyio
async def test_a_non_base64_data_uri_is_refused(cfg: Settings) -> None:
    with pytest.raises(InvalidInputError, match="base64"):
        await load_image(data="data:image/png,%89PNG", settings=cfg)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        "not base64 at all!",
        "QUJD=RA==",  # padding in the middle
        "QUJDR",  # impossible length
        "QUJD+-_/",  # mixed alphabets
        "QUJDRA===",  # too much padding
        "QUJD\u00e9RA==",  # non-ASCII
    ],
)
async def test_invalid_base64_is_refused(cfg: Settings, bad: str) -> None:
    with pytest.raises(InvalidInputError, match="not valid base64"):
        await load_image(data=bad, settings=cfg)


@pytest.mark.anyio
async def test_an_oversized_data_string_is_refused_before_decoding(cfg: Settings) -> None:
    huge = "A" * (MAX_DATA_CHARS + 1)
    started = time.perf_counter()
    with pytest.raises(ImageSizeError, match="would exceed 10 MB"):
        await load_image(data=huge, settings=cfg)
    assert time.perf_counter() - started < 0.05


@pytest.mark.anyio
async def test_base64_of_slightly_more_than_the_maximum_is_refused_by_its_length(cfg: Settings) -> None:
    encoded = "A" * ((MAX_IMAGE_BYTES + 3) // 3 * 4)
    assert len(encoded) < MAX_DATA_CHARS
    with pytest.raises(ImageSizeError, match="would decode to"):
        await load_image(data=encoded, settings=cfg)


@pytest.mark.anyio
async def test_a_url_passed_as_data_gets_a_hint(cfg: Settings) -> None:
    with pytest.raises(InvalidInputError, match="pass it as `url`"):
        await load_image(data="https://example.com/cat.png", settings=cfg)


_data_strings = st.one_of(
    st.text(max_size=400),
    st.binary(max_size=3000).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=3000).map(lambda b: base64.b64encode(PNG_BYTES[:64] + b).decode()),
    st.tuples(st.text(max_size=30), st.binary(max_size=2000)).map(
        lambda t: f"data:{t[0]};base64," + base64.b64encode(b"\xff\xd8\xff" + t[1]).decode()
    ),
)


@settings(max_examples=150, deadline=None)
@given(_data_strings)
def test_arbitrary_data_either_loads_or_is_refused_as_invalid_input(data: str) -> None:
    cfg = Settings(allowed_dirs=[Path(tempfile.gettempdir())], cache_path=None)

    async def attempt() -> None:
        try:
            image = await load_image(data=data, settings=cfg)
        except InvalidInputError:
            return
        assert isinstance(image, LoadedImage)
        assert image.content is not None
        assert image.size == len(image.content)
        await image.aclose()

    anyio.run(attempt)


# --- document ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "77565038-9e3d-4e6a-8c80-e20785be5ee9",
        "77565038-9E3D-4E6A-8C80-E20785BE5EE9",
        " 77565038-9e3d-4e6a-8c80-e20785be5ee9\n",
        "{77565038-9e3d-4e6a-8c80-e20785be5ee9}",
        "urn:uuid:77565038-9e3d-4e6a-8c80-e20785be5ee9",
    ],
)
def test_document_ids_are_canonicalised(value: str) -> None:
    assert validate_document_id(value) == "77565038-9e3d-4e6a-8c80-e20785be5ee9"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "77565038",
        "775650389e3d4e6a8c80e20785be5ee9",
        "77565038-9e3d-4e6a-8c80-e20785be5ee",
        "77565038-9e3d-4e6a-8c80-e20785be5ee9x",
        "g7565038-9e3d-4e6a-8c80-e20785be5ee9",
        "photo.png",
        "../../77565038-9e3d-4e6a-8c80-e20785be5ee9",
        "a" * 5000,
    ],
)
def test_anything_but_a_uuid_is_refused_as_a_document_id(value: str) -> None:
    with pytest.raises(
        InvalidInputError, match="77565038-9e3d-4e6a-8c80-e20785be5ee9, as returned by detect_image"
    ):
        validate_document_id(value)


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_files_and_batch_directories_outside_the_allowed_dirs_are_refused_in_the_same_words(
    tmp_path: Path, kind: PathKind
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "photo.png" if kind == "file" else outside
    if kind == "file":
        target.touch()
    with pytest.raises(SourceNotAllowedError) as caught:
        allowed_path(str(target), [allowed], kind)

    message = caught.value.message
    assert message.startswith(f"The {kind} {target} is outside the directories this server may read.")
    assert f"Allowed directories: {allowed.resolve()}." in message
    assert "TRUTHSCAN_ALLOWED_DIRS" in message
