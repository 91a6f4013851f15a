"""Thumbnails of width 500, 250 and 100 px, written beside the original.

Pure and blocking: the worker calls `make_thumbnails` from a thread pool.
Nothing here touches Redis, the event loop or Pillow's process-wide settings
(threads share `Image.MAX_IMAGE_PIXELS` and `ImageFile.LOAD_TRUNCATED_IMAGES`,
so our own limits are enforced per call and those globals stay untouched).

Why it is fast: the file is decoded once, JPEGs at reduced scale (`draft`,
asking for the real box of the 500 px thumbnail so the decoder keeps the
largest DCT scale step it can), then the sizes are chained 500 -> 250 -> 100,
and EXIF orientation is applied to the small 500 px result, not the decode.

Why it is safe: formats are an allowlist, the pixel count is checked from the
header before any pixel is decoded, and every decode problem (truncated,
corrupt, a bomb) becomes `ImageRejected`, a permanent failure. Only reading
and writing files can raise `OSError`, which the caller treats as transient.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import cast

from PIL import ExifTags, Image, UnidentifiedImageError

from shared.blobs import THUMBNAIL_WIDTHS, thumbnail_path, write_atomically

# What we agree to decode. MPO is how Pillow names phone JPEGs that carry a
# second (depth/preview) picture: it is a JPEG and is written as one.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_OPEN_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")  # MPO is found through JPEG
_ACCEPTED_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF"

JPEG_QUALITY = 85
WEBP_QUALITY = 85
# zlib level: Pillow's default 6 took 3x as long for 13 % smaller files on the
# mate-backgrounds PNGs at 500 px; these are thumbnails, written once per upload.
PNG_COMPRESS_LEVEL = 3
# The first step works on the decode (up to ~2x the 500 box, or a whole PNG):
# its cost grows with the input's pixels and Lanczos's wider kernel costs ~1.8x
# bicubic's there for ~0.1 dB. The chained steps work on small images, where
# Lanczos's sharpness is cheap.
FIRST_RESAMPLE = Image.Resampling.BICUBIC
RESAMPLE = Image.Resampling.LANCZOS
# First shrink by an integer factor with a box filter while the image is at
# least this many times larger than the target, then resample: near-identical
# quality, much less work on large non-JPEG images (JPEGs are shrunk by draft).
REDUCING_GAP = 3.0
# Well-formed progressive JPEGs have about 10 scans; this leaves room for
# embedded previews and multi-picture files while stopping scan bombs.
MAX_JPEG_SCANS = 100

# The same table as ImageOps.exif_transpose; we apply it to the 500 px result
# rather than to the whole decoded image.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = {5, 6, 7, 8}

# Everything Pillow raises while parsing or decoding bad data. OSError is in
# the list because Pillow reports truncated/broken streams with it; reading
# the file happens before decoding, so a real I/O error never reaches here.
# MemoryError is left out on purpose: it may be the machine's state, not the file's.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
                  ZeroDivisionError, OverflowError, struct.error, RuntimeError, AssertionError)


class ImageRejected(Exception):
    """The file is not an image we will thumbnail; retrying cannot help."""


@dataclass(frozen=True)
class _Plan:
    """Target sizes in the upright (oriented) frame, largest first."""

    sizes: tuple[tuple[int, int], ...]
    orientation: int


def make_thumbnails(local_path: str, max_pixels: int) -> list[str]:
    """Write `<local_path>_500`, `_250`, `_100`; return their paths (blocking).

    Raises ImageRejected for input that can never work, FileNotFoundError if
    the original is gone, OSError for other I/O trouble (worth a retry).
    """
    with open(local_path, "rb") as fh:  # I/O errors surface here, before any decoding
        data = fh.read()
    encoded = render_thumbnails(data, max_pixels)
    written = []
    for width, blob in zip(THUMBNAIL_WIDTHS, encoded, strict=True):
        path = thumbnail_path(local_path, width)
        write_atomically(path, blob)
        written.append(path)
    return written


def render_thumbnails(data: bytes, max_pixels: int) -> list[bytes]:
    """The encoded thumbnails of `data`, one per entry of THUMBNAIL_WIDTHS (no file I/O)."""
    im = _open(data, max_pixels)
    try:
        out_format = "JPEG" if im.format == "MPO" else str(im.format)
        if out_format == "JPEG":
            _check_scans(data)
            plan = _plan(im)  # EXIF sits in the JPEG header: known before decoding
            box = _draft(im, plan)
            _load(im)
        else:
            _load(im)  # a PNG may keep its EXIF after the pixels: decode first
            plan = _plan(im)
            box = (0, 0, *im.size)
        decoded = _sane_mode(im)
        images = _resize_chain(decoded, box, plan)
        return _encode_all(images, out_format, _icc_to_keep(im, decoded))
    finally:
        im.close()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the image from its header and check its size; decode nothing yet."""
    try:
        im = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected(f"not an image Pillow can read in an accepted format ({_ACCEPTED_NAMES})") from None
    except Image.DecompressionBombError as exc:  # Pillow's own limit tripped at open
        raise ImageRejected(_too_many_pixels(exc, max_pixels)) from None
    except _DECODE_ERRORS as exc:
        raise ImageRejected(f"corrupt image header: {exc}") from None
    if im.format not in ALLOWED_FORMATS:  # belt and braces: `formats=` already filters
        im.close()
        raise ImageRejected(f"image format {im.format} is not accepted ({_ACCEPTED_NAMES})")
    width, height = im.size
    if width < 1 or height < 1:
        im.close()
        raise ImageRejected(f"image has an empty size ({width}x{height})")
    if width * height > max_pixels:
        im.close()
        raise ImageRejected(f"image has {width * height} pixels, above the limit of {max_pixels}")
    return im


