"""Collector settings: defaults, WARDROUND_DB, the YAML file, flags."""

from __future__ import annotations

import pytest

from collector.config import DEFAULT_DB_URL, ConfigError, HttpLimits, Settings, load_settings


def test_defaults_are_local_sqlite_and_port_8480_when_nothing_given(monkeypatch):
    monkeypatch.delenv("WARDROUND_DB", raising=False)
    s = load_settings()
    assert s == Settings()
    assert (s.db_url, s.host, s.port) == (DEFAULT_DB_URL, "127.0.0.1", 8480)
    assert s.max_body_bytes == 8 * 1024 * 1024


def test_flags_beat_file_beats_env_when_all_given(monkeypatch, tmp_path):
    monkeypatch.setenv("WARDROUND_DB", "sqlite:///env.db")
    assert load_settings().db_url == "sqlite:///env.db"
    f = tmp_path / "c.yaml"
    f.write_text("db: sqlite:///file.db\nlisten: {host: 0.0.0.0, port: 9000}\nworkers: 2\n"
                 "max_body_bytes: 65536\n")
    s = load_settings(f)
    assert (s.db_url, s.host, s.port, s.workers, s.max_body_bytes) == (
        "sqlite:///file.db", "0.0.0.0", 9000, 2, 65536)
    s = load_settings(f, db_url="sqlite:///flag.db", port=9001, host=None)
    assert (s.db_url, s.host, s.port) == ("sqlite:///flag.db", "0.0.0.0", 9001)


def test_every_problem_is_reported_when_file_has_several(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("db: ''\nlisten: {port: 70000, host: 5, extra: 1}\nworkers: two\n"
                 "max_body_bytes: true\nx: 1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert err.value.exit_code == 2
    keys = [p.split(": ")[1] for p in err.value.problems]
    assert sorted(keys) == sorted(["x", "db", "listen.extra", "listen.host", "listen.port", "workers",
                                   "max_body_bytes"])
    assert all(p.startswith(f"{f}: ") for p in err.value.problems)


@pytest.mark.parametrize("text, expected", [
    ("db: [unclosed", "not valid YAML"),
    ("- a list\n", "expected a mapping"),
    ("listen: 8480\n", "listen: expected a mapping"),
    ("retention:\n  results: 2026-02-30\n", "not valid YAML: day is out of range"),  # was a traceback
    ("db: " + "[" * 20000 + "]" * 20000, "not valid YAML: nested too deeply"),
])
def test_file_error_names_the_file_when_not_a_mapping(tmp_path, text, expected):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=expected) as err:
        load_settings(f)
    assert str(err.value).startswith(str(f))


def test_missing_file_is_a_config_error_when_path_wrong(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_empty_file_means_defaults_when_given(tmp_path, monkeypatch):
    monkeypatch.delenv("WARDROUND_DB", raising=False)
    f = tmp_path / "c.yaml"
    f.write_text("# nothing\n")
    assert load_settings(f) == Settings()


def test_http_limits_and_trusted_proxies_are_read_when_given(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("http: {header_timeout: 5s, body_timeout: 2m, keep_alive: 3, max_connections: 500}\n"
                 "trusted_proxies: [127.0.0.1, 10.0.0.0/8, '::1', 192.168.10.7/24]\n")
    s = load_settings(f)
    assert s.http == HttpLimits(header_timeout=5.0, body_timeout=120.0, keep_alive=3.0, max_connections=500)
    assert s.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128", "192.168.10.0/24")
    assert Settings().http == HttpLimits() and Settings().trusted_proxies == ()


def test_every_http_and_proxy_problem_is_reported_when_the_file_has_several(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("http: {header_timeout: soon, body_timeout: 2h, max_connections: 3, colour: red}\n"
                 "trusted_proxies: [10.0.0.0/8, proxy.example, 300.1.1.1]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    keys = sorted(p.split(": ")[1] for p in err.value.problems)
    assert keys == ["http.body_timeout", "http.colour", "http.header_timeout", "http.max_connections",
                    "trusted_proxies[1]", "trusted_proxies[2]"]


def test_the_installed_config_is_taken_when_present_and_when_this_user_may_not_look_at_it(tmp_path):
    from collector.config import installed_config

    present = tmp_path / "collector.yaml"
    present.write_text("db: sqlite:///x.db\n")
    assert installed_config(str(present)) == str(present)
    assert installed_config(str(tmp_path / "none.yaml")) is None
    assert installed_config(str(tmp_path)) is None  # a folder is no config

    # /etc/wardround that this user may not enter (root, running the tests, is never refused: the
    # refusal is handed in): the file is taken, so reading it says why, instead of the default database
    def refused(path: str):
        raise PermissionError(13, "Permission denied", path)

    assert installed_config("/etc/wardround/collector.yaml", stat=refused) == "/etc/wardround/collector.yaml"
