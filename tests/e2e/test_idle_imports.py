"""What the running app keeps in memory (issue 27: idle RSS ≤ 75 MB, app + speech helper PSS ≤
90 MB): modules only other commands or a first use need are not imported by an app that has
started and announced an order. A module's code stays in memory for as long as the process runs,
so a top-level import that creeps back costs every shop PC all day (docs/benchmarks.md). And its
threads share one malloc arena (notifier/core/malloc_arenas.py).

The real app (`python -m notifier --demo`, console mode: no display needed), its imports listed
by `python -X importtime`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import malloc_thread_arenas, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]

# Each only for another command, or the first time its window or dialog opens.
NOT_AT_IDLE = (
    "notifier.commands.server",  # `notifier server`, `send`, `shop`, `print-test`: other commands
    "notifier.commands.send",
    "notifier.commands.send_amqp",
    "notifier.commands.shop",
    "notifier.commands.print_test",
    "notifier.desktop.doctor",  # `notifier doctor` and `--self-test`
    "notifier.desktop.orders_window",  # built when first shown
    "notifier.desktop.settings_dialog",
    "notifier.desktop.hour_chart",
    "notifier.desktop.reject_dialog",  # the first 拒单 or 取消
    "notifier.core.print_worker",  # a printer's worker: the demo has no printer
    "notifier.core.ticket",
    "notifier.core.escpos_printer",
    "notifier.core.escpos_commands",
    "PySide6.QtPrintSupport",  # a system printer's first ticket
    "escpos",  # a USB printer's worker (tests/e2e/test_print_start.py)
)


@pytest.mark.e2e
def test_the_running_app_has_one_malloc_arena_and_not_what_only_other_commands_and_windows_need(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if env.get("NOTIFIER_TEST_SESSION") != "1":
        env["NOTIFIER_TTS_ENGINE"] = "mock"  # no speech service outside the harness session
    env["NOTIFIER_HOME"] = str(tmp_path)
    output = tmp_path / "app-output.log"
    with output.open("w") as sink:
        app = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "notifier", "--demo"], cwd=ROOT,
                               env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: app.poll() is not None or "notified: " in output.read_text(errors="replace"),
                       30, message="the demo's first order announced")
            assert app.poll() is None, output.read_text(errors="replace")[-3000:]
            if sys.platform.startswith("linux"):  # glibc
                assert malloc_thread_arenas(Path(f"/proc/{app.pid}/maps").read_text()) == 0
        finally:
            stop_process(app)
    lines = output.read_text(errors="replace").splitlines()
    imported = {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}
    assert "notifier.desktop.app" in imported and "notifier.desktop.alerts" in imported  # the listing works
    assert sorted(name for name in NOT_AT_IDLE if name in imported) == []
