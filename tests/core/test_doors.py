"""No hidden doors between modules, read from the source (the sibling of test_layers.py):

- no `from x import _private` of another module of ours;
- no `obj._name` where `_name` belongs to another module of ours (it is defined there and not in
  the module reading it): a part offers a public method instead;
- no `__self__` lookups (a callable's owner found behind its back);
- no protocol name ("skytakeout", "amqp", "json", and "notifier" compared as a protocol) outside
  `core/sources/` and the settings declarations: a protocol's rules live in its source.

Each rule is a function of the package's files, so the tests below can also run it on a small
package written in the test, and show that it names what it should.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.core.test_layers import PACKAGE, ROOT

PROTOCOL_WORDS = ("skytakeout", "amqp", "json")
# Where a protocol's name belongs: its source, and the declarations that offer it as a setting.
# (The settings dialog checks the settings a protocol needs before saving them, as the
# declarations say: a shop name for the reference server.)
PROTOCOL_HOMES = ("notifier/core/sources/", "notifier/core/settings.py",
                  "notifier/desktop/settings_layout.py", "notifier/desktop/settings_dialog.py",
                  "notifier/commands/settings_flags.py")
# Files where one of the words means something else, and what.
NOT_A_PROTOCOL = {
    "notifier/core/phone_targets.py": "Apprise's json:// URL scheme",
    "notifier/commands/send.py": "the `send --amqp URL` argument",
}


@cache
def _files(package: Path) -> dict[str, ast.Module]:
    root = package.parent
    return {p.relative_to(root).as_posix(): ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
            for p in sorted(package.rglob("*.py"))}


def _line_order(finding: str) -> tuple[str, int]:
    path, _, rest = finding.partition(":")
    return path, int(rest.split(" ", 1)[0])


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_names(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, assignments, `self._x = …`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if _private(n)}


def private_imports(package: Path) -> list[str]:
    top = package.name
    found = []
    for path, tree in _files(package).items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(top)):
                found += [f"{path}:{node.lineno} imports {a.name} from {node.module}"
                          for a in node.names if _private(a.name)]
    return found


def foreign_private_attributes(package: Path) -> list[str]:
    files = _files(package)
    defined = {path: _defined_names(tree) for path, tree in files.items()}
    owners_of: dict[str, list[str]] = {}
    for owner, names in defined.items():
        for name in names:
            owners_of.setdefault(name, []).append(owner)
    found = []
    for path, tree in files.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in defined[path]:
                continue  # another object of this module's own classes
            owners = owners_of.get(node.attr)
            if owners:
                found.append(f"{path}:{node.lineno} reads {ast.unparse(node)} "
                             f"(private to {', '.join(owners)})")
    return found


def self_lookups(package: Path) -> list[str]:
    found = []
    for path, tree in _files(package).items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "__self__") or (
                    isinstance(node, ast.Constant) and node.value == "__self__"):
                found.append(f"{path}:{node.lineno} looks up __self__")
    return found


def _mentions_protocol(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return "protocol" in text or ".source" in text or text == "source"


def protocol_names(package: Path, homes: tuple[str, ...] = PROTOCOL_HOMES) -> list[str]:
    found = []
    for path, tree in _files(package).items():
        if path.startswith(homes) or path in NOT_A_PROTOCOL:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in PROTOCOL_WORDS:
                found.append(f"{path}:{node.lineno} names the protocol {node.value!r}")
            elif isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Constant) and s.value == "notifier" for s in sides) and \
                        any(_mentions_protocol(s) for s in sides):
                    found.append(f"{path}:{node.lineno} compares with the protocol 'notifier'")
    return sorted(found, key=_line_order)


def test_no_module_imports_another_modules_private_names():
    assert not private_imports(PACKAGE), "\n".join(private_imports(PACKAGE))


def test_no_module_reads_another_modules_private_attributes():
    found = foreign_private_attributes(PACKAGE)
    assert not found, "give the part a public method instead:\n" + "\n".join(found)


def test_nothing_finds_a_callables_owner_through_self():
    assert not self_lookups(PACKAGE), "\n".join(self_lookups(PACKAGE))


def test_protocol_names_stay_in_their_sources_and_the_settings_declarations():
    found = protocol_names(PACKAGE)
    assert not found, "a protocol's rule belongs in core/sources/ (put the fact on the event):\n" + \
        "\n".join(found)


def test_the_rules_name_each_kind_of_hidden_door(tmp_path):
    """Each rule, run on a small package with one door of each kind, names that door."""
    package = tmp_path / "pkg"
    (package / "core" / "sources").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    (package / "core" / "sources" / "__init__.py").write_text("")
    (package / "core" / "ledger.py").write_text("_COLUMNS = 'a, b'\n")
    (package / "core" / "sources" / "sky.py").write_text(
        "class Source:\n    def __init__(self):\n        self._lock = None\n"
        "    def owner(self, sink):\n        return getattr(sink, '__self__', None)\n"
        "PROTOCOL = 'skytakeout'\n")
    (package / "core" / "queue.py").write_text(
        "from pkg.core.ledger import _COLUMNS\n"
        "def take(source):\n    return source._lock\n"
        "def wait(event):\n    return event.source == 'skytakeout'\n"
        "def own(x):\n    return x.protocol == 'notifier'\n")
    assert private_imports(package) == ["pkg/core/queue.py:1 imports _COLUMNS from pkg.core.ledger"]
    assert foreign_private_attributes(package) == [
        "pkg/core/queue.py:3 reads source._lock (private to pkg/core/sources/sky.py)"]
    assert self_lookups(package) == ["pkg/core/sources/sky.py:5 looks up __self__"]
    assert protocol_names(package, homes=("pkg/core/sources/",)) == [
        "pkg/core/queue.py:5 names the protocol 'skytakeout'",
        "pkg/core/queue.py:7 compares with the protocol 'notifier'"]


def test_the_homes_and_exceptions_name_real_files():
    for path in (*PROTOCOL_HOMES, *NOT_A_PROTOCOL):
        assert (ROOT / path).exists(), path
