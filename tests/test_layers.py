"""The house keeps its layers (docs/architecture.md): each module imports only from its own
layer or the ones below it, function-level imports included, and no imports go round in a cycle."""
import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "one_run"
ARCHITECTURE = Path(__file__).parent.parent / "docs" / "architecture.md"


def layers():
    """The layers, top first, as docs/architecture.md states them on its `Layers:` line."""
    line = next(line for line in ARCHITECTURE.read_text().splitlines() if line.startswith("Layers:"))
    return [[name.strip(" `") for name in part.split(",")] for part in line[len("Layers:"):].split("→")]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path):
    """The one_run modules `path` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("one_run"):
                continue
            for alias in node.names:  # `from . import watch` imports the module one_run.deploy.watch
                sub = f"{target}.{alias.name}"
                found.add(sub if module_path(sub) else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("one_run"))
    found.discard(name)
    return found


def module_path(name: str):
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def graph():
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str, order) -> int:
    """0 for the top layer. A folder of the package is named by its name, a module at the
    package's top (cli, __main__, the package itself) by its file name."""
    parts = name.split(".")
    key = "__init__.py" if len(parts) == 1 else parts[1] if (PACKAGE / parts[1]).is_dir() else f"{parts[1]}.py"
    for depth, names in enumerate(order):
        if key in names:
            return depth
    raise AssertionError(f"{name} is in no layer of docs/architecture.md: add {key} there")


def test_no_import_goes_up_a_layer():
    order = layers()
    upward = [f"{importer} → {imported}" for importer, found in graph().items() for imported in sorted(found)
              if layer_of(imported, order) < layer_of(importer, order)]
    assert not upward, "imports from a lower layer into a higher one:\n" + "\n".join(upward)


def test_no_import_cycle():
    edges = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" → ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_folder_of_the_package_is_a_layer_of_the_architecture():
    named = {name for names in layers() for name in names}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= named, f"folders docs/architecture.md does not place: {sorted(folders - named)}"
    assert re.search(r"^Layers:", ARCHITECTURE.read_text(), re.M)
