"""Imports inside src/neurocore point one way and form no cycle.

The layers, bottom up (DESIGN.md): the C boundary (_nc_core, the module that
links the C core, and the kernel family modules that call it through the
C-API table; _kernels, which gathers them, and its public face
neurocore.kernels), the engine (Tensor, Function,
backward and the ops Tensor's own methods use), functional, then nn, optim
and the other model-level modules, then the command line and the package
root.  Every import statement is read with ``ast`` (also those inside
functions: a late import is still an import), plus the ``cimport`` and
``include`` lines of the Cython sources; none may reach a higher layer, and
the module graph must have no cycle.
"""
import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "neurocore"

# module name (relative to neurocore; "" is the package root) -> layer.
# A prefix ending in "." covers a whole subpackage.
LAYERS = [
    ("_nc", 0), ("_shape", 0), ("_api", 0), ("_nc_core", 0),
    ("_elementwise", 0), ("_activation", 0), ("_softmax", 0), ("_gemm", 0), ("_optim", 0), ("_attention", 0),
    ("_loss", 0), ("_mlp", 0),
    ("_kernels", 1), ("kernels", 1), ("memory", 1), ("_threadpoolctl", 1),
    ("_grad_mode", 2), ("_engine_core", 2), ("_engine", 2), ("_tensor_ops", 2), ("_tensor", 2), ("_io", 2), ("_tree", 2), ("autograd", 2), ("autograd.", 2),
    ("functional", 3), ("functional.", 3),
    ("nn", 4), ("nn.", 4), ("optim", 4), ("optim.", 4), ("calibration", 4),
    ("distributed", 4), ("distributed.", 4),
    ("sklearn", 5), ("sklearn.", 5), ("demos", 5), ("demos.", 5), ("bench", 5), ("bench.", 5),
    ("__main__", 5), ("", 5),
]


def _layer(module):
    for name, layer in LAYERS:
        if module == name or (name.endswith(".") and module.startswith(name)):
            return layer
    return None


def _modules():
    """neurocore-relative module name -> source files (a .pyx, .pxd or .py)."""
    mods = {}
    for path in SRC.rglob("*"):
        if path.suffix not in (".py", ".pyx", ".pxd") or "__pycache__" in path.parts:
            continue
        if path.relative_to(SRC).parts[0] == "include":
            continue        # headers for other extensions (get_include()), not package modules
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods.setdefault(".".join(parts), []).append(path)
    return mods


MODULES = _modules()


def _resolve(name):
    """A dotted absolute name -> the neurocore module it loads, or None if outside."""
    if name != "neurocore" and not name.startswith("neurocore."):
        return None
    if (SRC / "include" / (name.replace(".", "/") + ".pxd")).exists():
        return None         # a public declaration file (get_include()), not a package module
    rel = name[len("neurocore."):] if name != "neurocore" else ""
    while rel and rel not in MODULES:      # an attribute of a module, not a module
        rel = rel.rpartition(".")[0]
    return rel


def _package_of(module, path):
    is_pkg = path.name.startswith("__init__.")
    return module if is_pkg else module.rpartition(".")[0]


def _python_imports(module, path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, _resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module, path).split(".") if _package_of(module, path) else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                pkg = ".".join(["neurocore"] + [b for b in base if b])
                target = pkg + ("." + node.module if node.module else "")
            else:
                target = node.module
            if _resolve(target) is None:
                continue
            for alias in node.names:
                sub = target + "." + alias.name
                # `from neurocore import functional`: the submodule; else the module itself
                yield node.lineno, (_resolve(sub) if _resolve(sub) != _resolve(target) else _resolve(target))


_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+cimport|cimport\s+([\w.]+)|from\s+([\w.]+)\s+import"
                            r"|import\s+([\w.]+))")
_INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"')


