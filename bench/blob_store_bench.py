"""The blob stores head to head: write and read `--mib` MiB through each
implementation of shared/blob_store.py (the folder; S3 on moto's server,
tests/engines/s3.py), wall time and this process's CPU per GiB.

    .venv/bin/python bench/blob_store_bench.py [--mib 256] [--rounds 2]

moto keeps objects in a Python process's memory: its figures bound what the
client side (aiobotocore, hashing, part buffering) costs, not what a real
S3, MinIO or Ceph would sustain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.config import load_settings
from shared.open_blobs import open_blob_store
from tests.engines.s3 import PART_SIZE, make_bucket, running_s3

BLOCK = 1024 * 1024


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one(settings, mib: int) -> tuple[float, float, float, float]:
    data = os.urandom(BLOCK)
    async with open_blob_store(settings) as blobs:
        wall, used = time.monotonic(), cpu()
        async with blobs.writer() as writer:
            for _ in range(mib):
                await writer.write(data)
            location = await writer.commit()
        write = (time.monotonic() - wall, cpu() - used)
        wall, used = time.monotonic(), cpu()
        got = 0
        async for chunk in blobs.read(location):
            got += len(chunk)
        assert got == mib * BLOCK
        read = (time.monotonic() - wall, cpu() - used)
        await blobs.remove(location)
    return (*write, *read)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_s3(Path(tmp)) as server:
        os.environ.update(server.env)
        bucket = make_bucket(server)
        base = {"FOLDER_PATH": f"{tmp}/files", "DB_URL": f"sqlite:///{tmp}/db", "REDIS_URL": "redis://127.0.0.1:1/0"}
        cases = {
            "folder": load_settings(env=base),
            "s3 (moto)": load_settings(env={**base, "BLOB_URL": f"s3://{bucket}/files",
                                            "S3_ENDPOINT_URL": server.endpoint, "S3_ADDRESSING_STYLE": "path",
                                            "BLOBS_PART_SIZE": str(4 * PART_SIZE)}),
        }
        gib = args.mib / 1024
        print(f"{args.mib} MiB per round, {args.rounds} rounds; per GiB: wall s / this process's CPU s")
        for name, settings in cases.items():
            for _ in range(args.rounds):
                w_wall, w_cpu, r_wall, r_cpu = asyncio.run(one(settings, args.mib))
                print(f"{name:<10} write {w_wall / gib:6.2f} s / {w_cpu / gib:5.2f} s CPU   "
                      f"read {r_wall / gib:6.2f} s / {r_cpu / gib:5.2f} s CPU")


if __name__ == "__main__":
    main()
