"Repository invariants a user relies on: README made from index.ipynb, library importable without Jupyter."

import re, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_is_made_from_index_notebook():
    r = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


README_MAX_WORDS = 1500


def test_readme_is_one_screen_to_a_first_result():
    "The README stays short: what the project is, the commands, the headline results, the map; the rest lives on the docs pages."
    lines = (REPO / 'README.md').read_text(encoding='utf-8').splitlines()
    text = '\n'.join(l for l in lines if not l.startswith('<!-- made from nbs/index.ipynb'))
    n = len(text.split())
    assert n <= README_MAX_WORDS, (
        f'README.md has {n} words, more than {README_MAX_WORDS}: move the detail from nbs/index.ipynb to a docs page '
        f'(nbs/guide_*.ipynb, listed in nbs/sidebar.yml) and link it from "Where to read on", then run `python tools/make_readme.py`'
    )


def test_readme_links_to_files_that_exist():
    "Every relative link and every `figures/...` path in the README names a file of the repository (a renamed notebook or figure is caught)."
    import re

    text = (REPO / 'README.md').read_text(encoding='utf-8')
    links = re.findall(r'\]\((?![a-z]+:|#)([^)#\s]+)', text) + re.findall(r'`(figures/[^`*]+)`', text)
    assert len(links) > 20, links  # the map is read at all
    missing = sorted({l for l in links if not (REPO / l).exists()})
    assert not missing, f'README.md (made from nbs/index.ipynb) links to files that do not exist: {missing}'


