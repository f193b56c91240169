"""Loading the desktop translations (Qt Linguist .qm files) and keeping core's language in step.

Our own catalog is `resources/translations/notifier_<lang>.qm`; Qt's own (standard buttons, the
colour dialog, …) is `qtbase_<lang>.qm` from the Qt installation, or a copy shipped in
`resources/translations` by the bundle. English also has a catalog: it holds only the plural
forms ("1 order" / "2 orders") for the `%n` messages.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from notifier.core import i18n as core_i18n
from notifier.core.paths import resources_dir

log = logging.getLogger(__name__)

_INSTALLED: list[QTranslator] = []  # kept alive here: Qt does not own installed translators


def translations_dir():
    return resources_dir() / "translations"


def install_translators(app: QCoreApplication, language: str) -> str:
    """Use `language` ("system", "zh_CN" or "en") for Qt and core text; returns the one in use.

    Calling it again (the user changed the language in Settings) replaces the previous
    translators; open widgets receive a LanguageChange event and retranslate themselves.
    """
    effective = core_i18n.set_language(language)
    for translator in _INSTALLED:
        app.removeTranslator(translator)
    _INSTALLED.clear()

    ours = QTranslator(app)
    if ours.load(f"notifier_{effective}", str(translations_dir())):
        app.installTranslator(ours)
        _INSTALLED.append(ours)
    else:
        log.warning("no desktop translation for %s in %s", effective, translations_dir())

    if effective != "en":
        qt_own = QTranslator(app)
        locale = QLocale(effective)
        for folder in (str(translations_dir()), QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
            if qt_own.load(locale, "qtbase", "_", folder):
                app.installTranslator(qt_own)
                _INSTALLED.append(qt_own)
                break
        else:
            log.info("Qt's own %s translation not found; standard buttons stay in English", effective)
    QLocale.setDefault(QLocale(effective))
    return effective
