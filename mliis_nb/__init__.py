__version__ = "0.1.0"

import importlib

# The curated public API, loaded lazily (PEP 562) except `adapt` and `evaluate` (below), so `import mliis_nb` costs
# the import of torch and timm that those two need, and nothing of fastai, papermill or scikit-optimize:
# `from mliis_nb import EfficientLab, adapt, Omega, meta_train, evaluate, load_initialisation`.
_API = {
    'EfficientLab': 'model',
    'DEFAULT_ENCODER': 'model',
    'FSSDataset': 'data',
    'VOCDataset': 'pascal',
    'fss_splits': 'splits',
    'read_split': 'splits',
    'load_pair': 'data',
    'make_synthetic': 'synthetic',
    'resolve_data': 'synthetic',
    'Task': 'episodes',
    'EpisodeSampler': 'episodes',
    'eval_tasks': 'episodes',
    'augment_pair': 'augment',
    'augment_batch': 'augment',
    'seg_loss': 'losses',
    'iou_per_image': 'losses',
    'mean_ci95': 'losses',
    'ClasswiseIoU': 'losses',
    'Omega': 'adapt',
    'adapt': 'adapt',
    'AdaptResult': 'adapt',
    'resolve_device': 'device',
    'evaluate': 'evaluate',
    'EvalResult': 'evaluate',
    'MetaConfig': 'meta',
    'meta_train': 'meta',
    'meta_step': 'meta',
    'joint_train': 'joint',
    'load_joint_initialisation': 'joint',
    'load_initialisation': 'inits',
    'imagenet_initialisation': 'inits',
    'save_checkpoint': 'io',
    'load_checkpoint': 'io',
    'open_data': 'synthetic',
    'Pascal5iDataset': 'pascal',
    'pascal_meta_test': 'pascal',
    'UHOResult': 'uho',
    'omega_from_results': 'uho',
    'segment_folder': 'segment',
    'weight_analysis': 'distances',
    'weight_blocks': 'distances',
    'adapt_many': 'parallel',
    'fpk_run': 'fpk',
    'fpk_data': 'fpk',
    'run_stage': 'reproduce',
}
__all__ = sorted(_API)

# `adapt` and `evaluate` are also the names of their modules: bound here, before anything imports the submodules,
# so `mliis_nb.adapt` is the function (as `from mliis_nb import adapt` promises), not the module.
from .adapt import adapt
from .evaluate import evaluate


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(f'{__name__}.{_API[name]}'), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
