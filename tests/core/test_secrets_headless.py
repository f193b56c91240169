"""A listener on a machine with no keyring gets its token all the same: from systemd credentials
(`$CREDENTIALS_DIRECTORY/<name>`, what `LoadCredential=` hands a service) or from an owner-only
secret file named in the settings; a file others may read is refused in one sentence. Real
`notifier listen` processes against the real reference server; "no keyring" is keyring's own
fail backend, what a server without any keyring gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port

from notifier.core.protocol import publish_order
from notifier.core.secrets import SecretFileRefused, SecretState, SecretStore, read_secret_file
from notifier.server.config import ServerConfig
from notifier.server.runner import ServerThread
from notifier.server.store import EventStore
from tests.fakes.listener_process import REPO, ListenerProcess

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "DBUS_SESSION_BUS_ADDRESS": ""}


@pytest.fixture
def server(tmp_path):
    store = EventStore(tmp_path / "server")
    shop = store.add_shop("noodle")
    port = free_port()
    thread = ServerThread(ServerConfig(data_dir=tmp_path / "server", port=port), store=store)
    thread.start()
    yield port, shop
    thread.stop()
    store.close()


def _listen(port: int, home: Path, env: dict[str, str], *extra: str) -> ListenerProcess:
    return ListenerProcess(["--protocol", "notifier", "--url", f"ws://127.0.0.1:{port}", "--shop", "noodle",
                            *extra], home=home, env={**NO_KEYRING, **env})


def _sees_an_order(listener: ListenerProcess, port: int, shop, order_id: str) -> None:
    try:
        listener.wait_state("connected", 15)
        publish_order(f"http://127.0.0.1:{port}", "noodle", shop.ingest_secret, order_id=order_id, amount="12.50")
        listener.wait_for(lambda o: o.get("order_id") == order_id, 10)
    finally:
        listener.terminate()
        listener.close()
    output = listener.stderr_path.read_text("utf-8", "replace")
    assert shop.client_token not in output and "Traceback" not in output


def listen_once(secret_file: Path) -> subprocess.CompletedProcess:
    """`notifier listen` with this secret file, in English, until it exits (it must, at once)."""
    return subprocess.run(
        [sys.executable, "-m", "notifier", "listen", "--protocol", "notifier", "--url", "ws://127.0.0.1:9/",
         "--shop", "noodle", "--set", f"secrets.file={secret_file}"],
        capture_output=True, text=True, timeout=30, cwd=REPO,
        env={**os.environ, **NO_KEYRING, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})


def _private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_listener_without_a_keyring_takes_its_token_from_systemd_credentials(server, tmp_path, notifier_home):
    port, shop = server
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    _private_file(credentials / "notifier_token", shop.client_token + "\n", 0o400)
    listener = _listen(port, notifier_home, {"CREDENTIALS_DIRECTORY": str(credentials)})
    _sees_an_order(listener, port, shop, "cred-1")


def test_a_listener_without_a_keyring_takes_its_token_from_its_secret_file(server, tmp_path, notifier_home):
    port, shop = server
    secret_file = _private_file(tmp_path / "secrets.toml", f'notifier_token = "{shop.client_token}"\n')
    listener = _listen(port, notifier_home, {}, "--set", f"secrets.file={secret_file}")
    _sees_an_order(listener, port, shop, "file-1")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_a_secret_file_others_can_reach_is_refused_in_a_sentence(tmp_path, notifier_home, mode):
    token = "tok-" + os.urandom(8).hex()
    secret_file = _private_file(tmp_path / "secrets.toml", f'notifier_token = "{token}"\n', mode)
    done = listen_once(secret_file)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"The secret file {secret_file} can be read or changed by other users (mode {mode:04o}); "
        f"make it private with: chmod 600 {secret_file}")
    assert token not in done.stdout + done.stderr


def test_credentials_come_first_then_the_secret_file_then_the_keyring(tmp_path, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    _private_file(credentials / "notifier_token", "from-credentials\n")
    secret_file = _private_file(tmp_path / "secrets", "notifier_token = from-file\njson_token = also-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for name, value in NO_KEYRING.items():
        monkeypatch.setenv(name, value)
    store = SecretStore(secret_file=secret_file)
    assert store.get("notifier_token") == ("from-credentials", None)
    assert store.get("json_token") == ("also-file", None)  # plain `name = value` lines
    value, problem = store.get("amqp_password")
    assert value is None and problem.state is SecretState.NO_KEYRING
    # Saving never writes the file: it is the keyring's (here: there is none).
    assert store.set("json_token", "new").state is SecretState.NO_KEYRING
    assert "also-file" in secret_file.read_text()


def test_a_broken_secret_file_line_is_named_by_number_without_its_content(tmp_path):
    secret_file = _private_file(tmp_path / "secrets", "# for the listener\nnotifier_token = ok\ns3cr3t-without-name\n")
    with pytest.raises(SecretFileRefused) as refused:
        read_secret_file(secret_file)
    assert refused.value.sentence == f"Line 3 of the secret file {secret_file} is not name = value."
    assert "s3cr3t" not in str(refused.value)
    with pytest.raises(SecretFileRefused, match="does not exist"):
        read_secret_file(tmp_path / "missing")


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_secret_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path, notifier_home, kind):
    """Found: a FIFO as secrets.file made `notifier listen` wait forever for a writer."""
    if kind == "fifo":
        target = tmp_path / "secrets.fifo"
        os.mkfifo(target, 0o600)
    elif kind == "folder":
        target = tmp_path / "secrets.d"
        target.mkdir(mode=0o700)
    else:
        target = Path("/dev/zero")
    done = listen_once(target)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"The secret file {target} is not a regular file (a folder, a pipe "
                                   "or a device); name the file itself.")
