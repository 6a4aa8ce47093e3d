"""The parallel strategy of U (`mliis_nb.parallel`) against the sequential one, in float64 on small EfficientLabs:
the same inner losses, adapted weights, BatchNorm running statistics, meta-learning directions and query IoUs.

Everything random is switched on (dropout 0.3, augmentation rate 0 and 1), so a task that got another task's
minibatches, augmentations or dropout masks, or the model's BatchNorm statistics instead of its own, fails."""

import dataclasses

import pytest
import torch
from torch import nn

from mliis_nb.adapt import Omega, AdaptResult, NonFiniteLoss
from mliis_nb.episodes import Task
from mliis_nb.losses import seg_loss
from mliis_nb.meta import MetaConfig, task_direction, task_directions
from mliis_nb.model import EfficientLab, snapshot_state
from mliis_nb.parallel import adapt_many, resolve_strategy

TOL = 1e-10
SIZE = 32


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _model(encoder='test_efficientnet', **kw):
    torch.manual_seed(0)
    m = EfficientLab(encoder, dropout=0.3, **kw)
    with torch.no_grad():  # running statistics away from their (0, 1) start, so using the wrong ones shows
        for name, b in m.named_buffers():
            if name.endswith('running_mean'):
                b.normal_(0, 0.1)
            if name.endswith('running_var'):
                b.uniform_(0.5, 1.5)
    return m


def _tasks(n=3, shots=(3, 4, 5), queries=(2, 3, 2)):
    out = []
    for i in range(n):
        g = torch.Generator().manual_seed(100 + i)
        k, q = shots[i % len(shots)], queries[i % len(queries)]
        x = torch.rand(k + q, 3, SIZE, SIZE, generator=g)
        y = (torch.rand(k + q, SIZE, SIZE, generator=g) > 0.5).double()
        out.append(Task(f'c{i}', x[:k], y[:k], x[k:], y[k:]))
    return out


def _close(a, b, tol=TOL, loose=()):
    "Every tensor within tol of its scale (max(1, max|a|)); names in `loose` within 1e-8 absolute; ints and lists exact or within tol."
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k], 1e-8 / max(1.0, a[k].abs().max().item()) if k in loose else tol, loose)
        return
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert abs(x - y) <= tol * max(1, abs(x)), (x, y)
        return
    if not a.is_floating_point():
        assert torch.equal(a, b)
        return
    d, s = (a - b).abs().max().item(), max(1.0, a.abs().max().item())
    assert d <= tol * s, f'differ by {d:.3g} at scale {s:.3g}'


def _same_results(seq, par, loose=()):
    for a, b in zip(seq, par, strict=True):
        for f in ('losses', 'step_iou', 'weights', 'query_iou'):
            x, y = getattr(a, f), getattr(b, f)
            assert (x is None) == (y is None), f
            if x is not None:
                _close(x, y, loose=loose)
        if a.query_logits is not None:
            _close(a.query_logits.double(), b.query_logits.double(), 1e-6)  # float32, as `predict` returns


@pytest.mark.parametrize('aug_rate', [0.0, 1.0])
@pytest.mark.parametrize('algorithm', ['reptile', 'fomaml', 'fomaml_star'])
def test_meta_directions_match_sequential(algorithm, aug_rate):
    model, tasks = _model(), _tasks()
    before = snapshot_state(model)
    cfg = MetaConfig(
        algorithm=algorithm, inner_steps=3, inner_batch=2, inner_lr=0.05, dropout=0.3, aug_rate=aug_rate, val_shots=2
    )
    seeds = [11, 12, 13]
    seq = [task_direction(model, t, cfg, s) for t, s in zip(tasks, seeds)]
    par = task_directions(model, tasks, cfg, seeds, strategy='parallel')
    for (g, ls), (gp, lsp) in zip(seq, par, strict=True):
        _close(g, gp)
        _close(ls, lsp)
        assert any('running_mean' in k and g[k].abs().max() > 0 for k in g)  # BN statistics are part of the direction
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # the comparison can fail: another dropout rate changes the draws and so every direction
    other = task_directions(model, tasks, dataclasses.replace(cfg, dropout=0.0), seeds, strategy='parallel')
    assert max((other[0][0][k] - seq[0][0][k]).abs().max().item() for k in seq[0][0]) > 1e-6


@pytest.mark.parametrize('aug_rate', [0.0, 1.0])
def test_adapted_weights_and_query_ious_match(aug_rate):
    "Evaluation and UHO: the queries scored after every step with each task's own running statistics, early stopping per task."
    model, tasks = _model(), _tasks(4)
    om = Omega(lr=0.05, steps=4, batch=3, dropout=0.3, aug_rate=aug_rate)
    kw = dict(seeds=[3, 4, 5, 6], track=True, return_weights=True)
    _same_results(
        adapt_many(model, tasks, om, strategy='sequential', **kw),
        adapt_many(model, tasks, om, strategy='parallel', chunk=3, **kw),
    )
    kw.update(patience=0)
    _same_results(
        adapt_many(model, tasks, om, strategy='sequential', **kw),
        adapt_many(model, tasks, om, strategy='parallel', **kw),
    )


