"Repository invariants a user relies on: README made from index.ipynb, library importable without Jupyter."
import subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_is_made_from_index_notebook():
    r = subprocess.run([sys.executable, str(REPO/'tools'/'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_library_imports_without_jupyter():
    code = ("import sys; sys.modules.update({m: None for m in ('IPython', 'ipykernel', 'jupyter_client', 'nbformat', 'papermill', 'nbdev')});"
            "import importlib, pkgutil, mliis_nb; [importlib.import_module(m.name) for m in pkgutil.iter_modules(mliis_nb.__path__, 'mliis_nb.')]")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_experiment_parameters_parse():
    "papermill must see every assignment of each `parameters` cell (a comment holding '=' hides a line from it)."
    import json, re
    import papermill as pm
    for nb in sorted((REPO/'nbs'/'experiments').glob('*.ipynb')):
        cells = [c for c in json.loads(nb.read_text())['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
        assert len(cells) == 1, f'{nb.name}: expected exactly one cell tagged parameters'
        names = re.findall(r'^(\w+)\s*=', ''.join(cells[0]['source']), flags=re.M)
        assert set(pm.inspect_notebook(str(nb))) == set(names), nb.name


def _snapshot() -> dict:
    import hashlib
    return {p: hashlib.sha1(p.read_bytes()).hexdigest() for d in ('mliis_nb', 'nbs') for p in sorted((REPO/d).rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts}


def test_exported_library_and_clean_notebooks_are_committed():
    "`nbdev_export` and `nbdev_clean` must change no file: mliis_nb/ is what the notebooks export, and the notebooks are clean."
    bin_ = Path(sys.executable).parent
    before = _snapshot()
    for cmd in ('nbdev_export', 'nbdev_clean'):
        r = subprocess.run([str(bin_/cmd)], cwd=REPO, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    after = _snapshot()
    changed = sorted(str(p.relative_to(REPO)) for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f'nbdev_export/nbdev_clean changed {changed}: run them and commit the result'


def test_curated_top_level_api():
    "`from mliis_nb import EfficientLab, adapt, Omega, meta_train, evaluate, ...` works, each name the module's own object."
    import importlib, mliis_nb
    for name in mliis_nb.__all__:
        assert getattr(mliis_nb, name) is getattr(importlib.import_module(f'mliis_nb.{mliis_nb._API[name]}'), name), name
