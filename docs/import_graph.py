"""The import graph of src/bookrec: its layers, the edges between them, and the rules they keep.

Run ``python docs/import_graph.py`` to print the graph (and rewrite ``docs/import-graph.md`` with
``--write``); ``--check`` only checks, exiting 1 with one line per broken rule. Every import counts, at module
level or inside a function (a lazy import is still a dependency), except those under ``if TYPE_CHECKING:``,
which never run. Names that a package loads on first use through ``importlib`` (``bookrec.X``,
``bookrec.data.X``, the model kinds) are not edges: they run only where a caller asks for them. The rules:

1. No import circle between modules.
2. The arrows run one way, down the layers: faces (cli, app) -> serving (recommender, evaluation) ->
   training (config, engines, train, lr_find, tune) -> persistence (modelfile) -> models -> data ->
   foundation (errors, results, metrics, titles, helpers). A module imports only its own layer or lower.
3. Serving never reaches torch, numba or the training layer, even lazily.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "bookrec"
MARKDOWN = Path(__file__).resolve().parent / "import-graph.md"

# Layers from the bottom up; a module belongs to the first layer whose prefix matches it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "bookrec.errors",
            "bookrec.results",
            "bookrec.metrics",
            "bookrec.titles",
            "bookrec._files",
            "bookrec._tensorfile",
            "bookrec._random",
            "bookrec.background",
            "bookrec.ann",
            "bookrec._title_index",
            "bookrec.lookups",
            "bookrec.taste",
        ),
    ),
    ("data", ("bookrec.data", "bookrec")),
    ("models", ("bookrec.models",)),
    ("persistence", ("bookrec.modelfile",)),
    (
        "training",
        (
            "bookrec.config",
            "bookrec.engines",
            "bookrec.trained",
            "bookrec.train",
            "bookrec.ranking_fit",
            "bookrec.lr_find",
            "bookrec.tune",
            "bookrec.warmup",
        ),
    ),
    (
        "serving",
        (
            "bookrec.catalog",
            "bookrec.fold_in",
            "bookrec.reasons",
            "bookrec.recommender",
            "bookrec.evaluation",
            "bookrec.topn",
            "bookrec._topk",
            "bookrec.similarity",
            "bookrec.explore",
            "bookrec.reader_lists",
        ),
    ),
    ("faces", ("bookrec.cli", "bookrec.app", "bookrec.plots", "bookrec.__main__")),
]
SERVING_ROOTS = ("bookrec.recommender",)
HEAVY = ("torch", "numba")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    best = (-1, -1)  # (prefix length, layer index): the longest matching prefix wins
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), index)
    if best[1] < 0:
        raise SystemExit(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return best[1]


class _Imports(ast.NodeVisitor):
    """Every module a file imports, skipping ``if TYPE_CHECKING:`` blocks."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base]) if base else ".".join(anchor)
        self.found.add(base)
        # "from bookrec.data import load" may name a submodule: count it when one exists.
        for alias in node.names:
            self.found.add(f"{base}.{alias.name}")


def graph() -> dict[str, set[str]]:
    """bookrec module -> the modules it imports (bookrec's own, and torch/numba by their top name)."""
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for module, path in files.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        targets = {name for name in visitor.found if name in files and name != module}
        targets |= {name.split(".")[0] for name in visitor.found if name.split(".")[0] in HEAVY}
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for target in edges.get(node, ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def problems(edges: dict[str, set[str]]) -> list[str]:
    found = [f"import circle: {' -> '.join(group)}" for group in cycles(edges)]
    for module, targets in sorted(edges.items()):
        for target in sorted(targets - set(HEAVY)):
            if layer_of(target) > layer_of(module):
                upper, lower = LAYERS[layer_of(target)][0], LAYERS[layer_of(module)][0]
                found.append(f"{module} ({lower}) imports {target} ({upper})")
    training = next(i for i, (name, _) in enumerate(LAYERS) if name == "training")
    for root in SERVING_ROOTS:
        for target in sorted(reachable(edges, root)):
            if target in HEAVY or layer_of(target) == training:
                found.append(f"serving reaches {target}: {root} must not import it, even lazily")
    return found


def markdown(edges: dict[str, set[str]]) -> str:
    """The layer graph as Mermaid, with the count of module imports on each arrow."""
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for module, targets in edges.items():
        for target in targets - set(HEAVY):
            a, b = layer_of(module), layer_of(target)
            if a != b:
                counts[(a, b)] += 1
    lines = [
        "# The import graph of src/bookrec",
        "",
        "Made by `python docs/import_graph.py --write` (checked by `tests/test_imports.py`): the layers of",
        "the package and how many module imports run between them. Arrows only point down; there is no",
        "import circle; serving (`Recommender`) never reaches torch, numba or training.",
        "",
        "```mermaid",
        "flowchart TD",
    ]
    for index, (name, _) in enumerate(LAYERS):
        members = sorted(m.removeprefix("bookrec.") or "bookrec" for m in edges if layer_of(m) == index)
        shown = ", ".join(members[:8]) + (f", +{len(members) - 8}" if len(members) > 8 else "")
        lines.append(f'    L{index}["{name}: {shown}"]')
    for (a, b), n in sorted(counts.items(), key=lambda item: (-item[0][0], item[0][1])):
        lines.append(f"    L{a} -->|{n}| L{b}")
    lines += ["```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the rules (exit 1 if one breaks)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {MARKDOWN.name}")
    args = parser.parse_args()
    edges = graph()
    broken = problems(edges)
    if not args.check:
        print(markdown(edges))
    if args.write:
        MARKDOWN.write_text(markdown(edges), encoding="utf-8")
    for line in broken:
        print(f"rule broken: {line}", file=sys.stderr)
    if not broken:
        print(f"{len(edges)} modules, no import circle, every arrow points down", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
