"""Secrets stay in the keyring. After a shop's whole day compressed into seconds (settings saved,
admin logins, reconnects, token expiry, debug logging on, `notifier listen` as real processes
reading a real gnome-keyring), the admin password, the admin session tokens and the shop token
appear nowhere: not in the config, data or log folders, the ledger, `ps` output or the processes'
environment and command line. With the keyring missing or locked the listener says so in a
sentence, keeps delivering live orders, and writes nothing in plain text."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port, wait_until

from notifier.core import settings_file as settings_module
from notifier.core.settings import Settings
from notifier.server.config import ServerConfig
from notifier.server.runner import ServerThread
from notifier.server.store import EventStore
from tests.fakes.listener_process import REPO, ListenerProcess
from tests.fakes.skytakeout_server import SkyTakeOutDouble

FAST = ["--set", "connection.ping_interval=5", "--set", "connection.ping_timeout=2",
        "--set", "connection.connect_timeout=2"]


class RecordingDouble(SkyTakeOutDouble):
    """The double, remembering every admin session token it ever issued."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.issued: list[str] = []

    def _make_token(self) -> str:
        token = super()._make_token()
        self.issued.append(token)
        return token


def _leaks(values: dict[str, str], folder: Path) -> list[str]:
    """Where under `folder` any value appears (raw bytes, so SQLite pages and WAL files count)."""
    found = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for name, value in values.items():
            if value.encode() in data:
                found.append(f"{name} in {path.relative_to(folder)}")
    return found


def _process_leaks(values: dict[str, str], pids: list[int]) -> list[str]:
    found = []
    ps = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, timeout=10).stdout
    for name, value in values.items():
        if value in ps:
            found.append(f"{name} in ps output")
    for pid in pids:
        for part in ("environ", "cmdline"):
            data = Path(f"/proc/{pid}/{part}").read_bytes()
            found += [f"{name} in /proc/{pid}/{part}" for name, value in values.items() if value.encode() in data]
    return found


def test_a_full_day_leaves_no_secret_outside_the_keyring(tmp_path, notifier_home, keyring_session):
    password = "Pw-" + secrets.token_hex(12)
    double = RecordingDouble(password=password, record_sent=False).start()
    server_dir = tmp_path / "server"
    store = EventStore(server_dir)
    shop = store.add_shop("noodle")
    port = free_port()
    server = ServerThread(ServerConfig(data_dir=server_dir, port=port), store=store)
    server.start()
    keyring_session.set_secret("skytakeout_admin_password", password)
    keyring_session.set_secret("notifier_token", shop.client_token)
    # The morning: the owner saves the settings (debug logging on), as the settings dialog does.
    settings_module.save(Settings({
        "connection.protocol": "skytakeout", "connection.url": double.ws_url,
        "skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": "admin",
        "skytakeout.pull_interval": 30, "general.log_level": "DEBUG",
    }))
    env = dict(keyring_session.env)
    sky = ListenerProcess([*FAST], home=notifier_home, env=env, log_level="DEBUG")
    stream = ListenerProcess(["--protocol", "notifier", "--url", f"ws://127.0.0.1:{port}", "--shop", "noodle",
                              *FAST], home=notifier_home / "second-shop", env=env, log_level="DEBUG")
    try:
        sky.wait_state("connected", 15)
        stream.wait_state("connected", 15)
        double.send_text("这是来自服务端的消息：09:00:00")  # the demo task's chatter, logged at DEBUG
        for hour in range(3):  # orders, a login expiry, a server restart, every "hour"
            record = double.pay(amount=f"{20 + hour}.50")
            sky.wait_for(lambda o, i=str(record["id"]): o.get("order_id") == i, 10)
            server_thread_publish(port, shop.ingest_secret, f"day-{hour}")
            stream.wait_for(lambda o, i=f"day-{hour}": o.get("order_id") == i, 10)
            double.revoke_tokens()  # the admin JWT "expires": the next pull logs in again
            double.stop()
            paid_while_away = double.new_order(amount="9.90")
            double.start()
            sky.wait_for(lambda o, i=str(paid_while_away["id"]): o.get("order_id") == i, 15)
            server.stop()
            server = ServerThread(ServerConfig(data_dir=server_dir, port=port), store=store)
            server.start()
            mark = stream.mark()
            stream.wait_state("connected", 15, after=mark)
        logins = [a for a in double.state.logins if a.ok]
        assert len(logins) >= 3 and len(double.issued) >= 3, "the admin really logged in again and again"
        values = {"admin password": password, "shop token": shop.client_token,
                  **{f"admin token {i}": token for i, token in enumerate(double.issued)}}
        running_leaks = _process_leaks(values, [sky.proc.pid, stream.proc.pid])
        wait_until(lambda: " DEBUG " in sky.stderr(), 5, message="debug logging was really on")
    finally:
        sky.terminate()
        stream.terminate()
        sky.close()
        stream.close()
        server.stop()
        store.close()
        double.close()
    assert not running_leaks, running_leaks
    assert (notifier_home / "config" / "settings.toml").exists() and any((notifier_home / "data").iterdir())
    assert not _leaks(values, notifier_home), _leaks(values, notifier_home)