def _too_many_pixels(exc: Exception, max_pixels: int) -> str:
    """Pillow's bomb message, in our words: it fires at open, before we see the size."""
    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
    if found is None:
        return f"image is too large to decode safely: {exc}"
    pixels, pillow_limit = int(found.group(1)), int(found.group(2))
    return f"image has {pixels} pixels, above the limit of {min(max_pixels, pillow_limit)}"


def _check_scans(data: bytes) -> None:
    """Refuse JPEGs with absurdly many scans before libjpeg walks them all.

    Each progressive scan revisits every block of the picture, so a small
    file with thousands of scans decodes for minutes: the pixel limit does not
    catch it. Entropy-coded data escapes 0xFF, so each FF DA is a scan header
    (or one of an embedded preview's: counting them too only errs on the safe side).
    """
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise ImageRejected(f"JPEG has {scans} scans, above the limit of {MAX_JPEG_SCANS}")


def _orientation(im: Image.Image) -> int:
    """EXIF orientation 1..8; a damaged EXIF block is ignored, not fatal."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # noqa: BLE001 - EXIF is metadata: bad metadata must not sink a good picture
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _plan(im: Image.Image) -> _Plan:
    orientation = _orientation(im)
    width, height = im.size
    if orientation in _SWAPS_AXES:
        width, height = height, width
    sizes = []
    for target in THUMBNAIL_WIDTHS:
        w = min(target, width)  # never upscale: a narrow image gives itself
        h = max(1, round(height * w / width))
        sizes.append((w, h))
    return _Plan(tuple(sizes), orientation)


def _draft(im: Image.Image, plan: _Plan) -> tuple[float, float, float, float]:
    """Have libjpeg decode at the smallest 1/2^k scale still covering the 500 box.

    The box is the 500 thumbnail's real one in stored orientation: draft keeps
    both sides at least that large, so asking for a 500x500 square would cost a
    whole scale step on a landscape photo. Returns the part of the scaled
    decode that holds the picture (the last partial block is padding).
    """
    w, h = plan.sizes[0]
    stored_box = (h, w) if plan.orientation in _SWAPS_AXES else (w, h)
    drafted = im.draft(None, stored_box)
    return drafted[1] if drafted is not None else (0, 0, *im.size)


def _load(im: Image.Image) -> None:
    """Decode the first frame; anything wrong with the data is a rejection."""
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"image is too large to decode safely: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise ImageRejected(f"corrupt or truncated image: {exc}") from None


def _icc_to_keep(source: Image.Image, decoded: Image.Image) -> bytes | None:
    """The ICC profile, unless the pixels left its colour space (CMYK -> RGB...)."""
    icc = source.info.get("icc_profile")
    if not icc:
        return None
    same_space = {"CMYK": {"CMYK"}, "YCbCr": set(), "LAB": set(), "HSV": set()}
    return icc if decoded.mode in same_space.get(source.mode, {decoded.mode}) else None


def _sane_mode(im: Image.Image) -> Image.Image:
    """A mode Lanczos can resize and every output format can take.

    Palette images become RGB(A) (resizing a palette would mean nearest
    neighbour); 16-bit and float greys are scaled to 8 bits; exotic colour
    spaces go to RGB. CMYK is kept for JPEG, which writes it back as is.
    """
    mode = im.mode
    if mode in ("L", "RGB") and "transparency" in im.info:
        return im.convert(mode + "A")  # a colour key would not survive resampling
    if mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if mode == "CMYK":
        return im if im.format in ("JPEG", "MPO") else im.convert("RGB")
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode in ("La", "RGBa"):
        return im.convert(mode.upper())
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _to_8bit_grey(im)
    return im.convert("RGB")  # YCbCr, LAB, HSV, RGBX, ...


def _to_8bit_grey(im: Image.Image) -> Image.Image:
    """16-bit greys keep their look (0..65535 -> 0..255); 32-bit and float
    greys have no fixed range, so their own range is stretched onto 0..255."""
    wide = im.convert("F")
    if im.mode.startswith("I;16"):
        low, scale = 0.0, 1 / 257
    else:
        low, high = cast(tuple[float, float], wide.getextrema())  # one band: (min, max)
        scale = 255.0 / (high - low) if high > low else 0.0
    return wide.point(lambda v: (v - low) * scale).convert("L")


def _resize_chain(
    im: Image.Image, box: tuple[float, float, float, float], plan: _Plan
) -> list[Image.Image]:
    """500 from the decode, then 250 from 500 and 100 from 250; all upright."""
    method = _TRANSPOSE.get(plan.orientation)
    w, h = plan.sizes[0]
    stored = (h, w) if method is not None and plan.orientation in _SWAPS_AXES else (w, h)
    if stored == im.size and box == (0, 0, *im.size):
        first = im
    else:
        first = im.resize(stored, FIRST_RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    if method is not None:
        first = first.transpose(method)
    images = [first]
    for size in plan.sizes[1:]:
        previous = images[-1]
        images.append(previous if previous.size == size else previous.resize(size, RESAMPLE))
    return images


def _encode_all(images: list[Image.Image], out_format: str, icc: bytes | None) -> list[bytes]:
    """Encode each size once (a narrow image repeats itself across widths)."""
    done: dict[int, bytes] = {}
    result = []
    for image in images:
        key = id(image)
        if key not in done:
            image.info = {}  # PNG and TIFF writers fall back to info: only what we pass goes out
            try:
                done[key] = _encode(image, out_format, icc)
            except _DECODE_ERRORS as exc:  # deterministic: the same input fails the same way
                raise ImageRejected(f"could not write a {out_format} thumbnail: {exc}") from None
        result.append(done[key])
    return result


def _encode(im: Image.Image, out_format: str, icc: bytes | None) -> bytes:
    """Same format as the original; the ICC profile is kept (colours stay right),
    EXIF is not (orientation is applied, and GPS data need not travel)."""
    buf = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    if out_format == "JPEG":
        if im.mode not in ("L", "RGB", "CMYK"):
            im = im.convert("RGB")  # JPEG has no alpha
        im.save(buf, "JPEG", quality=JPEG_QUALITY, **extra)
    elif out_format == "PNG":
        im.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, **extra)
    elif out_format == "WEBP":
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        im.save(buf, "WEBP", quality=WEBP_QUALITY, **extra)
    elif out_format == "GIF":
        if im.mode == "LA":
            im = im.convert("RGBA")
        im.save(buf, "GIF")  # Pillow quantizes RGB(A) itself, keeping a transparent slot
    elif out_format == "TIFF":
        im.save(buf, "TIFF", compression="tiff_adobe_deflate", **extra)
    else:  # BMP
        if im.mode == "LA":
            im = im.convert("RGBA")
        im.save(buf, out_format)
    return buf.getvalue()
