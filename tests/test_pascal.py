"PASCAL-5i: fold logic and the ignore label on a tiny fake VOC tree made here, the protocol notebook, and the shipped lists against HSNet's."

import json
import numpy as np
import pytest
import papermill as pm
import torch
from pathlib import Path
from PIL import Image
from torch import nn
from mliis_nb.data import load_pair
from mliis_nb.pascal import VOC_CLASSES
from mliis_nb.episodes import EpisodeSampler
from mliis_nb.adapt import Omega
from mliis_nb.losses import ClasswiseIoU
from mliis_nb.checks import Checks, check_common
from mliis_nb.synthetic import resolve_data, open_data
from mliis_nb.pascal import (
    write_pascal_tree,
    fold_classes,
    lists_folder,
    read_fold_list,
    pascal_meta_test,
    pascal_episodes,
    Pascal5iDataset,
    MASK_DIR,
    IMAGE_DIR,
    OWN_LISTS,
)

NBS = Path(__file__).resolve().parents[1] / 'nbs' / 'experiments'


def _every_class_tree(root, per_class=3, trn_per_class=2):
    """Each of the 20 classes: `per_class` test images (val list of its fold) and `trn_per_class` training images; every training
    image of class c also shows an object of the next class, so test classes appear (as background) in training images."""
    images, lists = {}, {f'{s}/fold{k}': [] for s in ('trn', 'val') for k in range(4)}
    for c in range(1, 21):
        fold = (c - 1) // 5
        for i in range(per_class):
            n = f'2008_{c:02d}{i:04d}'
            images[n] = {c: (4 + i, 12 + i, 4, 14)}
            lists[f'val/fold{fold}'].append(f'{n}__{c:02d}')
        for i in range(trn_per_class):
            n = f'2010_{c:02d}{i:04d}'
            images[n] = {c: (2, 10, 2, 10), c % 20 + 1: (14, 22, 16, 28)}
            lists[f'trn/fold{fold}'].append(f'{n}__{c:02d}')
    return write_pascal_tree(root, images, lists, size=(24, 32))


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    return _every_class_tree(tmp_path_factory.mktemp('pascal') / 'VOC2012')


@pytest.mark.parametrize('fold', [0, 1, 2, 3])
def test_fold_logic(voc, fold):
    root, splits = resolve_data(f'pascal5i:{voc}', f'fold{fold}')
    test = fold_classes(fold)
    assert splits['test'] == test == list(VOC_CLASSES[5 * fold + 1 : 5 * fold + 6])
    assert len(splits['trn']) == 15 and not set(splits['trn']) & set(test) and splits['val'] == splits['trn']
    ds = open_data(root, classes=splits['trn'] + splits['test'], size=(24, 32), cache_dir=False)
    for c in test:  # test classes: the VOC val images of this fold's list
        assert ds.ids[c] == [f'2008_{VOC_CLASSES.index(c):02d}{i:04d}' for i in range(3)]
    for c in splits['trn']:  # training classes: the training images of their own fold's list
        assert ds.ids[c] == [f'2010_{VOC_CLASSES.index(c):02d}{i:04d}' for i in range(2)]
    # meta-training draws only training classes, and a test class inside a training image is background there
    sampler = EpisodeSampler(ds, splits['trn'], shots=1, queries=1, seed=0)
    assert {sampler.sample().cls for _ in range(60)} <= set(splits['trn'])
    prev = VOC_CLASSES[
        (5 * fold - 1) % 20 + 1
    ]  # a training class whose training images show the fold's first test class
    _, masks = ds.examples(prev)
    assert masks[:, 2:10, 2:10].all() and not masks[:, 14:22, 16:28].any()


def test_ignore_label_in_masks(voc):
    ds = Pascal5iDataset(voc, 0, classes=['aeroplane'], size=(24, 32), cache_dir=False)
    _, masks = ds.examples('aeroplane')
    ign = ds.ignore('aeroplane')
    raw = np.array(Image.open(voc / MASK_DIR / '2008_010000.png'))
    assert np.array_equal(ign[0], raw == 255) and np.array_equal(masks[0], raw == 1)
    assert ign[0].sum() == 10 * 12 - 8 * 10 and not (masks & ign).any()