def server_thread_publish(port: int, secret: str, order_id: str) -> None:
    from notifier.core.protocol import publish_order

    publish_order(f"http://127.0.0.1:{port}", "noodle", secret, order_id=order_id, amount="1.00")


def _sky_listener(double, home: Path, env: dict[str, str]) -> ListenerProcess:
    return ListenerProcess(["--protocol", "skytakeout", "--url", double.ws_url, "--admin-url", double.admin_url,
                            "--admin-user", "admin", *FAST], home=home, env=env)


KEYRING_SENTENCES = {
    "missing": "No system keyring is available, so passwords cannot be saved; the notifier runs without them.",
    "locked": "The keyring (Secret Service) is locked; unlock it to use saved passwords.",
}


@pytest.mark.parametrize("trouble", ["missing", "locked"])
def test_without_a_usable_keyring_the_listener_says_so_and_keeps_running(
        tmp_path, notifier_home, trouble, request):
    password = "Pw-" + secrets.token_hex(12)
    if trouble == "missing":
        env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
        # Saving is refused in one sentence, and the value goes nowhere.
        saved = subprocess.run([sys.executable, "-m", "notifier", "secret", "set", "skytakeout_admin_password"],
                               input=password + "\n", text=True, capture_output=True, cwd=REPO, timeout=30,
                               env={**os.environ, **env, "PYTHONPATH": str(REPO)})
        assert saved.returncode == 1 and KEYRING_SENTENCES["missing"] in saved.stderr
        assert "Traceback" not in saved.stderr and password not in saved.stdout + saved.stderr
    else:
        session = request.getfixturevalue("keyring_session")
        session.set_secret("skytakeout_admin_password", password)
        env = dict(session.env)
        session.lock()
    with RecordingDouble(password=password, record_sent=False) as double:
        listener = _sky_listener(double, notifier_home, env)
        try:
            # Not "wrong password": the owner is told what is really wrong.
            _at, said = listener.wait_for(
                lambda o: o.get("event") == "connection" and o.get("state") == "misconfigured", 15)
            wait_until(lambda: KEYRING_SENTENCES[trouble] in listener.stderr(), 10,
                       message="the keyring sentence in the log")
            record = double.pay()
            listener.wait_for(lambda o, i=str(record["id"]): o.get("order_id") == i, 10)
            assert listener.proc.poll() is None, "still running"
            last = listener.events("connection")[-1]
        finally:
            listener.terminate()
            listener.close()
        assert not double.issued, "no login was attempted without a password"
    log_text = listener.stderr_path.read_text("utf-8", "replace")
    assert "Traceback" not in log_text, log_text[-2000:]
    assert KEYRING_SENTENCES[trouble] in said["sentence"], said
    assert not any(o["state"] == "unauthorized" for o in listener.events("connection"))
    assert last["state"] == "misconfigured" and KEYRING_SENTENCES[trouble] in last["sentence"], last
    assert not _leaks({"admin password": password}, notifier_home)
