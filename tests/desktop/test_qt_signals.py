"""A tray app emits millions of signals in a day; the Qt binding must survive that.

PySide6 6.12.0 on CPython 3.11 loses a reference to the bool singletons on every Python-side
`emit()` and the interpreter aborts after a few hundred (the reason pyproject caps PySide6).
Run in a subprocess so a regression shows as a failed test, not a dead test run.
"""

import subprocess
import sys

SCRIPT = """
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Emitter(QObject):
    order = Signal(object)
    tick = Signal()
emitter = Emitter()
seen = []
emitter.order.connect(seen.append)
emitter.tick.connect(lambda: None)
for i in range(20000):
    emitter.order.emit(i)
    emitter.tick.emit()
print(len(seen))
"""


def test_twenty_thousand_signal_emits_do_not_crash_the_interpreter():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "20000"