def test_library_imports_without_jupyter():
    code = (
        "import sys; sys.modules.update({m: None for m in ('IPython', 'ipykernel', 'jupyter_client', 'nbformat', 'papermill', 'nbdev')});"
        "import importlib, pkgutil, mliis_nb; [importlib.import_module(m.name) for m in pkgutil.iter_modules(mliis_nb.__path__, 'mliis_nb.')]"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_experiment_parameters_parse():
    "papermill must see every assignment of each `parameters` cell (a comment holding '=' hides a line from it)."
    import json, re
    import papermill as pm

    for nb in sorted((REPO / 'nbs' / 'experiments').glob('*.ipynb')):
        cells = [
            c for c in json.loads(nb.read_text())['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])
        ]
        assert len(cells) == 1, f'{nb.name}: expected exactly one cell tagged parameters'
        names = re.findall(r'^(\w+)\s*=', ''.join(cells[0]['source']), flags=re.M)
        assert set(pm.inspect_notebook(str(nb))) == set(names), nb.name


NBDEV_INPUTS = ('settings.ini', 'nbs', 'mliis_nb')  # what nbdev_export and nbdev_clean read and write


def _snapshot(root: Path) -> dict:
    import hashlib

    return {
        p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
        for d in ('mliis_nb', 'nbs')
        for p in sorted((root / d).rglob('*'))
        if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts
    }


def test_exported_library_and_clean_notebooks_are_committed(tmp_path):
    "`nbdev_export` and `nbdev_clean` must change no file: mliis_nb/ is what the notebooks export, and the notebooks are clean."
    import shutil

    copy = (
        tmp_path / 'repo'
    )  # they run on a copy (nbdev finds settings.ini from the working folder): the repository is only read
    for rel in NBDEV_INPUTS:
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, copy / rel, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel)
    bin_ = Path(sys.executable).parent
    before = _snapshot(copy)
    assert 'mliis_nb/adapt.py' in before and 'nbs/07_adapt.ipynb' in before
    for cmd in ('nbdev_export', 'nbdev_clean'):
        r = subprocess.run([str(bin_ / cmd)], cwd=copy, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    after = _snapshot(copy)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f'nbdev_export/nbdev_clean changed {changed}: run them and commit the result'


# What a user imports from the package itself, and the module each is written in (README, index.ipynb, the notebooks).
USER_API = {
    'EfficientLab': 'model',
    'adapt': 'adapt',
    'Omega': 'adapt',
    'AdaptResult': 'adapt',
    'meta_train': 'meta',
    'MetaConfig': 'meta',
    'meta_step': 'meta',
    'evaluate': 'evaluate',
    'EvalResult': 'evaluate',
    'load_initialisation': 'inits',
    'imagenet_initialisation': 'inits',
    'FSSDataset': 'data',
    'read_split': 'splits',
    'make_synthetic': 'synthetic',
    'open_data': 'synthetic',
    'EpisodeSampler': 'episodes',
    'Task': 'episodes',
    'seg_loss': 'losses',
    'iou_per_image': 'losses',
    'joint_train': 'joint',
    'save_checkpoint': 'io',
    'load_checkpoint': 'io',
    'segment_folder': 'segment',
    'Pascal5iDataset': 'pascal',
    'omega_from_results': 'uho',
    'adapt_many': 'parallel',
    'run_stage': 'reproduce',
}


def test_curated_top_level_api():
    "`from mliis_nb import EfficientLab, adapt, Omega, meta_train, evaluate, ...` in a fresh interpreter: each name is the object its module defines."
    import json

    code = (
        f"import importlib, json\nfrom mliis_nb import {', '.join(USER_API)}\n"
        "out = {}\n"
        f"for name, mod in {USER_API!r}.items():\n"
        "    obj, m = globals()[name], importlib.import_module('mliis_nb.' + mod)\n"
        "    out[name] = [obj.__module__, obj is getattr(m, name)]\n"
        "print(json.dumps(out))"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.splitlines()[-1])
    assert got == {name: [f'mliis_nb.{mod}', True] for name, mod in USER_API.items()}


def test_top_level_api_unknown_name():
    "Every advertised name resolves; a name the package does not have is an AttributeError (ImportError for `from`) naming it."
    import pytest, mliis_nb

    assert set(USER_API) <= set(mliis_nb.__all__)
    for name in mliis_nb.__all__:
        getattr(mliis_nb, name)
    with pytest.raises(AttributeError, match="module 'mliis_nb' has no attribute 'EfficientLabb'"):
        mliis_nb.EfficientLabb
    with pytest.raises(ImportError, match="cannot import name 'no_such_name' from 'mliis_nb'"):
        from mliis_nb import no_such_name  # noqa: F401


# The references from a module to one above it that the import graph allows, each a shim that never runs on import:
# (module, module it names, where). `__getattr__`: a module's PEP 562 hook for the old paths of what moved up the graph
# (deprecated, for one release): to `mliis_nb.runners` (nbs/28_runners.ipynb), from data to pascal (PASCAL VOC) and
# fpk (the FP-k concepts), from uho to uho_report (its figures and tables) and from bench to bench_report (its table, chart
# and command); `__main__`: the block `python -m mliis_nb.<module>` runs, handing over to the runner's command
# (it runs only when the module is the program).
SHIMS = (
    {(m, 'runners', where) for m in ('meta', 'evaluate', 'uho') for where in ('__getattr__', '__main__')}
    | {('data', m, '__getattr__') for m in ('pascal', 'fpk')}
    | {('uho', 'uho_report', '__getattr__')}
    | {('bench', 'bench_report', where) for where in ('__getattr__', '__main__')}
)


def _imports_of(node, mods: set) -> set:
    "The mliis_nb modules named by every import statement under `node` (relative or absolute, at any depth)."
    import ast

    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.ImportFrom):
            name = ('mliis_nb.' + (n.module or '')).rstrip('.') if n.level == 1 else (n.module or '')
            if n.level > 1:
                raise AssertionError(f'an import two packages up: {ast.dump(n)}')
            if name == 'mliis_nb':
                out |= {a.name if a.name in mods else '__init__' for a in n.names}
            elif name.startswith('mliis_nb.'):
                out.add(name.split('.')[1])
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.name == 'mliis_nb':
                    out.add('__init__')
                elif a.name.startswith('mliis_nb.'):
                    out.add(a.name.split('.')[1])
    return out


def _shim(node) -> str | None:
    "'__getattr__' or '__main__' for a top-level statement that is one of the allowed kinds of shim, else None."
    import ast

    if isinstance(node, ast.FunctionDef) and node.name == '__getattr__':
        return '__getattr__'
    if isinstance(node, ast.If) and "__name__ == '__main__'" in ast.unparse(node.test):
        return '__main__'
    return None


def import_graph() -> tuple[dict, set]:
    """mliis_nb's import graph {module: {modules it imports}} from every import statement anywhere in each module (those
    inside functions included), less the shims, which come back on their own: {(module, module it names, where)}."""
    import ast

    files = {p.stem: p for p in (REPO / 'mliis_nb').glob('*.py') if p.stem != '_modidx'}
    graph, shims = {}, set()
    for m, p in files.items():
        tree = ast.parse(p.read_text(), str(p))
        shims |= {(m, t, _shim(n)) for n in tree.body if _shim(n) for t in _imports_of(n, set(files))}
        rest = ast.Module(body=[n for n in tree.body if not _shim(n)], type_ignores=[])
        graph[m] = _imports_of(rest, set(files)) - {m}
    return graph, shims


def _cycle(graph: dict) -> list | None:
    "A cycle of `graph` as [a, b, ..., a], or None."
    state, stack = {}, []

    def visit(v):
        state[v] = 'open'
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 'open':
                return stack[stack.index(w) :] + [w]
            if w not in state and (c := visit(w)):
                return c
        state[v] = 'done'
        stack.pop()

    for v in sorted(graph):
        if v not in state and (c := visit(v)):
            return c
    return None


def test_imports_run_one_way():
    """The library's import graph, function-level imports included, has no cycle: a module never imports one that imports
    it back, not even inside a function. Only the shims in SHIMS are left out, and they must be exactly those."""
    graph, shims = import_graph()
    assert shims == SHIMS, f'shims referring up the graph: {sorted(shims)}; allowed: {sorted(SHIMS)}'
    cycle = _cycle(graph)
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)
    assert (
        'inits' in graph['runners'] and 'runners' not in graph['meta'] and graph['io'] == set()
    )  # the graph is read at all
    assert (
        _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
        and _cycle({'a': {'b'}, 'b': set()}) is None
    )


