"""Meta-train candidate initialisations for real photographs and score them on the real-photo development set (issue:
the shipped initialisation must beat ImageNet on real photographs). One candidate per process, so a lent GPU runs them
side by side; the same command runs on a CPU (slowly). Every result is appended to OUT/results.jsonl as it finishes.

Usage:
  python tools/photo_candidates.py train NAME OUT DEVICE SECONDS     (one candidate of CANDIDATES; checkpoint in OUT/NAME)
  python tools/photo_candidates.py score INIT LABEL OUT DEVICE [UHO1 [UHO5]]  (INIT: "imagenet", "shipped" or a checkpoint; on
                                   the dev set; UHO1/UHO5: UHO results.json whose omega is U at 1/5 shots; only those shots are scored)
BNS (default "running,batch"): the test-time BatchNorm modes scored.
Data: PHOTO_TASKS (python -m mliis_nb.photo_tasks PHOTOS DIR) and DEVSET (bash ../shared/realdata/make_photo_devset.sh DIR,
plus DIR/split5 listing the classes with enough examples for 5 shots) from the environment, defaults .photo_tasks, .devset.
"""

import json, os, sys, time
from pathlib import Path
import torch
from mliis_nb.synthetic import resolve_data, open_data
from mliis_nb.meta import MetaConfig, meta_train
from mliis_nb.model import EfficientLab
from mliis_nb.adapt import Omega
from mliis_nb.evaluate import evaluate
from mliis_nb.inits import load_initialisation
from mliis_nb.uho import omega_from_results

PHOTO_TASKS = Path(os.environ.get('PHOTO_TASKS', '.photo_tasks'))
DEVSET = Path(os.environ.get('DEVSET', '.devset'))
SMOKE = os.environ.get('SMOKE') == '1'  # a seconds-long check of the script: 64 px, one split per class
BASE = dict(
    algorithm='fomaml_star',
    meta_batch=5,
    inner_steps=5,
    inner_batch=8,
    inner_lr=0.005,
    meta_lr_final=1e-5,
    train_shots=5,
    val_shots=5,
    dropout=0.2,
    aug_rate=0.5,
    l2=5e-4,
)
MODEL = dict(encoder='tf_efficientnet_lite0', rsd_stages=(3,), dropout=0.2, decoder='rsd', pool_conv=False)
CANDIDATES = {  # name: (data, image size, meta_steps (sets the meta-lr decay), meta_lr, freeze_encoder)
    'photo_frozen_128': ('photo', 128, 800, 1.0, 'all'),
    'shapes_frozen_128': ('synthetic', 128, 800, 1.0, 'all'),
    'photo_bnfrozen_128': ('photo', 128, 800, 0.1, 'bn'),
    'photo_free_128': ('photo', 128, 800, 0.1, 'none'),
    'photo_frozen_224': ('photo', 224, 400, 1.0, 'all'),
}


def append(out, rec):
    with open(Path(out) / 'results.jsonl', 'a') as f:
        f.write(json.dumps(rec) + '\n')


def train(name, out, device, seconds):
    data, size, steps, meta_lr, freeze = CANDIDATES[name]
    if data == 'photo':
        root, splits = resolve_data(str(PHOTO_TASKS / 'data'), str(PHOTO_TASKS / 'split'))
    else:
        root, splits = resolve_data('synthetic', 'auto', n_classes=1000, n_per_class=10, size=128, seed=0)
    ds = open_data(root, classes=splits['trn'] + splits['val'], size=size).preload()
    torch.manual_seed(0)
    kw = {**MODEL, 'freeze_encoder': freeze}
    model = EfficientLab(**kw, weights='imagenet').to(device)
    cfg = MetaConfig(**BASE, meta_steps=steps, meta_lr=meta_lr)
    t0 = time.time()
    hist = meta_train(
        model,
        ds,
        cfg,
        Path(out) / name,
        classes=splits['trn'],
        val_data=ds,
        val_classes=splits['val'],
        val_tasks=10,
        eval_every=100,
        checkpoint_every=50,
        seed=0,
        time_budget=seconds,
        model_kwargs={**kw, 'rsd_stages': [3]},
        progress=False,
        strategy='sequential',
    )
    rec = dict(
        kind='train',
        name=name,
        data=data,
        image_size=size,
        meta_steps=steps,
        meta_lr=meta_lr,
        freeze_encoder=freeze,
        steps=hist[-1]['step'] if hist else 0,
        seconds=round(time.time() - t0, 1),
        device=str(device),
        validation=[(r['step'], r['val_miou']) for r in hist if r['val_miou'] != ''],
        config=BASE,
        model=MODEL,
    )
    append(out, rec)
    print(json.dumps(rec), flush=True)


def score(init, label, out, device, bns=('running', 'batch'), uho=None):
    "`uho`: {shots: UHO results.json}; U is then that search's best omega, at those shots only (the default U otherwise)."
    for shots, split in ((1, 'split'), (5, 'split5')):
        if uho and shots not in uho:
            continue
        om = omega_from_results(uho[shots]) if uho else Omega()
        root, splits = resolve_data(str(DEVSET / 'data'), str(DEVSET / split), need=('test',))
        ds = open_data(root, classes=splits['test'], size=64 if SMOKE else 224).preload()
        for bn in bns:
            model = load_initialisation(init, seed=0, device=device)
            t0 = time.time()
            r = evaluate(
                model,
                ds,
                splits['test'],
                shots=shots,
                splits_per_class=1 if SMOKE else 5,
                omega=om.replace(bn=bn),
                queries=4,
                seed=0,
                progress=False,
                strategy='sequential',
            ).to_dict()
            rec = dict(
                kind='score',
                label=label,
                init=str(init),
                shots=shots,
                bn=bn,
                miou=r['miou'],
                ci95=r['ci95'],
                n=r['n'],
                per_task=[{k: t[k] for k in ('class', 'support', 'query', 'miou')} for t in r['per_task']],
                seconds=round(time.time() - t0, 1),
                device=str(device),
                omega=dict(lr=om.lr, steps=om.steps, batch=om.batch),
                omega_source=str(uho[shots]) if uho else 'default U',
            )
            append(out, rec)
            print(label, shots, bn, round(100 * r['miou'], 1), round(100 * r['ci95'], 1), flush=True)


if __name__ == '__main__':
    what, *a = sys.argv[1:]
    if what == 'train':
        train(a[0], a[1], torch.device(a[2]), float(a[3]))
    elif what == 'score':
        bns = tuple(os.environ.get('BNS', 'running,batch').split(','))
        score(a[0], a[1], a[2], torch.device(a[3]), bns=bns, uho=dict(zip((1, 5), a[4:6])) or None)
    else:
        sys.exit(__doc__)
