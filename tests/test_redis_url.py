"""REDIS_URL: a server, or the sentinels that know the master
(shared/redis_url.py); a URL that cannot work is a ConfigError naming the
setting, without its passwords."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, load_settings, redact
from shared.redis_url import SentinelLocation, sentinel_location


@pytest.mark.parametrize("url, expected", [
    ("redis+sentinel://s1:26379,s2:26380,s3/mymaster/0",
     SentinelLocation((("s1", 26379), ("s2", 26380), ("s3", 26379)), "mymaster", 0)),
    ("redis+sentinel://127.0.0.1/files", SentinelLocation((("127.0.0.1", 26379),), "files", 0)),
    ("redis+sentinel://[::1]:5000,[fe80::1]/m/3/", SentinelLocation((("::1", 5000), ("fe80::1", 26379)), "m", 3)),
    ("redis+sentinel://:s%40cret@s1/m/2", SentinelLocation((("s1", 26379),), "m", 2, password="s@cret")),
    ("redis+sentinel://app:pw@s1,s2/m?sentinel_password=sp&sentinel_username=watch",
     SentinelLocation((("s1", 26379), ("s2", 26379)), "m", 0, username="app", password="pw",
                      sentinel_username="watch", sentinel_password="sp")),
])
def test_a_sentinel_url_names_sentinels_master_database_and_credentials(url, expected):
    assert sentinel_location(url) == expected
    assert load_settings(env={"REDIS_URL": url}).redis.url == url


@pytest.mark.parametrize("url, message", [
    ("redis+sentinel:///mymaster/0", "no sentinel named"),
    ("redis+sentinel://s1:26379", "no master name after the sentinels"),
    ("redis+sentinel://s1:26379/", "no master name after the sentinels"),
    ("redis+sentinel://s1:263x9/m", "'263x9' in 's1:263x9' is not a port number"),
    ("redis+sentinel://s1:0/m", "'0' in 's1:0' is not a port number"),
    ("redis+sentinel://s1,,s2/m", "'' is not host:port"),
    ("redis+sentinel://s1/m/zero", "'zero' is not a database number"),
    ("redis+sentinel://s1/m/0/1", "'m/0/1' is not master/db"),
    ("redis+sentinel://s1/m?password=x", "unknown option 'password'"),
])
def test_a_bad_sentinel_url_is_a_config_error_naming_the_setting(url, message):
    with pytest.raises(ConfigError) as err:
        load_settings(env={"REDIS_URL": url})
    assert str(err.value).startswith(f"redis.url (REDIS_URL): {redact(url)!r}: ")
    assert message in str(err.value)


def test_the_passwords_of_a_bad_url_are_not_in_the_error():
    url = "redis+sentinel://app:hunter2@s1:bad/m?sentinel_password=swordfish"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"REDIS_URL": url})
    message = str(err.value)
    assert "hunter2" not in message and "swordfish" not in message
    assert "redis+sentinel://***@s1:bad/m?sentinel_password=***" in message


def test_a_url_of_no_redis_kind_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_settings(env={"REDIS_URL": "http://user:pw@cache:6379"})
    assert str(err.value) == ("redis.url (REDIS_URL): 'http://***@cache:6379' is none of redis://, rediss://, "
                              "unix:// or redis+sentinel://host:26379[,host2:26379...]/master[/db]")


@pytest.mark.parametrize("url", ["redis://r:6380/2", "rediss://:pw@r/0", "unix:///run/redis.sock?db=1"])
def test_plain_redis_urls_are_taken_as_before(url):
    assert load_settings(env={"REDIS_URL": url}).redis.url == url