def test_code_is_ruff_formatted():
    """One code format (ruff.toml, `make format`): `ruff format --check` passes on every notebook that exports mliis_nb/,
    the guides, tests/, tools/ and setup.py. The experiment notebooks are left out (their `parameters` cells align comments
    in a column), and so is mliis_nb/ but its __init__.py: nbdev_export writes it from the formatted notebooks."""
    import importlib.util
    import pytest

    if importlib.util.find_spec('ruff') is None:
        pytest.skip('ruff is not installed: pip install -c constraints.txt -e ".[dev]" installs it')
    ruff = [sys.executable, '-m', 'ruff']
    files = subprocess.run(
        [*ruff, 'check', '--show-files', '--no-cache', '.'], cwd=REPO, capture_output=True, text=True
    )
    assert files.returncode == 0, files.stderr
    seen = {Path(l).resolve().relative_to(REPO).as_posix() for l in files.stdout.splitlines() if l.strip()}
    exported = {p.relative_to(REPO).as_posix() for p in (REPO / 'nbs').glob('[0-9]*.ipynb')}
    assert len(exported) > 20 and exported <= seen, sorted(exported - seen)
    assert {'tests/test_repo.py', 'tools/make_readme.py', 'setup.py', 'mliis_nb/__init__.py'} <= seen
    assert not any(s.startswith('nbs/experiments/') for s in seen)
    r = subprocess.run([*ruff, 'format', '--check', '--no-cache', '.'], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, f'not in ruff format (run `make format`):\n{r.stdout[-3000:]}{r.stderr[-3000:]}'


def test_parameter_comments_stay_on_their_line():
    """docments reads a parameter's help (the command lines' --help, the docs' tables) from the comment on its line: a
    parameter (or dataclass field) whose annotation or default the formatter split over lines would get the next one's.
    Shorten the comment until the line fits in ruff.toml's 120 columns."""
    import ast

    split = []
    for p in sorted((REPO / 'mliis_nb').glob('*.py')):
        for n in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = n.args
                pos = a.posonlyargs + a.args
                ends = {x.arg: x.end_lineno for x in pos + a.kwonlyargs}
                for x, d in [*zip(pos[::-1], a.defaults[::-1]), *zip(a.kwonlyargs, a.kw_defaults)]:
                    if d is not None:
                        ends[x.arg] = d.end_lineno
                split += [
                    f'{p.name}:{x.lineno} {n.name}({x.arg})' for x in pos + a.kwonlyargs if ends[x.arg] != x.lineno
                ]
            elif isinstance(n, ast.ClassDef):
                split += [
                    f'{p.name}:{s.lineno} {n.name}'
                    for s in n.body
                    if isinstance(s, ast.AnnAssign) and s.end_lineno != s.lineno
                ]
    assert not split, split


def test_old_module_names_warn_and_give_the_same_objects():
    """`mliis_nb.params` is now `mliis_nb.checks`, `mliis_nb.weights` is now `mliis_nb.distances`, PASCAL VOC and the FP-k
    concepts left `mliis_nb.data`, UHO's and the benchmark's figures and tables left `mliis_nb.uho` and `mliis_nb.bench`: the old paths work for one release, with a DeprecationWarning."""
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    from mliis_nb.params import Checks, check_common\n"
        "    from mliis_nb.weights import weight_analysis\n"
        "    from mliis_nb.data import VOCDataset, VOC_CLASSES, FPK_CONCEPTS, MergedDataset, fpk_dataset\n"
        "    from mliis_nb.uho import uho_tables, plot_uho\n"
        "    from mliis_nb.bench import bench_table\n"
        "import mliis_nb.uho_report as ur, mliis_nb.bench_report as br\n"
        "assert uho_tables is ur.uho_tables and plot_uho is ur.plot_uho and bench_table is br.bench_table\n"
        "import mliis_nb.pascal as p, mliis_nb.fpk as f\n"
        "assert VOCDataset is p.VOCDataset and VOC_CLASSES is p.VOC_CLASSES and fpk_dataset is f.fpk_dataset\n"
        "assert FPK_CONCEPTS is f.FPK_CONCEPTS and MergedDataset is f.MergedDataset\n"
        "import mliis_nb.checks as c, mliis_nb.distances as d\n"
        "assert Checks is c.Checks and check_common is c.check_common and weight_analysis is d.weight_analysis\n"
        "msgs = [str(x.message) for x in w if x.category is DeprecationWarning]\n"
        "assert any('mliis_nb.params is now mliis_nb.checks' in m for m in msgs), msgs\n"
        "assert any('mliis_nb.weights is now mliis_nb.distances' in m for m in msgs), msgs\n"
        "assert sum('moved to mliis_nb.' in m and m.startswith('mliis_nb.data.') for m in msgs) == 5, msgs\n"
        "assert any('mliis_nb.uho.uho_tables moved to mliis_nb.uho_report.uho_tables' in m for m in msgs), msgs\n"
        "assert any('mliis_nb.bench.bench_table moved to mliis_nb.bench_report.bench_table' in m for m in msgs), msgs\n"
        "from mliis_nb.uho import search_space, read_trials\n"  # the space's and the trials' names, re-exported: no warning
        "from mliis_nb.data import read_split, SPLIT_LISTS\n"  # the class splits' new module, re-exported: no warning
        "from mliis_nb.splits import read_split as rs\n"
        "assert read_split is rs\n"
        "print('ok')"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr[-3000:]
    for new in ('checks', 'distances'):  # nothing in the library uses the old paths
        for p in (REPO / 'mliis_nb').glob('*.py'):
            if p.stem not in ('params', 'weights'):
                assert f'.{"params" if new == "checks" else "weights"} import' not in p.read_text(), p


def _code_cells(nb_path: Path):
    "(directives, source without them) of each code cell"
    import json

    for c in json.loads(nb_path.read_text(encoding='utf-8'))['cells']:
        if c['cell_type'] == 'code':
            src = ''.join(c['source'])
            dirs = [l.split()[1] for l in src.splitlines() if l.startswith('#|') and len(l.split()) > 1]
            yield dirs, '\n'.join(l for l in src.splitlines() if not l.startswith('#|'))


def test_imports_in_cells_of_their_own():
    """The docs site is built by nbdev's own processing (tools/build_docs.py), which executes every cell that contains an
    import, whole. So a notebook keeps its imports in cells of their own (nbdev's FAQ): a cell that mixed an import with
    a test or an experiment would run it again while the docs are built."""
    import ast

    mixed = []
    for p in sorted((REPO / 'nbs').glob('*.ipynb')):
        for dirs, src in _code_cells(p):
            if {'export', 'exports', 'exporti', 'exec_doc'} & set(dirs) or src.lstrip().startswith('%'):
                continue
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
            if imports and not all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in tree.body):
                mixed.append(f'{p.name}: {src.strip().splitlines()[0][:70]}')
    assert not mixed, mixed


