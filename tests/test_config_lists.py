"""List settings (server.trusted_proxies): a TOML array, or a comma-separated
environment variable; a bad entry is named, and stops the service (exit 2).
The brute-force limits' defaults are the spec's."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest

from shared.config import PROJECT_ROOT, ConfigError, load_settings


def test_brute_force_defaults_are_the_specs():
    s = load_settings(env={})
    assert s.server.trusted_proxies == ()
    assert (s.security.login_max_failures, s.security.login_max_failures_per_address) == (10, 100)
    assert s.security.login_failure_window == 15 * 60
    assert (s.security.signup_max_per_address, s.security.signup_window) == (20, 3600)


def test_trusted_proxies_from_the_file_and_from_the_environment(tmp_path):
    source = (PROJECT_ROOT / "config.toml").read_text()
    path = tmp_path / "c.toml"
    path.write_text(source.replace("trusted_proxies = []", 'trusted_proxies = ["10.0.0.0/8", "::1"]'))
    assert load_settings(path, env={}).server.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    s = load_settings(path, env={"TRUSTED_PROXIES": " 192.168.1.7 , 172.16.0.0/12,"})
    assert s.server.trusted_proxies == (ipaddress.ip_network("192.168.1.7/32"), ipaddress.ip_network("172.16.0.0/12"))


@pytest.mark.parametrize("value, message", [
    ("10.0.0.0/8,10.0.0.300", "server.trusted_proxies (TRUSTED_PROXIES): '10.0.0.300' is not an IP address or network"),
    ("10.0.0.1/8", "server.trusted_proxies (TRUSTED_PROXIES): '10.0.0.1/8' is not an IP address or network"),
    ("proxy.internal", "server.trusted_proxies (TRUSTED_PROXIES): 'proxy.internal' is not an IP address or network"),
])
def test_a_bad_entry_is_named(value, message):
    with pytest.raises(ConfigError) as err:
        load_settings(env={"TRUSTED_PROXIES": value})
    assert str(err.value).startswith(message)


def test_not_a_list_in_the_file(tmp_path):
    source = (PROJECT_ROOT / "config.toml").read_text()
    path = tmp_path / "c.toml"
    path.write_text(source.replace("trusted_proxies = []", "trusted_proxies = [1, 2]"))
    with pytest.raises(ConfigError, match=r"server.trusted_proxies \(c.toml\): \[1, 2\] is not a list of strings"):
        load_settings(path, env={})


def test_the_service_refuses_to_start_with_a_bad_proxy_entry():
    env = {"PATH": "/usr/bin:/bin", "TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip"}
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "supervisor.py")], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'not-an-ip' is not an IP address or network" in proc.stderr
