"The papermill experiment notebooks, run end to end with tiny parameters on a tiny embedded benchmark."
import json
from pathlib import Path
import pytest
import papermill as pm
from safetensors import safe_open
from mliis_nb.synthetic import make_synthetic

NBS = Path(__file__).resolve().parents[1]/'nbs'/'experiments'
TINY = dict(image_size=32, encoder='efficientnet_b0', device='cpu', seed=0)
META = dict(meta_steps=2, meta_batch=2, inner_steps=2, inner_batch=2, train_shots=2, val_shots=2, eval_every=2, val_tasks=2,
            checkpoint_every=1, weights='none')




def run(nb, out_nb, **params):
    return pm.execute_notebook(str(NBS/nb), str(out_nb), parameters=params, kernel_name='python3', progress_bar=False)


def _header(path):
    with safe_open(str(path), framework='pt') as f: return json.loads(f.metadata()['mliis_nb'])


def test_meta_train_then_evaluate(bench, tmp_path):
    meta = tmp_path/'meta'
    run('meta_train.ipynb', tmp_path/'mt.ipynb', data=str(bench), out_dir=str(meta), **META, **TINY)
    res = json.loads((meta/'results.json').read_text())
    assert res['steps'] == 2 and 0 <= res['final_val_miou'] <= 1 and res['split'] == 'auto'
    assert (meta/'learning_curve.png').stat().st_size > 0 and (meta/'metrics.csv').read_text().count('\n') == 3
    assert _header(meta/'checkpoint.safetensors')['step'] == 2
    # resuming a finished run changes nothing: same checkpoint bytes, same metrics
    ck, metrics = (meta/'checkpoint.safetensors').read_bytes(), (meta/'metrics.csv').read_text()
    run('meta_train.ipynb', tmp_path/'mt2.ipynb', data=str(bench), out_dir=str(meta), resume=True, **META, **TINY)
    assert (meta/'checkpoint.safetensors').read_bytes() == ck and (meta/'metrics.csv').read_text() == metrics
    assert json.loads((meta/'results.json').read_text())['steps'] == 2

    ev = tmp_path/'eval'
    run('evaluate.ipynb', tmp_path/'ev.ipynb', data=str(bench), out_dir=str(ev), checkpoint=str(meta), shots=2,
        splits_per_class=1, steps=1, batch=2, max_classes=3, **TINY)
    r = json.loads((ev/'results.json').read_text())
    assert set(r) >= {'miou', 'ci95', 'n', 'per_task', 'classwise_miou', 'fb_iou'}
    assert r['n'] == 3 and 0 <= r['miou'] <= 1 and len(r['per_task']) == 3 and len(r['per_task'][0]['query']) == 5
    assert (ev/'predictions.png').stat().st_size > 0


def test_evaluate_baselines(bench, tmp_path):
    for ck in ('random', 'imagenet'):
        enc = 'efficientnet_b0' if ck == 'random' else 'tf_efficientnet_lite0'
        run('evaluate.ipynb', tmp_path/f'{ck}.ipynb', data=str(bench), out_dir=str(tmp_path/ck), checkpoint=ck, shots=1,
            splits_per_class=1, steps=1, batch=2, max_classes=2, **{**TINY, 'encoder': enc})
        assert json.loads((tmp_path/ck/'results.json').read_text())['n'] == 2


def test_evaluate_on_a_joint_checkpoint(bench, tmp_path):
    joint = tmp_path/'joint'
    run('joint_train.ipynb', tmp_path/'jt.ipynb', data=str(bench), out_dir=str(joint), epochs=1, batch=4, weights='none', **TINY)
    for head in ('fresh', 'mean'):
        ev = tmp_path/f'ev_{head}'
        run('evaluate.ipynb', tmp_path/f'ev_{head}.ipynb', data=str(bench), out_dir=str(ev), checkpoint=str(joint), joint_head=head,
            shots=1, splits_per_class=1, steps=1, batch=2, max_classes=2, **TINY)
        r = json.loads((ev/'results.json').read_text())
        assert r['n'] == 2 and r['joint_head'] == head and 0 <= r['miou'] <= 1


@pytest.mark.parametrize('nb,params,name', [
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
    ('uho.ipynb', dict(n_calls=1), 'n_calls'),
    ('uho.ipynb', dict(space='everything'), 'space'),
    ('uho.ipynb', dict(max_steps=-1), 'max_steps'),
    ('uho.ipynb', dict(n_tasks=0), 'n_tasks'),
    ('uho.ipynb', dict(checkpoint='/nonexistent/ckpt.safetensors'), 'checkpoint'),
    ('evaluate.ipynb', dict(omega='/nonexistent/uho/results.json'), 'omega'),
])
def test_parameters_checked_up_front(bench, tmp_path, nb, params, name):
    base = dict(data=str(bench), out_dir=str(tmp_path/'out'), **TINY)
    with pytest.raises(pm.PapermillExecutionError) as e:
        run(nb, tmp_path/'x.ipynb', **{**base, **params})
    assert name in str(e.value) and 'ValueError' in str(e.value)
    assert e.value.exec_count <= 4, 'the error must come from the first cells'
    assert not (tmp_path/'out').exists(), 'nothing is written before the parameters are checked'
