"""Make (or continue) the meta-training run that ships as `checkpoints/demo_meta.safetensors`.

It does exactly what `nbs/experiments/meta_train.ipynb` does with the demo's parameters, without
Jupyter, so it also runs on a GPU machine that has no papermill (the checkpoint records the device).
`make demo` continues this run with `meta_train.ipynb` (`resume=True`), so the parameters here must
stay equal to the demo notebook's.

Usage: python tools/make_shipped_checkpoint.py OUT_DIR STEPS_TO_STOP_AT [DEVICE]   (run again to continue: it resumes)
"""

import json, sys, time
from pathlib import Path
import torch
from mliis_nb.data import FSSDataset
from mliis_nb.synthetic import resolve_data
from mliis_nb.meta import MetaConfig, meta_train
from mliis_nb.model import EfficientLab

DEMO = dict(
    algorithm='fomaml_star',
    meta_steps=1500,
    meta_batch=5,
    inner_steps=5,
    inner_batch=8,
    inner_lr=0.02,
    meta_lr=1.0,
    meta_lr_final=1e-5,
    train_shots=5,
    val_shots=5,
    dropout=0.2,
    aug_rate=0.5,
    l2=5e-4,
)
MODEL = dict(encoder='tf_efficientnet_lite0', rsd_stages=(3,), dropout=0.2, decoder='rsd', pool_conv=False)
SYNTHETIC = dict(n_classes=1000, n_per_class=10, size=128, seed=0)
IMAGE_SIZE, SEED, VAL_TASKS, EVAL_EVERY = 64, 0, 20, 100

if __name__ == '__main__':
    out, stop_at = Path(sys.argv[1]), int(sys.argv[2])
    dev = torch.device(sys.argv[3] if len(sys.argv) > 3 else ('cuda' if torch.cuda.is_available() else 'cpu'))
    root, splits = resolve_data('synthetic', 'auto', **SYNTHETIC)
    ds = FSSDataset(root, classes=splits['trn'] + splits['val'], size=IMAGE_SIZE).preload()
    torch.manual_seed(SEED)
    model = EfficientLab(**MODEL, weights='imagenet').to(dev)
    cfg = MetaConfig(**DEMO)
    t0 = time.time()  # stop at a step count, not a time budget, so the run is repeatable
    hist = meta_train(
        model,
        ds,
        cfg,
        out,
        classes=splits['trn'],
        val_data=ds,
        val_classes=splits['val'],
        val_tasks=VAL_TASKS,
        eval_every=EVAL_EVERY,
        checkpoint_every=50,
        seed=SEED,
        resume=True,
        model_kwargs={**MODEL, 'rsd_stages': list(MODEL['rsd_stages'])},
        progress=False,
        stop_at=stop_at,
    )
    info = dict(
        command=' '.join(['python'] + sys.argv),
        device=str(dev),
        torch=torch.__version__,
        seconds=round(time.time() - t0, 1),
        steps=hist[-1]['step'] if hist else 0,
        config=DEMO,
        model=MODEL,
        synthetic=SYNTHETIC,
        image_size=IMAGE_SIZE,
        seed=SEED,
        validation=[{k: r[k] for k in ('step', 'val_miou', 'val_ci95')} for r in hist if r['val_miou'] != ''],
    )
    prev = json.loads((out / 'made_by.json').read_text()) if (out / 'made_by.json').is_file() else {}
    pieces = prev.get('pieces', [prev] if prev else []) + [
        {k: info[k] for k in ('command', 'device', 'torch', 'seconds', 'steps')}
    ]
    info = {**info, 'pieces': pieces}  # a run made in pieces (resume) lists each one: device, seconds, steps reached
    (out / 'made_by.json').write_text(json.dumps(info, indent=1))
    print(json.dumps({k: info[k] for k in ('device', 'seconds', 'steps', 'validation')}, indent=1))
