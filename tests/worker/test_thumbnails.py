"""make_thumbnails on real images (Pillow's own test pictures in tests/images/).

Each test copies what it uses into its own temp folder, so the checks on
"no output and no .part file left" see only what make_thumbnails wrote.
"""

from __future__ import annotations

import io
import math
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFile, ImageOps, ImageStat

from services.worker.thumbnails import ImageRejected, make_thumbnails
from shared.blobs import PART_SUFFIX, THUMBNAIL_WIDTHS

IMAGES = Path(__file__).resolve().parent.parent / "images"
LIMIT = 50_000_000


def place(tmp_path: Path, name: str, data: bytes | None = None) -> str:
    """Put a fixture (or `data`) into tmp_path under a UUID-like name, as uploads are."""
    target = tmp_path / "0b7c3d5e-upload"
    if data is None:
        shutil.copyfile(IMAGES / name, target)
    else:
        target.write_bytes(data)
    return str(target)


def opened(path: str) -> Image.Image:
    im = Image.open(path)
    im.load()
    return im


def sizes(paths: list[str]) -> list[tuple[int, int]]:
    return [opened(p).size for p in paths]


def leftovers(folder: Path, original: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if str(p) != original)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    a, b = a.convert("RGB"), b.convert("RGB")
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def psnr(a: Image.Image, b: Image.Image) -> float:
    a, b = a.convert("RGB"), b.convert("RGB")
    rms = ImageStat.Stat(ImageChops.difference(a, b)).rms
    mse = sum(r * r for r in rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def jpeg_bytes(im: Image.Image, quality: int = 95, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def big_photo(width: int, height: int) -> Image.Image:
    """A real photo scaled up to camera size (flower.jpg is 480x360)."""
    return opened(str(IMAGES / "flower.jpg")).resize((width, height), Image.Resampling.BICUBIC)


# --- sizes ---------------------------------------------------------------


def test_writes_three_widths_beside_the_original_and_returns_their_paths(tmp_path: Path) -> None:
    original = place(tmp_path, "exif_imagemagick_orientation.png")  # 512x512
    paths = make_thumbnails(original, LIMIT)
    assert paths == [f"{original}_{w}" for w in THUMBNAIL_WIDTHS]
    assert sizes(paths) == [(500, 500), (250, 250), (100, 100)]
    assert leftovers(tmp_path, original) == sorted(Path(p).name for p in paths)


def test_large_photo_keeps_its_aspect_ratio(tmp_path: Path) -> None:
    original = place(tmp_path, "", jpeg_bytes(big_photo(3000, 2000)))
    assert sizes(make_thumbnails(original, LIMIT)) == [(500, 333), (250, 167), (100, 67)]


def test_never_upscales_a_narrow_image(tmp_path: Path) -> None:
    original = place(tmp_path, "hopper.jpg")  # 128x128
    paths = make_thumbnails(original, LIMIT)
    assert sizes(paths) == [(128, 128), (128, 128), (100, 100)]


def test_image_between_widths_gives_itself_for_500_only(tmp_path: Path) -> None:
    original = place(tmp_path, "flower.jpg")  # 480x360
    assert sizes(make_thumbnails(original, LIMIT)) == [(480, 360), (250, 188), (100, 75)]


def test_extreme_aspect_ratio_keeps_at_least_one_pixel(tmp_path: Path) -> None:
    strip = big_photo(4000, 3).crop((0, 0, 4000, 3))
    original = place(tmp_path, "", jpeg_bytes(strip))
    assert sizes(make_thumbnails(original, LIMIT)) == [(500, 1), (250, 1), (100, 1)]


def test_thumbnails_look_like_a_careful_full_size_resize(tmp_path: Path) -> None:
    """The fast path (JPEG draft, chained sizes) stays close to a slow Lanczos."""
    photo = big_photo(2400, 1800)
    data = jpeg_bytes(photo)
    original = place(tmp_path, "", data)
    decoded = opened(original)
    for path in make_thumbnails(original, LIMIT):
        ours = opened(path)
        reference = decoded.resize(ours.size, Image.Resampling.LANCZOS)
        # Quality 85 alone costs the reference itself ~30 dB at 100 px, ~40 at 500:
        # what we add on top of that must be small.
        encoded = Image.open(io.BytesIO(jpeg_bytes(reference, quality=85)))
        assert psnr(ours, reference) > psnr(encoded, reference) - 0.5 > 28, path


# --- formats -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("hopper.jpg", "JPEG"), ("flower.jpg", "JPEG"), ("transparent.png", "PNG"),
     ("hopper.gif", "GIF"), ("iss634.gif", "GIF"), ("hopper.webp", "WEBP")],
)
def test_keeps_the_original_format_and_outputs_decode(tmp_path: Path, name: str, fmt: str) -> None:
    original = place(tmp_path, name)
    for path in make_thumbnails(original, LIMIT):
        with Image.open(path) as im:
            assert im.format == fmt
            im.verify()
        im = opened(path)
        assert getattr(im, "n_frames", 1) == 1  # animations give one frame
        assert im.getbbox() is not None  # not an empty/black picture


