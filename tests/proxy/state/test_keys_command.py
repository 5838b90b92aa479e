"""`safety-proxy keys create`: the key is printed once, only its keyed hash goes into the
config, and the entry it prints is one the proxy accepts as it is."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from proxy.cli import main
from proxy.config.loader import ConfigError, parse
from proxy.pipeline.identify import Identifier
from proxy.protocol.errors import Unauthorized
from tests.proxy.state.helpers import SECRET

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def cli(*argv: str) -> int:
    return main(argv)


def config_file(tmp_path: Path, **sections: object) -> Path:
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump({"upstream": {"base_url": "http://127.0.0.1:9/v1"},
                                    "identity": {"secret": SECRET}, **sections}))
    return path


def test_a_created_key_is_accepted_by_the_config_it_is_pasted_into(tmp_path, capsys) -> None:
    tenants = {"known": {"support": {}}}
    path = config_file(tmp_path, tenants=tenants)
    assert cli("keys", "create", "--id", "support-bot", "--tenant", "support", "--name-users",
               "--expires", "2027-01-31T00:00:00+00:00", "--config", str(path)) == 0
    key, entry_line = capsys.readouterr().out.splitlines()
    assert key.startswith("sp-") and len(key) >= 40
    (entry,) = yaml.safe_load(entry_line)  # a YAML list item, pasted as it is
    assert key not in entry_line
    assert entry == {"id": "support-bot", "hash": Identifier(SECRET.encode()).hash(
        "api_key", key), "tenant": "support", "name_users": True,
        "expires": "2027-01-31T00:00:00Z"}
    config_path = config_file(tmp_path, tenants=tenants,
                              auth={"mode": "keys", "keys": [entry]})
    config = parse(config_path.read_bytes(), str(config_path)).config
    caller = Identifier(SECRET.encode()).caller(config, {"x-api-key": key}, None, NOW)
    assert (caller.key_id, caller.tenant, caller.principal.application) == (
        "support-bot", "support", True)
    with pytest.raises(Unauthorized):  # another key made the same way is not this one
        Identifier(SECRET.encode()).caller(config, {"x-api-key": key + "x"}, None, NOW)


def test_two_keys_are_never_the_same(tmp_path, capsys) -> None:
    path = config_file(tmp_path)
    made = set()
    for _ in range(2):
        assert cli("keys", "create", "--id", "a", "--config", str(path)) == 0
        made.add(capsys.readouterr().out.splitlines()[0])
    assert len(made) == 2


def test_a_bad_key_id_is_a_clear_error(tmp_path, capsys) -> None:
    path = config_file(tmp_path)
    assert cli("keys", "create", "--id", "Bad Name", "--config", str(path)) == 2
    captured = capsys.readouterr()
    assert "id" in captured.err and captured.out == "", "no key is shown for nothing"


def test_a_key_for_an_undeclared_tenant_does_not_load(tmp_path, capsys) -> None:
    assert cli("keys", "create", "--id", "a", "--tenant", "nope", "--config",
               str(config_file(tmp_path))) == 0
    (entry,) = yaml.safe_load(capsys.readouterr().out.splitlines()[1])
    bad = config_file(tmp_path, auth={"mode": "keys", "keys": [entry]})
    with pytest.raises(ConfigError, match="no tenant named 'nope'"):
        parse(bad.read_bytes(), str(bad))


def test_a_config_without_a_secret_cannot_make_keys(tmp_path, capsys) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump({"upstream": {"base_url": "http://127.0.0.1:9/v1"},
                                    "identity": {"secret_env": None}}))
    assert cli("keys", "create", "--id", "a", "--config", str(path)) == 1
    assert "identity.secret" in capsys.readouterr().err


def test_an_end_users_hash_is_scoped_to_its_key(tmp_path, capsys, monkeypatch) -> None:
    path = str(config_file(tmp_path))
    key_hash = Identifier(SECRET.encode()).hash("api_key", "sk-app")
    monkeypatch.setattr("sys.stdin", io.StringIO("user-1\n"))
    assert cli("principals", "hash", "--source", "user", "--key-hash", key_hash,
               "--config", path) == 0
    assert capsys.readouterr().out.strip() == Identifier(SECRET.encode()).user_hash(
        "user-1", key_hash)
