"""Two gloo processes under torchrun do what one process does: the same meta-training weights (bit for bit by design,
checked to float tolerance), a checkpoint either can resume, the same meta-test and UHO numbers, and only rank 0 writes
or prints.

One torchrun launch (process start-up dominates the time) runs a driver that runs `python -m mliis_nb.meta`,
`python -m mliis_nb.evaluate` and `python -m mliis_nb.uho` as modules (runpy, as `-m` does) in one process group and
logs every file each rank writes; the 1-process references run in this process."""

import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from mliis_nb.synthetic import make_synthetic

TINY = dict(image_size=32, encoder='efficientnet_b0', device='cpu', seed=0)
META = dict(
    meta_steps=4,
    meta_batch=3,
    inner_steps=2,
    inner_batch=2,
    train_shots=2,
    val_shots=2,
    val_tasks=2,
    eval_every=2,
    checkpoint_every=1,
    weights='none',
    progress=False,
)  # meta_batch 3 on 2 ranks: shares of 2 and 1 tasks
EVAL = dict(shots=2, splits_per_class=1, max_classes=3, steps=1, batch=2, progress=False)  # 3 task-splits: 2 + 1
UHO = dict(shots=2, n_tasks=3, n_calls=3, max_steps=2, batch=2, progress=False)
RUN_FILES = {'checkpoint.safetensors', 'checkpoint.json', 'metrics.csv', 'learning_curve.png', 'results.json'}

DRIVER = r'''
import json, os, runpy, sys
log = open(f"{sys.argv[1]}.rank{os.environ['RANK']}", 'w')
import mliis_nb.io as io, matplotlib.figure
_write, _savefig = io.atomic_write_bytes, matplotlib.figure.Figure.savefig
def write(path, data): log.write(f'{path}\n'); log.flush(); return _write(path, data)
def savefig(self, fname, *a, **kw): log.write(f'{fname}\n'); log.flush(); return _savefig(self, fname, *a, **kw)
io.atomic_write_bytes, matplotlib.figure.Figure.savefig = write, savefig  # every file the library writes goes through these
from mliis_nb.distributed import distributed_session
jobs, codes = json.loads(sys.argv[2]), []
with distributed_session('cpu'):  # one group for the four command lines
    for module, args in jobs:
        sys.argv = [module, *args]
        try: runpy.run_module(module, run_name='__main__', alter_sys=True)  # what `python -m module args` runs
        except SystemExit as e: codes.append(e.code)
if os.environ['RANK'] == '0': print('exit codes', codes, flush=True)
sys.exit(0 if codes == [0] * len(jobs) else 1)  # every command line ran to its sys.exit(main())
'''


def _argv(d: dict) -> list[str]:
    out = []
    for k, v in d.items():
        flag = '--' + k.replace('_', '-')
        if isinstance(v, bool):
            out.append(flag if v else '--no-' + k.replace('_', '-'))
        else:
            out += [flag, str(v)]
    return out


def _torchrun(args, env, cwd):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '--tee', '1', *args]
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'torchrun failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}'
    return r


def _weights(run: Path) -> dict:
    return load_file(str(run / 'checkpoint.safetensors'))


def _header(run: Path) -> dict:
    with safe_open(str(run / 'checkpoint.safetensors'), framework='pt') as f:
        return json.loads(f.metadata()['mliis_nb'])


def _close(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-7, msg=k)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    from mliis_nb.runners import run_meta_train, run_evaluate, run_uho

    tmp = tmp_path_factory.mktemp('dist')
    bench = make_synthetic(tmp / 'syn', n_classes=10, n_per_class=8, size=32, seed=0, workers=1)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('MLIIS_NB_CACHE', str(tmp / 'cache'))
        mp.setenv('OMP_NUM_THREADS', '1')
        torch.set_num_threads(1)  # as each torchrun worker
        env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
        common = dict(data=str(bench), **TINY)
        try:
            # one process: 2 meta-steps, a copy of that checkpoint, then resumed to 4 (the reference)
            run_meta_train(out_dir=str(tmp / 'one'), stop_at=2, **common, **META)
            shutil.copytree(tmp / 'one', tmp / 'one_at_2')  # resumed by two processes below
            one_at_2 = {'weights': _weights(tmp / 'one_at_2'), 'header': _header(tmp / 'one_at_2')}
            run_meta_train(out_dir=str(tmp / 'one'), resume=True, **common, **META)
            # two processes: 2 meta-steps from scratch; the 1-process checkpoint at step 2 resumed to 4; evaluate and UHO
            jobs = [
                ('mliis_nb.meta', _argv({**common, **META, 'out_dir': tmp / 'two', 'stop_at': 2})),
                ('mliis_nb.meta', _argv({**common, **META, 'out_dir': tmp / 'one_at_2', 'resume': True})),
                ('mliis_nb.evaluate', _argv({**common, **EVAL, 'checkpoint': tmp / 'one', 'out_dir': tmp / 'eval2'})),
                ('mliis_nb.uho', _argv({**common, **UHO, 'checkpoint': tmp / 'one', 'out_dir': tmp / 'uho2'})),
            ]
            (tmp / 'driver.py').write_text(DRIVER)
            two = _torchrun([str(tmp / 'driver.py'), str(tmp / 'writes'), json.dumps(jobs)], env, tmp)
            at_2 = {
                'weights': _weights(tmp / 'two'),
                'header': _header(tmp / 'two'),
                'files': {p.name for p in (tmp / 'two').iterdir()},
                'results': json.loads((tmp / 'two' / 'results.json').read_text()),
                'stdout': two.stdout,
            }
            # one process resumes the 2-process checkpoint to 4
            run_meta_train(out_dir=str(tmp / 'two'), resume=True, **common, **META)
            eval1 = run_evaluate(checkpoint=str(tmp / 'one'), out_dir=str(tmp / 'eval1'), **common, **EVAL)
            uho1 = run_uho(checkpoint=str(tmp / 'one'), out_dir=str(tmp / 'uho1'), **common, **UHO)
        finally:
            torch.set_num_threads(threads)
    return dict(tmp=tmp, at_2=at_2, one_at_2=one_at_2, eval1=eval1, uho1=uho1)


