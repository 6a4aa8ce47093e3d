"""The experiment notebooks: their parameters checked before any work (in-process through the runners the notebooks
call, and once per notebook through papermill), and meta-train -> evaluate end to end with tiny parameters."""

import inspect, json
from pathlib import Path
import pytest
import papermill as pm
from safetensors import safe_open
from conftest import run_nb, notebook_error, NBS
from mliis_nb.checks import notebook_parameters
from mliis_nb.runners import run_meta_train, run_evaluate, run_uho

TINY = dict(image_size=32, encoder='efficientnet_b0', device='cpu', seed=0)
META = dict(
    meta_steps=2,
    meta_batch=2,
    inner_steps=2,
    inner_batch=2,
    train_shots=2,
    val_shots=2,
    eval_every=2,
    val_tasks=2,
    checkpoint_every=1,
    weights='none',
)
EVAL = dict(shots=1, splits_per_class=1, steps=1, batch=2, max_classes=2)
RUNNERS = {'meta_train.ipynb': run_meta_train, 'evaluate.ipynb': run_evaluate, 'uho.ipynb': run_uho}


def _header(path):
    with safe_open(str(path), framework='pt') as f:
        return json.loads(f.metadata()['mliis_nb'])


def test_meta_train_then_evaluate(bench, tmp_path):
    "The two notebooks through papermill (their figure cells included); the resume and the baselines in-process."
    meta = tmp_path / 'meta'
    run_nb('meta_train.ipynb', tmp_path / 'mt.ipynb', data=str(bench), out_dir=str(meta), **META, **TINY)
    res = json.loads((meta / 'results.json').read_text())
    assert res['steps'] == 2 and 0 <= res['final_val_miou'] <= 1 and res['split'] == 'auto'
    assert (meta / 'learning_curve.png').stat().st_size > 0 and (meta / 'metrics.csv').read_text().count('\n') == 3
    assert _header(meta / 'checkpoint.safetensors')['step'] == 2
    # resuming a finished run changes nothing: same checkpoint bytes, same metrics
    ck, metrics = (meta / 'checkpoint.safetensors').read_bytes(), (meta / 'metrics.csv').read_text()
    assert run_meta_train(data=str(bench), out_dir=str(meta), resume=True, **META, **TINY)['steps'] == 2
    assert (meta / 'checkpoint.safetensors').read_bytes() == ck and (meta / 'metrics.csv').read_text() == metrics

    ev = tmp_path / 'eval'
    run_nb(
        'evaluate.ipynb',
        tmp_path / 'ev.ipynb',
        data=str(bench),
        out_dir=str(ev),
        checkpoint=str(meta),
        **{**EVAL, 'shots': 2, 'max_classes': 3},
        **TINY,
    )
    r = json.loads((ev / 'results.json').read_text())
    assert set(r) >= {'miou', 'ci95', 'n', 'per_task', 'classwise_miou', 'fb_iou'}
    assert r['n'] == 3 and 0 <= r['miou'] <= 1 and len(r['per_task']) == 3 and len(r['per_task'][0]['query']) == 5
    assert (ev / 'predictions.png').stat().st_size > 0


@pytest.mark.parametrize('ck', ['random', 'imagenet'])
def test_evaluate_baselines(bench, tmp_path, ck):
    enc = 'efficientnet_b0' if ck == 'random' else 'tf_efficientnet_lite0'
    r = run_evaluate(data=str(bench), out_dir=str(tmp_path / ck), checkpoint=ck, **EVAL, **{**TINY, 'encoder': enc})
    assert r['n'] == 2 and json.loads((tmp_path / ck / 'results.json').read_text())['n'] == 2


def test_evaluate_on_a_joint_checkpoint(bench, tmp_path):
    joint = tmp_path / 'joint'
    run_nb(
        'joint_train.ipynb',
        tmp_path / 'jt.ipynb',
        data=str(bench),
        out_dir=str(joint),
        epochs=1,
        batch=4,
        weights='none',
        **TINY,
    )
    for head in ('fresh', 'mean'):
        r = run_evaluate(
            data=str(bench),
            out_dir=str(tmp_path / f'ev_{head}'),
            checkpoint=str(joint),
            joint_head=head,
            **EVAL,
            **TINY,
        )
        assert r['n'] == 2 and r['joint_head'] == head and 0 <= r['miou'] <= 1
        assert (r['encoder'], r['drop_path_rate']) == ('efficientnet_b0', 0.0)  # the joint model's own
    res = json.loads((joint / 'results.json').read_text())
    assert (res['encoder'], res['drop_path_rate'], res['parameters']['drop_path_rate']) == ('efficientnet_b0', 0.0, 0.0)


