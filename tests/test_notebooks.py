"""Every notebook's inline tests, as `nbdev_test` runs them (nbdev's own `test_nb`: the cells in order in an IPython shell,
the `slow` cells skipped as settings.ini's `tst_flags` says, notebooks marked `skip_exec` left out), one test per notebook,
so that pytest's workers share them out with the other tests and `--durations` shows what each costs."""

from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (REPO / 'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.relative_to(REPO / 'nbs').as_posix())
def test_notebook(nb, capsys):
    from nbdev.config import get_config
    from nbdev.test import test_nb

    cfg = get_config(path=REPO)
    ok, _ = test_nb(nb, skip_flags=cfg.tst_flags.split(), basepath=cfg.config_path)
    assert ok, f'{nb.name} failed (its error is above, as nbdev_test prints it):\n{capsys.readouterr().err[-6000:]}'
