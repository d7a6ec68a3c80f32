"""Every image a web page shows, in page order, read with a real HTML parser.

"Are any of the images in this article AI-generated?" starts with the list of images, and a
page hides them in many places: `img` (its `srcset` offering several sizes), `picture`
sources, the social-card `og:image`/`twitter:image`, `link rel="image_src"`, a video's
`poster`, inline `data:` images. The stdlib `html.parser` tokenises the page as a browser
would (attributes in any quoting, entities decoded, `script`/`style` bodies skipped), so no
regular expression guesses at markup; it adds no dependency. Pure and synchronous: the caller
runs it in a worker thread.

What a page says about an image (its alt text, its title) is the page's words: returned as
data, cleaned and cut here, never as ours.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

from truthscan_mcp.sanitize import clean_line

#: alt text and titles are cut to this many characters (the contract's bound)
MAX_ALT = 200
#: a page naming more images than this is read no further: nobody sweeps 2,000 images at once
MAX_CANDIDATES = 1000
_SCHEMES = ("http", "https")
_META_IMAGES = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}
)


@dataclass(frozen=True)
class PageImage:
    """One image the page shows: its absolute URL (or `data:` URI), where it was found, its alt."""

    url: str
    via: str
    alt: str | None = None


@dataclass
class PageImages:
    title: str | None
    images: list[PageImage] = field(default_factory=list[PageImage])
    #: images named beyond MAX_CANDIDATES, not listed
    more: int = 0


def find_images(html: str, page_url: str) -> PageImages:
    """The page's title and its images in page order, URLs resolved against `page_url` (the
    final URL after redirects) and the page's `<base href>`; the same URL is listed once."""
    parser = _ImageParser()
    parser.feed(html)
    parser.close()
    parser.end_picture()
    base = page_url
    if parser.base_href:
        joined = _join(page_url, parser.base_href)
        if joined is not None and not joined.startswith("data:"):
            base = joined
    found = PageImages(title=_text(parser.title) if parser.title_done or parser.title else None)
    seen: dict[str, int] = {}
    for raw, via, alt in parser.found:
        if len(found.images) >= MAX_CANDIDATES and raw not in seen:
            found.more += 1  # past the bound: counted (roughly), not resolved
            continue
        url = _join(base, raw)
        if url is None:
            continue
        if url in seen:
            first = found.images[seen[url]]
            if first.alt is None and alt:  # the og:image often repeats the hero image, alt-less
                found.images[seen[url]] = PageImage(first.url, first.via, _text(alt))
            continue
        seen[url] = len(found.images)
        found.images.append(PageImage(url, via, _text(alt) if alt else None))
    return found


def _text(value: str) -> str | None:
    text = clean_line(value, max_length=MAX_ALT)
    return text or None


def _join(base: str, raw: str) -> str | None:
    """`raw` as an absolute http(s) URL without its fragment, a `data:` URI, or None (any other
    scheme — javascript:, blob:, about: — shows no image we can fetch)."""
    text = raw.strip()
    if not text:
        return None
    if text[:5].lower() == "data:":
        return text
    try:
        joined = urllib.parse.urljoin(base, text)
        parts = urllib.parse.urlsplit(joined)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or not parts.netloc:
        return None
    return urllib.parse.urlunsplit(parts._replace(fragment=""))


def largest_candidate(srcset: str) -> str | None:
    """The URL of the largest candidate of a `srcset` (by `w` descriptor, else by `x`; a
    candidate without a descriptor is 1x), parsed as the HTML standard says: URLs may hold
    commas (a `data:` URI does), descriptors end at a comma outside parentheses."""
    best: tuple[int, float, str] | None = None  # (has width, size, url)
    for url, descriptors in _candidates(srcset):
        width: float | None = None
        density = 1.0
        for descriptor in descriptors:
            number = descriptor[:-1]
            try:
                value = float(number)
            except ValueError:
                continue
            if descriptor.endswith("w"):
                width = value
            elif descriptor.endswith("x"):
                density = value
        key = (1, width, url) if width is not None else (0, density, url)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best is not None else None


def _candidates(srcset: str) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    position, length = 0, len(srcset)
    while position < length:
        while position < length and (srcset[position].isspace() or srcset[position] == ","):
            position += 1
        start = position
        while position < length and not srcset[position].isspace():
            position += 1
        url = srcset[start:position]
        if not url:
            break
        descriptors: list[str] = []
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth, current = 0, ""
            while position < length:
                char = srcset[position]
                position += 1
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth = max(0, depth - 1)
                elif char == "," and depth == 0:
                    break
                if char.isspace() and depth == 0:
                    if current:
                        descriptors.append(current.lower())
                    current = ""
                else:
                    current += char
            if current:
                descriptors.append(current.lower())
        if url:
            found.append((url, descriptors))
    return found


class _ImageParser(HTMLParser):
    """Collects (raw URL, where, alt) in document order, the first `<base href>` and `<title>`.

    A `picture` is one image: the largest candidate of its first `source` (what a browser that
    reads every type would pick), else its `img`; the `img`'s alt names it either way.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str | None]] = []
        self.base_href: str | None = None
        self.title = ""
        self.title_done = False
        self._in_title = False
        self._svg_depth = 0
        self._picture: list[tuple[str, str]] | None = None  # (raw URL, where) candidates
        self._picture_alt: str | None = None

    def _add(self, raw: str | None, via: str, alt: str | None = None) -> None:
        if raw and raw.strip() and len(self.found) <= MAX_CANDIDATES * 2:
            self.found.append((raw, via, alt))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in reversed(attrs) if value is not None}  # first wins
        if tag == "svg":
            self._svg_depth += 1
        elif tag == "title" and not self.title_done and self._svg_depth == 0:
            self._in_title = True
        elif tag == "base" and self.base_href is None and values.get("href", "").strip():
            self.base_href = values["href"]
        elif tag == "img":
            self._img(values)
        elif tag == "source" and self._picture is not None:
            chosen = largest_candidate(values.get("srcset", ""))
            if chosen:
                self._picture.append((chosen, "picture source"))
        elif tag == "picture":
            self.end_picture()
            self._picture, self._picture_alt = [], None
        elif tag == "meta":
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key in _META_IMAGES:
                self._add(values.get("content"), key.removesuffix(":src").removesuffix(":url"))
        elif tag == "link":
            rel = values.get("rel", "").lower().split()
            if "image_src" in rel:
                self._add(values.get("href"), "link image_src")
        elif tag == "video":
            self._add(values.get("poster"), "video poster")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("svg", "picture", "title"):
            self.handle_endtag(tag)

    def _img(self, values: dict[str, str]) -> None:
        srcset = values.get("srcset") or values.get("data-srcset") or ""
        chosen = largest_candidate(srcset) if srcset else None
        raw = chosen or values.get("src") or values.get("data-src")
        alt = values.get("alt")
        if self._picture is not None:
            self._picture_alt = alt
            if raw:
                self._picture.append((raw, "img srcset" if chosen else "img"))
            return
        self._add(raw, "img srcset" if chosen else "img", alt)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg_depth = max(0, self._svg_depth - 1)
        elif tag == "title" and self._in_title:
            self._in_title = False
            self.title_done = True
        elif tag == "picture":
            self.end_picture()

    def end_picture(self) -> None:
        """Emit the open `picture` (also at the end of a page that never closes it)."""
        if self._picture is None:
            return
        candidates, alt = self._picture, self._picture_alt
        self._picture, self._picture_alt = None, None
        if candidates:
            raw, via = candidates[0]
            self._add(raw, via, alt)

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < MAX_ALT * 4:
            self.title += data