def test_png_keeps_its_alpha(tmp_path: Path) -> None:
    original = place(tmp_path, "transparent.png")
    source_alpha = opened(original).getchannel("A")
    low, high = source_alpha.getextrema()
    assert low == 0 and high == 255
    for path in make_thumbnails(original, LIMIT):
        im = opened(path)
        assert im.mode == "RGBA"
        alpha = im.getchannel("A")
        assert alpha.getextrema() == (0, 255)
        expected = source_alpha.resize(im.size, Image.Resampling.LANCZOS)
        assert mean_abs_diff(alpha, expected) < 4


def test_palette_png_with_transparency_keeps_it(tmp_path: Path) -> None:
    palette = opened(str(IMAGES / "hopper.gif"))  # mode P
    palette.paste(255, (0, 0, 64, 128))  # left half: palette slot 255, declared transparent
    buf = io.BytesIO()
    palette.save(buf, "PNG", transparency=255)
    original = place(tmp_path, "", buf.getvalue())
    assert opened(original).mode == "P"
    thumb = opened(make_thumbnails(original, LIMIT)[2])
    assert thumb.format == "PNG" and thumb.mode == "RGBA"
    alpha = thumb.getchannel("A")
    assert alpha.getpixel((10, 50)) == 0 and alpha.getpixel((90, 50)) == 255


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    original = place(tmp_path, "iss634.gif")  # 245x245, 42 frames
    with Image.open(original) as anim:
        first = anim.convert("RGB")
        anim.seek(20)
        later = anim.convert("RGB")
    assert mean_abs_diff(first, later) > 2  # the frames really differ
    thumb = opened(make_thumbnails(original, LIMIT)[0])  # 245 wide: its own size
    assert thumb.size == (245, 245)
    assert mean_abs_diff(thumb, first) < mean_abs_diff(thumb, later) / 2


