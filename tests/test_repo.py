"Repository invariants a user relies on: README made from index.ipynb, library importable without Jupyter."
import subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_is_made_from_index_notebook():
    r = subprocess.run([sys.executable, str(REPO/'tools'/'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_library_imports_without_jupyter():
    code = ("import sys; sys.modules.update({m: None for m in ('IPython', 'ipykernel', 'jupyter_client', 'nbformat', 'papermill', 'nbdev')});"
            "import mliis_nb.data, mliis_nb.augment, mliis_nb.model, mliis_nb.losses, mliis_nb.adapt, mliis_nb.meta, mliis_nb.evaluate, mliis_nb.joint")
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
