"Time the stages of a demo meta-training run on this machine (diagnostic for tools/gpu_run.sh)."

import time, sys, torch

t0 = time.time()


def say(m):
    print(f'{time.time() - t0:7.1f}s {m}', flush=True)


from mliis_nb.data import FSSDataset
from mliis_nb.synthetic import resolve_data
from mliis_nb.meta import MetaConfig, meta_step
from mliis_nb.model import EfficientLab

sys.path.insert(0, 'tools')
from make_shipped_checkpoint import DEMO, MODEL, SYNTHETIC, IMAGE_SIZE

root, splits = resolve_data('synthetic', 'auto', **SYNTHETIC)
say('benchmark ready')
ds = FSSDataset(root, classes=splits['trn'], size=IMAGE_SIZE).preload(workers=8)
say('preloaded')
dev = torch.device('cuda')
model = EfficientLab(**MODEL, weights='imagenet').to(dev)
say('model')
cfg = MetaConfig(**DEMO)
smp = cfg.sampler(ds, splits['trn'], 0)
for s in range(6):
    tasks = [smp.sample() for _ in range(cfg.meta_batch)]
    torch.cuda.synchronize()
    t = time.time()
    meta_step(model, tasks, cfg, s)
    torch.cuda.synchronize()
    say(f'meta-step {s}: {time.time() - t:.2f} s')
