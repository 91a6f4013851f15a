"""A real `python supervisor.py` (2 API workers, 1 job worker) serving /metrics,
and reading what it serves."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.supervisor.conftest import Service, start_service, sup_env  # noqa: F401 - fixtures
from tests.supervisor.conftest import wait_until as wait_until

TOKEN = "metrics-token-for-tests"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value, 0 when absent (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return {key: v for (sample, key), v in samples.items() if sample == name and wanted <= key}


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@dataclass
class Metered:
    service: Service
    metrics_port: int
    tmp: Path  # the service's TMPDIR: where its metrics directory is made

    @property
    def url(self) -> str:
        return self.service.url

    def scrape(self) -> Samples:
        """Through the master's own port (metrics.port)."""
        status, body, _ = get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert status == 200, body
        return parse(body.decode())

    def scrape_main(self) -> Samples:
        """Through an API worker, with the token."""
        status, body, _ = get(f"{self.url}/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, body
        return parse(body.decode())

    def directories(self) -> list[Path]:
        return sorted(self.tmp.glob("files-manager-metrics-*"))

    def until(self, condition: Callable[[Samples], bool], what: str, timeout: float = 30.0) -> Samples:
        seen: list[Samples] = []

        def check() -> bool:
            seen[:] = [self.scrape()]
            return condition(seen[0])

        wait_until(check, timeout, what)
        return seen[0]


@pytest.fixture
def metered(start_service, tmp_path: Path) -> Iterator[Metered]:  # noqa: F811 - the fixture above
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    service = start_service(API_WORKERS="2", JOB_WORKERS="1", METRICS_TOKEN=TOKEN, METRICS_PORT=str(port),
                            TMPDIR=str(tmp)).ready(60)
    yield Metered(service, port, tmp)