class BrightIsForeground(nn.Module):
    "A fixed 'model': foreground wherever the image is bright. It has one parameter, so U can run (with 0 steps)."

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(20.0))

    def forward(self, x):
        z = self.w * (x[:, :1] - 0.5)
        return torch.cat([-z, z], 1)


def test_protocol_ignores_the_void_band(tmp_path):
    "Images bright on the object AND its void band: the prediction is wrong exactly on the band, so ignoring it scores 1."
    boxes = {f'2008_{i:06d}': {1: (4 + i, 14 + i, 5, 20)} for i in range(4)}
    lists = (
        {'val/fold0': [f'{n}__01' for n in boxes]}
        | {f'trn/fold{k}': [] for k in range(4)}
        | {f'val/fold{k}': [] for k in (1, 2, 3)}
    )
    voc = write_pascal_tree(tmp_path / 'VOC2012', boxes, lists)
    for n in boxes:
        lab = np.array(Image.open(voc / MASK_DIR / f'{n}.png'))
        bright = np.where((lab == 1) | (lab == 255), 255, 0).astype(np.uint8)
        Image.fromarray(np.repeat(bright[..., None], 3, -1)).save(
            voc / IMAGE_DIR / f'{n}.jpg', quality=100, subsampling=0
        )
    ds = Pascal5iDataset(voc, 0, classes=['aeroplane'], size=(24, 32), cache_dir=False)
    model, still = BrightIsForeground(), Omega(steps=0, aug_rate=0)
    r = pascal_meta_test(model, ds, shots=1, episodes=8, omega=still, progress=False)
    assert r.classwise_miou == 1.0 and r.fb_iou == 1.0 and r.miou == pytest.approx(1.0)
    assert len(r.per_episode) == 8 and [p['query'] for p in r.per_episode[:4]] == list(boxes)
    # the same predictions scored without the ignore label (band as background) are worse
    plain = ClasswiseIoU()
    for c, s, q in pascal_episodes(ds, episodes=8, shots=1):
        x = torch.from_numpy(ds.examples(c)[0][q]).permute(0, 3, 1, 2).float() / 255
        plain.update(model(x), torch.from_numpy(ds.examples(c)[1][q]).float(), c)
    assert plain.miou < 0.8


def test_parameters(voc, tmp_path):
    def errs(data, split):
        c = Checks()
        check_common(c, data, split, tmp_path / 'out', 0, 0, 'efficientnet_b0', 'cpu')
        return c.errors

    assert errs(f'pascal5i:{voc}', 'fold3') == []
    assert "takes split 'fold0'..'fold3'" in errs(f'pascal5i:{voc}', 'auto')[0]
    assert 'lacks' in errs(f'pascal5i:{tmp_path}', 'fold0')[0]
    with pytest.raises(ValueError, match='is a PASCAL-5i fold'):
        resolve_data(voc, 'fold0')


