"""Thumbnail benchmark: our 500/250/100 thumbnails against a naive Pillow loop.

    .venv/bin/python bench/thumbnail_bench.py [--rounds 3] [--only NAME ...]

Photos: the JPEG wallpapers of Debian's `mate-backgrounds` package, fetched
with `apt-get download` into bench/.cache/ (git-ignored) and unpacked with
`dpkg-deb -x` on first use. Both sides run in this one process, pinned to one
core, alternating photo by photo, on bytes already in memory, encoding to
memory (JPEG quality 85): what is measured is decoding, resizing and encoding.

- ours: `services.worker.thumbnails.render_thumbnails` (what make_thumbnails
  does before writing the three files);
- naive: open, full decode, three `copy().thumbnail()` from the full decode,
  save each.

Quality: PSNR of each side's decoded outputs against a slow reference (the
full-size decode resized by Lanczos straight to each width, no reducing gap),
averaged over the three widths; "q85 ceiling" is the reference itself after a
JPEG quality-85 round trip, the most any quality-85 thumbnail can reach.

Targets (issue 3): at least 3x the naive loop on baseline JPEGs, ahead of it
overall and on every photo, PSNR about 35 dB. Results also go to
bench/results/thumbnail_bench.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageChops, ImageStat

from bench.common import ROOT, nothing_left_behind
from services.worker.thumbnails import JPEG_QUALITY, render_thumbnails
from shared.blobs import THUMBNAIL_WIDTHS

CACHE = ROOT / "bench" / ".cache"
PACKAGE = "mate-backgrounds"
MAX_PIXELS = 50_000_000


def fetch_photos() -> list[Path]:
    """The package's JPEGs, downloaded and unpacked once into bench/.cache/."""
    unpacked = CACHE / PACKAGE
    if not unpacked.is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob(f"{PACKAGE}_*.deb"):
            old.unlink()
        subprocess.run(["apt-get", "download", PACKAGE], cwd=CACHE, check=True,
                       stdout=subprocess.DEVNULL)
        deb = next(CACHE.glob(f"{PACKAGE}_*.deb"))
        staging = CACHE / f"{PACKAGE}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
        staging.rename(unpacked)
    return sorted(p for p in unpacked.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def pin_to_one_core() -> int:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def naive(data: bytes) -> list[bytes]:
    """What most code does: full decode, then thumbnail() per width from it."""
    im = Image.open(io.BytesIO(data))
    im.load()
    out = []
    for width in THUMBNAIL_WIDTHS:
        thumb = im.copy()
        thumb.thumbnail((width, im.height))
        buf = io.BytesIO()
        thumb.save(buf, "JPEG", quality=JPEG_QUALITY)
        out.append(buf.getvalue())
    return out


def ours(data: bytes) -> list[bytes]:
    return render_thumbnails(data, MAX_PIXELS)


def psnr(a: Image.Image, b: Image.Image) -> float:
    rms = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).rms
    mse = sum(r * r for r in rms) / len(rms)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


class Reference:
    """Slow, careful thumbnails of one photo: full decode, Lanczos at full size."""

    def __init__(self, data: bytes) -> None:
        self.full = Image.open(io.BytesIO(data))
        self.full.load()
        self.cache: dict[tuple[int, int], Image.Image] = {}

    def at(self, size: tuple[int, int]) -> Image.Image:
        if size not in self.cache:
            self.cache[size] = self.full.resize(size, Image.Resampling.LANCZOS)
        return self.cache[size]

    def score(self, outputs: list[bytes]) -> float:
        values = []
        for blob in outputs:
            im = Image.open(io.BytesIO(blob))
            values.append(psnr(im, self.at(im.size)))
        return statistics.fmean(values)

    def ceiling(self, outputs: list[bytes]) -> float:
        """PSNR of the reference itself after a quality-85 JPEG round trip."""
        values = []
        for blob in outputs:
            ref = self.at(Image.open(io.BytesIO(blob)).size)
            buf = io.BytesIO()
            ref.save(buf, "JPEG", quality=JPEG_QUALITY)
            values.append(psnr(Image.open(buf), ref))
        return statistics.fmean(values)


