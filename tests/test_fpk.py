"FP-k: the papermill notebook end to end at a tiny budget (with a UHO omega for k < 10), a SIGKILL mid-run resumed from the CSV to the uninterrupted result, and its bad-input errors."

import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import run_nb, notebook_error
from mliis_nb.io import save_checkpoint, read_csv, write_json
from mliis_nb.meta import FORMAT as META_FORMAT
from mliis_nb.model import EfficientLab
from mliis_nb.uho import UHO_FORMAT
from mliis_nb.fpk import fpk_data, fpk_run, check_ks

REPO = Path(__file__).resolve().parents[1]
NB = REPO / 'nbs' / 'experiments' / 'fpk.ipynb'
TINY = dict(
    image_size=32,
    encoder='efficientnet_b0',
    device='cpu',
    seed=0,
    synthetic_examples=16,
    synthetic_size=32,
    synthetic_classes=8,
    repeats=1,
    n_test=3,
    max_steps=3,
    batch=4,
)


@pytest.fixture(scope='module')
def meta_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp('ckpt')
    return save_checkpoint(
        d / 'meta' / 'checkpoint.safetensors',
        EfficientLab('efficientnet_b0').state_dict(),
        {'format': META_FORMAT, 'model_kwargs': {'encoder': 'efficientnet_b0', 'rsd_stages': [3]}},
    ).parent


def run(out_nb, **params):
    return run_nb(NB, out_nb, **params)


def test_fpk_notebook(meta_ckpt, tmp_path):
    uho = write_json(tmp_path / 'uho1.json', {'format': UHO_FORMAT, 'omega': {'lr': 0.03, 'steps': 2, 'batch': 8}})
    out = tmp_path / 'fpk'
    run(
        tmp_path / 'fpk.ipynb',
        out_dir=str(out),
        checkpoints=f"meta={meta_ckpt},random",
        uho=f"meta:1:{uho}",
        ks=[1, 5, 10],
        variants=['fixed_p50', 'decay_p100'],
        **TINY,
    )
    r = json.loads((out / 'results.json').read_text())
    rows = read_csv(out / 'fpk.csv')
    assert len(rows) == 2 * 5 * (2 + 2)  # 2 inits x 5 concepts x (k=1, k=5 once + k=10 in each of 2 variants)
    m1 = [x for x in rows if x['init'] == 'meta' and x['k'] == '1']
    assert {x['lr'] for x in m1} == {'0.03'} and {x['steps'] for x in m1} == {'2'}  # the UHO omega for k = 1
    assert {x['steps'] for x in rows if x['k'] == '5'} == {'5'} and {x['lr'] for x in rows if x['k'] == '5'} == {
        '0.005'
    }
    assert all(1 <= int(x['steps']) <= 3 and x['n_val'] == '2' for x in rows if x['k'] == '10')
    assert {(s['init'], s['variant']) for s in r['summary']} == {
        (i, v) for i in ('meta', 'random') for v in ('fixed_p50', 'decay_p100')
    }
    assert all(s['n'] == 5 for s in r['summary'])
    assert [f['variant'] for f in r['findings']] == ['fixed_p50', 'decay_p100']
    assert all(f['verdict'] in ('holds', 'does not hold', 'inconclusive') for f in r['findings'])
    assert r['parameters']['uho'] == {'meta': {'1': {'lr': 0.03, 'steps': 2}}} and (out / 'fig4.png').stat().st_size > 0
    assert (r['encoder'], r['drop_path_rate']) == ('efficientnet_b0', 0.0) and set(r['models']) == {'meta', 'random'}
    # a rerun computes nothing and gives the same file
    before = (out / 'fpk.csv').read_bytes()
    run(
        tmp_path / 'fpk2.ipynb',
        out_dir=str(out),
        checkpoints=f"meta={meta_ckpt},random",
        uho=f"meta:1:{uho}",
        ks=[1, 5, 10],
        variants=['fixed_p50', 'decay_p100'],
        **TINY,
    )
    assert (out / 'fpk.csv').read_bytes() == before


