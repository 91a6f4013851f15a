"""The tus case of bench/upload_bench.py: one file through /v2/uploads in
PATCHes of `chunk_size` bytes, sent by curl pinned away from the server as
the other cases are (the client's cost is not what is measured).

    from bench.tus_client import tus_upload   # then TUS_READY = True

Each chunk goes to curl on its stdin (`--data-binary @-`): the creation
POST, then PATCH after PATCH at the offset the server answered, the last
one answering File-Id. Returns the new file's v2 document (GET /v2/files/:id).
Run alone, it uploads a file to a running service:

    .venv/bin/python bench/tus_client.py URL TOKEN PATH [CHUNK_MIB]
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ensure_tool, pinned

CLIENT_CPU = 0
MIB = 1024 * 1024


def _curl(args: list[str], body: bytes | Path | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request: (status, headers of the answer, lowercased names, body)."""
    with tempfile.NamedTemporaryFile() as out, tempfile.NamedTemporaryFile() as head:
        command = [*pinned(CLIENT_CPU), ensure_tool("curl", "curl"), "-sS", "-o", out.name, "-D", head.name,
                   "-w", "%{http_code}", "-H", "Expect:", *args]
        if isinstance(body, Path):  # a whole file, streamed by curl (its stdin holds at most ~1 GiB)
            command += ["-T", str(body)]
        elif body is not None:
            command += ["--data-binary", "@-"]
        done = subprocess.run(command, input=body if isinstance(body, bytes) else None, capture_output=True)
        if done.returncode:
            raise RuntimeError(f"curl exited {done.returncode}: {done.stderr.decode(errors='replace')}")
        headers = {}
        for line in Path(head.name).read_text("latin-1").splitlines()[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(done.stdout), headers, Path(out.name).read_bytes()


def tus_upload(base_url: str, token: str, path: Path, chunk_size: int) -> dict:
    """Upload `path` through tus at `base_url`/v2/uploads in PATCHes of
    `chunk_size` bytes; return the new file's document."""
    size = path.stat().st_size
    auth = ["-H", f"X-Token: {token}", "-H", "Tus-Resumable: 1.0.0"]
    name = base64.b64encode(path.name.encode()).decode()
    status, headers, body = _curl([*auth, "-X", "POST", "-H", f"Upload-Length: {size}",
                                   "-H", f"Upload-Metadata: filename {name}", base_url + "/v2/uploads"])
    assert status == 201, body[:300]
    url = base_url + headers["location"]
    offset, file_id = 0, headers.get("file-id")
    with open(path, "rb") as source:
        while offset < size:
            chunk: bytes | Path = path
            if chunk_size < size:
                chunk = source.read(chunk_size)
            else:
                source.seek(size)
            status, headers, body = _curl([*auth, "-X", "PATCH", "-H", f"Upload-Offset: {offset}",
                                           "-H", "Content-Type: application/offset+octet-stream", url], chunk)
            assert status == 204, body[:300]
            offset = int(headers["upload-offset"])
            assert offset == source.tell(), (offset, source.tell())
            file_id = headers.get("file-id")
    assert file_id is not None, "the last PATCH named no file"
    status, _, body = _curl(["-H", f"X-Token: {token}", f"{base_url}/v2/files/{file_id}"])
    assert status == 200, body[:300]
    return json.loads(body)


if __name__ == "__main__":
    chunk = int(sys.argv[4]) * MIB if len(sys.argv) > 4 else 16 * MIB
    print(json.dumps(tus_upload(sys.argv[1].rstrip("/"), sys.argv[2], Path(sys.argv[3]), chunk), indent=2))
