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
from dataclasses import dataclass

from PIL import ExifTags, Image, UnidentifiedImageError

from shared.blobs import thumbnail_path, write_atomically

WIDTHS = (500, 250, 100)

# What we agree to decode. MPO is how Pillow names phone JPEGs that carry a
# second (depth/preview) picture: it is a JPEG and is written as one.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_OPEN_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")  # MPO is found through JPEG
_ACCEPTED_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF"

JPEG_QUALITY = 85
WEBP_QUALITY = 85
PNG_COMPRESS_LEVEL = 3  # zlib level: 6 (Pillow's default) costs ~2x the time for ~5 % smaller files
# The first step works on the decode (up to ~2x the 500 box, or a whole PNG):
# its cost grows with the input's pixels and Lanczos's wider kernel costs ~1.8x
# bicubic's there for ~0.1 dB. The chained steps work on small images, where
# Lanczos's sharpness is cheap.
FIRST_RESAMPLE = Image.Resampling.BICUBIC
RESAMPLE = Image.Resampling.LANCZOS
# First shrink by an integer factor with a box filter while the image is at
# least this many times larger than the target, then Lanczos: near-identical
# quality, much less work on large non-JPEG images (JPEGs are shrunk by draft).
REDUCING_GAP = 3.0

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
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                  TypeError, ZeroDivisionError, MemoryError, OverflowError)


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
    for width, blob in zip(WIDTHS, encoded, strict=True):
        path = thumbnail_path(local_path, width)
        write_atomically(path, blob)
        written.append(path)
    return written


def render_thumbnails(data: bytes, max_pixels: int) -> list[bytes]:
    """The encoded thumbnails of `data`, one per entry of WIDTHS (no file I/O)."""
    im = _open(data, max_pixels)
    try:
        out_format = "JPEG" if im.format == "MPO" else im.format
        plan = _plan(im)
        im, box = _decode(im, plan)
        images = _resize_chain(im, box, plan)
        return _encode_all(images, out_format, im.info)
    finally:
        im.close()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the image from its header and check its size; decode nothing yet."""
    try:
        im = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected(f"not an image Pillow can read in an accepted format ({_ACCEPTED_NAMES})") from None
    except Image.DecompressionBombError as exc:  # Pillow's own, larger limit tripped at open
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
    found = re.search(r"\((\d+) pixels\)", str(exc))
    if found is None:
        return f"image is too large to decode safely (a decompression bomb?): {exc}"
    pixels = int(found.group(1))
    return f"image has {pixels} pixels, above the limit of {min(max_pixels, pixels - 1)}"


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
    for target in WIDTHS:
        w = min(target, width)  # never upscale: a narrow image gives itself
        h = max(1, round(height * w / width))
        sizes.append((w, h))
    return _Plan(tuple(sizes), orientation)


def _decode(im: Image.Image, plan: _Plan) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """Decode the first frame once, JPEGs at the smallest scale still >= the 500 box.

    Returns the decoded image (in stored orientation, sane mode) and the box
    of it that holds the whole picture (draft may pad the last partial block).
    """
    box: tuple[float, float, float, float] = (0, 0, *im.size)
    if im.format in ("JPEG", "MPO"):
        w, h = plan.sizes[0]
        stored_box = (h, w) if plan.orientation in _SWAPS_AXES else (w, h)
        drafted = im.draft(None, stored_box)
        if drafted is not None:
            box = drafted[1]
    try:
        im.load()
        decoded = _sane_mode(im)
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"image is too large to decode safely: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise ImageRejected(f"corrupt or truncated image: {exc}") from None
    if decoded is not im:
        decoded.info = dict(im.info)
        im.close()
    return decoded, box


def _sane_mode(im: Image.Image) -> Image.Image:
    """A mode Lanczos can resize and every output format can take.

    Palette images become RGB(A) (resizing a palette would mean nearest
    neighbour); 16-bit and float greys are scaled to 8 bits; exotic colour
    spaces go to RGB. CMYK is kept for JPEG, which writes it back as is.
    """
    mode = im.mode
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
    """Map 16-bit, 32-bit or float greys onto 0..255 by their own range."""
    wide = im.convert("F")
    low, high = wide.getextrema()
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


def _encode_all(images: list[Image.Image], out_format: str, info: dict) -> list[bytes]:
    """Encode each size once (a narrow image repeats itself across widths)."""
    done: dict[int, bytes] = {}
    result = []
    for image in images:
        key = id(image)
        if key not in done:
            try:
                done[key] = _encode(image, out_format, info)
            except _DECODE_ERRORS as exc:  # deterministic: the same input fails the same way
                raise ImageRejected(f"could not write a {out_format} thumbnail: {exc}") from None
        result.append(done[key])
    return result


def _encode(im: Image.Image, out_format: str, info: dict) -> bytes:
    """Same format as the original; the ICC profile is kept (colours stay right),
    EXIF is not (orientation is applied, and GPS data need not travel)."""
    buf = io.BytesIO()
    icc = info.get("icc_profile")
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
        im.save(buf, "GIF")  # Pillow quantizes RGB(A) itself, keeping a transparent slot
    elif out_format == "TIFF":
        im.save(buf, "TIFF", compression="tiff_adobe_deflate", **extra)
    else:  # BMP
        if im.mode == "LA":
            im = im.convert("RGBA")
        im.save(buf, out_format)
    return buf.getvalue()