def test_adam_matches_up_to_zero_gradient_parameters():
    """Adam divides by sqrt(v) + 1e-8, so a parameter whose gradient is zero in exact arithmetic (a BN bias that feeds
    only another train-mode BN) moves by amplified rounding noise; such parameters are held to 1e-8, the rest to 1e-10."""
    model, tasks = _model(), _tasks()
    model.train()
    seg_loss(model(tasks[0].support_x), tasks[0].support_y, model=model).backward()
    zero = {k for k, p in model.named_parameters() if p.grad.abs().max() < 1e-12}
    model.zero_grad()
    assert len(zero) < 5
    om = Omega(lr=0.01, steps=3, batch=2, optimiser='adam', dropout=0.3, aug_rate=1.0)
    kw = dict(seeds=[1, 2, 3], return_weights=True)
    _same_results(
        adapt_many(model, tasks, om, strategy='sequential', **kw),
        adapt_many(model, tasks, om, strategy='parallel', **kw),
        loose=zero,
    )


def test_channels_last_and_the_paper_encoder():
    "The dropout draws follow the activations' memory layout; EfficientNet-B0 (the paper's encoder) with the 6-3 decoder."
    model, tasks = _model().to(memory_format=torch.channels_last), _tasks(2)
    om = Omega(lr=0.05, steps=2, batch=2, dropout=0.3, aug_rate=1.0)
    kw = dict(seeds=[7, 8], return_weights=True)
    _same_results(
        adapt_many(model, tasks, om, strategy='sequential', **kw),
        adapt_many(model, tasks, om, strategy='parallel', **kw),
    )
    model = _model('efficientnet_b0', rsd_stages=(6, 3))
    _same_results(
        adapt_many(model, tasks, om, strategy='sequential', **kw),
        adapt_many(model, tasks, om, strategy='parallel', **kw),
    )


def test_mixed_omegas_starts_and_a_diverging_task():
    model, tasks = _model(), _tasks()
    om = Omega(lr=0.05, steps=2, batch=2, dropout=0.3, aug_rate=1.0)
    start = snapshot_state(model) | {'head.conv.bias': torch.tensor([0.3, -0.3])}
    kw = dict(omega=[om, om.replace(lr=0.01), om], seeds=[1, 2, 3], start=[None, start, start], return_weights=True)
    _same_results(
        adapt_many(model, tasks, strategy='sequential', **kw), adapt_many(model, tasks, strategy='parallel', **kw)
    )
    # a loss that is infinite for task 1 only: 'return' puts adapt's NonFiniteLoss in its place, the others go on
    bad = lambda lg, y, m: seg_loss(lg, y, model=m) + torch.where((y == 0.5).any(), torch.inf, 0.0)
    t1 = tasks[1].support_y.clone()
    t1[:, 0, 0] = 0.5
    tt = [tasks[0], (tasks[1].support_x, t1, tasks[1].query_x, tasks[1].query_y), tasks[2]]
    seq = adapt_many(model, tt, om, loss_fn=bad, on_nonfinite='return', strategy='sequential')
    par = adapt_many(model, tt, om, loss_fn=bad, on_nonfinite='return', strategy='parallel')
    assert [type(r) for r in par] == [AdaptResult, NonFiniteLoss, AdaptResult] and str(seq[1]) == str(par[1])
    _same_results([seq[0], seq[2]], [par[0], par[2]])
    with pytest.raises(NonFiniteLoss, match='at step 0'):
        adapt_many(model, tt, om, loss_fn=bad, strategy='parallel')


def test_strategy_and_bad_calls():
    model, tasks = _model(), _tasks(2)
    assert resolve_strategy('auto', model) == ('parallel' if torch.cuda.is_available() else 'sequential')
    with pytest.raises(ValueError, match='strategy must be one of'):
        adapt_many(model, tasks, strategy='fast')
    with pytest.raises(ValueError, match='seeds: 1 given for 2 tasks'):
        adapt_many(model, tasks, seeds=[1])
    with pytest.raises(ValueError, match='chunk must be'):
        adapt_many(model, tasks, chunk=0)
    with pytest.raises(ValueError, match='tasks: each task must be'):
        adapt_many(model, [(tasks[0].support_x,)])
    with pytest.raises(ValueError, match='Dropout2d'):
        adapt_many(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Dropout2d(0.1)), tasks, strategy='parallel')

    class Noisy(nn.Module):  # a random draw outside nn.Dropout cannot be given to each task: refused, not shared
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            y = self.conv(x)
            return y + torch.randn_like(y) if self.training else y

    with pytest.raises(ValueError, match='draws random numbers outside nn.Dropout'):
        adapt_many(Noisy(), tasks, Omega(steps=1, batch=2), strategy='parallel')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_matches_sequential():
    "On a GPU the replayed draws are the CUDA generator's (fused dropout): float64 results agree, float32 channels_last closely."
    tasks = _tasks()
    om = Omega(lr=0.05, steps=3, batch=2, dropout=0.3, aug_rate=1.0)
    kw = dict(seeds=[1, 2, 3], track=True, return_weights=True)
    model = _model().cuda()
    _same_results(
        adapt_many(model, tasks, om, strategy='sequential', **kw),
        adapt_many(model, tasks, om, strategy='parallel', **kw),
    )
    model = _model().float().cuda().to(memory_format=torch.channels_last)
    t32 = [Task(t.cls, t.support_x.float(), t.support_y.float(), t.query_x.float(), t.query_y.float()) for t in tasks]
    seq, par = (adapt_many(model, t32, om, strategy=s, **kw) for s in ('sequential', 'parallel'))
    for a, b in zip(seq, par):
        _close(a.losses, b.losses, 1e-3)  # other dropout masks would differ by far more
