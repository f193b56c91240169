"""Every sentence the commands print has its Chinese translation (core_zh_CN.json).

tests/core/test_translations.py checks notifier/core; the commands live beside the entry point.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND_FILES = [ROOT / "notifier" / "cli.py", ROOT / "notifier" / "desktop" / "cli.py", *sorted((ROOT / "notifier" / "commands").glob("*.py"))]


def command_msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in COMMAND_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = getattr(node, "func", None)
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if (isinstance(node, ast.Call) and name == "tr" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_finds_the_command_sentences():
    msgids = command_msgids()
    assert "The settings file {path} does not exist." in msgids  # tr(...)
    assert "Settings problem: {problem}" in msgids  # i18n.tr(...)


def test_every_command_sentence_has_a_chinese_translation():
    catalog = json.loads((ROOT / "resources" / "translations" / "core_zh_CN.json").read_text(encoding="utf-8"))
    missing = {m: where for m, where in command_msgids().items() if not catalog.get(m, "").strip()}
    assert not missing, "add to resources/translations/core_zh_CN.json:\n" + "\n".join(
        f"  {m!r}  ({where})" for m, where in missing.items())
