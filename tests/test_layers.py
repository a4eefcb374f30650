"""The house: every import in zeb (module level and inside functions, read with `ast`) points down the
layers or within one, and no import circle exists. A new upward import or a circle fails here, naming it."""

from __future__ import annotations

import ast
from pathlib import Path

ZEB = Path(__file__).resolve().parent.parent / "zeb"

# Lowest first. A module may import its own layer and any layer below it.
LAYERS = ["core", "plan", "storage", "adapters", "sim", "service", "observe", "api", "cli", "__main__"]
RANK = {name: n for n, name in enumerate(LAYERS)}
# zeb.sim stands where Vast does (zeb reaches it over HTTP); it may use only zeb.core, like an adapter.
SIM_MAY = {"core", "sim"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ZEB.rglob("*.py"):
        parts = path.relative_to(ZEB.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "zeb"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if base.split(".")[0] != "zeb":
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m != name}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_lives_in_a_layer():
    homeless = [m for m in _modules() if m != "zeb" and _layer(m) is None]
    assert homeless == [], f"modules outside every layer folder: {homeless}"


def test_imports_only_point_down():
    upward = []
    for module, targets in _graph().items():
        here = _layer(module)
        if here is None:
            continue
        for target in targets:
            there = _layer(target)
            if there is None:
                continue      # zeb itself (__version__)
            allowed = there in SIM_MAY if here == "sim" else RANK[there] <= RANK[here] and there != "sim"
            if here == "cli" and there == "sim":
                allowed = True                      # `zeb sim serve` and the demo run the simulator
            if not allowed:
                upward.append(f"{module} -> {target}")
    assert upward == [], "imports that point up the layers:\n" + "\n".join(sorted(upward))


def test_nothing_imports_the_cli_but_main():
    bad = sorted(f"{m} -> {t}" for m, targets in _graph().items() if _layer(m) not in ("cli", "__main__")
                 for t in targets if _layer(t) == "cli")
    assert bad == []


def test_no_import_circle():
    graph = {m: {t for t in ts if t in _modules()} for m, ts in _graph().items()}
    # a package's __init__ is imported by its modules' imports: leave those edges out (they are no cycle)
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_an_upward_import(tmp_path):
    # The test above must be able to fail: a core module importing the store is found.
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from zeb.storage.store import Store\n")
    assert _imports("zeb.core.x", path, {"zeb.storage.store"}) == {"zeb.storage.store"}
    assert RANK[_layer("zeb.storage.store") or ""] > RANK["core"]