@pytest.mark.parametrize(
    'nb,params,name',
    [
        ('meta_train.ipynb', dict(algorithm='maml'), 'algorithm'),
        ('meta_train.ipynb', dict(inner_lr=-0.1), 'inner_lr'),
        ('meta_train.ipynb', dict(inner_lr=float('nan')), 'inner_lr'),
        ('meta_train.ipynb', dict(inner_lr='fast'), 'inner_lr'),
        ('meta_train.ipynb', dict(inner_steps=1), 'inner_steps'),
        ('meta_train.ipynb', dict(data='/nonexistent/folder'), 'data'),
        ('meta_train.ipynb', dict(split='mine'), 'split'),
        ('meta_train.ipynb', dict(image_size=50), 'image_size'),
        ('meta_train.ipynb', dict(encoder='resnet9000'), 'encoder'),
        ('meta_train.ipynb', dict(train_shots=5, val_shots=5), 'fewer than'),
        ('evaluate.ipynb', dict(shots=8), 'shots'),
        ('evaluate.ipynb', dict(lr=-1.0), 'lr'),
        ('evaluate.ipynb', dict(lr=0.0), 'lr'),
        ('evaluate.ipynb', dict(queries=0), 'queries'),
        ('evaluate.ipynb', dict(checkpoint='/nonexistent/ckpt.safetensors'), 'checkpoint'),
        ('evaluate.ipynb', dict(device='tpu'), 'device'),
        ('evaluate.ipynb', dict(omega='/nonexistent/uho/results.json'), 'omega'),
        ('uho.ipynb', dict(n_calls=1), 'n_calls'),
        ('uho.ipynb', dict(space='everything'), 'space'),
        ('uho.ipynb', dict(max_steps=-1), 'max_steps'),
        ('uho.ipynb', dict(n_tasks=0), 'n_tasks'),
        ('uho.ipynb', dict(checkpoint='/nonexistent/ckpt.safetensors'), 'checkpoint'),
        ('meta_train.ipynb', dict(drop_path_rate=-0.1), 'drop_path_rate'),
        ('evaluate.ipynb', dict(drop_path_rate=1.5), 'drop_path_rate'),
        ('uho.ipynb', dict(drop_path_rate=1.0), 'drop_path_rate'),
    ],
)
def test_parameters_checked_up_front(bench, tmp_path, nb, params, name):
    "In-process, through the runner the notebook calls with every parameter it declares: one ValueError, nothing written."
    with pytest.raises(ValueError, match=name):
        RUNNERS[nb](**{'data': str(bench), 'out_dir': str(tmp_path / 'out'), **TINY, **params})
    assert not (tmp_path / 'out').exists(), 'nothing is written before the parameters are checked'


