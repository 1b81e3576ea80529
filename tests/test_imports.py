"""No import cycles in fastnn/ or kernels/, counting imports made inside functions (a cycle
held together by a function-level import is still a cycle)."""

import ast
from pathlib import Path

import fastnn

ROOTS = {"fastnn": Path(fastnn.__file__).parent,
         "fastnn.kernels": Path(fastnn.kernels.__file__).parent}


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            if package == "fastnn" and parts[:1] == ["kernels"]:
                continue  # installed in place: kernels/ is listed under its own root
            found[".".join([package, *parts])] = (path, path.name == "__init__.py")
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph = {}
    for name, (path, is_package) in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                base = name.split(".") if is_package else name.split(".")[:-1]
                if node.level:
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    dep = sub if sub in mods else target
                    if dep in mods and dep != name:
                        deps.add(dep)
        graph[name] = deps
    return graph


def cycle_from(graph, start):
    """A path start -> ... -> start, or None (depth-first)."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for dep in graph[node]:
            if dep == start:
                return path + [start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, path + [dep]))
    return None


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 40  # the walk found the packages
    cycles = [c for c in (cycle_from(graph, m) for m in sorted(graph)) if c]
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_kernels_never_import_the_model_api():
    """``kernels/`` is below ``fastnn/``: the model API calls the kernels, never the reverse
    (the kernels' errors live in ``kernels/errors.py``; ``fastnn.errors`` re-exports them)."""
    graph = import_graph()
    crossing = {name: sorted(dep for dep in deps if not dep.startswith("fastnn.kernels"))
                for name, deps in graph.items() if name.startswith("fastnn.kernels")}
    assert {name: deps for name, deps in crossing.items() if deps} == {}
