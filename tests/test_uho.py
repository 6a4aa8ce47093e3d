"UHO: the papermill notebook at a tiny budget, evaluate.ipynb with a UHO omega, a search killed with SIGKILL and resumed, the bad-input errors."

import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from conftest import run_nb, notebook_error
from mliis_nb.synthetic import make_synthetic
from mliis_nb.io import read_csv, write_csv
from mliis_nb.uho import uho, validation_tasks
from mliis_nb.uho_space import search_space
from mliis_nb.uho_trials import read_trials, trial_fields, space_signature, TRIALS_CSV
from mliis_nb.runners import run_uho, run_evaluate

REPO = Path(__file__).resolve().parents[1]
TINY = dict(image_size=32, encoder='efficientnet_b0', device='cpu', seed=0)
SEARCH = dict(checkpoint='random', shots=1, n_tasks=3, n_calls=3, max_steps=3, batch=2)
TIMES = ('seconds', 'u_seconds', 'opt_seconds')
run = run_nb


def _untimed(rows):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rows]


def test_uho_notebook_then_evaluate_with_its_omega(bench, tmp_path):
    out = tmp_path / 'uho'
    run('uho.ipynb', tmp_path / 'u.ipynb', data=str(bench), out_dir=str(out), **SEARCH, **TINY)
    r = json.loads((out / 'results.json').read_text())
    assert r['format'].startswith('mliis_nb.uho/') and len(r['trials']) == 3 and set(r['best']) == {'lr', 'steps'}
    assert (
        r['omega']['lr'] == r['best']['lr'] and r['omega']['steps'] == r['best']['steps'] and r['omega']['batch'] == 2
    )
    assert (
        0 <= r['best']['steps'] <= 3
        and 5e-4 <= r['best']['lr'] <= 5e-2
        and r['miou'] == max(t['miou'] for t in r['trials'])
    )
    assert (r['kind'], r['shots'], r['n_tasks'], r['n_calls'], r['max_steps']) == ('random', 1, 3, 3, 3)
    assert (r['encoder'], r['drop_path_rate']) == ('efficientnet_b0', 0.0)  # the model's, named in every results file
    for f in ('uho_fig3.png', 'convergence.png', 'uho_tables.md', 'uho_tables.csv', TRIALS_CSV):
        assert (out / f).stat().st_size > 0, f
    assert 'Table 4 analogue' in (out / 'uho_tables.md').read_text()
    # a finished search, rerun (in-process: run_uho is what the notebook runs): no new trial, the same result
    rows = read_csv(out / TRIALS_CSV)
    run_uho(data=str(bench), out_dir=str(out), **SEARCH, **TINY)
    assert read_csv(out / TRIALS_CSV) == rows and json.loads((out / 'results.json').read_text())['best'] == r['best']

    ev = tmp_path / 'ev'  # the "+UHO" row: evaluate takes the results file as U (lr and steps given here are not used)
    run_evaluate(
        data=str(bench),
        out_dir=str(ev),
        checkpoint='random',
        omega=str(out / 'results.json'),
        shots=1,
        splits_per_class=1,
        max_classes=2,
        lr=0.5,
        steps=1,
        **TINY,
    )
    e = json.loads((ev / 'results.json').read_text())
    assert e['omega'] == r['omega'] and e['omega_source'] == str(out / 'results.json') and e['n'] == 2


def test_uho_extended_space(bench, tmp_path):
    out = tmp_path / 'ext'
    run_uho(data=str(bench), out_dir=str(out), space='extended', **{**SEARCH, 'max_steps': 2}, **TINY)
    r = json.loads((out / 'results.json').read_text())
    assert set(r['best']) == {'lr', 'dropout', 'aug_rate', 'batch', 'steps'} and isinstance(r['omega']['batch'], int)
    assert 0.2 <= r['omega']['dropout'] <= 0.5 and 0.5 <= r['omega']['aug_rate'] <= 1 and 1 <= r['omega']['batch'] <= 10
    assert (out / 'objective.png').stat().st_size > 0 and 'Table 5 analogue' in (out / 'uho_tables.md').read_text()