def test_drop_path_rate_reaches_the_checkpoint_and_the_results(bench, tmp_path):
    """Stochastic depth: meta-training saves it (header, results.json); a checkpoint rebuilds with its own, whatever the
    evaluation's parameter says; the baselines take the parameter; results.json names the encoder and rate the model was built with."""
    from timm.layers import DropPath
    from mliis_nb.inits import load_initialisation
    from mliis_nb.distributed import arg_parser

    meta = tmp_path / 'meta'
    r = run_meta_train(
        data=str(bench),
        out_dir=str(meta),
        drop_path_rate=0.2,
        progress=False,
        **{**META, 'meta_steps': 1, 'eval_every': 1, 'val_tasks': 1},
        **TINY,
    )
    saved = json.loads((meta / 'results.json').read_text())
    assert (
        r['model_kwargs']['drop_path_rate'] == saved['model_kwargs']['drop_path_rate'] == saved['drop_path_rate'] == 0.2
    )
    assert saved['encoder'] == saved['model_kwargs']['encoder'] == 'efficientnet_b0'
    assert _header(meta / 'checkpoint.safetensors')['model_kwargs']['drop_path_rate'] == 0.2
    model = load_initialisation(str(meta))
    assert model.drop_path_rate == 0.2 and model.encoder_name == 'efficientnet_b0'
    assert max(m.drop_prob for m in model.modules() if isinstance(m, DropPath)) > 0  # the encoder's blocks really drop
    ev = run_evaluate(
        data=str(bench),
        out_dir=str(tmp_path / 'ev'),
        checkpoint=str(meta),
        progress=False,
        **EVAL,
        **{**TINY, 'encoder': 'tf_efficientnet_lite0'},
    )  # the checkpoint's encoder and rate, not the parameters'
    assert (ev['encoder'], ev['drop_path_rate']) == ('efficientnet_b0', 0.2)
    assert json.loads((tmp_path / 'ev' / 'results.json').read_text())['drop_path_rate'] == 0.2
    base = run_evaluate(
        data=str(bench),
        out_dir=str(tmp_path / 'rnd'),
        checkpoint='random',
        drop_path_rate=0.1,
        progress=False,
        **EVAL,
        **TINY,
    )
    assert (base['encoder'], base['drop_path_rate']) == ('efficientnet_b0', 0.1)
    with pytest.raises(ValueError, match='drop_path_rate'):
        run_evaluate(data=str(bench), out_dir=str(tmp_path / 'bad'), drop_path_rate=1.5, **EVAL, **TINY)
    assert not (tmp_path / 'bad').exists()
    for run in RUNNERS.values():  # the `python -m mliis_nb.<module>` commands take it too
        assert arg_parser(run, 'x').parse_args(['--drop-path-rate', '0.2']).drop_path_rate == 0.2


@pytest.mark.parametrize('nb', sorted(RUNNERS))
def test_notebook_passes_every_parameter_to_its_runner(nb):
    "Every parameter the notebook declares is one its runner takes, and the runner call passes each one: none is left unused."
    declared = notebook_parameters(NBS / nb)
    assert set(declared) <= set(inspect.signature(RUNNERS[nb]).parameters), nb
    code = '\n'.join(
        ''.join(c['source']) for c in json.loads((NBS / nb).read_text())['cells'] if c['cell_type'] == 'code'
    )
    call = code[code.index(f'{RUNNERS[nb].__name__}(') :]
    assert all(f'{p}={p}' in call for p in declared), [p for p in declared if f'{p}={p}' not in call]


# One papermill run per experiment notebook: a parameter it does not declare stops it in the cell after its parameters,
# naming the closest declared name, before anything is written (papermill itself only warns "Passed unknown parameter").
MISSPELT = {
    'benchmark.ipynb': ('repeat', 'repeats'),
    'demo.ipynb': ('meta_step', 'meta_steps'),
    'evaluate.ipynb': ('shot', 'shots'),
    'fpk.ipynb': ('k', 'ks'),
    'joint_train.ipynb': ('epoch', 'epochs'),
    'meta_train.ipynb': ('inner_step', 'inner_steps'),
    'paper.ipynb': ('row', 'rows'),
    'pascal5i.ipynb': ('fold', 'folds'),
    'segment.ipynb': ('querys', 'queries'),
    'uho.ipynb': ('n_call', 'n_calls'),
    'weight_distance.ipynb': ('checkpoint', 'checkpoints'),
}


def test_every_experiment_notebook_is_listed():
    assert set(MISSPELT) == {p.name for p in NBS.glob('*.ipynb')}
    for nb, (wrong, right) in MISSPELT.items():
        declared = notebook_parameters(NBS / nb)
        assert right in declared and wrong not in declared, nb


@pytest.fixture(scope='module')
def kernel():
    "One kernel for the refusals below: papermill runs each notebook in it (nbclient reuses a running kernel it does not own)."
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name='python3')
    km.start_kernel()
    yield km
    km.shutdown_kernel(now=True)


@pytest.mark.parametrize('nb', sorted(MISSPELT))
def test_unknown_parameter_refused(tmp_path, nb, kernel):
    wrong, right = MISSPELT[nb]
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(
            str(NBS / nb),
            str(tmp_path / 'x.ipynb'),
            parameters={'out_dir': str(tmp_path / 'out'), wrong: 1},
            kernel_name='python3',
            progress_bar=False,
            km=kernel,
        )
    assert f"unknown parameter '{wrong}' (did you mean '{right}'?)" in str(e.value) and e.value.ename == 'ValueError'
    cells = json.loads((NBS / nb).read_text())[
        'cells'
    ]  # the refusing cell: the one after the parameters and papermill's injected cell
    at = next(i for i, c in enumerate(cells) if 'parameters' in c['metadata'].get('tags', []))
    assert e.value.cell_index == at + 2 and 'refuse_unknown_parameters()' in e.value.source, (e.value.cell_index, at)
    assert not (tmp_path / 'out').exists(), 'nothing is written before the parameters are checked'