def test_two_processes_take_the_meta_steps_of_one(runs):
    at_2, one = runs['at_2'], runs['one_at_2']
    _close(at_2['weights'], one['weights'])
    one = one['header']
    assert at_2['header']['sampler_state'] == one['sampler_state'] and at_2['header']['step'] == 2
    assert [r['train_loss'] for r in at_2['header']['history']] == pytest.approx(
        [r['train_loss'] for r in one['history']], rel=1e-6
    )
    assert at_2['results']['world_size'] == 2 and at_2['results']['steps'] == 2


def test_rank_0_alone_writes_and_prints(runs):
    tmp, at_2 = runs['tmp'], runs['at_2']
    assert at_2['files'] == RUN_FILES  # one checkpoint, one metrics file, one results file, no per-rank copies
    out = at_2['stdout'].splitlines()
    assert [l for l in out if l.startswith('[default1]')] == [] and '[default0]:exit codes [0, 0, 0, 0]' in out
    assert sum('"world_size": 2' in l for l in out) == 2  # one summary per meta-training command, from rank 0
    cache = str(tmp / 'cache')
    written = {
        r: [l for l in (tmp / f'writes.rank{r}').read_text().splitlines() if not l.startswith(cache)] for r in (0, 1)
    }
    assert written[1] == [], f'rank 1 wrote {written[1][:5]}'
    names = {Path(p).name for p in written[0]}
    assert {
        'checkpoint.safetensors',
        'metrics.csv',
        'learning_curve.png',
        'results.json',
        'predictions.png',
        'trials.csv',
        'uho_fig3.png',
    } <= names


def test_a_checkpoint_resumes_with_any_number_of_processes(runs):
    tmp = runs['tmp']
    final = _weights(tmp / 'one')
    _close(_weights(tmp / 'two'), final)  # 2 processes to step 2, then 1 process to step 4
    _close(_weights(tmp / 'one_at_2'), final)  # 1 process to step 2, then 2 processes to step 4
    assert _header(tmp / 'two')['step'] == _header(tmp / 'one_at_2')['step'] == 4
    assert (tmp / 'one_at_2' / 'metrics.csv').read_text().count('\n') == 5


def test_two_process_evaluate_and_uho_match_one(runs):
    tmp, e1, u1 = runs['tmp'], runs['eval1'], runs['uho1']
    e2 = json.loads((tmp / 'eval2' / 'results.json').read_text())
    assert e2['n'] == e1['n'] == 3 and e2['world_size'] == 2 and e1['world_size'] == 1
    for k in ('miou', 'ci95', 'classwise_miou', 'fb_iou'):
        assert e2[k] == pytest.approx(e1[k], rel=1e-6, abs=1e-9), k
    assert [(p['class'], p['support'], p['query']) for p in e2['per_task']] == [
        (p['class'], p['support'], p['query']) for p in e1['per_task']
    ]
    assert [p['miou'] for p in e2['per_task']] == pytest.approx([p['miou'] for p in e1['per_task']], rel=1e-6, abs=1e-9)
    u2 = json.loads((tmp / 'uho2' / 'results.json').read_text())
    assert len(u2['trials']) == len(u1['trials']) == 3
    for a, b in zip(u2['trials'], u1['trials']):
        assert a['params'] == pytest.approx(b['params'], rel=1e-6) and a['steps'] == b['steps']
        assert a['curve'] == pytest.approx(b['curve'], rel=1e-6, abs=1e-9)
    assert u2['best'] == pytest.approx(u1['best'], rel=1e-6) and u2['miou'] == pytest.approx(
        u1['miou'], rel=1e-6, abs=1e-9
    )