SCRIPT = r'''
import sys, time, warnings, torch
from mliis_nb.data import FSSDataset
from mliis_nb.synthetic import synthetic_splits
from mliis_nb.model import EfficientLab
from mliis_nb.adapt import Omega
from mliis_nb.uho import uho, validation_tasks
root, out, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
warnings.simplefilter('ignore')
ds = FSSDataset(root, size=32, cache_dir=False)
val = synthetic_splits(root)['val']
torch.manual_seed(0); model = EfficientLab('efficientnet_b0')
tasks = validation_tasks(ds, val, shots=2, n_tasks=3, seed=0)
uho(model, ds, tasks, n_calls=6, max_steps=3, base=Omega(batch=2), out_dir=out, seed=0, progress=False,
    callback=lambda t: time.sleep(pause))
'''


def test_search_killed_with_sigkill_resumes_to_the_uninterrupted_result(bench, tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-c', SCRIPT, str(bench)]
    subprocess.run(cmd + [str(tmp_path / 'full'), '0'], check=True, env=env, cwd=REPO, timeout=600)
    full = read_csv(tmp_path / 'full' / TRIALS_CSV)
    assert len(full) == 6

    killed = tmp_path / 'killed'
    p = subprocess.Popen(cmd + [str(killed), '2'], env=env, cwd=REPO)
    t0 = time.time()
    while len(read_csv(killed / TRIALS_CSV)) < 2 and p.poll() is None and time.time() - t0 < 600:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n = len(read_csv(killed / TRIALS_CSV))
    assert 2 <= n < 6, f'the kill came too late ({n} trials)'
    subprocess.run(cmd + [str(killed), '0'], check=True, env=env, cwd=REPO, timeout=600)
    resumed = read_csv(killed / TRIALS_CSV)
    assert _untimed(resumed) == _untimed(full)  # the same points, steps, IoUs and curves, trial for trial


# ---- bad input: each a ValueError naming the parameter ----


@pytest.mark.parametrize(
    'space,msg',
    [
        ({}, 'empty'),
        ({'lr': (0.05, 0.0005)}, 'wrong order'),
        ({'lr': (0.0, 0.05)}, 'must be positive'),
        ({'lr': (-0.01, 0.05, 'uniform')}, 'must be positive'),
        ({'learning_rate': (1e-3, 1e-2)}, 'not a field of Omega'),
        ({'dropout': (0.5, 0.2)}, 'wrong order'),
        ('nonsense', 'nonsense'),
    ],
)
def test_bad_search_space(space, msg):
    with pytest.raises(ValueError, match='^space: ') as e:
        search_space(space)
    assert msg in str(e.value)


@pytest.fixture(scope='module')
def tiny(bench):
    from mliis_nb.data import FSSDataset
    from mliis_nb.model import EfficientLab
    from mliis_nb.synthetic import synthetic_splits

    ds = FSSDataset(bench, size=32, cache_dir=False)
    torch.manual_seed(0)
    return EfficientLab('efficientnet_b0'), ds, validation_tasks(ds, synthetic_splits(bench)['val'], shots=1, n_tasks=2)


def test_n_calls_below_2_refused(tiny):
    model, ds, tasks = tiny
    for n in (1, 0, 2.5):
        with pytest.raises(ValueError, match='^n_calls: '):
            uho(model, ds, tasks, n_calls=n, progress=False)


def test_trials_of_another_search_space_refused(tiny, tmp_path):
    model, ds, tasks = tiny
    other = search_space({'lr': (1e-4, 1e-1, 'log-uniform')})
    write_csv(
        tmp_path / TRIALS_CSV,
        [{'trial': 0, 'lr': 0.01, 'steps': 1, 'miou': 0.5, 'space': space_signature(other), 'setup': 'x'}],
        trial_fields(other),
    )
    with pytest.raises(ValueError, match='^out_dir: .*another search space'):
        uho(model, ds, tasks, n_calls=2, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match='^out_dir: '):
        read_trials(tmp_path / TRIALS_CSV, search_space('lr'))


def test_uho_notebook_refuses_trials_of_another_space(bench, tmp_path):
    other = search_space('extended')
    write_csv(tmp_path / 'out' / TRIALS_CSV, [{'trial': 0, 'space': space_signature(other)}], trial_fields(other))
    e, _ = notebook_error('uho.ipynb', data=str(bench), out_dir=str(tmp_path / 'out'), space='lr', **SEARCH, **TINY)
    assert 'out_dir' in str(e) and 'another search space' in str(e) and isinstance(e, ValueError)
