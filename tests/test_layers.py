"""The package's modules import in one direction: no import cycle, each layer only downward.

Two layerings are checked on one import graph: the library's sub-packages, and inside the
trainer its own layers. The graph is read from the source (``ast``), so an import inside a
function counts too: a cycle cannot hide behind a function-local import. Importing
``rlscaling.sub.mod`` runs ``rlscaling/sub/__init__.py`` first, so it counts as an import of the
sub-package as well (from outside that sub-package).

Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they load nothing and close
no cycle (a sampler's result names the ``SigmoidFit`` it came from in a type hint only).
"""

import ast
import subprocess
import sys
from pathlib import Path

import rlscaling

ROOT = Path(rlscaling.__file__).parent
PREFIX = "rlscaling"

# lowest first; a module may import its own layer (without a cycle) and the layers below
LAYERS = [
    {"version", "io", "plot", "protocol"},  # checks, data in; drawing helpers; result protocol
    {"model"},  # the curve, the solver, noise models, simulation
    {"uncertainty"},  # bootstrap and MCMC draws of the parameters
    {"fit"},  # the point fit and its result (which hands out draws from the layer below)
    {"forecasting"},  # predictive draws, methods, learned settings, forecast results
    {"decide"},  # compare, backtest, seeds, report, demo
    {"trainer"},  # the reference trainer: uses only rlscaling.io from the library
    {"cli"},  # the command line: renders results
    {""},  # the package's __init__ (lazy public API)
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PREFIX, *parts])] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never executed)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skip |= {id(n) for n in ast.walk(child)}
    return skip


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of rlscaling that ``name`` imports anywhere in its source (run-time imports)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # ``from pkg import mod`` imports the module pkg.mod, ``from mod import x`` mod
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target not in modules:
                continue
            found.add(target)
            # the enclosing sub-packages' __init__ run first (when outside them)
            parts = target.split(".")
            for k in range(2, len(parts)):
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
    raise AssertionError(f"{name} is in no layer: add it to LAYERS (and to docs/design.md)")


def test_no_import_cycle_in_the_library():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_cycles_hidden_in_functions():
    # the four circles the flat layout had, each closed by a function-local import
    before = [
        ("rlscaling.forecasting.draws", "rlscaling.forecasting.ensemble"),
        ("rlscaling.forecasting.ensemble", "rlscaling.forecasting.prior"),
        ("rlscaling.uncertainty.samples", "rlscaling.fit.result"),
        ("rlscaling.io.runs", "rlscaling.io.inputs"),
        ("rlscaling.decide.report_html", "rlscaling.decide.report"),
    ]
    for a, b in before:
        graph = _graph()
        assert b in graph and a in graph
        graph[a] = graph[a] | {b}
        assert _cycle(graph) is not None, f"{a} -> {b} should close a cycle"


def test_a_function_local_import_is_read():
    # plain ``import`` and ``from`` statements inside a function body are edges
    graph = _graph()
    assert "rlscaling.trainer.cli" in graph["rlscaling.cli.train"]


def test_each_module_imports_only_its_own_layer_or_below():
    upward = [
        f"{a} -> {b}"
        for a, targets in sorted(_graph().items())
        for b in sorted(targets)
        if _layer(b) > _layer(a)
    ]
    assert upward == []


def test_the_trainer_uses_only_the_io_layer_of_the_library():
    graph = _graph()
    used = {
        b
        for a, targets in graph.items()
        if a.startswith("rlscaling.trainer")
        for b in targets
        if not b.startswith("rlscaling.trainer")
    }
    assert used and all(b.startswith("rlscaling.io") for b in used), sorted(used)


# ---- the trainer's own layers ----

TRAINER = "rlscaling.trainer"
# lowest first; a module may import its own layer (without a cycle) and the layers below
TRAINER_LAYERS = [
    # building blocks: no recipe, no config
    {"registry", "compute", "model", "policy", "weights", "runlog", "sampler", "tasks",
     "prompts", "checkpoint", "distributed"},
    # the switchable parts of the recipe and what runs them
    {"losses", "advantages", "rewards", "update", "warmup", "evaluate", "rollout"},
    {"config"},  # validates names against the registries below
    {"setup", "steps", "learner"},  # the trainer side of a step, shared by both loops
    {"pipeline"},  # generation in a separate process
    {"loop", "sweep", "cli", ""},  # entry points ("" is the package's __init__)
]  # fmt: skip


def _trainer_graph() -> dict[str, set[str]]:
    def inside(name: str) -> bool:
        return name == TRAINER or name.startswith(TRAINER + ".")

    return {a: {b for b in t if inside(b)} for a, t in _graph().items() if inside(a)}


def _trainer_layer(name: str) -> int:
    top = name[len(TRAINER) + 1 :].split(".")[0] if name != TRAINER else ""
    for i, layer in enumerate(TRAINER_LAYERS):
        if top in layer:
            return i
    raise AssertionError(
        f"{name} is in no layer: add it to TRAINER_LAYERS (and to docs/trainer.md)"
    )


def test_the_cycle_check_finds_a_cycle_hidden_in_a_trainer_function():
    graph = _trainer_graph()
    # what setup.py did before: a function-local import of the package (for its version)
    graph[f"{TRAINER}.setup"] = graph[f"{TRAINER}.setup"] | {TRAINER}
    assert _cycle(graph) is not None
    # and what torch_engine.py did: the rollout engines importing from the pipeline
    graph = _trainer_graph()
    graph[f"{TRAINER}.rollout.torch_engine"] |= {f"{TRAINER}.pipeline.client"}
    assert _cycle(graph) is not None


def test_each_trainer_module_imports_only_its_own_layer_or_below():
    upward = [
        f"{a} -> {b}"
        for a, targets in sorted(_trainer_graph().items())
        for b in sorted(targets)
        if _trainer_layer(b) > _trainer_layer(a)
    ]
    assert upward == []


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_rlscaling_loads_no_heavy_dependency():
    loaded = _loaded_after("import rlscaling")
    heavy = {"pandas", "scipy.stats", "matplotlib", "emcee", "torch", "rlscaling.fit"}
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


def test_public_names_load_on_first_use():
    loaded = _loaded_after("import rlscaling\nrlscaling.fit_sigmoid")
    assert "rlscaling.fit.fitting" in loaded
    assert "torch" not in loaded


def test_every_public_name_resolves_and_is_listed():
    import rlscaling

    assert set(rlscaling.__all__) - {"__version__"} == set(rlscaling._EXPORTS)
    for name in rlscaling.__all__:
        assert getattr(rlscaling, name) is not None, name
    # the decision layer's entry points a notebook reaches for first
    for name in ("early_fit_report", "seed_spread", "backtest", "compare"):
        assert name in rlscaling.__all__
