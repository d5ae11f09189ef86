"""The technique registry is the one source of truth: every declaration is complete and
consistent with its function, the bounds it declares are the ones applied, the package
exports and the generated documents follow it, and the package has no import cycle."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import cnnvis
from cnnvis import docs, registry
from cnnvis.errors import ParameterError
from cnnvis.registry import COSTS, OUTPUTS, Option, technique

from .app_helpers import is_one_sentence
from .tiny import cam_model, seeded_image, wrap

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnnvis"


def all_techniques():
    return list(cnnvis.TECHNIQUES.values())


def stub_exports() -> dict[str, str]:
    """The public names of ``cnnvis/__init__.pyi`` (what IDEs see) -> their modules."""
    tree = ast.parse((PACKAGE / "__init__.pyi").read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name: node.module or ""
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def unexported_techniques() -> list[str]:
    """Registry techniques that the public API's explicit re-exports leave out."""
    return sorted(set(registry.TECHNIQUES) - set(stub_exports()))


@pytest.mark.parametrize("entry", all_techniques(), ids=lambda t: t.name)
def test_every_declaration_is_complete(entry):
    assert entry.output in OUTPUTS and entry.cost in COSTS
    assert entry.title and entry.paper and entry.summary.endswith(".")
    assert entry.function.__name__ == entry.name
    assert inspect.signature(entry.function).parameters, "the signature is kept by the wrapper"


@pytest.mark.parametrize("entry", all_techniques(), ids=lambda t: t.name)
def test_declared_options_match_the_function(entry):
    """An option's default is the function's own default; its bounds hold the default;
    its app default (when it has one) lies in the app's range."""
    parameters = inspect.signature(entry.function).parameters
    for option in entry.options:
        if option.name in parameters:
            assert parameters[option.name].default == option.default, option.name
        if option.default is not None and option.kind is not str:
            assert option.low <= option.default <= option.high, option.name
        if option.app_range is not None:
            low, high, _ = option.app_range
            assert low <= option.shown_default <= high, option.name
        if option.choices:
            assert option.shown_default in option.choices, option.name


def numeric_options():
    return [
        pytest.param(t, o, id=f"{t.name}.{o.name}")
        for t in all_techniques()
        for o in t.options
        if o.kind is not str
    ]


@pytest.mark.parametrize(("entry", "option"), numeric_options())
def test_declared_bounds_are_applied_before_any_work(entry, option):
    """The registry checks the option itself: the function body never runs (it would
    fail on a model of None), and the refusal is one sentence naming the option."""
    parameters = inspect.signature(entry.function).parameters.values()
    positional = [p for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD][:2]
    for value in (option.high + 1, option.low - 1, float("nan"), "abc", True):
        with pytest.raises(ParameterError) as caught:
            entry.function(*[None] * len(positional), **{option.name: value})
        message = str(caught.value)
        assert option.name in message and is_one_sentence(message), message


def test_every_technique_is_exported_by_the_package():
    """Every registry technique is an explicit re-export of the stub (IDEs and type
    checkers see it), and the name resolves to the registered function."""
    assert unexported_techniques() == []
    for name, entry in cnnvis.TECHNIQUES.items():
        assert getattr(cnnvis, name) is entry.function
        assert name in cnnvis.__all__
    assert {"TECHNIQUES", "load_model", "render", "Heatmap"} <= set(cnnvis.__all__)
    assert set(stub_exports()) == set(cnnvis.__all__)


def test_every_public_name_resolves():
    for name in cnnvis.__all__:
        assert getattr(cnnvis, name) is not None, name
    assert cnnvis.__version__ == cnnvis.version.__version__


def test_the_top_of_the_package_is_wings_and_at_most_eight_modules():
    """The architecture, as a newcomer reads it: named wings, few loose modules."""
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    wings = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(loose) <= 8, loose
    assert wings == ["datasets", "evaluation", "models", "serving", "techniques", "training", "ui"]


def test_map_methods_and_lanes_come_from_the_declarations():
    methods = registry.map_methods()
    assert set(methods) == {n for n, t in cnnvis.TECHNIQUES.items() if t.output in ("heatmap", "attribution")}
    assert "grad_cam" in registry.quick_map_methods()
    assert "score_cam" not in registry.quick_map_methods()
    assert {t.name for t in all_techniques() if t.cost == "long"} >= {
        "score_cam",
        "occlusion",
        "smoothgrad",
        "integrated_gradients",
        "deep_dream",
        "feature_visualization",
        "compare",
        "randomization_check",
        "pointing_games",
    }


@pytest.mark.parametrize("kind", list(docs.TABLES))
def test_the_generated_documents_are_up_to_date(kind):
    text = (ROOT / docs.FILES[kind]).read_text(encoding="utf-8")
    assert docs.committed_block(text, kind) == docs.block(kind), (
        f"{docs.FILES[kind]} is out of date: run python scripts/make_docs.py"
    )


