"""The Windows installer script compiles here with makensis, around a stand-in payload.

The real Windows bundle is built on a Windows runner (.github/workflows/release.yml); here we prove
the script itself: it compiles without warnings, packs the bundle's layout (notifier.exe and
_internal/ with the resources), and carries the version resource with our one version number.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from notifier import __version__
from tests.packaging.build_runner import run_build

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "windows" / "build-installer.sh"

pytestmark = pytest.mark.packaging


def test_nsis_script_compiles_to_an_installer_holding_the_bundle_layout(tmp_path, require):
    require(shutil.which("makensis") is not None, "makensis not installed (apt-get install nsis)")
    result = run_build([str(SCRIPT), "", str(tmp_path)], budget_s=100,
                       env={**os.environ, "NSIS_VERBOSITY": "4"})
    assert result.returncode == 0, result.stderr[-3000:]
    installer = Path(result.stdout.strip().splitlines()[-1])
    assert installer == tmp_path / f"OrderNotifier-{__version__}-standin-setup.exe"

    data = installer.read_bytes()
    assert data[:2] == b"MZ"  # a Windows program
    # The version resource (shown in the file's properties) holds the one version number.
    assert __version__.encode("utf-16-le") in data
    assert "Order Notifier".encode("utf-16-le") in data
    # Per user: RequestExecutionLevel user becomes "asInvoker" in the manifest (no UAC prompt).
    assert re.search(rb'requestedExecutionLevel level="asInvoker"', data)

    log = result.stderr
    assert not re.search(r"^\d+ warnings?:", log, re.MULTILINE), log[-3000:]
    assert 'File: "notifier.exe"' in log
    assert re.search(r'File: Descending to: ".*/_internal/resources/icons/"', log)
    assert 'File: "notifier_zh_CN.qm"' in log  # the translations go with the resources
    # Registered for "Apps" under HKCU; the login switch is the value the app itself writes.
    assert re.search(r"WriteRegStr: HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\OrderNotifier\\UninstallString", log)
    assert re.search(r"WriteRegStr: HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OrderNotifier", log)