def test_every_public_method_is_documented():
    """nbdev documents exported functions and classes on its own; each public method of an exported class has a
    docstring of its own and a `show_doc(Class.method)` cell in its notebook, so the docs site and JupyterLab show it."""
    import ast

    missing = []
    for p in sorted((REPO / 'nbs').glob('[0-9]*.ipynb')):
        cells = list(_code_cells(p))
        shown = {m for _, src in cells for m in re.findall(r'^show_doc\(([\w.]+)\)', src, re.M)}
        for dirs, src in cells:
            if 'export' not in dirs:
                continue
            for node in ast.parse(src).body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith('_'):
                    for f in node.body:
                        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and not f.name.startswith('_'):
                            nm = f'{node.name}.{f.name}'
                            if nm not in shown or not ast.get_docstring(f):
                                missing.append(f'{p.name}: {nm}' + ('' if ast.get_docstring(f) else ' (no docstring)'))
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith('_'):
                    if not ast.get_docstring(node):
                        missing.append(f'{p.name}: {node.name} (no docstring)')
    assert not missing, missing


def test_saved_outputs_name_no_path_of_this_machine():
    """Notebooks are saved executed (`python tools/execute_notebooks.py`), and what a reader sees in them holds no path of
    the machine that ran them: temporary folders are written as TMP, and no output names the checkout, a venv or a home."""
    import json

    sys.path.insert(0, str(REPO / 'tools'))
    try:
        from execute_notebooks import MACHINE_PATH, machine_paths
    finally:
        sys.path.pop(0)
    assert MACHINE_PATH.search('/tmp/tmpab12cd/x.png') and MACHINE_PATH.search(str(REPO / '.venv' / 'lib'))
    bad = {}
    for p in sorted((REPO / 'nbs').rglob('*.ipynb')):
        if found := machine_paths(json.loads(p.read_text(encoding='utf-8'))):
            bad[p.relative_to(REPO).as_posix()] = found
    assert not bad, bad


