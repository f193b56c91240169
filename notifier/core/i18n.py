"""Translation of the sentences the core shows to people (connection states, setting errors).

Message ids are the English sentences; catalogs are JSON files `resources/translations/
core_<lang>.json` mapping id to translation, so a translator needs no tools. The desktop layer
uses Qt Linguist for its own widgets and calls `set_language` so both agree.
"""

from __future__ import annotations

import json
import locale
import logging
import os
from functools import cache

from notifier.core.paths import resources_dir

log = logging.getLogger(__name__)

SUPPORTED = ("en", "zh_CN")
_language = "en"


def system_language() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var)
        if value:
            break
    else:
        value = (locale.getlocale()[0] or "") if hasattr(locale, "getlocale") else ""
    return "zh_CN" if value.lower().startswith("zh") else "en"


def set_language(language: str) -> str:
    """Set the language for core sentences ("system", "en" or "zh_CN"); returns the one in use."""
    global _language
    _language = system_language() if language in ("", "system") else language
    if _language not in SUPPORTED:
        _language = "en"
    return _language


def language() -> str:
    return _language


@cache
def _catalog(lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    path = resources_dir() / "translations" / f"core_{lang}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("translation catalog %s unusable: %s", path, exc)
        return {}


def tr(msgid: str, /, **values: object) -> str:
    """The sentence in the current language, with `{name}` placeholders filled in."""
    text = _catalog(language()).get(msgid) or msgid
    if values:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            return msgid.format(**values)
    return text