def test_a_registered_method_appears_in_the_exports_and_the_documents_then_goes():
    """A throwaway CAM method, registered the way every method is, is exported, listed
    with its paper and bounded in the documents; removing it removes it everywhere."""
    from cnnvis.techniques import cam

    @technique(
        title="Upside-down CAM",
        output="heatmap",
        paper="Nobody et al. 2026",
        summary="Grad-CAM turned upside down, for this test.",
        options=(Option("flips", int, 1, "Flips", "How many flips.", low=1, high=3),),
    )
    def upside_down_cam(model, image, *, target_class=None, layer=None, flips: int = 1):
        result = cam.grad_cam(model, image, target_class=target_class, layer=layer)
        return result.heatmap[::-1] if flips % 2 else result.heatmap

    try:
        # the public API is explicit: the check over the stub names the one missing
        assert unexported_techniques() == ["upside_down_cam"]
        assert "upside_down_cam" in registry.map_methods()
        assert "Nobody et al. 2026" in docs.techniques_table()
        assert "| `upside_down_cam` | `flips` | 1 … 3 |" in docs.bounds_table()
        model, image = wrap(cam_model()), seeded_image()
        assert upside_down_cam(model, image).shape == image.shape[:2]
        with pytest.raises(ParameterError):
            upside_down_cam(model, image, flips=4)
    finally:
        registry.unregister("upside_down_cam")
    assert unexported_techniques() == []
    assert "Nobody et al. 2026" not in docs.techniques_table()


# ----- the import graph -------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every cnnvis module ``path`` imports, at the top, inside functions or for type
    checkers only (``if TYPE_CHECKING:``); a package with a stub (``__init__.pyi``, its
    public names loaded on first use) imports what its stub names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    stub = path.with_suffix(".pyi")
    tree = ast.parse((stub if stub.exists() else path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            submodules = [f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in modules]
            # "from pkg import module" imports the module; "from m import name", m itself
            targets = submodules if submodules and not node.module else submodules + [origin]
        else:
            continue
        for target in targets:
            if target in modules and target != name:
                found.add(target)
    return found


def test_the_package_has_no_import_cycle():
    """Each module's imports (top-level, inside functions and type-only ones), plus, for an
    import of ``a.b.c`` from outside ``a.b``, the parent package ``a.b`` that Python runs
    first, form an acyclic graph. The public API (``cnnvis/__init__.pyi``) counts as what
    ``cnnvis`` imports: no module below it may import ``cnnvis`` itself."""
    paths = [p for p in PACKAGE.rglob("*.py")]
    modules = {module_name(p) for p in paths}
    graph = {}
    for path in paths:
        name = module_name(path)
        edges = set()
        for target in imports_of(path, modules):
            edges.add(target)
            parent = target.rpartition(".")[0]
            while parent and parent != "cnnvis":
                if not (name == parent or name.startswith(parent + ".")):
                    edges.add(parent)
                parent = parent.rpartition(".")[0]
        graph[name] = edges

    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(nxt) is None:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)


DISPLAY_METHODS = {"_repr_png_", "_repr_html_", "picture", "show", "save"}


def render_imports_outside_display(path: Path) -> list[str]:
    """Where ``path`` imports cnnvis.render other than inside a result's display method
    (a function named in DISPLAY_METHODS): ``"line N"`` for each."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            module = node.module or ""
            if ("render" in names and module in ("", "cnnvis")) or module.endswith("render"):
                if function not in DISPLAY_METHODS:
                    found.append(f"line {node.lineno}")
        elif isinstance(node, ast.Import) and any(a.name == "cnnvis.render" for a in node.names):
            if function not in DISPLAY_METHODS:
                found.append(f"line {node.lineno}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def test_render_never_computes_for_the_package():
    """No module of the package (outside the app, the command line, the dataset runs and
    the training callback, which write pictures) imports the drawing module, except a
    result's display methods (``_repr_png_``, ``show``, ``save``...), which hand the
    result to render from inside the method."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    users = {
        module_name(p): render_imports_outside_display(p)
        for p in PACKAGE.rglob("*.py")
        if "cnnvis.render" in imports_of(p, modules)
        and not module_name(p).startswith(("cnnvis.ui", "cnnvis.cli", "cnnvis.datasets", "cnnvis.training"))
        and module_name(p) not in ("cnnvis", "cnnvis.render")
    }
    assert {name: lines for name, lines in users.items() if lines} == {}
    assert set(users) == {"cnnvis.techniques.base"}  # the one place results display from


def test_the_render_rule_catches_an_import_outside_display(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "def _repr_png_(self):\n    from .. import render\n"
        "def draw(self):\n    from .. import render\n"
        "from ..render import overlay\n"
    )
    assert render_imports_outside_display(source) == ["line 4", "line 5"]


def test_one_softmax_and_one_out_of_memory_detector():
    sources = {p: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    softmaxes = [p.name for p, text in sources.items() if "def softmax(" in text]
    detectors = [p.name for p, text in sources.items() if "ResourceExhaustedError" in text]
    assert softmaxes == ["heads.py"]
    assert detectors == ["errors.py"]


def test_seeds_have_one_bound_everywhere():
    seeds = [o for t in all_techniques() for o in t.options if o.name == "seed"]
    assert seeds and {o.high for o in seeds} == {registry.SEED_MAX}


def test_the_top_class_is_the_largest_logit():
    from cnnvis.techniques.base import top_class

    assert top_class(np.array([0.1, 3.0, 3.0, -1.0])) == 1