def test_every_figure_is_on_the_page_of_its_part():
    """Each figure in figures/ is on the page of a numbered notebook, so the docs site has it on the page of the part
    that makes it: shown in its text, or drawn there by a cell that writes it and shows it in its (saved) output."""
    import json

    shown = set()
    for p in (REPO / 'nbs').glob('[0-9]*.ipynb'):
        for c in json.loads(p.read_text(encoding='utf-8'))['cells']:
            names = set(re.findall(r'figures/([\w.-]+\.png)', ''.join(c['source'])))
            drawn = any('image/png' in o.get('data', {}) for o in c.get('outputs', []))
            if c['cell_type'] == 'markdown' or drawn:
                shown |= names
    figures = {p.name for p in (REPO / 'figures').glob('*.png')}
    assert len(figures) > 10 and figures <= shown, sorted(figures - shown)


def test_imports_inside_functions_say_why():
    """Imports run at the top of each module; one inside a function is there for its cost (fastai, matplotlib, a
    subprocess's start) or to reach a module above (the shims' `__getattr__`), and says so in a comment beside it."""
    import ast

    silent = []
    for p in sorted((REPO / 'mliis_nb').glob('*.py')):
        lines = p.read_text().split('\n')
        for f in ast.walk(ast.parse('\n'.join(lines), str(p))):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(f):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        said = lines[n.lineno - 2 : n.end_lineno]
                        if not any('#' in l for l in said):
                            silent.append(f'{p.name}:{n.lineno} {lines[n.lineno - 1].strip()}')
    assert not silent, silent
