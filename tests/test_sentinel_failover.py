"""The whole service (`python supervisor.py`, two API workers, one job worker)
on a Sentinel-managed Redis whose master is SIGKILLed while several clients
upload images (v1 POST /files):

- every request answered gets 201 or a clear 503 (JSON error, Retry-After),
  never a 500, never a hang past the client's timeout;
- every upload answered 201 gets its thumbnails;
- once a replica is promoted, uploads succeed again with no restart of
  anything (no child of the supervisor is replaced);
- a token made before the kill still works after it.

Real redis-server and redis-sentinel processes (tests/engines/sentinel.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.conftest import IMAGES, running_supervisor, service_env, until
from tests.engines.sentinel import SentinelRedis

CLIENTS = 4
REQUEST_TIMEOUT = 30.0  # seconds: an answer later than this is a hang
IMAGE = (IMAGES / "hopper.jpg").read_bytes()


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no answer (within REQUEST_TIMEOUT); `body` says why
    body: str = ""
    retry_after: str | None = None
    file_id: str | None = None


async def upload(http: aiohttp.ClientSession, url: str, token: str, n: int) -> Outcome:
    body = {"name": f"image-{n}.jpg", "type": "image", "data": base64.b64encode(IMAGE).decode()}
    try:
        async with http.post(f"{url}/files", json=body, headers={"X-Token": token}) as resp:
            text = await resp.text()
            file_id = json.loads(text).get("id") if resp.status == 201 else None
            return Outcome(resp.status, text, resp.headers.get("Retry-After"), file_id)
    except (TimeoutError, aiohttp.ClientError) as exc:  # no answer in time, or none at all
        return Outcome(None, repr(exc))


async def sign_up(http: aiohttp.ClientSession, url: str) -> str:
    email, password = f"{secrets.token_hex(4)}@example.com", secrets.token_hex(8)
    async with http.post(f"{url}/users", json={"email": email, "password": password}) as resp:
        assert resp.status == 201, await resp.text()
    basic = base64.b64encode(f"{email}:{password}".encode()).decode()
    async with http.get(f"{url}/connect", headers={"Authorization": f"Basic {basic}"}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["token"]


def events(log: Path) -> list[str]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line).get("event", ""))
        except ValueError:
            continue
    return found


async def test_uploads_ride_through_a_master_killed_under_load(sentinel_engine: SentinelRedis, tmp_path: Path):
    env = service_env(tmp_path, sentinel_engine.url, API_WORKERS="2", JOB_WORKERS="1", WORKER_CLAIM_IDLE="2")
    url = f"http://127.0.0.1:{env['PORT']}"
    log = tmp_path / "service.log"
    with running_supervisor(env, log):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as http:
            token = await sign_up(http, url)
            await asyncio.to_thread(sentinel_engine.wait_replicated)  # the token is on the replica too
            outcomes: list[Outcome] = []
            stop = asyncio.Event()

            async def client(n: int) -> None:
                while not stop.is_set():
                    outcome = await upload(http, url, token, n)
                    outcomes.append(outcome)
                    if outcome.status == 503 and outcome.retry_after:  # as a polite client does
                        await asyncio.sleep(min(float(outcome.retry_after), 1.0))

            def created(since: int = 0) -> int:
                return sum(1 for o in outcomes[since:] if o.status == 201)

            clients = [asyncio.create_task(client(n)) for n in range(CLIENTS)]
            try:
                await until(lambda: created() >= 2 * CLIENTS, what="uploads before the kill", timeout=60)
                old = await asyncio.to_thread(sentinel_engine.kill_master)
                killed_at = len(outcomes)
                await asyncio.to_thread(sentinel_engine.wait_for_failover, old)
                promoted_at = len(outcomes)
                await until(lambda: created(promoted_at) >= 2 * CLIENTS,
                            what="uploads accepted again after the failover", timeout=60)
            finally:
                stop.set()
                await asyncio.gather(*clients)

            statuses = {o.status for o in outcomes}
            assert statuses <= {201, 503}, ([o for o in outcomes if o.status not in (201, 503)][:5],
                                            log.read_text()[-5000:])
            refused = [o for o in outcomes if o.status == 503]
            assert refused, "no request saw the outage"
            assert all(o.retry_after and json.loads(o.body)["error"] for o in refused), refused[:3]
            assert any(o.status == 503 for o in outcomes[killed_at:])

            # Every upload answered 201, before, during or after the switch, gets its thumbnails.
            waiting = {o.file_id for o in outcomes if o.status == 201}
            assert len(waiting) >= 4 * CLIENTS

            async def thumbnails_served() -> bool:
                for file_id in list(waiting):
                    async with http.get(f"{url}/files/{file_id}/data", params={"size": "100"},
                                        headers={"X-Token": token}) as resp:
                        if resp.status == 200:
                            waiting.discard(file_id)
                return not waiting

            await until(thumbnails_served, what="every accepted upload's thumbnails", timeout=60)

            async with http.get(f"{url}/users/me", headers={"X-Token": token}) as resp:
                assert resp.status == 200, await resp.text()  # the token made before the kill

    seen = events(log)
    assert "backend.unavailable" in seen  # the 503s were the outage's, said in the log
    assert "child.restart" not in seen and "worker.crashed" not in seen  # nothing had to be restarted
