"""`notifier doctor` and `notifier --self-test`: what works on this machine, in plain lines.

The doctor is for a person setting up a shop PC (or helping one over the phone): notification
backend, speech engines and voices, audio output, keyring, tray, and where the files are. The
self-test is the installers' smoke test: it loads the same parts without enumerating voices (which
can take long with a stuck speech service) and exits 1 with the reason when a part cannot load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from notifier.core.i18n import tr as core_tr

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    topic: str
    verdict: str  # OK, WARN or FAIL
    detail: str

    def line(self) -> str:
        # The topic in the owner's language (the detail is a sentence already); the verdict
        # stays a fixed tag that scripts and the installers' checks can read.
        return f"[{self.verdict:>4}] {core_tr(self.topic)}: {self.detail}"


def _guard(topic: str, probe: Callable[[], Finding]) -> Finding:
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 - the doctor reports, it never crashes
        return Finding(topic, FAIL, f"{type(exc).__name__}: {exc}")


def _application():
    from notifier.desktop.app import needs_offscreen

    if needs_offscreen():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    from notifier.core import i18n
    from notifier.desktop.i18n import install_translators

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # The sentences the parts give (speech, keyring) in the language the entry point set.
    install_translators(app, i18n.language())
    return app


def printer_finding(settings) -> Finding:
    """The kitchen-ticket printer: off, or reachable (without printing anything) and how many
    tickets wait for it. A separate function so the doctor and `--self-test` share it."""
    topic = "Printer"
    if settings["printer.print_on"] == "off":
        return Finding(topic, OK, core_tr("printing is off (Settings → Printer)"))
    from notifier.desktop.printing import make_driver

    try:
        driver = make_driver(settings)
    except ValueError as exc:
        return Finding(topic, FAIL, core_tr("address {address} is not usable: {problem}",
                                       address=repr(settings["printer.address"]), problem=exc))
    try:
        driver.open()  # a network printer also reports its paper here
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        from notifier.core.reconnect import describe_network_error

        reason = describe_network_error(exc, driver.label()) if isinstance(exc, OSError) else str(exc)
        return Finding(topic, WARN, core_tr("{reason}; tickets wait until it answers", reason=reason))
    finally:
        driver.close()
    waiting = ""
    try:
        from notifier.core import paths
        from notifier.core.print_queue import PrintQueue

        if paths.ledger_file().exists():
            queue = PrintQueue(paths.ledger_file())
            waiting = core_tr(", {count} tickets waiting", count=queue.waiting())
            queue.close()
    except Exception:  # noqa: BLE001
        pass
    from notifier.core.print_queue import printer_kind_text

    return Finding(topic, OK, core_tr("the {kind} {printer} answers",
                                      kind=printer_kind_text(settings["printer.kind"]),
                                      printer=driver.label()) + waiting)


def phone_finding(settings, *, send: bool = False, secrets=None) -> Finding:
    """The escalation's phone alert targets, named by service (never their tokens); with
    `send`, a test message to each and how it went."""
    from notifier.core.phone_sender import targets_from, trial
    from notifier.core.phone_targets import check, describe
    from notifier.core.secrets import SecretStore

    topic = "Phone alerts"
    secrets = secrets if secrets is not None else SecretStore()
    urls, problem = targets_from(secrets)()
    if problem:
        return Finding(topic, WARN, problem)
    if not urls:
        return Finding(topic, OK, core_tr("no targets saved: orders nobody acts on are not sent to a "
                                          "phone (Settings, Escalation page)"))
    unusable = [why for url in urls if (why := check(url))]
    listed = core_tr("{count} target(s): {targets}", count=len(urls),
                     targets=", ".join(describe(url) for url in urls))
    if unusable:
        return Finding(topic, FAIL, listed + "; " + "; ".join(unusable))
    if not send:
        return Finding(topic, OK, listed + "; " + core_tr("`notifier doctor --send-test` sends a test message"))
    ok, report = trial(settings, secrets)
    return Finding(topic, OK if ok else WARN, listed + "; " + report.replace("\n", "; "))


SPEECH_OPEN_TIMEOUT_S = 5


def speech_finding(settings, *, voices: bool = True) -> Finding:
    """Whether orders can be read aloud here, and if not, why.

    A running app is asked over the single-instance channel: opening a speech engine of our own
    would cut off the line it is saying. Otherwise a speech helper (the app's own) is started,
    speaks a short silent line and must finish it by its deadline.
    """
    import json

    from notifier.desktop.single_instance import SingleInstance

    answer = SingleInstance().ask("voice-status")
    if answer is not None:
        try:
            status = json.loads(answer)
        except ValueError:
            return Finding("Speech", WARN, core_tr("the running app did not report its voice (an older version?)"))
        if status.get("problem"):
            return Finding("Speech", WARN, core_tr("the running app: speech does not work: {problem} "
                                              "Chimes still play.", problem=status["problem"]))
        if status.get("state") != "ready":
            return Finding("Speech", OK, core_tr("the running app's voice is starting ({state})",
                                            state=status.get("state")))
        return Finding("Speech", OK, core_tr("the running app's voice works (engine {engine})",
                                        engine=status.get("engine") or "?"))

    from notifier.core import wording
    from notifier.desktop.speech_supervisor import PROBE_DEADLINE_MS
    from notifier.desktop.voice import Announcer

    announcer = Announcer(settings, warm_up=False, open_timeout_ms=SPEECH_OPEN_TIMEOUT_S * 1000)
    try:
        # Long enough to hear the helper's own verdict (opening, then its silent probe), which
        # names the reason (no audio) instead of a bare "did not answer".
        works = announcer.wait_ready(SPEECH_OPEN_TIMEOUT_S + PROBE_DEADLINE_MS / 1000 + 3)
        detail = core_tr("engines: {names}", names=", ".join(announcer.engines()) or core_tr("none"))
        if not works:
            problem = announcer.problem() or core_tr("engine did not answer in {seconds} s.",
                                                seconds=SPEECH_OPEN_TIMEOUT_S)
            return Finding("Speech", WARN, core_tr("speech does not work: {problem} Chimes still play.",
                                              problem=problem))
        language = wording.effective_language(settings)
        voice = announcer.voice_for(language)
        if voice == "":
            name = core_tr("Chinese") if language == "zh_CN" else core_tr("English")
            return Finding("Speech", WARN, detail + "; " + core_tr(
                "no voice for {language}: orders may not be read correctly.", language=name))
        if voice:
            detail += "; " + core_tr("{language} voice: {voice}", language=language, voice=voice)
        if voices:
            for other in ("zh_CN", "en"):
                found = announcer.voices(other)
                detail += "; " + core_tr("{language} voices: {names}", language=other,
                                    names=", ".join(found[:5]) or core_tr("none"))
                if len(found) > 5:
                    detail += f" (+{len(found) - 5})"
        return Finding("Speech", OK, detail + "; " + core_tr("a test line was spoken"))
    finally:
        announcer.shutdown()


def examine(settings, *, voices: bool = True, send_test: bool = False) -> list[Finding]:
    """Every check, in the order a person reads them."""
    findings: list[Finding] = []

    def qt() -> Finding:
        import PySide6

        app = _application()
        return Finding("Qt", OK, core_tr("PySide6 {version}, platform {platform}",
                                    version=PySide6.__version__, platform=app.platformName()))

    findings.append(_guard("Qt", qt))
    if findings[-1].verdict == FAIL:
        return findings

    def tray() -> Finding:
        from notifier.desktop.tray import Tray

        if Tray.available():
            return Finding("Tray", OK, core_tr("system tray available"))
        return Finding("Tray", WARN, core_tr("no system tray: the orders window is shown instead"))

    def notification() -> Finding:
        from notifier.desktop.notify import Notifier

        backend = Notifier().backend_name()
        if backend == "none":
            return Finding("Notifications", WARN,
                           core_tr("no notification service: orders are still announced and listed"))
        return Finding("Notifications", OK, backend)

    def speech() -> Finding:
        return speech_finding(settings, voices=voices)

    def audio() -> Finding:
        from PySide6.QtMultimedia import QMediaDevices

        device = QMediaDevices.defaultAudioOutput()
        if device.isNull():
            return Finding("Audio output", WARN, core_tr("no audio output device found"))
        return Finding("Audio output", OK, device.description())

    def keyring() -> Finding:
        from notifier.core.secrets import SecretStore

        name = SecretStore().backend_name()
        verdict = WARN if name == core_tr("no keyring") else OK
        return Finding("Keyring", verdict, name)

    def files() -> Finding:
        from notifier.core import paths

        return Finding(
            "Files",
            OK,
            core_tr("settings {settings}; history {history}; logs {logs}", settings=paths.config_file(),
               history=paths.ledger_file(), logs=paths.log_dir()),
        )

    def program_files() -> Finding:
        from notifier.core import paths

        folder = paths.resources_dir()
        missing = paths.missing_resources()
        if missing:
            return Finding("Program files", FAIL, core_tr(
                "missing from {folder}: {names}; reinstall the program", folder=folder,
                names=", ".join(missing)))
        return Finding("Program files", OK, core_tr("icons, chimes and translations in {folder}",
                                                    folder=folder))

    def login() -> Finding:
        from notifier.desktop import autostart

        state = core_tr("on") if autostart.is_enabled() else core_tr("off")
        return Finding("Start at login", OK, f"{state} ({autostart.describe(autostart.launch_command())})")

    for topic, probe in (
        ("Tray", tray),
        ("Notifications", notification),
        ("Speech", speech),
        ("Audio output", audio),
        ("Keyring", keyring),
        ("Files", files),
        ("Program files", program_files),
        ("Start at login", login),
        ("Printer", lambda: printer_finding(settings)),
        ("Phone alerts", lambda: phone_finding(settings, send=send_test)),
    ):
        findings.append(_guard(topic, probe))
    return findings


def run_doctor(settings, *, voices: bool = True, send_test: bool = False, stream=None) -> int:
    stream = stream or sys.stdout
    findings = examine(settings, voices=voices, send_test=send_test)
    for finding in findings:
        print(finding.line(), file=stream, flush=True)
    return 1 if any(f.verdict == FAIL for f in findings) else 0


def self_test(settings) -> int:
    """Load every part without slow enumeration; 0 when all load, 1 naming what did not."""
    code = run_doctor(settings, voices=False)
    print("self-test: " + ("passed" if code == 0 else "FAILED (see the FAIL lines above)"), flush=True)
    return code
