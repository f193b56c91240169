"""The layers point one way: desktop and server import only core, core nothing above it, and no
import circle exists anywhere.

Read from the source (every import statement, also those inside functions, which is where this
code base imports lazily), not from `sys.modules` after a run: a lazy import on a path no test
takes still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "notifier"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The modules of ours this module imports (anywhere in it), each with the first line."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target in known and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in known else source, node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = all_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_graph_sees_lazy_relative_and_from_imports():
    graph = import_graph()
    # A function-level import (cli imports the desktop app only when it runs it) is an edge.
    assert "notifier.desktop.app" in graph["notifier.cli"]
    # `from notifier.core import paths` is an edge to the module paths, not to the package.
    assert "notifier.core.paths" in graph["notifier.core.settings_file"]
    assert find_cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_the_desktop_imports_nothing_of_ours_but_core():
    # `notifier` itself only holds the version number; everything else must come from core.
    allowed = ("notifier.core", "notifier.desktop")
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, targets in import_graph().items() if module.startswith("notifier.desktop")
        for target, line in targets.items()
        if target != "notifier" and not target.startswith(allowed)
    ]
    assert not wrong, "the desktop may import notifier.core only:\n" + "\n".join(wrong)


def test_the_server_imports_nothing_of_ours_but_core():
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, targets in import_graph().items() if module.startswith("notifier.server")
        for target, line in targets.items()
        if target != "notifier" and not target.startswith(("notifier.core", "notifier.server"))
    ]
    assert not wrong, "the server may import notifier.core only:\n" + "\n".join(wrong)


def test_core_imports_nothing_of_ours_but_core():
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, targets in import_graph().items() if module.startswith("notifier.core")
        for target, line in targets.items()
        if target != "notifier" and not target.startswith("notifier.core")
    ]
    assert not wrong, "core may import only core:\n" + "\n".join(wrong)


def test_no_import_circle_inside_the_package():
    graph = import_graph()
    cycles = find_cycles(graph)

    def describe(cycle: list[str]) -> str:
        members = set(cycle)
        return "\n".join(f"  {m} -> {t} (line {line})" for m in cycle for t, line in graph[m].items() if t in members)

    assert not cycles, "import circles:\n" + "\n\n".join(describe(c) for c in cycles)


def test_core_holds_no_command_line_code():
    # Commands (argparse, exit codes) live with the entry point in notifier/commands.
    wrong = []
    for name, path in all_modules().items():
        if not name.startswith("notifier.core"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "argparse" in names:
                    wrong.append(f"{name} imports argparse (line {node.lineno})")
    assert not wrong, "\n".join(wrong)


# What of core the server may use: the wire protocol and events, small helpers, and the
# escalation's Qt-free parts (the "no PC listening" alerts word, send and retry exactly as the
# PC's phone escalation does: one copy of each rule). The embedded demo server is the app's
# (it reads the app's settings and secrets) and is left out.
SERVER_MAY_USE = ("notifier.core.protocol", "notifier.core.events", "notifier.core.atomic",
                  "notifier.core.connection", "notifier.core.escalation_wording",
                  "notifier.core.phone_targets", "notifier.core.phone_sender")


def test_the_server_uses_only_cores_protocol_events_and_escalation_parts():
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, targets in import_graph().items()
        if module.startswith("notifier.server") and module != "notifier.server.demo"
        for target, line in targets.items()
        if target.startswith("notifier.core") and target not in SERVER_MAY_USE
    ]
    assert not wrong, "the server may use only these parts of core:\n" + "\n".join(wrong)
