"""README.md's nginx site for several nodes is the one the cluster tests run behind."""

from __future__ import annotations

from tests.conftest import PROJECT

from .nginx import site

SECTION = "### Several nodes behind a load balancer"


def test_the_readme_shows_the_site_the_cluster_tests_use() -> None:
    readme = (PROJECT / "README.md").read_text()
    start = readme.index(SECTION)
    section = readme[start:readme.index("\n## ", start)]
    shown = site(["10.0.0.11:5000", "10.0.0.12:5000", "10.0.0.13:5000"], "80")
    assert f"```nginx\n{shown}```" in section
