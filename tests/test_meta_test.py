"""One meta-test loop: `evaluate`, the weight analysis and PASCAL-5i all run U through `meta_test_tasks`, and so all
three have its sequential, side-by-side (parallel) and torchrun paths, with U's seed `seed + i` for task-split i."""

import ast
import importlib
import inspect

import numpy as np
import pytest
import torch

from mliis_nb.adapt import Omega, adapt
from mliis_nb.episodes import eval_tasks, make_task
from mliis_nb.evaluate import evaluate
from mliis_nb.losses import iou_per_image
from mliis_nb.model import EfficientLab
from mliis_nb.pascal import Pascal5iDataset, pascal_episodes, pascal_meta_test
from mliis_nb.synthetic import make_synthetic, open_data
from mliis_nb.distances import weight_analysis, weight_blocks, state_distances
from test_pascal import _every_class_tree

OM = Omega(steps=2, batch=2, lr=0.01)


def _calls(fn) -> set[str]:
    "Names of the functions `fn` calls."
    tree = ast.parse(inspect.getsource(fn))
    return {
        n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, 'attr', '')
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }


def test_one_loop_runs_u_for_all_three():
    "Only `meta_test_tasks` calls U in these modules, and the three protocols go through it."
    callers = {}
    for mod in ('evaluate', 'distances', 'pascal'):
        m = importlib.import_module(f'mliis_nb.{mod}')
        for name, fn in inspect.getmembers(m, inspect.isfunction):
            if fn.__module__ == m.__name__ and _calls(fn) & {'adapt', 'adapt_many'}:
                callers[f'{mod}.{name}'] = fn
    assert list(callers) == ['evaluate.meta_test_tasks'], sorted(callers)
    for fn in (evaluate, weight_analysis, pascal_meta_test):
        assert 'meta_test_tasks' in _calls(fn), fn.__name__


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = make_synthetic(
        tmp_path_factory.mktemp('syn') / 'syn', n_classes=12, n_per_class=5, size=40, seed=0, workers=1
    )
    data = open_data(root, size=32, cache_dir=False)
    voc = _every_class_tree(tmp_path_factory.mktemp('pascal') / 'VOC2012')
    torch.manual_seed(0)
    return EfficientLab('efficientnet_b0').eval(), data, Pascal5iDataset(voc, 0, size=(24, 32), cache_dir=False)


def test_weight_analysis_seeds_and_parallel_path(setup):
    model, data, _ = setup
    kw = dict(shots=2, splits_per_class=2, omega=OM, queries=2, seed=3, progress=False)
    seq = weight_analysis(model, data, data.classes[:3], strategy='sequential', **kw)
    # task-split i is U with seed 3 + i: its distance, recomputed by hand for the last one
    i = seq.n - 1
    split = eval_tasks(data, data.classes[:3], 2, 2, 2, 3)[i]
    t = make_task(data, split)
    r = adapt(model, t.support_x, t.support_y, OM, t.query_x, t.query_y, seed=3 + i, return_weights=True)
    d1 = state_distances(dict(model.named_parameters()), r.weights, weight_blocks(model)).d1
    assert seq.d1[i] == d1 and seq.per_task[i]['miou'] == r.miou
    par = weight_analysis(model, data, data.classes[:3], strategy='parallel', chunk=4, **kw)
    np.testing.assert_allclose(par.d1, seq.d1, rtol=5e-3)  # float32, batched: equal up to rounding
    assert [p['class'] for p in par.per_task] == [p['class'] for p in seq.per_task]
    assert seq.d1.std() > 0.05 * seq.d1.mean()  # the splits differ, so a mix-up of order would show


def test_pascal_seeds_and_parallel_path(setup):
    model, _, ds = setup
    seq = pascal_meta_test(model, ds, shots=1, episodes=6, omega=OM, seed=2, progress=False, strategy='sequential')
    e = 5
    c, sup, qry = pascal_episodes(ds, None, 6, 1, 2)[e]
    t = make_task(ds, (c, sup, qry))
    r = adapt(model, t.support_x, t.support_y, OM, t.query_x, seed=2 + e)
    ign = torch.from_numpy(ds.ignore(c)[qry])
    assert seq.per_episode[e]['iou'] == float(iou_per_image(r.query_logits, t.query_y, ignore=ign).mean())
    # side by side: the same episodes in the same order; U without steps, so that float32 rounding of the batched
    # forward pass cannot flip the random-initialised net's near-tied pixels
    still = OM.replace(steps=0)
    seq, par = (
        pascal_meta_test(model, ds, shots=1, episodes=6, omega=still, seed=2, progress=False, strategy=s, chunk=4)
        for s in ('sequential', 'parallel')
    )
    assert [p['query'] for p in par.per_episode] == [p['query'] for p in seq.per_episode]
    np.testing.assert_allclose([p['iou'] for p in par.per_episode], [p['iou'] for p in seq.per_episode], atol=1e-3)
    assert len({round(p['iou'], 4) for p in seq.per_episode}) > 2  # the episodes differ, so a mix-up would show
    assert len(par.examples) == len(seq.examples) == 6
