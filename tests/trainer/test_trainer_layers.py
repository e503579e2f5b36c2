"""The trainer's modules import in one direction: no import cycle, each layer only downward.

Read from the source (``ast``), so imports inside functions count too: a cycle cannot hide
behind a function-local import. Importing ``pkg.sub.mod`` runs ``pkg/sub/__init__.py`` first,
so it counts as an import of the sub-package as well (from outside that sub-package).
"""

import ast
from pathlib import Path

import rlscaling

TRAINER = Path(rlscaling.__file__).parent / "trainer"
PREFIX = "rlscaling.trainer"

# lowest first; a module may import its own layer (without a cycle) and the layers below
LAYERS = [
    # building blocks: no recipe, no config
    {"registry", "compute", "model", "policy", "weights", "runlog", "sampler", "tasks",
     "checkpoint"},
    # the switchable parts of the recipe and what runs them
    {"losses", "advantages", "rewards", "update", "warmup", "evaluate", "rollout"},
    {"config"},  # validates names against the registries below
    {"setup", "steps"},  # the trainer side of a step, shared by both loops
    {"pipeline"},  # generation in a separate process
    {"loop", "sweep", "cli", ""},  # entry points ("" is the package's __init__)
]  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in TRAINER.rglob("*.py"):
        parts = list(path.relative_to(TRAINER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PREFIX, *parts])] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Trainer modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # ``from pkg import mod`` imports the module pkg.mod, ``from mod import x`` mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        for target in targets:
            if target not in modules:
                continue
            found.add(target)
            # the enclosing sub-packages' __init__ run first (when outside them)
            parts = target.split(".")
            for k in range(3, len(parts)):
                pkg = ".".join(parts[:k])
                if not (name == pkg or name.startswith(pkg + ".")):
                    found.add(pkg)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _layer(name: str) -> int:
    top = name[len(PREFIX) + 1 :].split(".")[0] if name != PREFIX else ""
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS (and to docs/trainer.md)")


def test_no_import_cycle_in_the_trainer():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function():
    graph = _graph()
    # what setup.py did before: a function-local import of the package (for its version)
    graph[f"{PREFIX}.setup"] = graph[f"{PREFIX}.setup"] | {PREFIX}
    assert _cycle(graph) is not None
    # and what torch_engine.py did: the rollout engines importing from the pipeline
    graph = _graph()
    graph[f"{PREFIX}.rollout.torch_engine"] |= {f"{PREFIX}.pipeline.client"}
    assert _cycle(graph) is not None


def test_each_module_imports_only_its_own_layer_or_below():
    upward = [
        f"{a} -> {b}"
        for a, targets in sorted(_graph().items())
        for b in sorted(targets)
        if _layer(b) > _layer(a)
    ]
    assert upward == []
