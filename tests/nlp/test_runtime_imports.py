"""Nothing at run time reaches `nlp.training`: the runtime packages' imports, walked with `ast`.

Every import counts: module level, deferred (inside a function), under `if TYPE_CHECKING`, and a
module named by a string (`importlib.import_module("...")`, a Scrapy setting such as
"crawlers.health.CrawlHealth"). The walk follows imports from module to module across the
repository, so a path through another package is caught too, and the failure shows the chain.
Tests and bench scripts are not run time: they may import the training side.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("core", "nlp", "indexer", "crawlers", "alerts", "voc")
TRAINING = "nlp.training"
# a string that is a module path, optionally with ":attr" (Scrapy settings, entry points)
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(:\w+)?$")


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted name -> file of every module under `packages` (a package is its __init__)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name `path` (module `name`) may import, deferred and by string included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from nlp import training`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.match(node.value):
            names.add(node.value.partition(":")[0])
    return names


def reach(root: Path, runtime: tuple[str, ...], forbidden: str) -> list[list[str]]:
    """Import chains from a runtime module to `forbidden` (or a module under it); [] when none."""
    everything = modules(root, tuple(p.name for p in root.iterdir()
                                     if p.is_dir() and (p / "__init__.py").exists()))
    start = [m for m in modules(root, runtime) if m != forbidden and not m.startswith(forbidden + ".")]
    chains: list[list[str]] = []
    came_from: dict[str, str | None] = {m: None for m in start}
    queue = deque(start)
    while queue:
        current = queue.popleft()
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        targets = {".".join(name.split(".")[:i]) for name in imported_names(current, everything[current])
                   for i in range(1, name.count(".") + 2)}
        for module in sorted(targets):
            if module == forbidden or module.startswith(forbidden + "."):
                chain, step = [module], current
                while step is not None:
                    chain.append(step)
                    step = came_from[step]
                chains.append(chain[::-1])
            elif module in everything and module not in came_from:
                came_from[module] = current
                queue.append(module)
    return chains


def test_no_runtime_module_reaches_the_training_side() -> None:
    assert (ROOT / "nlp" / "training" / "train.py").exists()
    assert len(modules(ROOT, RUNTIME)) > 50  # the walk sees the real packages
    chains = reach(ROOT, RUNTIME, TRAINING)
    assert chains == [], "runtime imports reaching nlp.training:\n" + "\n".join(
        " -> ".join(chain) for chain in chains)


def test_the_walk_finds_deferred_relative_and_indirect_imports(tmp_path: Path) -> None:
    def write(rel: str, text: str = "") -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    for package in ("nlp", "nlp/training", "app", "lib"):
        write(f"{package}/__init__.py")
    write("nlp/training/train.py")
    write("nlp/ok.py", "import json\nfrom nlp import errors\n")
    write("nlp/errors.py")
    write("nlp/late.py", "def f():\n    from .training import train\n")
    write("app/cli.py", "import lib.helper\n")
    write("lib/helper.py", "from nlp import training\n")  # not a runtime package, but on the way
    write("app/settings.py", 'PIPELINES = {"nlp.training.train:main": 1}\n')

    chains = reach(tmp_path, ("nlp", "app"), "nlp.training")
    assert sorted(" -> ".join(c) for c in chains) == [
        "app.cli -> lib.helper -> nlp.training",
        "app.settings -> nlp.training",
        "app.settings -> nlp.training.train",
        "nlp.late -> nlp.training",
        "nlp.late -> nlp.training.train",
    ]
    write("nlp/late.py", "def f():\n    return 1\n")
    write("lib/helper.py", "")
    write("app/settings.py", "")
    assert reach(tmp_path, ("nlp", "app"), "nlp.training") == []