def test_pascal5i_notebook(voc, tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    out = tmp_path / 'p5i'
    pm.execute_notebook(
        str(NBS / 'pascal5i.ipynb'),
        str(tmp_path / 'p5i.ipynb'),
        kernel_name='python3',
        progress_bar=False,
        parameters=dict(
            data=f'pascal5i:{voc}',
            checkpoint='random',
            folds=[0, 2],
            shots=[1, 2],
            episodes=3,
            out_dir=str(out),
            image_size=32,
            encoder='efficientnet_b0',
            device='cpu',
            steps=1,
            batch=2,
        ),
    )
    r = json.loads((out / 'results.json').read_text())
    assert sorted(r['mean']) == ['1', '2'] and r['mean']['1']['folds'] == [0, 2] and r['mean']['2']['episodes'] == 6
    assert all(0 <= r['mean'][k][m] <= 1 for k in r['mean'] for m in ('classwise_miou', 'fb_iou', 'episode_miou'))
    assert [(p['fold'], p['shots']) for p in r['per_fold']] == [(0, 1), (0, 2), (2, 1), (2, 2)]
    assert (out / 'episodes.csv').read_text().count('\n') == 1 + 4 * 3 and (out / 'predictions.png').stat().st_size > 0
    assert '| 2-shot |' in (out / 'results.md').read_text()
    # a run folder meta-trained on another fold is refused before any work
    (tmp_path / 'meta_fold1').mkdir()
    (tmp_path / 'meta_fold1' / 'checkpoint.safetensors').write_bytes(b'x')
    (tmp_path / 'meta_fold1' / 'results.json').write_text(json.dumps({'data': f'pascal5i:{voc}', 'split': 'fold1'}))
    with pytest.raises(pm.PapermillExecutionError, match='was trained on fold 1'):
        pm.execute_notebook(
            str(NBS / 'pascal5i.ipynb'),
            str(tmp_path / 'bad.ipynb'),
            kernel_name='python3',
            progress_bar=False,
            parameters=dict(
                data=f'pascal5i:{voc}',
                checkpoint=str(tmp_path / 'meta_fold1'),
                folds=[0],
                out_dir=str(tmp_path / 'bad'),
                device='cpu',
            ),
        )
    assert not (tmp_path / 'bad').exists()


def test_shipped_fold_lists_are_hsnets(realdata):
    up, ours = realdata / 'splits' / 'pascal5i_hsnet', lists_folder('/nonexistent')
    for s in ('trn', 'val'):
        for k in range(4):
            assert (ours / s / f'fold{k}.txt').read_bytes() == (up / s / f'fold{k}.txt').read_bytes()
            assert {c for _, c in read_fold_list(ours / s / f'fold{k}.txt')} == set(fold_classes(k))


def test_real_voc_images(realdata, tmp_path):
    "Real VOC photos (non-square, full size) with their masks turned back into class-index maps read as PASCAL-5i."
    index = json.loads((realdata / 'voc2012' / 'index.json').read_text())
    images, lists = {}, {f'{s}/fold{k}': [] for s in ('trn', 'val') for k in range(4)}
    for e in index:
        d = realdata / 'voc2012' / e['cls'] / f"{e['n']}.jpg"
        im, mk = Image.open(d), Image.open(d.with_suffix('.png'))
        if im.size != mk.size or e['ident'] in images or im.size == (513, 513):
            continue  # full-size originals only, one class each
        images[e['ident']] = (d, np.array(mk) > 127, VOC_CLASSES.index(e['cls']))
    assert len(images) >= 3
    root = tmp_path / 'VOC2012'
    (root / IMAGE_DIR).mkdir(parents=True)
    (root / MASK_DIR).mkdir()
    for ident, (d, m, c) in images.items():
        (root / IMAGE_DIR / f'{ident}.jpg').write_bytes(d.read_bytes())
        Image.fromarray(np.where(m, c, 0).astype(np.uint8)).save(root / MASK_DIR / f'{ident}.png')
        lists[f'val/fold{(c - 1) // 5}'].append(f'{ident}__{c:02d}')
    for rel, lines in lists.items():
        p = root / OWN_LISTS / f'{rel}.txt'
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text('\n'.join(lines) + '\n')
    for k in range(4):
        ds = Pascal5iDataset(root, k, classes=fold_classes(k), size=(96, 128), cache_dir=False)
        for c in ds.classes:
            if not ds.n_examples(c):
                continue
            imgs, masks = ds.examples(c)
            for j, ident in enumerate(ds.ids[c]):
                _, ref = load_pair(images[ident][0], images[ident][0].with_suffix('.png'), size=(96, 128))
                assert imgs[j].shape == (96, 128, 3) and np.array_equal(masks[j], ref)