@pytest.mark.parametrize(
    'module,argv,wrong',
    [
        ('meta', ['--inner-step', '3'], '--inner-step'),
        ('evaluate', ['--shot', '1'], '--shot'),
        ('uho', ['--n-call', '40'], '--n-call'),
        ('bench', ['--repeat', '2'], '--repeat'),
        ('segment', ['--support', 'x', '--querie', 'y'], '--querie'),
    ],
)
def test_commands_refuse_a_misspelt_option(module, argv, wrong, capsys, monkeypatch):
    """`python -m mliis_nb.<module>`, run as `-m` runs it (runpy: the module's `__main__` block; meta, evaluate and uho hand
    over to `mliis_nb.runners`): an unknown option (also a prefix of a real one) exits with status 2 naming it."""
    import builtins, runpy, sys, warnings

    monkeypatch.setattr(sys, 'argv', [f'mliis_nb.{module}', *argv])
    monkeypatch.delitem(sys.modules, 'ipykernel', raising=False)
    monkeypatch.delattr(builtins, '__IPYTHON__', raising=False)  # as outside a notebook
    with warnings.catch_warnings(), pytest.raises(SystemExit) as e:
        warnings.simplefilter(
            'ignore', RuntimeWarning
        )  # "'mliis_nb.evaluate' found in sys.modules ...": the package binds `evaluate`
        runpy.run_module(f'mliis_nb.{module}', run_name='__main__', alter_sys=True)
    assert e.value.code == 2 and wrong in capsys.readouterr().err


def test_demo_end_to_end_with_its_real_photo_rows(tmp_path):
    """`make demo`'s notebook at a tiny budget: meta-training, the joint baseline, the four embedded rows (the shipped real-photo
    initialisation among them), and the photo section on a data folder (a tiny benchmark stands in for photographs)."""
    from mliis_nb.synthetic import make_synthetic

    bench = make_synthetic(
        tmp_path / 'syn', n_classes=12, n_per_class=10, size=32, seed=0, workers=1
    )  # meta-training's 5 + 5 shots
    out = tmp_path / 'demo'
    run_nb(
        'demo.ipynb',
        tmp_path / 'demo.ipynb',
        cwd=NBS.parents[1],
        data=str(bench),
        out_dir=str(out),
        image_size=32,
        device='cpu',
        meta_budget_s=1,
        use_shipped=False,
        joint_epochs=1,
        joint_budget_s=1,
        shots=1,
        test_steps=1,
        photo_data=str(bench),
        photo_splits_per_class=1,
        photo_image_size=32,
        photo_steps=1,
    )
    res = json.loads((out / 'results.json').read_text())
    assert [r['initialisation'] for r in res['table']] == [
        'FOMAML* (meta-learned)',
        'joint-trained',
        'ImageNet encoder',
        'real-photo init (shipped)',
    ]
    ph = res['photos']
    assert [r['initialisation'] for r in ph['table']] == [
        'FOMAML* (meta-learned, this demo)',
        'real-photo init',
        'ImageNet encoder',
    ]
    n = ph['table'][-1]['n']
    assert n > 1 and all(r['n'] == n for r in ph['table']) and ph['all_foreground']['n'] == n
    assert all(r['vs_imagenet']['paired'] for r in ph['table'][:2]) and ph['table'][-1]['vs_imagenet'] is None
    assert 0 < ph['all_foreground']['miou'] < 1 and ph['parameters']['image_size'] == 32
    assert (
        'all foreground (trivial)' in (out / 'results.md').read_text() and (out / 'demo_results.png').stat().st_size > 0
    )


def test_demo_refuses_photo_parameters_without_photo_data(tmp_path):
    "A real-photo parameter given without `photo_data` would be read by nothing: the demo stops before writing anything."
    e, n = notebook_error('demo.ipynb', out_dir=str(tmp_path / 'out'), photo_steps=3, photo_shots=5)
    assert isinstance(e, ValueError) and 'photo_shots, photo_steps' in str(e) and 'photo_data' in str(e), e
    assert not (tmp_path / 'out').exists()
