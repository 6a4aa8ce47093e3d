"Shared pytest fixtures and the one papermill runner of the tests; the real-data folder beside the repository (skipped cleanly when absent)."

import os
from pathlib import Path
import pytest

# No network in tests: timm and huggingface_hub look in their local cache only (a hub request here retries for 50 s
# before failing), in this process and in the notebook kernels it starts.
os.environ.setdefault('HF_HUB_OFFLINE', '1')

REPO = Path(__file__).resolve().parents[1]
NBS = REPO / 'nbs' / 'experiments'
REALDATA = REPO.parent / 'shared' / 'realdata'


def run_nb(nb, out_nb, cwd=None, **params):
    "Execute the experiment notebook `nb` (a name in nbs/experiments, or a path) with papermill into `out_nb`, in `cwd`."
    import papermill as pm

    return pm.execute_notebook(
        str(NBS / nb),
        str(out_nb),
        parameters=params,
        kernel_name='python3',
        progress_bar=False,
        cwd=None if cwd is None else str(cwd),
    )


@pytest.fixture(scope='session')
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f'real data not present at {REALDATA} (only on the development machines)')
    return REALDATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    "Every test gets a cache folder of its own unless it sets MLIIS_NB_CACHE itself."
    monkeypatch.setenv('MLIIS_NB_CACHE', str(tmp_path_factory.getbasetemp() / 'cache'))


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    "Kernels and subprocesses the tests start inherit this: tiny 32 px batches gain nothing from 2 threads and stall on a busy CPU."
    monkeypatch.setenv('OMP_NUM_THREADS', '1')


@pytest.fixture(scope='session')
def bench(tmp_path_factory):
    "A tiny embedded benchmark (25 classes x 8 examples, 48 px) shared by the notebook tests; a module may define its own."
    from mliis_nb.synthetic import make_synthetic

    return make_synthetic(
        tmp_path_factory.mktemp('bench') / 'syn', n_classes=25, n_per_class=8, size=48, seed=0, workers=1
    )


def notebook_error(nb, first_cells=5, **params):
    """Run the experiment notebook `nb` in this process as papermill would (its code cells in order, `params` assigned in
    a cell after the `parameters` cell) and return `(exception, n)`, `n` the 1-based code cell that raised; fail if none of
    the first `first_cells` cells raises. What a notebook checks before any work is checked here without a kernel (a
    kernel start and its imports cost seconds); each notebook's wiring through papermill keeps one test of its own
    (tests/test_experiments.py::test_unknown_parameter_refused)."""
    import json
    from papermill.translators import translate_parameters

    cells = [c for c in json.loads((NBS / nb).read_text())['cells'] if c['cell_type'] == 'code']
    at = next(i for i, c in enumerate(cells) if 'parameters' in c['metadata'].get('tags', []))
    sources = [''.join(c['source']) for c in cells]
    sources.insert(
        at + 1, translate_parameters('python3', 'python', params, 'Parameters')
    )  # papermill's own injected cell
    ns = {'__name__': '__main__'}
    for n, src in enumerate(sources[:first_cells], 1):
        try:
            exec(compile(src, f'{nb} code cell {n}', 'exec'), ns)
        except Exception as e:
            return e, n
    pytest.fail(f'{nb}: none of the first {first_cells} code cells raised with {params}')


# The slowest tests (seconds on a 2-core machine, from `--durations`) go first, so that pytest-xdist's workers start them
# at once and the cheap ones fill the gaps; only the order changes. `make test` prints the 15 slowest of each run.
SLOW_FIRST = (
    'test_paper.py::test_paper_notebook_smoke_and_stage_cache',
    'test_notebook[09_meta.ipynb]',
    'test_site.py',
    'test_uho.py::test_search_killed',
    'test_bench.py::test_benchmark_notebook',
    'test_distributed.py',
    'test_resume.py',
    'test_uho.py::test_uho_notebook',
    'test_fpk.py::test_fpk_notebook',
    'test_notebook[10_joint.ipynb]',
    'test_notebook[12_uho.ipynb]',
    'test_fpk.py::test_sigkill',
    'test_experiments.py::test_meta_train_then_evaluate',
    'test_wheel.py',
    'test_own_data.py::test_meta_train',
    'test_segment.py::test_notebook_on',
    'test_pascal.py::test_pascal5i_notebook',
    'test_experiments.py::test_demo_end_to_end',
)


# Modules whose tests share a costly module-scoped fixture (the docs site's build, the torchrun launch): kept together,
# so that one worker builds it once.
KEEP_TOGETHER = ('test_site.py', 'test_distributed.py')


def pytest_collection_modifyitems(items):
    "Slowest first, then dealt like cards into two halves: `--dist worksteal` gives each worker one half, each starting slow."

    def rank(item):
        return next((i for i, s in enumerate(SLOW_FIRST) if s in item.nodeid), len(SLOW_FIRST))

    units, by_module = [], {}
    for item in items:
        module = next((m for m in KEEP_TOGETHER if item.nodeid.split('::')[0].endswith(m)), None)
        if module is None:
            units.append([item])
        elif module in by_module:
            by_module[module].append(item)
        else:
            by_module[module] = [item]
            units.append(by_module[module])
    units.sort(key=lambda u: rank(u[0]))  # stable: the rest keep their order
    items[:] = [i for u in units[0::2] + units[1::2] for i in u]


# `make test` leaves the working tree as it found it: the controller (not an xdist worker) compares `git status`
# (tracked changes, untracked and ignored files; .venv/, runs/ and caches aside) before and after the session.
_ALLOWED = ('.venv/', 'runs/', '.pytest_cache/', '__pycache__/', '.egg-info/')


def _tree_state():
    import subprocess

    try:
        r = subprocess.run(
            ['git', 'status', '--porcelain', '--untracked-files=all', '--ignored'],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None  # not a git checkout (an sdist): nothing to compare
    return {l for l in r.stdout.splitlines() if not any(a in l for a in _ALLOWED)}


def pytest_sessionstart(session):
    if not hasattr(session.config, 'workerinput'):
        session.config._tree_before = _tree_state()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, '_tree_before', None)
    if before is None or hasattr(session.config, 'workerinput'):
        return
    after = _tree_state()
    if after is not None and after != before:
        changed = sorted(after ^ before)
        print(f"\nthe tests changed the working tree ({len(changed)} entries of `git status`): {changed[:20]}")
        session.exitstatus = 1


def phone_photo(upright, path, orientation):
    "Save `upright` (H x W x 3) as a phone does: the pixels stored turned, with the EXIF tag that tells a viewer how to turn them back."
    import numpy as np
    from PIL import Image, ImageOps

    T = Image.Transpose
    undo = {3: T.ROTATE_180, 6: T.ROTATE_90, 8: T.ROTATE_270}[
        orientation
    ]  # the inverse of what the tag tells a viewer to do
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(upright).transpose(undo).save(path, exif=exif, quality=95, subsampling=0)
    assert (
        np.asarray(ImageOps.exif_transpose(Image.open(path))).shape == upright.shape
    )  # Pillow, as a viewer, turns it back upright
    return path
