"Shared pytest fixtures: the real-data folder beside the repository (skipped cleanly when absent)."
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent/'shared'/'realdata'

@pytest.fixture(scope='session')
def realdata() -> Path:
    if not REALDATA.is_dir(): pytest.skip(f'real data not present at {REALDATA} (only on the development machines)')
    return REALDATA

@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    "Every test gets a cache folder of its own unless it sets MLIIS_NB_CACHE itself."
    monkeypatch.setenv('MLIIS_NB_CACHE', str(tmp_path_factory.getbasetemp()/'cache'))
