"""A cluster: nodes on the shared engines, nginx in front of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .nginx import Nginx, running_nginx
from .nodes import Node, running_nodes


@dataclass
class Cluster:
    nodes: list[Node]
    nginx: Nginx

    @property
    def url(self) -> str:
        """The load balancer: where clients go."""
        return self.nginx.url

    def kill_node(self, index: int) -> None:
        self.nodes[index].kill()

    def restart_node(self, index: int) -> None:
        self.nodes[index].start()

    def heal(self) -> None:
        """Every node running again (after a test that killed one and failed)."""
        for node in self.nodes:
            if not node.running():
                node.start()


@contextlib.contextmanager
def running_cluster(folder: Path, engines: Mapping[str, str], count: int = 3, *,
                    nginx_workers: int = 1) -> Iterator[Cluster]:
    with running_nodes(count, engines, folder / "nodes") as nodes, \
            running_nginx(folder / "nginx", [node.address for node in nodes], workers=nginx_workers) as nginx:
        yield Cluster(nodes, nginx)