def _cython_imports(path, seen=None):
    seen = set() if seen is None else seen
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _CYTHON_IMPORT.match(line)
        if m and m.group(3):
            # `from neurocore import _kernels`: the submodule, as for Python
            names = line.split(" import ", 1)[1].strip().strip("()").split(",")
            for alias in (n.split(" as ")[0].strip() for n in names if n.strip()):
                sub = _resolve(m.group(3) + "." + alias)
                yield lineno, sub if sub != _resolve(m.group(3)) else _resolve(m.group(3))
        elif m:
            name = next(g for g in m.groups() if g)
            yield lineno, _resolve(name)
        inc = _INCLUDE.match(line)
        if inc:
            included = path.parent / inc.group(1)
            if included not in seen:
                seen.add(included)
                yield from _cython_imports(included, seen)


def _edges():
    edges = {}
    for module, paths in MODULES.items():
        for path in paths:
            found = (_python_imports(module, path) if path.suffix == ".py" else _cython_imports(path))
            for lineno, target in found:
                if target is None or target == module:
                    continue
                edges.setdefault(module, {}).setdefault(target, f"{path.relative_to(SRC)}:{lineno}")
    return edges


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if _layer(m) is None)
    assert not missing, f"modules without a layer in tests/test_layering.py LAYERS: {missing}"


def test_no_upward_import():
    upward = []
    for module, targets in _edges().items():
        for target, where in targets.items():
            lo, hi = _layer(module), _layer(target)
            if lo is not None and hi is not None and hi > lo:
                upward.append(f"{where}: neurocore.{module} (layer {lo}) imports "
                              f"neurocore.{target or '(root)'} (layer {hi})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_cycle():
    edges = _edges()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):                       # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in MODULES:
        if v not in index:
            visit(v)
    detail = []
    for comp in cycles:
        for a in comp:
            for b, where in edges.get(a, {}).items():
                if b in comp:
                    detail.append(f"  {where}: {a or '(root)'} -> {b or '(root)'}")
    assert not cycles, "import cycles:\n" + "\n".join(detail)


@pytest.mark.parametrize("source, expected", [
    ("from neurocore import functional\n", "functional"),
    ("from neurocore.functional import relu\n", "functional"),
    ("import neurocore\n", ""),
    ("from neurocore._tensor import Tensor\n", "_tensor"),
    ("def f():\n    from neurocore import nn\n", "nn"),
])
def test_import_reader(tmp_path, source, expected):
    # the reader itself: late imports count, names resolve to their module
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [t for _, t in _python_imports("_tensor", path)] == [expected]


def test_engine_file_reads_in_one_sitting():
    # the autograd engine (Function/Op, the backward loop, hooks, backward(),
    # grad()) is one file of at most ~600 lines, named in the README's Layout
    engine = SRC / "_engine.py"
    assert len(engine.read_text(encoding="utf-8").splitlines()) <= 600
    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    assert "`_engine.py`" in layout


def test_kernel_module_knows_only_arrays():
    """The kernel wrappers (_nc_core and the family modules) take arrays and
    scalars: they read no tensor, node, module or optimizer state."""
    sources = [p for name, layer in LAYERS if layer == 0 for p in MODULES.get(name, ())]
    pattern = re.compile(r"\bctx\.|\.weight\b|\.bias\b|\.grad\b|\b_grad\b|\b_node\b|requires_grad"
                         r"|\bTensor\b|\.data\b|\bstate\[")
    found = [f"{p.name}:{i}: {line.strip()}" for p in sources
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line.split("#")[0])]
    assert len(sources) > 10 and not found, found


def test_only_core_calls_the_c_core_directly():
    """nc_core lives in _nc_core alone: every other module reaches the kernels
    through the C-API table (_api.pxd), so none cimports _nc.pxd or
    includes a .pxi."""
    for module, paths in MODULES.items():
        for path in paths:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r'^\s*include\s+"', text, re.M), f"{path.name} includes a file textually"
            if module not in ("_nc_core", "_nc"):
                assert not re.search(r"^\s*from\s+neurocore\._nc\s+cimport|^\s*cimport\s+neurocore\._nc",
                                     text, re.M), f"{path.name} cimports _nc.pxd"