def test_notebook_bad_parameters_are_named(tmp_path):
    e, _ = notebook_error(
        NB.name,
        out_dir=str(tmp_path / 'bad'),
        checkpoints="imagenet,nowhere/ckpt",
        ks=[1, 10, 5],
        variants=['fixed_p50', 'sideways'],
        uho='imagenet:1:missing.json',
        **TINY,
    )
    msg = str(e)
    for name in ('checkpoints', 'ks', 'variants', 'uho', 'strictly increasing', "'nowhere/ckpt'"):
        assert name in msg, name
    assert isinstance(e, ValueError) and not (tmp_path / 'bad').exists()
    # 16 examples per concept cannot hold k = 20 plus 3 test examples
    e, _ = notebook_error(
        NB.name, first_cells=7, out_dir=str(tmp_path / 'short'), checkpoints='random', ks=[1, 20], **TINY
    )
    assert 'too few examples for k + test = 23' in str(e) and '(16)' in str(e)


SCRIPT = r'''
import sys, torch
from mliis_nb.fpk import fpk_data, fpk_run
from mliis_nb.model import EfficientLab
from mliis_nb.adapt import Omega
root, csv = sys.argv[1], sys.argv[2]
ds, names = fpk_data('synthetic', size=32, synthetic_kw=dict(root=root, n_per_concept=16, size=32, n_classes=8, workers=1))
torch.manual_seed(0)
fpk_run(EfficientLab('efficientnet_b0'), ds, names[:3], 'random', csv, ks=[1, 5, 10], repeats=1, variants=['fixed_p50'],
        omega=Omega(lr=0.01, batch=4), max_steps=3, n_test=3, progress=False)
'''


def _untimed(rows):
    return [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]


def test_sigkill_mid_run_resumes_from_the_csv(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-c', SCRIPT, str(tmp_path / 'concepts')]
    subprocess.run(cmd + [str(tmp_path / 'full.csv')], check=True, env=env, cwd=REPO, timeout=600)
    full = read_csv(tmp_path / 'full.csv')
    assert len(full) == 9
    p = subprocess.Popen(cmd + [str(tmp_path / 'killed.csv')], env=env, cwd=REPO)
    t0 = time.time()
    while len(read_csv(tmp_path / 'killed.csv')) < 3 and p.poll() is None and time.time() - t0 < 600:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n = len(read_csv(tmp_path / 'killed.csv'))
    assert 3 <= n < 9, f'the kill came too late ({n} points)'
    subprocess.run(cmd + [str(tmp_path / 'killed.csv')], check=True, env=env, cwd=REPO, timeout=600)
    assert _untimed(read_csv(tmp_path / 'killed.csv')) == _untimed(full)  # the same points and IoUs, in the same order


def test_k_lists_and_concepts_checked(tmp_path):
    for ks in ([1, 10, 5], [5, 5], [], [0, 1], [1.5, 2], 'abc'):
        with pytest.raises(ValueError, match='^ks: '):
            check_ks(ks)
    ds, names = fpk_data(
        'synthetic', size=32, synthetic_kw=dict(root=tmp_path / 'c', n_per_concept=16, size=32, n_classes=8, workers=1)
    )
    with pytest.raises(ValueError, match=r"has 16 examples, fewer than k \+ test = 20 \+ 20 = 40"):
        fpk_run(EfficientLab('efficientnet_b0'), ds, names[:1], 'x', tmp_path / 'x.csv', ks=[1, 20], progress=False)
    with pytest.raises(ValueError, match=r"concepts \['bus'\] are not classes"):
        fpk_run(EfficientLab('efficientnet_b0'), ds, ['bus'], 'x', tmp_path / 'x.csv', ks=[1], progress=False)
    with pytest.raises(ValueError, match='^data: FP-k folder'):
        fpk_data(tmp_path / 'nowhere')
