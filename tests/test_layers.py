"""The layers hold: every module imports only from its own floor or the floors below it.

The floors, lowest first (a request's path runs upwards through them):

    classifiers     the plugin API and the classifier families (knows nothing of the proxy)
    proxy           the package root (its version) and ``proxy.verdict``: the values every
                    floor above shares (OnError, Decision, Reason, CheckFailure)
    protocol        sans-IO wire dialects, error envelopes, the SSE codec
    observability   metrics, logging set-up, tracing
    config          the schema, the loader, the snapshot and its reload
    state           the store interface, its implementations, the abuse gate, the verdict
                    cache (built *from* a config, never by it)
    pipeline        the request's steps: identify, checks, decision, upstream, relay, record
    server          the app's resources (AppKeys), the HTTP server, and the offline users of
                    the pipeline (tuning, demo upstream)
    routes          the route handlers and the admin API
    app             create_app (builds the state layer and the identifier) and shutdown
    commands        the CLI and its sub-commands

Every import counts, wherever it is written: at module level, inside a function, and under
``if TYPE_CHECKING:`` too (a type named from a floor above is a dependency on that floor all
the same; a floor that needs to describe something from above declares a Protocol of what
it reads). Two modules of one floor may import each other's names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module name prefix -> floor; the longest matching prefix wins.
FLOORS: dict[str, int] = {
    "classifiers": 0,
    "proxy": 1,
    "proxy.verdict": 1,
    "proxy.protocol": 2,
    "proxy.observability": 3,
    "proxy.config": 4,
    "proxy.state": 5,
    "proxy.pipeline": 6,
    "proxy.resources": 7,
    "proxy.server": 7,
    "proxy.tuning": 7,
    "proxy.demo": 7,
    "proxy.routes": 8,
    "proxy.admin": 8,
    "proxy.app": 9,
    "proxy.shutdown": 9,
    "proxy.commands": 10,
    "proxy.cli": 10,
    "proxy.__main__": 10,
}


def floor_of(module: str) -> int | None:
    """The floor of a module of ours (None: a third-party or standard module)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        floor = FLOORS.get(".".join(parts[:end]))
        if floor is not None:
            return floor
    return None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import statement in the file, however deeply nested (in a
    function, under ``if TYPE_CHECKING:``); a ``from X import y, z`` yields the highest of
    X.y and X.z (y may be a submodule of X, or a name in it: X's floor either way)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from proxy import pipeline`` names a module too: report the deepest name
            yield node.lineno, max((f"{base}.{alias.name}" for alias in node.names),
                                   key=lambda name: floor_of(name) or -1)


def upward_imports(paths: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        importer = module_name(path, root)
        own = floor_of(importer)
        assert own is not None, f"{importer} sits on no floor: add it to FLOORS"
        for line, imported in imported_modules(path, importer):
            floor = floor_of(imported)
            if floor is not None and floor > own:
                found.append(f"{path.relative_to(root)}:{line} ({importer}, floor {own}) "
                             f"imports {imported} (floor {floor})")
    return sorted(set(found))


def sources() -> list[Path]:
    return sorted([*ROOT.glob("proxy/**/*.py"), *ROOT.glob("classifiers/**/*.py")])


def test_every_import_points_down_or_sideways() -> None:
    upward = upward_imports(sources())
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


def test_the_check_sees_nested_and_type_only_imports(tmp_path: Path) -> None:
    # A module of the config floor that imports the pipeline inside a function and under
    # TYPE_CHECKING: both are reported, with the file, the line and the import.
    probe = tmp_path / "proxy" / "config" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n"
                     "    from proxy.pipeline.context import RequestContext\n"
                     "def f():\n"
                     "    from ..routes import common\n")
    upward = upward_imports([probe], root=tmp_path)
    assert any(":3 " in line and "imports proxy.pipeline.context" in line for line in upward)
    assert any(":5 " in line and "imports proxy.routes.common" in line for line in upward)


def test_every_module_sits_on_a_floor() -> None:
    assert all(floor_of(module_name(path)) is not None for path in sources())
