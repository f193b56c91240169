"""SecretStore and `notifier secret` against the real gnome-keyring of the test session, and
against no keyring at all: passwords round-trip, missing ones are named, and nothing leaks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.core.secrets import SecretState, SecretStore
from notifier.core.settings import SECRETS

pytestmark = pytest.mark.needs_session

REPO = Path(__file__).resolve().parents[2]
NO_KEYRING = "keyring.backends.fail.Keyring"


def run_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None,
            home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m notifier ARGS` from the repository, as a user would run it."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                        XDG_DATA_HOME=str(home / ".local/share"),
                        XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".state"))
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args], input=stdin, capture_output=True, text=True,
        cwd=REPO, env=full_env, timeout=60,
    )


def files_containing(root: Path, needle: str) -> list[Path]:
    data = needle.encode("utf-8")
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def test_set_get_clear_round_trip(fresh_keyring):
    store = SecretStore()
    assert store.backend_name() == "Secret Service"
    assert store.set("skytakeout_admin_password", "pa55-密码") is None
    assert store.get("skytakeout_admin_password") == ("pa55-密码", None)
    assert fresh_keyring.items() == {"skytakeout_admin_password": "pa55-密码"}
    assert store.clear("skytakeout_admin_password") is None
    value, problem = store.get("skytakeout_admin_password")
    assert value is None and problem.state is SecretState.NOT_FOUND
    assert fresh_keyring.items() == {}


def test_overwriting_keeps_one_item(fresh_keyring):
    store = SecretStore()
    store.set("notifier_token", "old")
    store.set("notifier_token", "new")
    assert fresh_keyring.items() == {"notifier_token": "new"}


def test_missing_secret_is_named_in_the_sentence(fresh_keyring):
    value, problem = SecretStore().get("notifier_token")
    assert value is None
    assert problem.state is SecretState.NOT_FOUND
    assert problem.sentence() == "No notifier_token is saved in Secret Service."
    assert SecretStore().clear("notifier_token").state is SecretState.NOT_FOUND


def test_secret_set_reads_stdin_and_status_never_shows_the_value(fresh_keyring):
    value = "admin-pw-7731"
    saved = run_cli("secret", "set", "skytakeout_admin_password", stdin=value + "\n")
    assert saved.returncode == 0, saved.stderr
    assert "skytakeout_admin_password" in saved.stdout and "Secret Service" in saved.stdout
    assert fresh_keyring.items() == {"skytakeout_admin_password": value}

    status = run_cli("secret", "status")
    assert status.returncode == 0, status.stderr
    assert "skytakeout_admin_password: saved" in status.stdout.splitlines()
    assert "notifier_token: No notifier_token is saved in Secret Service." in status.stdout
    for output in (saved.stdout, saved.stderr, status.stdout, status.stderr):
        assert value not in output


NO_KEYRING_SENTENCE = (
    "No system keyring is available, so passwords cannot be saved; the notifier runs without them."
)


def set_without_keyring(tmp_path: Path, value: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir()
    return run_cli("secret", "set", "skytakeout_admin_password", stdin=value + "\n",
                   env={"PYTHON_KEYRING_BACKEND": NO_KEYRING}, home=home)


def test_secret_set_without_a_keyring_fails_and_writes_nothing(fresh_keyring, tmp_path):
    value = "never-on-disk-5512"
    result = set_without_keyring(tmp_path, value)
    assert result.returncode != 0
    assert result.stdout == ""
    assert NO_KEYRING_SENTENCE in result.stderr
    assert "Traceback" not in result.stderr
    assert value not in result.stderr
    assert files_containing(tmp_path, value) == []  # NOTIFIER_HOME and HOME are under tmp_path
    assert fresh_keyring.items() == {}


def test_secret_set_without_a_keyring_prints_one_sentence(tmp_path):
    result = set_without_keyring(tmp_path, "x-1")
    assert result.stderr.strip().splitlines() == [NO_KEYRING_SENTENCE]


def test_secret_status_without_a_keyring_says_so_for_each_secret(tmp_path):
    result = run_cli("secret", "status", env={"PYTHON_KEYRING_BACKEND": NO_KEYRING},
                     home=tmp_path)
    lines = result.stdout.strip().splitlines()
    assert [line.partition(":")[0] for line in lines] == [s.name for s in SECRETS]
    assert all("No system keyring is available" in line for line in lines)


def test_an_empty_stdin_saves_nothing(fresh_keyring):
    result = run_cli("secret", "set", "notifier_token", stdin="")
    assert result.returncode != 0
    assert "Nothing was read from standard input" in result.stderr
    assert fresh_keyring.items() == {}


# -- one connection's own secrets: `--connection NAME` ------------------------------------------


def two_connections_file(tmp_path: Path) -> Path:
    """A settings file with 小程序 (sky-take-out, the first: its entries keep their old names) and
    总店 (the reference server, id c2: its entries are led by its id)."""
    from notifier.core.connections import Connection, with_connections
    from notifier.core.settings import Settings
    from notifier.core.settings_file import save

    settings = with_connections(Settings(), (
        Connection("main", "小程序").with_values({"connection.protocol": "skytakeout",
                                                 "connection.url": "ws://127.0.0.1:9/ws"}),
        Connection("c2", "总店").with_values({"connection.protocol": "notifier",
                                              "connection.url": "ws://127.0.0.1:9/ws", "connection.shop": "s1"})))
    path = tmp_path / "settings.toml"
    save(settings, path)
    return path


def test_secret_set_status_and_delete_for_one_connection_by_name(fresh_keyring, tmp_path):
    from notifier.core.connections import ConnectionSecrets, named
    from notifier.core.settings_file import load

    config = two_connections_file(tmp_path)
    value = "hq-token-4417"
    saved = run_cli("secret", "set", "notifier_token", "--connection", "总店", "--config", str(config),
                    stdin=value + "\n")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip() == "Saved notifier_token of 总店 in Secret Service."
    # 总店's own entry, which its running connection reads; the first connection's is untouched.
    assert fresh_keyring.items() == {"c2_notifier_token": value}
    hq = named(load(config), "总店")
    assert ConnectionSecrets(SecretStore(), hq).get("notifier_token") == (value, None)

    status = run_cli("secret", "status", "--connection", "总店", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == ["notifier_token: saved"]  # only what its protocol uses
    first = run_cli("secret", "status", "--connection", "小程序", "--config", str(config))
    assert first.stdout.splitlines() == [
        "skytakeout_admin_password: No skytakeout_admin_password is saved in Secret Service."]
    for output in (saved.stdout, saved.stderr, status.stdout, status.stderr):
        assert value not in output

    deleted = run_cli("secret", "delete", "notifier_token", "--connection", "总店", "--config", str(config))
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "Removed notifier_token of 总店 from Secret Service."
    assert fresh_keyring.items() == {}


def test_plain_secret_status_also_lists_every_further_connections_secrets(fresh_keyring, tmp_path):
    """Without --connection it listed the keyring's plain names only: the first connection's.
    A shop with a second connection could not see that its password was missing."""
    config = two_connections_file(tmp_path)
    assert run_cli("secret", "set", "notifier_token", "--connection", "总店", "--config", str(config),
                   stdin="hq-token-4417\n").returncode == 0
    status = run_cli("secret", "status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "总店 · notifier_token: saved" in lines
    assert "skytakeout_admin_password: No skytakeout_admin_password is saved in Secret Service." in lines
    assert "hq-token-4417" not in status.stdout + status.stderr


def test_the_first_connection_by_name_keeps_the_names_it_always_had(fresh_keyring, tmp_path):
    config = two_connections_file(tmp_path)
    saved = run_cli("secret", "set", "skytakeout_admin_password", "--connection", "小程序",
                    "--config", str(config), stdin="admin-1\n")
    assert saved.returncode == 0, saved.stderr
    assert fresh_keyring.items() == {"skytakeout_admin_password": "admin-1"}


def test_an_unknown_connection_name_lists_the_names_and_touches_nothing(fresh_keyring, tmp_path):
    config = two_connections_file(tmp_path)
    ran = run_cli("secret", "set", "notifier_token", "--connection", "美团", "--config", str(config),
                  stdin="never-saved-1\n")
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr.strip().splitlines() == ["No connection is called '美团'; the settings have: 小程序、总店."]
    assert fresh_keyring.items() == {}
