"""kzoo's modules import each other without circles: every import,
module-level or inside a function, read from the source."""
import ast
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO_ROOT, "kzoo")


def modules():
    """`{dotted name: path}` of every module in kzoo/."""
    found = {}
    for directory, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = os.path.relpath(path, REPO_ROOT)[:-3].replace(
                    os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def import_graph(found):
    """`{module: set of kzoo modules it imports}`. `from a import b` is an
    import of the module `a.b` when there is one, else of `a`."""
    graph = {name: set() for name in found}
    for name, path in found.items():
        is_package = path.endswith("__init__.py")
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                targets = [f"{base}.{alias.name}"
                           if f"{base}.{alias.name}" in found else base
                           for alias in node.names]
            graph[name].update(t for t in targets
                               if t in found and t != name)
    return graph


def circles(graph):
    """The strongly connected components with more than one module
    (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_circle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_import_graph_reads_relative_and_from_imports():
    graph = import_graph(modules())
    assert "kzoo.losses.mining" in graph["kzoo.losses.triplet_loss"]
    assert "kzoo.training.flags" in graph["kzoo.distribute"]


def test_no_import_circle_in_kzoo():
    found = circles(import_graph(modules()))
    assert found == [], found


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def test_no_module_in_kzoo_over_800_lines():
    # Issue 21. The biggest were split: kzoo.runs -> kzoo.training,
    # kzoo.export -> a package, specs out of kzoo.presets.build, multi-worker
    # checks out of kzoo.distribute, input parsing out of
    # kzoo.eval.detection_map, reading out of kzoo.data.keypoints.
    sizes = {name: _lines(path) for name, path in modules().items()}
    too_long = {name: n for name, n in sizes.items() if n > 800}
    assert too_long == {}, too_long
    assert len(sizes) > 100  # the walk found the package


def test_training_package_modules_stay_small():
    # The training package replaced a 1,340-line kzoo/runs.py; each of its
    # modules is well under 500 lines, and kzoo.runs only gathers names.
    sizes = {name: _lines(path) for name, path in modules().items()
             if name.startswith("kzoo.training") or name == "kzoo.runs"}
    assert len(sizes) >= 9, sizes
    assert max(sizes.values()) < 450, sizes
    with open(modules()["kzoo.runs"], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    defined = [node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert defined == [], defined
