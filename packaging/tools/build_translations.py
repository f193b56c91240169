"""Refresh the Qt Linguist sources from the desktop code and compile them to .qm.

    python packaging/tools/build_translations.py          # lupdate + lrelease
    python packaging/tools/build_translations.py --release-only

`pyside6-lupdate` scans notifier/desktop/*.py for self.tr()/QCoreApplication.translate() and
updates resources/translations/notifier_<lang>.ts, keeping the translations already there (a
translator edits the .ts with Qt Linguist or any text editor). The English catalog holds plural
forms only (`-pluralonly`). `pyside6-lrelease` then writes the .qm files the app loads; they are
committed so a checkout runs without Qt's tools.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "resources" / "translations"
LANGUAGES = {"zh_CN": [], "en": ["-pluralonly"]}


def tool(name: str) -> str:
    """The PySide6 tool next to this Python (a venv's bin/Scripts), else from PATH."""
    here = Path(sys.executable).parent
    for candidate in (here / name, here / f"{name}.exe"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: install PySide6 (pip install PySide6-Essentials)")
    return found


def sources() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / "notifier" / "desktop").glob("*.py"))


def lupdate() -> None:
    for language, extra in LANGUAGES.items():
        target = TRANSLATIONS / f"notifier_{language}.ts"
        subprocess.run([tool("pyside6-lupdate"), *extra, "-no-obsolete", "-locations", "none",
                        "-target-language", language, *sources(), "-ts", str(target)],
                       cwd=ROOT, check=True)


def lrelease() -> None:
    for language in LANGUAGES:
        source = TRANSLATIONS / f"notifier_{language}.ts"
        subprocess.run([tool("pyside6-lrelease"), "-silent", str(source),
                        "-qm", str(source.with_suffix(".qm"))], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--release-only", action="store_true", help="only compile .ts to .qm")
    args = parser.parse_args()
    TRANSLATIONS.mkdir(parents=True, exist_ok=True)
    if not args.release_only:
        lupdate()
    lrelease()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
