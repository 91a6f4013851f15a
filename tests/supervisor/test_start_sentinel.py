"""A start on sentinels that name no master: exit 3, saying where it looked
(the URL without its passwords)."""

from __future__ import annotations

from tests.conftest import free_port


def test_sentinels_unreachable_exit_3_naming_them_without_passwords(start_service):
    ports = (free_port(), free_port())
    url = (f"redis+sentinel://app:hunter2@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/mymaster/0"
           "?sentinel_password=swordfish")
    service = start_service(REDIS_URL=url, START_TIMEOUT="0.5")
    assert service.wait_exit() == 3
    err = "".join(service.stderr)
    shown = f"redis+sentinel://***@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/mymaster/0?sentinel_password=***"
    assert f"Redis unreachable at {shown}" in err
    assert "No master found for 'mymaster'" in err
    assert "hunter2" not in err and "swordfish" not in err
    assert service.named("child.spawn") == []
