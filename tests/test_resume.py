"Meta-training killed with SIGKILL at several points and resumed each time ends bit-identical to an uninterrupted run (CPU)."

import json, os, random, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from mliis_nb.synthetic import make_synthetic

STEPS = 8
SCRIPT = (
    r'''
import sys, torch
from safetensors.torch import save_file
from mliis_nb.data import FSSDataset
from mliis_nb.synthetic import synthetic_splits
from mliis_nb.meta import MetaConfig, meta_train
from mliis_nb.model import EfficientLab
root, out = sys.argv[1], sys.argv[2]
ds, sp = FSSDataset(root, cache_dir=False), synthetic_splits(root)
torch.manual_seed(0)
model = EfficientLab('efficientnet_b0')
cfg = MetaConfig(meta_steps=%d, meta_batch=2, inner_steps=2, inner_batch=2, train_shots=2, val_shots=2)
meta_train(model, ds, cfg, out, sp['trn'], checkpoint_every=1, resume=True, progress=False)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out + '/final.safetensors')
'''
    % STEPS
)


def _step(ckpt: Path) -> int:
    try:
        with safe_open(str(ckpt), framework='pt') as f:
            return json.loads(f.metadata()['mliis_nb'])['step']
    except Exception:
        return -1


def test_sigkill_at_random_points_and_resume_is_bit_identical(tmp_path):
    root = make_synthetic(tmp_path / 'syn', n_classes=10, n_per_class=4, size=32, seed=0, workers=1)
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-c', SCRIPT, str(root)]
    subprocess.run(cmd + [str(tmp_path / 'full')], check=True, env=env, timeout=600)

    killed, rng, kills = tmp_path / 'killed', random.Random(0), []
    for target in sorted(
        rng.sample(range(1, STEPS - 1), 3)
    ):  # three kills, after random checkpoints, at random moments
        p = subprocess.Popen(cmd + [str(killed)], env=env)
        deadline = time.time() + 300
        while _step(killed / 'checkpoint.safetensors') < target and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))  # somewhere inside the next meta-step, possibly mid-write
        assert p.poll() is None, 'the run finished before it could be killed'
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills.append(_step(killed / 'checkpoint.safetensors'))
    assert len(kills) == 3 and all(1 <= k < STEPS for k in kills), kills
    subprocess.run(cmd + [str(killed)], check=True, env=env, timeout=600)

    a, b = load_file(str(tmp_path / 'full' / 'final.safetensors')), load_file(str(killed / 'final.safetensors'))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (killed / 'metrics.csv').read_text().count('\n') == STEPS + 1
    assert not list(killed.glob('.*.tmp-*')), 'temp files of the killed runs are cleaned up on resume'
