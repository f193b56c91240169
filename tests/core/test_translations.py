"""Every sentence a shop owner can see has its Chinese translation.

Core sentences are the literal msgids of `tr("...")` calls in notifier/core, in the commands
(notifier/commands, notifier/cli.py: what `notifier send`, `print-test` and the rest print) and
the doctor's lines (notifier/desktop/doctor.py), plus the labels and
help texts of the settings declaration (the dialog shows them through tr()); their translations
live in resources/translations/core_zh_CN.json. Desktop sentences live in the Qt Linguist file
notifier_zh_CN.ts, which must have no unfinished message and must match its compiled .qm.
"""

from __future__ import annotations

import ast
import json
import string
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "notifier" / "core"
COMMANDS = ROOT / "notifier" / "commands"
TRANSLATIONS = ROOT / "resources" / "translations"


def core_msgids() -> dict[str, str]:
    """msgid -> where it is used, for every literal first argument of tr() in notifier/core and
    the commands."""
    found: dict[str, str] = {}
    # The doctor is desktop code, but its lines are core sentences (it runs before Qt's catalog).
    for path in [*sorted(CORE.rglob("*.py")), *sorted(COMMANDS.rglob("*.py")), ROOT / "notifier" / "cli.py",
                 ROOT / "notifier" / "desktop" / "doctor.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            # `core_tr`: core's tr where Qt's lupdate must not take it for QObject.tr (desktop code)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "core_tr")
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    from notifier.core.settings import SECRETS, SETTINGS

    for spec in SETTINGS:
        found.setdefault(spec.label, f"settings label of {spec.key}")
        if spec.help:
            found.setdefault(spec.help, f"settings help of {spec.key}")
    for secret in SECRETS:
        found.setdefault(secret.label, f"secret label of {secret.name}")
    return found


def placeholders(text: str) -> set[str]:
    return {field for _literal, field, _spec, _conv in string.Formatter().parse(text) if field is not None}


@pytest.fixture(scope="module")
def catalog() -> dict[str, str]:
    return json.loads((TRANSLATIONS / "core_zh_CN.json").read_text(encoding="utf-8"))


def test_finds_the_core_sentences():
    msgids = core_msgids()
    # The scan itself works: multi-line calls and the declaration are included.
    assert "Retrying in {seconds} s." in msgids
    assert any(m.startswith("Connected to {server}, but some older orders") for m in msgids)
    assert "Server address" in msgids
    assert "Test ticket printed on {printer} in {ms} ms." in msgids, "the commands are scanned"


def test_every_core_sentence_has_a_chinese_translation(catalog):
    missing = {msgid: where for msgid, where in core_msgids().items() if not catalog.get(msgid, "").strip()}
    assert not missing, "add to resources/translations/core_zh_CN.json:\n" + "\n".join(
        f"  {msgid!r}  ({where})" for msgid, where in missing.items())


def test_core_translations_keep_their_placeholders(catalog):
    wrong = {msgid: text for msgid, text in catalog.items() if placeholders(msgid) != placeholders(text)}
    assert not wrong, wrong


def test_core_translations_are_used_by_tr(catalog):
    from notifier.core import i18n

    previous = i18n.language()
    try:
        i18n.set_language("zh_CN")
        assert i18n.tr("Retrying in {seconds} s.", seconds=5) == "5 秒后重试。"
    finally:
        i18n.set_language(previous)


def _ts_messages(path: Path):
    for context in ET.parse(path).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            yield name, message


def test_every_desktop_message_is_translated_to_chinese():
    path = TRANSLATIONS / "notifier_zh_CN.ts"
    unfinished = []
    count = 0
    for context, message in _ts_messages(path):
        count += 1
        translation = message.find("translation")
        forms = [f.text for f in translation.findall("numerusform")] or [translation.text]
        if translation.get("type") in ("unfinished", "vanished", "obsolete") or not all(
                (form or "").strip() for form in forms):
            unfinished.append(f"{context}: {message.findtext('source')!r}")
    assert count > 50
    assert not unfinished, "translate in notifier_zh_CN.ts (Qt Linguist), then run " \
        "packaging/tools/build_translations.py:\n" + "\n".join(unfinished)


def test_compiled_catalogs_are_not_older_than_their_sources():
    for ts in TRANSLATIONS.glob("notifier_*.ts"):
        qm = ts.with_suffix(".qm")
        assert qm.exists(), f"{qm.name} missing: run packaging/tools/build_translations.py"
        assert qm.stat().st_mtime >= ts.stat().st_mtime - 1, f"{qm.name} is older than {ts.name}"


def test_the_chinese_catalog_holds_every_message_the_desktop_code_has(tmp_path):
    # The check above only sees what is in the .ts; a self.tr() added to the code without
    # refreshing the .ts would show English to a Chinese shop owner. lupdate finds them.
    import shutil
    import subprocess
    import sys

    lupdate = Path(sys.executable).parent / "pyside6-lupdate"
    lupdate = str(lupdate) if lupdate.exists() else shutil.which("pyside6-lupdate")
    assert lupdate, "pyside6-lupdate (PySide6-Essentials) is needed"
    fresh = tmp_path / "notifier_zh_CN.ts"
    shutil.copy(TRANSLATIONS / "notifier_zh_CN.ts", fresh)
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notifier" / "desktop").glob("*.py"))
    subprocess.run([lupdate, "-no-obsolete", "-locations", "none", "-target-language", "zh_CN",
                    *sources, "-ts", str(fresh)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    missing = [f"{context}: {message.findtext('source')!r}" for context, message in _ts_messages(fresh)
               if message.find("translation").get("type") == "unfinished"]
    assert not missing, "run packaging/tools/build_translations.py and translate:\n" + "\n".join(missing)
