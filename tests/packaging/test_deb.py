"""The Linux installer for real: build the PyInstaller bundle and the .deb, install it with apt into
this machine, run the installed `notifier` (self-test, then the demo under the test session's
display and bus), and remove it again leaving nothing behind.

Slow-ish (~1 min: the bundle ~15 s, xz ~25 s, apt a few seconds; several times that on a busy
machine) but in the default suite: it is the only proof that what users download works. The build
runs under its own budget in its own process group (tests/packaging/build_runner.py), and these
tests get pytest time for it instead of the suite's 120 s. Needs root, apt and PyInstaller in the test venv
(`pip install -e '.[build]'`); without them it is skipped with the reason, except under CI=true.
Set NOTIFIER_PACKAGING_DIST to a folder holding a .deb built by packaging/build-all.sh to test
that one instead of building.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from helpers import NotificationLog, stop_process, wait_until

from notifier import __version__
from tests.packaging.build_runner import BUILD_TEST_TIMEOUT_S, run_build

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "order-notifier"
PREFIX = Path("/opt/order-notifier")
# By its full path: tests/run puts the venv first in PATH, and its `notifier` is the source tree's.
NOTIFIER = "/usr/bin/notifier"
GOAL_DEB_MB = 60
# Every one of these is needed on a minimal Debian 12 (ldd of the Qt plugins, PLATFORM-NOTES).
MUST_DEPEND = ("libxcb-cursor0", "libegl1", "libpulse0", "libxkbcommon-x11-0", "speech-dispatcher",
               "libspeechd2", "libdbus-1-3", "libfontconfig1")

# The first test to use the `deb` fixture pays for the build in its setup: every test here may.
pytestmark = [pytest.mark.packaging, pytest.mark.e2e, pytest.mark.slow, pytest.mark.needs_system("apt"), pytest.mark.timeout(BUILD_TEST_TIMEOUT_S)]


def run(cmd: list[str], timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# Another apt or dpkg on the machine (an upgrade, another test run) is waited for, not failed on.
APT_LOCK_WAIT = ["-o", "DPkg::Lock::Timeout=300"]


def apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def is_installed() -> bool:
    result = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE])
    return result.returncode == 0 and result.stdout.strip() == "installed"


def purge() -> subprocess.CompletedProcess:
    return run(["apt-get", *APT_LOCK_WAIT, "remove", "--purge", "-y", PACKAGE], env=apt_env())


def report(line: str) -> None:
    """Numbers the issue asks for, shown with the test's output (pytest -rA or -s)."""
    print(f"[packaging] {line}", flush=True)


