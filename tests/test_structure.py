"""The package's layering: transport and drawing sit below plot and views, and plot never reaches views."""

from __future__ import annotations

import ast
import pathlib

import attnwidgets

PACKAGE = pathlib.Path(attnwidgets.__file__).parent
FILES = {".".join(("attnwidgets",) + p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__"): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, lazy: bool = True) -> set[str]:
    """The attnwidgets modules a module imports: at the top, and with ``lazy`` also inside functions."""
    path = FILES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            submodules = {f"{target}.{a.name}" for a in node.names} & FILES.keys()
            # `from . import plot` loads the module plot; `from .record import X` loads record
            found |= submodules if submodules and not node.module else {target} | submodules
    return found & FILES.keys()


def graph(lazy: bool = True) -> dict[str, set[str]]:
    return {name: imports_of(name, lazy) for name in FILES}


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in edges[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return seen


def views(modules: set[str]) -> set[str]:
    return {m for m in modules if m == "attnwidgets.views" or m.startswith("attnwidgets.views.")}


def test_the_parser_sees_relative_and_lazy_imports():
    edges = graph()
    # views/heatmap.py: `from .tokenview import TokenView` at the top, `from .. import plot` inside to_figure
    assert {"attnwidgets.views.tokenview", "attnwidgets.plot", "attnwidgets.transport", "attnwidgets.views.picture"} <= edges["attnwidgets.views.heatmap"]
    assert "attnwidgets.plot" not in graph(lazy=False)["attnwidgets.views.heatmap"]
    assert {"attnwidgets.views", "attnwidgets.plot", "attnwidgets.analysis"} <= edges["attnwidgets"]
    assert "attnwidgets.views.headview" in edges["attnwidgets.views"]


def test_plot_does_not_reach_the_views():
    reached = reachable("attnwidgets.plot", graph())
    assert not views(reached), sorted(reached)
    assert {"attnwidgets.transport", "attnwidgets.drawing"} <= reached


def test_transport_and_drawing_import_neither_plot_nor_views():
    edges = graph()
    for low in ("attnwidgets.transport", "attnwidgets.drawing"):
        reached = reachable(low, edges)
        assert "attnwidgets.plot" not in reached and not views(reached), (low, sorted(reached))
    assert edges["attnwidgets.drawing"] == set()  # the spec of what is drawn imports nothing of the package


def test_no_cycle_through_plot_views_transport_drawing():
    """No module of plot, views, transport or drawing reaches itself again, lazy imports included."""
    edges = graph()
    for start in {"attnwidgets.plot", "attnwidgets.transport", "attnwidgets.drawing", "attnwidgets.record"} | views(set(FILES)):
        assert start not in reachable(start, edges), start


def test_public_names_still_import_from_views():
    from attnwidgets.views import AlignmentView, AttentionView, Explorer, HeadView, Heatmap, ImageAttention, ModelView, Predict, TokenView, explore, link_views

    assert issubclass(TokenView, AttentionView) and issubclass(Heatmap, TokenView) and issubclass(AlignmentView, Heatmap)
    assert issubclass(HeadView, TokenView) and issubclass(ModelView, TokenView) and issubclass(ImageAttention, AttentionView)
    assert callable(explore) and callable(link_views) and Explorer.__module__ == "attnwidgets.views.explorer" and Predict
