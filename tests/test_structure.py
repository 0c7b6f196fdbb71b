"""The library's import structure, read from the source (an AST scan of ``explorer/``):
no import cycle, no lower layer importing a higher one, Streamlit only in ``explorer/ui``,
environment variables read only in ``explorer/settings.py``.

Every import counts, at the top of a file or inside a function: an import moved into a
function still ties the two modules together."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "explorer"

# The layers below the engine: what a run is made of and how it is kept. None of them may
# import the engine, the pages' helpers, the analyses, the figures, the exports or classroom.
LOWER = ("explorer.paths", "explorer.settings", "explorer.processes", "explorer.config", "explorer.data", "explorer.models",
         "explorer.objective", "explorer.schedules", "explorer.rowlog", "explorer.training", "explorer.runs",
         "explorer.store", "explorer.text")
HIGHER = ("explorer.engine", "explorer.ui", "explorer.analysis", "explorer.figures", "explorer.export",
          "explorer.classroom", "explorer.catalog", "explorer.cli", "explorer.pretrain", "explorer.exchange",
          "explorer.probe", "explorer.presets", "explorer.launcher", "explorer.decoder_cache")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _resolve(name: str) -> str | None:
    """The module of ``explorer`` that an imported dotted name refers to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    """The modules of ``explorer`` that ``module`` imports, anywhere in its file."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name) if name.startswith("explorer") else None
            if target and target != module and not module.startswith(target + "."):
                found.add(target)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_scan_sees_the_library():
    """A scan that found nothing would pass every check below."""
    assert {"explorer.runs", "explorer.engine.server", "explorer.ui.frame",
            "explorer.catalog"} <= set(MODULES)
    assert "explorer.runs" in GRAPH["explorer.engine.server"]
    assert "explorer.store.index" in GRAPH["explorer.catalog"]


def test_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_a_planted_cycle_is_found():
    """The cycle finder itself, on a graph with one cycle of three and a tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_lower_layers_import_no_higher_one():
    upward = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if _within(m, LOWER)
                    for t in targets if _within(t, HIGHER))
    assert upward == []


@pytest.mark.parametrize("path", [p for m, p in MODULES.items() if not _within(m, ("explorer.ui",))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_streamlit_only_in_ui(path):
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), (
            f"{path.relative_to(ROOT)}:{node.lineno} imports Streamlit outside explorer/ui")


@pytest.mark.parametrize("path", [p for m, p in MODULES.items() if m != "explorer.settings"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_environment_read_only_in_settings(path):
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                isinstance(node.value, ast.Name) and node.value.id == "os":
            pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} reads the environment "
                        f"(only explorer/settings.py does)")


MAX_MODULE_LINES, MAX_PAGE_LINES = 450, 300
PAGES = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "home.py"]


def _lines(path: Path) -> int:
    return len(path.read_text("utf-8").splitlines())


def test_no_module_of_the_library_is_over_450_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := _lines(p)) > MAX_MODULE_LINES}
    assert long == {}


def test_no_page_is_over_300_lines():
    assert ROOT / "home.py" in PAGES and len(PAGES) >= 7    # home and the pages: the scan sees them
    long = {p.name: n for p in PAGES if (n := _lines(p)) > MAX_PAGE_LINES}
    assert long == {}


def test_the_menu_is_home_then_every_page_in_pages_in_file_name_order():
    """``app.py``'s menu (``explorer.ui.frame.PAGES``) lists what Streamlit's automatic ``pages/``
    menu listed, in its order: a page added to ``pages/`` is added there too. The frame is
    ``app.py``'s: no page draws it again."""
    from streamlit.source_util import page_sort_key

    from explorer.ui.frame import PAGES as MENU
    files = sorted((ROOT / "pages").glob("*.py"), key=page_sort_key)
    assert [p.script for p in MENU] == ["home.py"] + [f"pages/{f.name}" for f in files]
    assert [p for p in PAGES if "page_setup" in p.read_text("utf-8")] == []
