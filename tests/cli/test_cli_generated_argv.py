"""Generated command lines never end in a traceback: only exit 0, 1 or 2, with a sentence.

For every `notifier` subcommand, hypothesis builds argv from the real parser's own options (read
from `build_parser()`, so a new option is covered without touching this file) and fills them with
generated values: unicode (also the surrogate escapes Linux gives for undecodable argv bytes),
empty strings, numbers out of range, folders and missing files where a file is expected, and
addresses. Each argv runs in this process through `notifier.cli.main` (its parser built once per
run, not once per argv).

What keeps it bounded and local:
- Nothing long-running starts. Where a command would start to run for good, the long-running
  function is replaced by a recorder that returns 0, *after* every check of the arguments has
  run for real: the tray app (`desktop.app.run_app`), the listener (`core.listener.run_listener`),
  the server's serve-forever loop (`server.runner.run_foreground`; its port, TLS and data-folder
  checks still bind, load and open for real), and the doctor and self-test (which probe speech and
  the desktop, not the arguments). `--demo` starts the real embedded demo server on 127.0.0.1.
- No network beyond 127.0.0.1: every generated address names 127.0.0.1, ::1 or localhost with a
  port nothing listens on (1 or 9), or is malformed; `socket.getaddrinfo` refuses every other
  name for the length of the test, so a name that slipped through fails to resolve instead of
  reaching out.
- No keyring: the keyring's `fail` backend, so `secret set/clear` cannot touch a real one.
- HOME and NOTIFIER_HOME in a temp folder; each example has a deadline, the run a fixed count.
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import socket
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from notifier.cli import build_parser, main
from notifier.core.settings import SETTINGS

# How each subcommand is run here (see the module docstring). A new subcommand must be added:
# deciding whether it would run for good is not something to guess.
RUN_AS = {
    "": "the app: run_app and self_test replaced by recorders",
    "listen": "run_listener replaced by a recorder",
    "secret": "real, with the keyring's fail backend",
    "send": "real, to closed ports on 127.0.0.1",
    "shop": "real, to closed ports on 127.0.0.1",
    "server": "real, run_foreground replaced by a recorder",
    "doctor": "run_doctor replaced by a recorder",
    "speech-helper": "the app's hidden speech process: run_helper replaced by a recorder",
    "print-test": "real, to a closed port on 127.0.0.1 (or a system printer that is not there)",
}
# Long-running functions replaced by recorders: (module, name). A module not in this tree is skipped.
LONG_RUNNING = (
    ("notifier.desktop.app", "run_app"), ("notifier.desktop.doctor", "self_test"),
    ("notifier.desktop.doctor", "run_doctor"), ("notifier.core.listener", "run_listener"),
    ("notifier.server.runner", "run_foreground"), ("notifier.desktop.speech_helper", "run_helper"),
)
CLOSED_PORTS = ("1", "9")
LOCAL_NAMES = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::", ""}
ADDRESS_FLAGS = {"url", "amqp", "admin_url"}
PATH_FLAGS = {"config", "ca_file", "cert", "key", "data_dir"}
UNEXPECTED = "stopped on an unexpected error"
# A working start for some commands, so generated flags also reach what lies past the checks
# (publishing to a closed port, a broker that is not there, a listener with bad settings).
SKELETONS = {
    "send": (["--url", "http://127.0.0.1:9", "--shop", "noodle", "--order-id", "1"],
             ["--amqp", "amqp://127.0.0.1:9/"], ["--amqp", "amqp://guest@127.0.0.1:9/%2F", "--count", "2"]),
    "listen": (["--url", "ws://127.0.0.1:9", "--protocol", "skytakeout"],
               ["--url", "amqp://127.0.0.1:9/", "--protocol", "amqp"]),
    "server": (["--port", "0", "--data-dir", "{base}/server-data"],),
    "shop": (["status", "--url", "http://127.0.0.1:9", "--shop", "noodle"],
             ["cancel", "7", "--reason", "缺货", "--url", "http://127.0.0.1:9", "--shop", "noodle"]),
    "print-test": (["--set", "printer.address=127.0.0.1:9"],),
}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._SubParsersAction)]


# -- values ---------------------------------------------------------------------------------

# Text as argv can hold it: any character but NUL (execve cannot pass it), plus the surrogate
# escapes of undecodable bytes.
argv_text = st.text(
    st.one_of(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
              st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)),
    max_size=12,
)
ports = st.one_of(st.sampled_from(CLOSED_PORTS), st.sampled_from(("", "0x1", "99999", "-1", "端口")))
hosts = st.sampled_from(("127.0.0.1", "[::1]", "localhost", "", "[::1", "user@127.0.0.1", "guest:pw@127.0.0.1"))
addresses = st.one_of(
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}:{port}{path}",
              st.sampled_from(("ws", "wss", "http", "https", "amqp", "amqps", "ftp", "WS", "")),
              hosts, ports, st.sampled_from(("", "/", "/ws/", "/%2F", "/订单", "?x=1"))),
    argv_text.filter(lambda t: "://" not in t),  # no host at all: malformed
    st.sampled_from(("ws://", "http://:9", "amqp:///vhost", "ws:/127.0.0.1:9")),
)


@st.composite
def paths(draw, base: Path) -> str:
    return draw(st.sampled_from([
        str(base), str(base / "missing.toml"), str(base / "garbage.toml"), str(base / "good.toml"),
        str(base / "no" / "such" / "folder"), "", ".", "/", str(base / "server-data"),
    ]))


def set_items() -> st.SearchStrategy[str]:
    keys = st.one_of(st.sampled_from([s.key for s in SETTINGS]), argv_text)

    def value_for(key: str) -> st.SearchStrategy[str]:
        if key.endswith(("url", "proxy")):
            return addresses
        return st.one_of(argv_text, st.sampled_from(("0", "-1", "1e9", "true", "yes", "22:30", "25:99")))

    return keys.flatmap(lambda key: value_for(key).map(lambda value: f"{key}={value}")) | argv_text


def value_for(action: argparse.Action, base: Path) -> st.SearchStrategy[str]:
    if action.dest in ADDRESS_FLAGS:
        return addresses
    if action.dest == "host":
        return st.sampled_from(("127.0.0.1", "::1", "localhost", "\udcff", "127.0.0.1 "))
    if action.dest in PATH_FLAGS:
        return paths(base)
    if action.dest == "port":
        return st.one_of(st.integers(-5, 70000).map(str), argv_text)
    if action.dest in ("set", "set_more"):
        return set_items()
    if action.choices:
        return st.one_of(st.sampled_from(sorted(map(str, action.choices))), argv_text)
    return st.one_of(argv_text, st.integers(-10**20, 10**20).map(str))


@functools.cache  # one strategy per parser and folder: building it for every example cost half the run
def flags_of(parser: argparse.ArgumentParser, base: Path, exclude: frozenset[str]) -> st.SearchStrategy[list[str]]:
    usable = [a for a in options(parser) if a.dest not in exclude]

    def one(action: argparse.Action) -> st.SearchStrategy[list[str]]:
        flag = st.sampled_from(action.option_strings)
        if action.nargs == 0:
            return flag.map(lambda f: [f])
        return st.tuples(flag, value_for(action, base)).map(list)

    noise = st.one_of(argv_text.map(lambda t: [t]), st.just(["--no-such-flag"]), st.just(["--"]))
    # Mostly real options, so most command lines get past the parser to the command itself.
    groups = st.one_of(*(one(a) for a in usable)) if usable else noise
    return st.lists(st.one_of(groups, groups, groups, groups, noise), max_size=5).map(
        lambda groups: [word for group in groups for word in group])


@functools.cache
def the_parser() -> argparse.ArgumentParser:
    """The real parser, read (never run) to generate command lines; `main` builds its own."""
    return build_parser()


@st.composite
def command_lines(draw, base: Path) -> list[str]:
    parser = the_parser()
    # --help/--version print and exit 0 in every parser; they are covered, but rarely.
    rare = frozenset({"help", "version"} if draw(st.integers(0, 9)) else ())
    argv = draw(flags_of(parser, base, rare))
    name = draw(st.sampled_from(sorted(subcommands(parser)) + [""]))
    if name:
        sub = subcommands(parser)[name]
        argv.append(name)
        actions = subcommands(sub)
        if actions and draw(st.booleans()):
            action_name = draw(st.sampled_from(sorted(actions)))
            argv.append(action_name)
            sub = actions[action_name]
        for positional in (a for a in sub._actions if not a.option_strings and a.choices is not None
                           and not isinstance(a, argparse._SubParsersAction)):
            known = st.sampled_from(sorted(positional.choices))
            argv.append(draw(st.one_of(known, known, known, argv_text)))
        if any(not a.option_strings and a.choices is None for a in sub._actions):
            argv.append(draw(st.one_of(st.sampled_from(("noodle", "a/b", "")), argv_text)))
        if name in SKELETONS and draw(st.booleans()):
            argv += [word.replace("{base}", str(base)) for word in draw(st.sampled_from(SKELETONS[name]))]
        argv += draw(flags_of(sub, base, rare))
    return argv


# -- running --------------------------------------------------------------------------------

class Recorder:
    def __init__(self, name: str, started: list[str]):
        self.name, self.started = name, started

    def __call__(self, *args, **kwargs) -> int:
        self.started.append(self.name)
        return 0


@pytest.fixture
def contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notifier_home: Path):
    """The temp world the generated commands run in; yields what was started instead of run."""
    import importlib

    import keyring
    from keyring.backends import fail

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # a generated relative path (e.g. print-test --save-bytes 0) lands here
    monkeypatch.setenv("NOTIFIER_INGEST_SECRET", "s" * 32)
    previous_keyring = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    started: list[str] = []
    for module_name, name in LONG_RUNNING:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        monkeypatch.setattr(module, name, Recorder(name, started))
    # `main` builds its parser at every call, once per process in real use: here it builds each
    # kind once per test and parses every example with it (argparse keeps nothing between
    # parses). Building it 600 times was half the run and tested nothing new.
    import notifier.cli

    built: dict[bool, argparse.ArgumentParser] = {}
    real_build_parser = notifier.cli.build_parser

    def build_parser_once(*, commands: bool = True) -> argparse.ArgumentParser:
        if commands not in built:
            built[commands] = real_build_parser(commands=commands)
        return built[commands]

    monkeypatch.setattr(notifier.cli, "build_parser", build_parser_once)
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else (host or "")
        if name not in LOCAL_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "only local names in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    (tmp_path / "garbage.toml").write_bytes(b"\xff\xfe not toml [[[")
    (tmp_path / "good.toml").write_text('[connection]\nprotocol = "notifier"\n', encoding="utf-8")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path, started
    root.handlers[:] = handlers
    root.setLevel(level)
    keyring.set_keyring(previous_keyring)


def run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """main(argv) with the standard streams a terminal-less process has (stderr escapes what it
    cannot encode; stdout is strict), returning (code, stdout, stderr)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        code = main(argv)
    return code, out.buffer.getvalue().decode("utf-8", "replace"), err.buffer.getvalue().decode("utf-8", "replace")


def test_every_subcommand_is_known_here():
    assert set(subcommands(build_parser())) | {""} <= set(RUN_AS), (
        "add the new subcommand to RUN_AS, replacing whatever in it would run for good")


@settings(max_examples=300, deadline=timedelta(seconds=15), database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.slow
def test_generated_command_lines_end_in_a_sentence_never_a_traceback(contained, monkeypatch, data):
    base, _started = contained
    argv = data.draw(command_lines(base), label="argv")
    stdin = data.draw(st.one_of(st.just(""), argv_text.map(lambda t: t + "\n")), label="stdin")
    started_before = len(_started)
    code, out, err = run(argv, stdin, monkeypatch)
    command = next((word for word in argv if word and word in RUN_AS), "")
    event(f"{command or 'app'}: exit {code}" + (f", started {_started[-1]}" if len(_started) > started_before else ""))
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in out + err, (argv, err)
    assert UNEXPECTED not in err, (argv, err, (Path(base) / "notifier-home" / "logs" / "notifier.log"))
    if code:
        assert err.strip(), (argv, code, "an exit status without a sentence")