def test_animated_webp_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [opened(str(IMAGES / "hopper.jpg")), ImageOps.invert(opened(str(IMAGES / "hopper.jpg")))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    original = place(tmp_path, "", buf.getvalue())
    assert Image.open(original).n_frames == 2
    thumb = opened(make_thumbnails(original, LIMIT)[0])
    assert thumb.format == "WEBP"
    assert mean_abs_diff(thumb, frames[0]) < 5 < mean_abs_diff(thumb, frames[1])


def test_cmyk_jpeg_stays_a_jpeg_with_the_same_colours(tmp_path: Path) -> None:
    rgb = opened(str(IMAGES / "flower.jpg"))
    original = place(tmp_path, "", jpeg_bytes(rgb.convert("CMYK")))
    thumb = opened(make_thumbnails(original, LIMIT)[1])
    assert thumb.format == "JPEG"
    reference = opened(original).convert("RGB").resize(thumb.size, Image.Resampling.LANCZOS)
    assert psnr(thumb.convert("RGB"), reference) > 30


def test_sixteen_bit_grey_png_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    grey = opened(str(IMAGES / "hopper.jpg")).convert("L")
    wide = grey.point(lambda v: v * 257, mode="I").convert("I;16")  # 0..255 -> 0..65535
    buf = io.BytesIO()
    wide.save(buf, "PNG")
    original = place(tmp_path, "", buf.getvalue())
    assert opened(original).mode.startswith("I")
    thumb = opened(make_thumbnails(original, LIMIT)[2])
    assert thumb.format == "PNG" and thumb.mode == "L"
    assert mean_abs_diff(thumb, grey.resize((100, 100), Image.Resampling.LANCZOS)) < 4


def test_bmp_stays_bmp(tmp_path: Path) -> None:
    buf = io.BytesIO()
    big_photo(800, 600).save(buf, "BMP")
    original = place(tmp_path, "", buf.getvalue())
    paths = make_thumbnails(original, LIMIT)
    assert [opened(p).format for p in paths] == ["BMP"] * 3
    assert sizes(paths) == [(500, 375), (250, 188), (100, 75)]


def test_phone_mpo_jpeg_comes_out_as_a_plain_jpeg(tmp_path: Path) -> None:
    """Phones write JPEGs with a second picture inside; Pillow calls them MPO."""
    photo = big_photo(1200, 900)
    buf = io.BytesIO()
    photo.save(buf, "MPO", save_all=True, append_images=[ImageOps.invert(photo)], quality=95)
    original = place(tmp_path, "", buf.getvalue())
    assert Image.open(original).format == "MPO"
    paths = make_thumbnails(original, LIMIT)
    assert [opened(p).format for p in paths] == ["JPEG"] * 3
    thumb = opened(paths[0])
    assert psnr(thumb, photo.resize(thumb.size, Image.Resampling.LANCZOS)) > 30  # the first picture


def test_tiff_stays_tiff_and_cmyk_becomes_rgb_without_its_cmyk_profile(tmp_path: Path) -> None:
    buf = io.BytesIO()
    fake_cmyk_profile = b"\0" * 128  # only its presence matters: it must not land on RGB pixels
    big_photo(800, 600).convert("CMYK").save(buf, "TIFF", icc_profile=fake_cmyk_profile)
    original = place(tmp_path, "", buf.getvalue())
    assert Image.open(original).info.get("icc_profile") == fake_cmyk_profile
    thumb = opened(make_thumbnails(original, LIMIT)[0])
    assert (thumb.format, thumb.mode, thumb.size) == ("TIFF", "RGB", (500, 375))
    assert "icc_profile" not in thumb.info
    expected = opened(original).convert("RGB").resize((500, 375), Image.Resampling.LANCZOS)
    assert psnr(thumb, expected) > 30


def test_icc_profile_is_kept_and_exif_is_dropped(tmp_path: Path) -> None:
    """Colours stay right; camera and GPS data do not travel with thumbnails."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[0x0112] = 1
    original = place(tmp_path, "", jpeg_bytes(big_photo(1000, 750), icc_profile=icc, exif=exif.tobytes()))
    for path in make_thumbnails(original, LIMIT):
        im = Image.open(path)
        assert im.info.get("icc_profile") == icc
        assert "exif" not in im.info and len(im.getexif()) == 0


def test_progressive_jpeg_is_fine(tmp_path: Path) -> None:
    original = place(tmp_path, "", jpeg_bytes(big_photo(1600, 1200), progressive=True))
    assert opened(original).info.get("progressive")
    assert sizes(make_thumbnails(original, LIMIT)) == [(500, 375), (250, 188), (100, 75)]


def test_png_colour_key_becomes_alpha(tmp_path: Path) -> None:
    """An RGB PNG whose transparency is one colour: resampling would blur the key."""
    rgb = opened(str(IMAGES / "hopper.jpg"))
    rgb.paste((0, 255, 0), (0, 0, 64, 128))
    buf = io.BytesIO()
    rgb.save(buf, "PNG", transparency=(0, 255, 0))
    original = place(tmp_path, "", buf.getvalue())
    thumb = opened(make_thumbnails(original, LIMIT)[2])
    assert thumb.mode == "RGBA"
    assert thumb.getchannel("A").getpixel((10, 50)) == 0
    assert thumb.getchannel("A").getpixel((90, 50)) == 255


# --- EXIF orientation ------------------------------------------------------


def test_jpeg_orientation_6_comes_out_upright(tmp_path: Path) -> None:
    original = place(tmp_path, "hopper_orientation_6.jpg")  # square: compare content
    stored = opened(original)
    upright = ImageOps.exif_transpose(stored)
    paths = make_thumbnails(original, LIMIT)
    for path in paths:
        thumb = opened(path)
        expected = upright.resize(thumb.size, Image.Resampling.LANCZOS)
        wrong = stored.resize(thumb.size, Image.Resampling.LANCZOS)
        assert mean_abs_diff(thumb, expected) < 6
        assert mean_abs_diff(thumb, wrong) > 3 * mean_abs_diff(thumb, expected)
        assert thumb.getexif().get(0x0112, 1) == 1  # no orientation left to apply twice


def test_png_exif_orientation_comes_out_upright(tmp_path: Path) -> None:
    original = place(tmp_path, "exif_imagemagick_orientation.png")  # orientation 3 (180°)
    stored = opened(original)
    upright = ImageOps.exif_transpose(stored)
    thumb = opened(make_thumbnails(original, LIMIT)[0])
    expected = upright.resize(thumb.size, Image.Resampling.LANCZOS)
    wrong = stored.resize(thumb.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(thumb, expected) < 3
    assert mean_abs_diff(thumb, wrong) > 3 * mean_abs_diff(thumb, expected)


@pytest.mark.parametrize("orientation", [6, 8, 5, 7])
def test_rotated_landscape_photo_becomes_a_portrait(tmp_path: Path, orientation: int) -> None:
    """Stored 1600x1200 with a quarter-turn tag: the 500 box is measured upright."""
    photo = big_photo(1600, 1200)
    exif = Image.Exif()
    exif[0x0112] = orientation
    original = place(tmp_path, "", jpeg_bytes(photo, exif=exif.tobytes()))
    paths = make_thumbnails(original, LIMIT)
    assert sizes(paths) == [(500, 667), (250, 333), (100, 133)]
    upright = ImageOps.exif_transpose(opened(original))
    assert upright.size == (1200, 1600)
    thumb = opened(paths[0])
    assert psnr(thumb, upright.resize(thumb.size, Image.Resampling.LANCZOS)) > 30


# --- hostile input ---------------------------------------------------------


def _other_format(fmt: str) -> bytes:
    buf = io.BytesIO()
    opened(str(IMAGES / "hopper.jpg")).save(buf, fmt)
    return buf.getvalue()


def _truncated_png() -> bytes:
    data = (IMAGES / "transparent.png").read_bytes()
    return data[: len(data) // 2]


def _png_with_bad_pixels() -> bytes:
    """A well-formed PNG whose compressed pixel data is scrambled (CRC fixed up)."""
    import struct
    import zlib

    data = bytearray((IMAGES / "transparent.png").read_bytes())
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    body = at + 8
    data[body + 2: body + length] = random.Random(5).randbytes(length - 2)  # keep the zlib header
    data[body + length: body + length + 4] = struct.pack(">I", zlib.crc32(data[at + 4: body + length]))
    return bytes(data)


def _scan_bomb() -> bytes:
    """A progressive JPEG whose last scan is repeated: each pass walks the whole
    picture, so a few thousand of them decode for minutes on a large image."""
    buf = io.BytesIO()
    opened(str(IMAGES / "flower.jpg")).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * 150 + data[end:]


HOSTILE = {
    "decompression bomb": ("decompression_bomb.gif", None, "pixels, above the limit of"),
    "broken png": ("broken.png", None, "not an image"),
    "truncated jpeg": ("truncated_jpeg.jpg", None, "truncated"),
    "random bytes": ("", random.Random(7).randbytes(20_000), "not an image"),
    "text file": ("PILLOW-LICENSE.txt", None, "not an image"),
    "empty file": ("", b"", "not an image"),
    "PPM (readable, not allowed)": ("", _other_format("PPM"), "accepted format"),
    "TGA (readable, not allowed)": ("", _other_format("TGA"), "accepted format"),
    "truncated png": ("", _truncated_png(), "truncated"),
    "png with scrambled pixels": ("", _png_with_bad_pixels(), "corrupt"),
    "jpeg scan bomb": ("", _scan_bomb(), "scans, above the limit of"),
    "jpeg header, garbage body": ("", (IMAGES / "hopper.jpg").read_bytes()[:700]
                                  + random.Random(3).randbytes(5000), "corrupt"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_is_rejected_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    name, data, phrase = HOSTILE[case]
    original = place(tmp_path, name, data)
    with pytest.raises(ImageRejected) as caught:
        make_thumbnails(original, LIMIT)
    message = str(caught.value)
    assert phrase in message
    assert "\n" not in message and len(message) < 300
    assert leftovers(tmp_path, original) == []  # no thumbnail, no .part


def test_bomb_message_names_the_pixel_count(tmp_path: Path) -> None:
    original = place(tmp_path, "decompression_bomb.gif")
    with pytest.raises(ImageRejected, match=r"^image has 4364696535 pixels, above the limit of 50000000$"):
        make_thumbnails(original, LIMIT)


def test_pixel_limit_is_ours_and_checked_before_decoding(tmp_path: Path) -> None:
    original = place(tmp_path, "hopper.jpg")  # 128x128 = 16384 pixels
    with pytest.raises(ImageRejected, match=r"^image has 16384 pixels, above the limit of 16383$"):
        make_thumbnails(original, 16383)
    assert leftovers(tmp_path, original) == []
    assert len(make_thumbnails(original, 16384)) == 3  # the limit itself is allowed


def test_pillow_globals_are_left_alone(tmp_path: Path) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    original = place(tmp_path, "truncated_jpeg.jpg")
    with pytest.raises(ImageRejected):
        make_thumbnails(original, 10)
    with pytest.raises(ImageRejected):
        make_thumbnails(original, LIMIT)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before == (
        Image.MAX_IMAGE_PIXELS, False)


def test_missing_original_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        make_thumbnails(str(tmp_path / "gone"), LIMIT)
    assert list(tmp_path.iterdir()) == []


def test_write_failure_is_an_os_error_not_a_rejection(tmp_path: Path) -> None:
    """The caller retries OSError; the image itself is fine."""
    original = place(tmp_path, "hopper.jpg")
    (tmp_path / (Path(original).name + "_250")).mkdir()  # something in the way
    with pytest.raises(OSError) as caught:
        make_thumbnails(original, LIMIT)
    assert not isinstance(caught.value, ImageRejected)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(PART_SUFFIX)]


# --- idempotence and threads ------------------------------------------------


def test_rerun_overwrites_cleanly(tmp_path: Path) -> None:
    original = place(tmp_path, "flower.jpg")
    for width in THUMBNAIL_WIDTHS:  # a half-written thumbnail from a crashed run
        Path(f"{original}_{width}").write_bytes(b"\xff\xd8 half a jpeg")
    first = make_thumbnails(original, LIMIT)
    contents = [Path(p).read_bytes() for p in first]
    second = make_thumbnails(original, LIMIT)
    assert second == first
    assert [Path(p).read_bytes() for p in second] == contents
    assert sizes(second) == [(480, 360), (250, 188), (100, 75)]
    assert len(leftovers(tmp_path, original)) == 3


def test_concurrent_calls_in_threads_keep_their_own_limits(tmp_path: Path) -> None:
    """Threads share Pillow's globals; each call's max_pixels must still hold."""
    jobs = []
    for i in range(12):
        folder = tmp_path / str(i)
        folder.mkdir()
        name = ("flower.jpg", "transparent.png", "hopper.gif")[i % 3]
        limit = LIMIT if i % 2 == 0 else 1000
        jobs.append((place(folder, name), limit))
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(make_thumbnails, path, limit) for path, limit in jobs]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(len(future.result()))
            except ImageRejected as exc:
                outcomes.append(str(exc))
    for (_, limit), outcome in zip(jobs, outcomes, strict=True):
        if limit == LIMIT:
            assert outcome == 3
        else:
            assert isinstance(outcome, str) and "above the limit of 1000" in outcome
