"""Screenshots of the orders window, every settings page and the tray menu in Chinese and
English, taken from real windows on the session's X display, into a temp folder.

The scenes (a fixed clock, fixed orders) are those of packaging/tools/make_screenshots.py, which
makes the README's pictures on purpose; a test run never writes into the repository. Besides
saving them, each test checks what a person would notice first: no text cut off (a label or
button narrower than its text) and no English left in the Chinese screens' buttons.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from notifier.desktop.i18n import install_translators

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("zh_CN", "en")

pytestmark = [pytest.mark.needs_session, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def scenes():
    """packaging/tools/make_screenshots.py, loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("make_screenshots", ROOT / "packaging" / "tools" / "make_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def restore_english(qapp):
    yield
    install_translators(qapp, "en")


def clipped(root: QWidget) -> list[str]:
    """Visible labels and buttons whose text needs more width than they were given."""
    found = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisible() or widget.width() <= 0:
            continue
        if isinstance(widget, QLabel) and not widget.wordWrap() and widget.text() and not widget.pixmap():
            needed = widget.fontMetrics().horizontalAdvance(widget.text()) + 2 * widget.margin()
            if needed > widget.contentsRect().width() + 1:
                found.append(f"label {widget.text()!r}: {needed} > {widget.contentsRect().width()}")
        elif isinstance(widget, QAbstractButton) and widget.text():
            if widget.sizeHint().width() > widget.width() + 1:
                found.append(f"button {widget.text()!r}: {widget.sizeHint().width()} > {widget.width()}")
    return found


def english_buttons(root: QWidget) -> list[str]:
    return [b.text() for b in root.findChildren(QAbstractButton)
            if b.isVisible() and b.text().isascii() and any(c.isalpha() for c in b.text())]


def save(widget_or_pixmap, path: Path) -> Path:
    picture = widget_or_pixmap.grab() if isinstance(widget_or_pixmap, QWidget) else widget_or_pixmap
    assert picture.save(str(path)), f"could not write {path}"
    return path


def shown_text(table, row: int, column: int) -> str:
    """A cell's text as the view draws it: cut to the cell's text rectangle by its delegate's
    elide mode (what QStyledItemDelegate paints)."""
    from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

    index = table.model().index(row, column)
    option = QStyleOptionViewItem()
    option.textElideMode = table.textElideMode()  # the view's, unless the delegate has its own
    option.rect = table.visualRect(index)
    table.itemDelegateForIndex(index).initStyleOption(option, index)
    style = table.style()
    text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, table)
    margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
    metrics = QFontMetrics(option.font)
    return metrics.elidedText(option.text, option.textElideMode, text_rect.width() - 2 * margin)


@pytest.mark.parametrize("language", LANGUAGES)
def test_orders_window_screenshot(qtbot, qapp, tmp_path, scenes, language):
    """At the window's default size, with one order of each outcome: every status is whole and
    has its own mark and colour (before: the status column was clipped even at 1270 px, and
    accepted here / elsewhere, rejected and "not sent yet" looked the same), and every order
    number keeps the last four digits the voice says (before: "B-20261205-3…")."""
    from notifier.desktop.orders_window import OUTCOMES, UNSENT_REJECT, paint_mark

    install_translators(qapp, language)
    ledger, outbox = scenes.fill_ledger(tmp_path / "ledger.sqlite3")
    window = scenes.orders_window(ledger, outbox)
    try:
        window.show()
        qtbot.waitExposed(window)
        window.reload()
        QApplication.processEvents()
        assert (window.width(), window.height()) == (960, 600), "the default size"
        # The fixed day, whatever the time the test runs: every order and the reminder.
        model = window.model
        assert model.rowCount() == len(scenes.ORDERS) + 1
        assert sum(window.chart.counts()) == len(scenes.ORDERS)
        outcomes = {model.outcome_of(model.entry(row)) for row in range(model.rowCount())}
        assert outcomes == set(OUTCOMES) - {UNSENT_REJECT}, "one order of each outcome"
        status, number = model.COLUMNS.index("status"), model.COLUMNS.index("number")
        for row in range(model.rowCount()):
            text = model.data(model.index(row, status))
            assert shown_text(window.table, row, status) == text, f"status {text!r} is cut"
            full = model.data(model.index(row, number))
            assert shown_text(window.table, row, number).endswith(full[-4:]), full
        marks = [paint_mark(which).toImage() for which in OUTCOMES if which != UNSENT_REJECT]
        assert all(a != b for i, a in enumerate(marks) for b in marks[i + 1:]), "a distinct mark each"
        assert not clipped(window), clipped(window)
        if language == "zh_CN":
            assert not english_buttons(window), english_buttons(window)
            assert not [model.outcome_text(w) for w in OUTCOMES if "确认" in model.outcome_text(w)]
        assert save(window, tmp_path / f"orders_window_{language}.png").stat().st_size > 10_000
    finally:
        shiboken6.delete(window)
        outbox.close()
        ledger.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_settings_dialog_screenshots(qtbot, qapp, tmp_path, scenes, language):
    install_translators(qapp, language)
    dialog = scenes.settings_dialog()
    try:
        dialog.show()
        qtbot.waitExposed(dialog)
        qtbot.waitUntil(lambda: all(e.saved is not None for e in dialog.secret_editors.values()), timeout=10_000)
        for page, name in enumerate(scenes.PAGES):
            dialog.nav.setCurrentRow(page)
            QApplication.processEvents()
            assert not clipped(dialog), (name, clipped(dialog))
            if language == "zh_CN":
                assert not english_buttons(dialog), (name, english_buttons(dialog))
            save(dialog, tmp_path / f"settings_{name}_{language}.png")
    finally:
        shiboken6.delete(dialog)


@pytest.mark.parametrize("language", LANGUAGES)
def test_tray_menu_screenshot(qtbot, qapp, tmp_path, scenes, language):
    from notifier.core.connection import ConnectionStatus, ConnState
    from notifier.desktop.tray import Tray

    install_translators(qapp, language)
    tray = Tray()
    try:
        tray.set_status(ConnectionStatus(ConnState.CONNECTED, "shop.example"))
        tray.set_count(3)
        tray.menu.popup(tray.menu.pos())
        qtbot.waitUntil(tray.menu.isVisible, timeout=2000)
        tray.mute_menu.popup(tray.menu.pos() + tray.menu.rect().topRight())
        qtbot.waitUntil(tray.mute_menu.isVisible, timeout=2000)
        if language == "zh_CN":
            assert tray.action_orders.text() == "订单"  # the shipped translation, not English
        save(scenes.tray_menu_picture(tray), tmp_path / f"tray_menu_{language}.png")
    finally:
        tray.mute_menu.hide()
        tray.menu.hide()
        tray.menu.deleteLater()
        tray.deleteLater()
