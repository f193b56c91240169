"""Installed from a wheel, the program finds its icons, chimes and translations.

Found: `pip install .` into a fresh venv, run from another folder, spoke English under zh_CN and
had no icons or chimes: resources_dir() looked for site-packages/resources, which the wheel did
not contain, and every test ran from the source tree, so none noticed. Here the wheel is built
from a copy of the tree, installed into a new venv (its dependencies taken from the test venv's
site-packages, so nothing is downloaded), and `notifier doctor` runs under LANG=zh_CN.UTF-8 in an
empty folder, where the source tree is nowhere on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.packaging, pytest.mark.e2e, pytest.mark.timeout(300)]
NOT_IN_THE_WHEEL = (".venv", ".git", "build", "dist", "docs", "tests", "packaging", "artifacts")


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=240, **kw)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    tree = work / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*NOT_IN_THE_WHEEL, "__pycache__",
                                                              "*.egg-info"))
    # Without build isolation: the test venv has setuptools and wheel (the `build` extra).
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", work / "dist", tree])
    (wheel,) = (work / "dist").glob("order_notifier-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    site = Path(run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
                    ).stdout.strip())
    with zipfile.ZipFile(wheel) as archive:  # what pip would put in site-packages
        archive.extractall(site)
    entry = venv / "bin" / "notifier"
    entry.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom notifier.cli import main\n"
                     "sys.exit(main())\n")
    entry.chmod(0o755)
    # The dependencies (PySide6, aiohttp, …) from the test venv, as a plain path: its .pth files,
    # among them the editable install's pointer to this tree, are not read from there.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return wheel, venv, site


def test_the_wheel_carries_the_icons_chimes_and_translations(installed):
    wheel, _venv, _site = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("notifier/resources/translations/notifier_zh_CN.qm",
                   "notifier/resources/translations/core_zh_CN.json",
                   "notifier/resources/sounds/new_order.wav",
                   "notifier/resources/icons/order-notifier-64.png"):
        assert needed in names
    assert not [n for n in names if n.endswith(".ts")], "translation sources stay out"


def test_doctor_from_an_installed_wheel_speaks_chinese_and_finds_its_files(installed, tmp_path):
    _wheel, venv, site = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(LANG="zh_CN.UTF-8", LC_ALL="zh_CN.UTF-8", NOTIFIER_HOME=str(tmp_path / "home"),
               NOTIFIER_TTS_ENGINE="mock", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    where = run([venv / "bin" / "python", "-c", "import notifier; print(notifier.__file__)"],
                cwd=elsewhere, env=env).stdout.strip()
    assert where.startswith(str(site)), f"imported from {where}, not from the installed wheel"
    done = subprocess.run([venv / "bin" / "notifier", "doctor"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert "no desktop translation" not in output, output
    files = next(line for line in done.stdout.splitlines() if "程序文件" in line)
    assert files.startswith("[  ok]") and str(site / "notifier" / "resources") in files, files
    assert "[  ok] 文件: " in done.stdout, done.stdout
    assert "打印机" in done.stdout and "Printer" not in done.stdout, done.stdout