def timed(fn, data: bytes) -> float:
    start = time.perf_counter()
    fn(data)
    return time.perf_counter() - start


def describe(path: Path, data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as im:
        progressive = bool(im.info.get("progressive") or im.info.get("progression"))
        return {"photo": path.name, "size": f"{im.width}x{im.height}",
                "megapixels": round(im.width * im.height / 1e6, 1),
                "kind": "progressive" if progressive else "baseline"}


def run(photos: list[Path], rounds: int) -> list[dict]:
    rows = []
    payloads = {p: p.read_bytes() for p in photos}
    for path, data in payloads.items():  # quality first, and a warm-up for both sides
        ref = Reference(data)
        mine, theirs = ours(data), naive(data)
        rows.append({**describe(path, data), "psnr_ours": ref.score(mine),
                     "psnr_naive": ref.score(theirs), "psnr_q85_ceiling": ref.ceiling(mine),
                     "t_ours": [], "t_naive": []})
        del ref
    for _ in range(rounds):  # alternate sides photo by photo: drift hits both alike
        for row, data in zip(rows, payloads.values(), strict=True):
            row["t_ours"].append(timed(ours, data))
            row["t_naive"].append(timed(naive, data))
    for row in rows:
        row["s_ours"] = statistics.median(row.pop("t_ours"))
        row["s_naive"] = statistics.median(row.pop("t_naive"))
        row["ratio"] = row["s_naive"] / row["s_ours"]
    return rows


def summary(rows: list[dict], label: str) -> dict:
    ours_s = sum(r["s_ours"] for r in rows)
    naive_s = sum(r["s_naive"] for r in rows)
    return {"set": label, "photos": len(rows), "ours_per_s": len(rows) / ours_s,
            "naive_per_s": len(rows) / naive_s, "ratio": naive_s / ours_s,
            "psnr_ours": statistics.fmean(r["psnr_ours"] for r in rows),
            "psnr_naive": statistics.fmean(r["psnr_naive"] for r in rows)}


def report(rows: list[dict], totals: list[dict]) -> str:
    lines = ["| photo | size | kind | ours img/s | naive img/s | ratio | PSNR ours | PSNR naive | q85 ceiling |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['size']} | {r['kind']} | {1 / r['s_ours']:.1f} | "
                     f"{1 / r['s_naive']:.1f} | {r['ratio']:.2f}x | {r['psnr_ours']:.1f} | "
                     f"{r['psnr_naive']:.1f} | {r['psnr_q85_ceiling']:.1f} |")
    lines += ["", "| set | photos | ours img/s | naive img/s | ratio | PSNR ours | PSNR naive |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for t in totals:
        lines.append(f"| {t['set']} | {t['photos']} | {t['ours_per_s']:.1f} | {t['naive_per_s']:.1f} | "
                     f"{t['ratio']:.2f}x | {t['psnr_ours']:.1f} | {t['psnr_naive']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per photo and side (median kept)")
    parser.add_argument("--only", nargs="*", help="photo file names to keep")
    args = parser.parse_args()

    photos = fetch_photos()
    if args.only:
        photos = [p for p in photos if p.name in set(args.only)]
    cpu = pin_to_one_core()
    rows = run(photos, args.rounds)
    totals = [summary(rows, "all JPEGs")]
    for kind in ("baseline", "progressive"):
        subset = [r for r in rows if r["kind"] == kind]
        if subset:
            totals.append(summary(subset, f"{kind} JPEGs"))
    print(f"Pillow {Image.__version__}, pinned to CPU {cpu}, median of {args.rounds} rounds\n")
    print(report(rows, totals))
    out = ROOT / "bench" / "results" / "thumbnail_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pillow": Image.__version__, "rounds": args.rounds,
                               "photos": rows, "totals": totals}, indent=2))
    worst = min(r["ratio"] for r in rows)
    baseline = next((t for t in totals if t["set"] == "baseline JPEGs"), None)
    print(f"\nslowest ratio on one photo: {worst:.2f}x; "
          f"baseline: {baseline['ratio']:.2f}x (target 3x)" if baseline else "")


if __name__ == "__main__":
    with nothing_left_behind():
        main()