@pytest.fixture(scope="module")
def deb(tmp_path_factory, require) -> Path:
    """The .deb: built now by packaging/build-all.sh, or the one in NOTIFIER_PACKAGING_DIST."""
    require(sys.platform.startswith("linux") and shutil.which("dpkg-deb") is not None,
            "builds a Debian package: needs Linux with dpkg-deb")
    given = os.environ.get("NOTIFIER_PACKAGING_DIST")
    if given:
        found = sorted(Path(given).glob(f"notifier_{__version__}_*.deb"))
        assert found, f"no notifier_{__version__}_*.deb in NOTIFIER_PACKAGING_DIST={given}"
        return found[-1]
    require(importlib.util.find_spec("PyInstaller") is not None,
            "PyInstaller is not installed in the test venv (pip install -e '.[build]')")
    require(shutil.which("objdump") is not None, "objdump missing (apt-get install binutils)")
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    result = run_build([str(ROOT / "packaging" / "build-all.sh"), str(out)],
                       env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0, result.stderr[-5000:]
    report(f"build (bundle + deb + nsis stand-in) took {time.monotonic() - started:.1f} s")
    for line in (out / "build-times.txt").read_text().splitlines():
        report(line)
    return next(out.glob(f"notifier_{__version__}_*.deb"))


@pytest.fixture(scope="module")
def installed(deb, require) -> list[Path]:
    """Install with apt (pulling the Depends); yields what dpkg says it installed. Purged after."""
    require(os.geteuid() == 0, "installs a package into this machine: needs root")
    require(shutil.which("apt-get") is not None, "needs apt-get (Debian/Ubuntu)")
    if is_installed():
        purge()  # a copy left by an interrupted run: start from a clean machine
    started = time.monotonic()
    result = run(["apt-get", *APT_LOCK_WAIT, "install", "-y", "--reinstall", str(deb)], env=apt_env(), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report(f"apt-get install took {time.monotonic() - started:.1f} s")
    files = [Path(p) for p in run(["dpkg", "-L", PACKAGE]).stdout.split("\n") if p.strip()]
    yield files
    if is_installed():
        purge()


def app_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    env["NOTIFIER_HOME"] = str(home)
    return env


def test_deb_is_small_and_declares_what_the_bundle_needs(deb):
    size_mb = deb.stat().st_size / 1e6
    report(f".deb size {size_mb:.1f} MB ({deb.name})")
    assert size_mb < GOAL_DEB_MB
    fields = run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends", "Installed-Size"]).stdout
    installed_kb = int(re.search(r"Installed-Size: (\d+)", fields).group(1))
    report(f"installed size {installed_kb / 1024:.0f} MB")
    assert f"Package: {PACKAGE}" in fields and f"Version: {__version__}" in fields
    depends = {d.strip().split(" ")[0] for d in re.search(r"Depends: (.*)", fields).group(1).split(",")}
    assert set(MUST_DEPEND) <= depends, set(MUST_DEPEND) - depends


def test_installed_self_test_finds_qt_speech_keyring_and_notifications(installed, notifier_home):
    assert Path(NOTIFIER) in installed
    assert (PREFIX / "notifier").exists()
    result = run([NOTIFIER, "--self-test"], env=app_env(notifier_home), timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "self-test: passed" in output
    assert f"{PREFIX}/notifier" in output  # the frozen program ran (its start-at-login command)
    for topic in ("Qt: PySide6", "Notifications:", "Speech:", "Keyring:", "Audio output:"):
        assert topic in output, f"{topic} missing from:\n{output}"
    if os.environ.get("NOTIFIER_TEST_SESSION") == "1":
        # In the session everything is there for real: no warnings, the real backends.
        assert "[warn]" not in output, output
        assert "freedesktop" in output and "Secret Service" in output and "speechd" in output
    assert run([NOTIFIER, "--version"]).stdout.strip() == f"notifier {__version__}"


@pytest.mark.needs_session
def test_installed_doctor_sends_a_test_through_the_bundled_apprise(installed, notifier_home, fresh_keyring):
    """Apprise finds its plugins by listing a folder: the bundle must carry them (notifier.spec)."""
    from notifier.core.secrets import SecretStore
    from tests.fakes.phone_services import PhoneServices

    with PhoneServices() as phone:
        assert SecretStore().set("escalation_targets", f"json://127.0.0.1:{phone.port}/hook-sekrit") is None
        result = run([NOTIFIER, "doctor", "--no-voices", "--send-test"], env=app_env(notifier_home), timeout=120)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "✓" in output, output
        [request] = phone.requests
        assert request.json()["title"].endswith(("Test message", "测试消息"))
        assert "sekrit" not in output


def _trayer_holds_our_icon() -> bool:
    """The tray host (trayer, XEmbed) has reparented a window of class "Order Notifier"."""
    panels = run(["xdotool", "search", "--class", "trayer"], timeout=10).stdout.split()
    for panel in panels:
        tree = run(["xwininfo", "-tree", "-id", panel], timeout=10).stdout
        if '"Order Notifier")' in tree:
            return True
    return False


@pytest.mark.needs_session
def test_installed_demo_shows_tray_icon_and_notification(installed, notifier_home):
    notifications = NotificationLog()
    notifications.mark()
    out_path = notifier_home / "demo-output.log"
    with out_path.open("w") as out:
        launched = time.time()
        proc = subprocess.Popen([NOTIFIER, "--demo", "--log-level", "INFO"],
                                env=app_env(notifier_home), stdout=out, stderr=subprocess.STDOUT)
        try:
            def alive_and(predicate):
                def check():
                    if proc.poll() is not None:
                        raise AssertionError(f"notifier exited {proc.returncode}:\n{out_path.read_text()[-3000:]}")
                    return predicate()
                return check

            wait_until(alive_and(_trayer_holds_our_icon), timeout=20, interval=0.02,
                       message="the tray icon docked in trayer")
            tray_s = time.time() - launched
            line = wait_until(alive_and(lambda: re.search(
                r"^(\S+ \S+) INFO \S+: connection: connected", out_path.read_text(), re.MULTILINE)),
                timeout=20, message="connection: connected in the output")
            connected_s = datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - launched
            shown = notifications.wait_for(lambda e: e["app_name"] == "Order Notifier", timeout=30)
            notified_s = shown["t"] - launched
        finally:
            stop_process(proc, timeout=15)
    output = out_path.read_text()
    report(f"installed --demo: launch -> tray icon {tray_s * 1000:.0f} ms, "
           f"-> connected {connected_s * 1000:.0f} ms, -> first notification {notified_s * 1000:.0f} ms "
           f"(the demo's first order comes 1 s after it starts)")
    # The demo's first order, as the recorder on the session bus received it, with the bundle's
    # own icon: resources are found inside /opt/order-notifier.
    assert re.search(r"#\d+", shown["summary"]), json.dumps(shown, ensure_ascii=False)
    assert shown["app_icon"].startswith(str(PREFIX)), shown["app_icon"]
    assert Path(shown["app_icon"]).exists()
    assert proc.returncode == 0, output[-3000:]  # SIGTERM quits cleanly


def test_installed_listener_unit_is_valid_and_hardened(installed, tmp_path):
    # The headless listener's systemd unit ships as an example; against the installed notifier
    # it verifies cleanly, and systemd rates its exposure low (its scale: 0 safe ... 10 unsafe).
    example = Path(f"/usr/share/doc/{PACKAGE}/examples/notifier-listen.service")
    assert example in installed
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / "notifier-listen.service"
    shutil.copy(example, unit)
    verify = run(["systemd-analyze", "verify", str(unit)], timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    security = run(["systemd-analyze", "security", "--offline=yes", str(unit)], timeout=60)
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert exposure, security.stdout[-2000:] + security.stderr
    report(f"notifier-listen.service exposure {exposure.group(1)} (systemd-analyze security)")
    assert float(exposure.group(1)) < 2.5


def test_purge_leaves_nothing_under_opt_or_usr(installed):
    result = purge()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not is_installed()
    assert not PREFIX.exists()
    left = [p for p in installed if p.exists() and not p.is_dir()]
    assert not left, left
    # Folders only we used are gone too; shared ones (/usr/bin, /usr/share/icons/...) stay.
    ours = [p for p in installed if p.is_dir() and (p == PREFIX or PREFIX in p.parents
                                                     or PACKAGE in p.parts)]
    assert not ours, ours
    assert not Path(NOTIFIER).exists()
