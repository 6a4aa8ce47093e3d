"Shared pytest fixtures and the one papermill runner of the tests; the real-data folder beside the repository (skipped cleanly when absent)."
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
NBS = REPO/'nbs'/'experiments'
REALDATA = REPO.parent/'shared'/'realdata'


def run_nb(nb, out_nb, **params):
    "Execute the experiment notebook `nb` (a name in nbs/experiments, or a path) with papermill into `out_nb`."
    import papermill as pm
    return pm.execute_notebook(str(NBS/nb), str(out_nb), parameters=params, kernel_name='python3', progress_bar=False)

@pytest.fixture(scope='session')
def realdata() -> Path:
    if not REALDATA.is_dir(): pytest.skip(f'real data not present at {REALDATA} (only on the development machines)')
    return REALDATA

@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    "Every test gets a cache folder of its own unless it sets MLIIS_NB_CACHE itself."
    monkeypatch.setenv('MLIIS_NB_CACHE', str(tmp_path_factory.getbasetemp()/'cache'))


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    "Kernels and subprocesses the tests start inherit this: tiny 32 px batches gain nothing from 2 threads and stall on a busy CPU."
    monkeypatch.setenv('OMP_NUM_THREADS', '1')


@pytest.fixture(scope='session')
def bench(tmp_path_factory):
    "A tiny embedded benchmark (25 classes x 8 examples, 48 px) shared by the notebook tests; a module may define its own."
    from mliis_nb.synthetic import make_synthetic
    return make_synthetic(tmp_path_factory.mktemp('bench')/'syn', n_classes=25, n_per_class=8, size=48, seed=0, workers=1)
