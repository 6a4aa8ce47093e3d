"The weight-distance analysis: the papermill notebook end to end at a tiny budget on a tiny embedded benchmark, and its bad-input errors."

import csv, json
from pathlib import Path
import pytest
from conftest import run_nb, notebook_error
from mliis_nb.synthetic import make_synthetic
from mliis_nb.model import EfficientLab
from mliis_nb.io import save_checkpoint
from mliis_nb.meta import FORMAT as META_FORMAT
from mliis_nb.joint import joint_model, save_joint
from mliis_nb.distances import parse_initialisations

NB = Path(__file__).resolve().parents[1] / 'nbs' / 'experiments' / 'weight_distance.ipynb'
TINY = dict(image_size=32, encoder='efficientnet_b0', device='cpu', seed=0)
U = dict(shots=2, splits_per_class=2, queries=2, steps=2, batch=2, max_classes=2)


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    return make_synthetic(
        tmp_path_factory.mktemp('bench') / 'syn', n_classes=12, n_per_class=5, size=40, seed=0, workers=1
    )


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    "A meta-learning and a joint-training checkpoint of untrained tiny models (the analysis reads any such file)."
    d = tmp_path_factory.mktemp('ckpts')
    meta = save_checkpoint(
        d / 'meta' / 'checkpoint.safetensors',
        EfficientLab('efficientnet_b0').state_dict(),
        {'format': META_FORMAT, 'model_kwargs': {'encoder': 'efficientnet_b0', 'rsd_stages': [3]}},
    )
    joint = save_joint(d / 'joint.safetensors', joint_model(3, encoder='efficientnet_b0'))
    return meta.parent, joint


def run(out_nb, **params):
    return run_nb(NB, out_nb, **params)


def test_weight_distance_notebook(bench, ckpts, tmp_path):
    meta, joint = ckpts
    out = tmp_path / 'wd'
    run(
        tmp_path / 'wd.ipynb',
        data=str(bench),
        out_dir=str(out),
        checkpoints=f"{meta},{joint},base=random",
        drop_path_rate=0.1,
        **U,
        **TINY,
    )
    r = json.loads((out / 'results.json').read_text())
    # the encoder and stochastic depth each model was built with: the checkpoints' own, the parameter for the baseline
    assert r['encoder'] == 'efficientnet_b0' and r['drop_path_rate'] == {'meta': 0.0, 'joint': 0.0, 'base': 0.1}
    assert (
        r['models']['base'] == {'encoder': 'efficientnet_b0', 'drop_path_rate': 0.1}
        and r['parameters']['drop_path_rate'] == 0.1
    )
    assert list(r['initialisations']) == ['meta', 'joint', 'base'] and r['parameters']['kinds']['base'] == 'random'
    for lab, d in r['initialisations'].items():
        assert d['n'] == 4 and d['d1_mean'] > 0 and d['d1_ci95'] >= 0 and 0 <= d['miou'] <= 1
        names = [b['block'] for b in d['blocks']]
        assert names[0] == 'encoder.conv_stem+bn1' and names[-2:] == ['decoder.rsds.0', 'head']
        assert all(b['d1'] >= 0 and 0 <= b['d2'] <= 2 and b['d3'] >= 0 for b in d['blocks'])
        assert set(d['depth_extremes']) == set(d['depth_extremes_paper_blocks']) == {'d1', 'd2', 'd3'}
        assert d['depth_extremes_paper_blocks']['d2']['block'] != 'head'
    assert [c['larger'] for c in r['comparisons']] == ['joint', 'base']
    assert r['findings'][0]['verdict'] in ('holds', 'does not hold', 'inconclusive') and r['paper']['d1']['meta'] == [
        0.169,
        0.008,
    ]
    rows = list(csv.DictReader((out / 'd1_per_task.csv').open()))
    assert len(rows) == 3 * 4 and {x['label'] for x in rows} == {'meta', 'joint', 'base'}
    # the same task-splits for every initialisation (paired)
    assert [x['class'] for x in rows if x['label'] == 'meta'] == [x['class'] for x in rows if x['label'] == 'joint']
    assert len(list(csv.DictReader((out / 'blocks.csv').open()))) == sum(
        len(d['blocks']) for d in r['initialisations'].values()
    )
    assert (out / 'fig6.png').stat().st_size > 0 and (out / 'fig7.png').stat().st_size > 0


def test_unknown_initialisation_is_named():
    with pytest.raises(ValueError, match=r"unknown initialisation\(s\): 'imagnet'.*'/nonexistent/run'"):
        parse_initialisations('imagenet,imagnet,/nonexistent/run')
    with pytest.raises(ValueError, match='none given'):
        parse_initialisations(' , ')


@pytest.mark.parametrize(
    'params,name',
    [
        (dict(checkpoints='imagenet,imagnet'), 'checkpoints'),
        (dict(lr=-0.005), 'lr'),
        (dict(splits_per_class=0), 'splits_per_class'),
        (dict(shots=9), 'shots'),
    ],
)
def test_parameters_checked_up_front(bench, tmp_path, params, name):
    e, cell = notebook_error(
        NB.name, **{**dict(data=str(bench), out_dir=str(tmp_path / 'out'), checkpoints='random'), **U, **TINY, **params}
    )
    assert name in str(e) and isinstance(e, ValueError)
    assert not (tmp_path / 'out').exists(), 'nothing is written before the parameters are checked'
