"Your own classes: a folder made here with other names, uneven counts and mixed mask conventions, meta-trained and evaluated through the papermill notebooks, and every form of `split`."

import json
import numpy as np
import pytest
from pathlib import Path
from PIL import Image
from mliis_nb.data import FSSDataset, class_folders
from mliis_nb.splits import read_split_lists
from mliis_nb.synthetic import resolve_data, open_data
from mliis_nb.runners import run_evaluate
from conftest import run_nb, notebook_error

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
# not FSS-1000 names, uneven counts (validation needs train_shots + 5 = 7 examples per class), non-numeric file names
CLASSES = {
    'rust spot': 7,
    'Dent-7': 9,
    'crack (hairline)': 11,
    'pitting': 8,
    'stain_B': 13,
    'scratch': 7,
    'bubble': 10,
    'chip': 9,
}
RANDOM = 'random:0.5/0.25/0.25'


def write_own_folder(root, classes=CLASSES, seed=0):
    "Images of several sizes; masks as grey {0,255}, {0,1} and palette PNGs; names like IMG_0003 and b."
    g = np.random.default_rng(seed)
    for ci, (cls, n) in enumerate(classes.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            h, w = (30, 40) if i % 2 else (36, 36)
            m = np.zeros((h, w), np.uint8)
            y, x = g.integers(2, 14, 2)
            m[y : y + 12, x : x + 14] = 1
            img = g.integers(0, 90, (h, w, 3), dtype=np.uint8)
            img[m == 1] += np.uint8(60 + 20 * (ci % 5))
            name = f'IMG_{i:04d}' if i % 3 else chr(ord('a') + i)
            Image.fromarray(img).save(root / cls / f'{name}.jpg')
            if i % 3 == 0:
                Image.fromarray(m * 255).save(root / cls / f'{name}.png')
            elif i % 3 == 1:
                Image.fromarray(m).save(root / cls / f'{name}.png')
            else:
                p = Image.fromarray(m, 'P')
                p.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
                p.save(root / cls / f'{name}.png')
    (root / 'README.txt').write_text('my defects')  # files beside the class folders are not classes
    return root


@pytest.fixture(scope='module')
def own(tmp_path_factory):
    return write_own_folder(tmp_path_factory.mktemp('own') / 'defects')


run = run_nb


def test_meta_train_and_evaluate_on_own_folder(own, tmp_path):
    _, expected = resolve_data(own, RANDOM)
    assert sorted(expected['trn'] + expected['val'] + expected['test']) == sorted(CLASSES)
    assert not set(expected['test']) & (set(expected['trn']) | set(expected['val']))
    meta = tmp_path / 'meta'
    run('meta_train.ipynb', tmp_path / 'mt.ipynb', data=str(own), split=RANDOM, out_dir=str(meta), **META, **TINY)
    res = json.loads((meta / 'results.json').read_text())
    assert res['steps'] == 2 and 0 <= res['final_val_miou'] <= 1
    assert res['split'] == RANDOM and res['splits'] == expected  # the split is recorded, lists and all

    ev = tmp_path / 'eval'  # in-process: run_evaluate is what evaluate.ipynb runs
    run_evaluate(
        data=str(own),
        split=RANDOM,
        out_dir=str(ev),
        checkpoint=str(meta),
        shots=2,
        queries=3,
        splits_per_class=1,
        steps=1,
        batch=2,
        **TINY,
    )
    r = json.loads((ev / 'results.json').read_text())
    assert r['n'] == len(expected['test']) and {t['class'] for t in r['per_task']} == set(expected['test'])
    assert r['split'] == RANDOM and r['splits'] == expected and 0 <= r['miou'] <= 1

    # the recorded split given back as `split` (the run's results.json) repeats it exactly
    ev2 = tmp_path / 'eval2'
    run_evaluate(
        data=str(own),
        split=str(meta / 'results.json'),
        out_dir=str(ev2),
        checkpoint=str(meta),
        shots=2,
        queries=3,
        splits_per_class=1,
        steps=1,
        batch=2,
        **TINY,
    )
    r2 = json.loads((ev2 / 'results.json').read_text())
    assert r2['splits'] == expected and [t['miou'] for t in r2['per_task']] == [t['miou'] for t in r['per_task']]


@pytest.mark.parametrize(
    'split,name,text',
    [
        ('auto', 'split', "pass split='random:0.6/0.2/0.2'"),
        ('random:0.5/0.5', 'split', 'is not a random split'),
        ('typo', 'split', "['Dnet']"),
    ],
)
def test_own_folder_parameters_checked_up_front(own, tmp_path, split, name, text):
    if split == 'typo':
        split = tmp_path / 'typo.txt'
        split.write_text('[train]\nrust spot\nDnet\n[test]\nchip\n')
    e, _ = notebook_error(
        'meta_train.ipynb', data=str(own), split=str(split), out_dir=str(tmp_path / 'out'), **META, **TINY
    )
    assert f'{name}=' in str(e) and text in str(e) and isinstance(e, ValueError)
    assert not (tmp_path / 'out').exists()


def test_split_forms(own, tmp_path):
    lists = tmp_path / 'lists'
    lists.mkdir()
    (lists / 'train.txt').write_text('# training\nrust spot\nDent-7\r\ncrack (hairline)\n')
    (lists / 'val.txt').write_text('pitting\n')
    (lists / 'test.txt').write_text('chip  # held out\nbubble\n')
    want = {'trn': ['rust spot', 'Dent-7', 'crack (hairline)'], 'val': ['pitting'], 'test': ['chip', 'bubble']}
    assert resolve_data(own, lists)[1] == want
    (tmp_path / 'one.txt').write_text(
        '[train]\nrust spot\nDent-7\ncrack (hairline)\n[val]\npitting\n[test]\nchip\nbubble\n'
    )
    assert resolve_data(own, tmp_path / 'one.txt')[1] == want
    (tmp_path / 'one.json').write_text(json.dumps({'train': want['trn'], 'val': want['val'], 'test': want['test']}))
    assert resolve_data(own, str(tmp_path / 'one.json'))[1] == want
    (lists / 'val.txt').unlink()
    assert resolve_data(own, lists)[1]['val'] == want['trn']  # no val list: validation from the training classes
    # lists inside the data folder are what "auto" uses
    inside = tmp_path / 'inside'
    inside.mkdir()
    for c in want['trn'] + want['test']:
        (inside / c).symlink_to(own / c)
    for f in ('train.txt', 'test.txt'):
        (inside / f).write_text((lists / f).read_text())
    assert resolve_data(inside)[1] == {**want, 'val': want['trn']}
    # a random split is a pure function of the split value and the folder's classes; its seed is in the value
    r0 = resolve_data(own, RANDOM)[1]
    assert r0 == resolve_data(own, RANDOM + ':0')[1] and r0 != resolve_data(own, RANDOM + ':1')[1]
    assert [len(r0[k]) for k in ('trn', 'val', 'test')] == [4, 2, 2]
    assert resolve_data(own, 'random:0.75/0/0.25')[1]['val'] == resolve_data(own, 'random:0.75/0/0.25')[1]['trn']
    for bad, msg in [
        ('random:0.6/0.3/0.3', 'not a random split'),
        (tmp_path / 'nope.txt', "not one of"),
        ('hsnet', 'classes named in the split are missing'),
    ]:
        with pytest.raises(ValueError, match=msg):
            resolve_data(own, bad)
    (tmp_path / 'leak.txt').write_text('[train]\nchip\n[test]\nchip\n')
    with pytest.raises(ValueError, match='test classes also appear'):
        resolve_data(own, tmp_path / 'leak.txt')


def test_evaluate_with_a_test_only_split_meta_train_refuses_it(own, tmp_path):
    "Evaluation needs only the list it scores: a split folder with test.txt alone, or a [test]-only file; meta-training still needs train lists."
    from mliis_nb.runners import run_evaluate, run_meta_train

    folder = tmp_path / 'test_only'
    folder.mkdir()
    (folder / 'test.txt').write_text('chip\nbubble\n')
    sections = tmp_path / 'test_only.txt'
    sections.write_text('# my test classes\n[test]\nchip\n')
    ev = dict(
        data=str(own),
        checkpoint='random',
        shots=2,
        queries=3,
        splits_per_class=1,
        steps=1,
        batch=2,
        progress=False,
        **TINY,
    )
    r = run_evaluate(split=str(folder), out_dir=str(tmp_path / 'ev'), **ev)
    assert r['n'] == 2 and {t['class'] for t in r['per_task']} == {'chip', 'bubble'} and 0 <= r['miou'] <= 1
    assert r['splits'] == {
        'trn': [],
        'val': [],
        'test': ['chip', 'bubble'],
    }  # the lists not read are recorded empty, not made up
    assert json.loads((tmp_path / 'ev' / 'results.json').read_text())['splits'] == r['splits']
    r2 = run_evaluate(split=str(sections), out_dir=str(tmp_path / 'ev2'), **ev)
    assert r2['n'] == 1 and r2['splits'] == {'trn': [], 'val': [], 'test': ['chip']}
    # meta-training reads train lists: the same splits are refused by its up-front check, naming the list file, before any work
    for split, text in [
        (folder, f'the folder {folder} needs train.txt (or trn.txt) and test.txt'),
        (sections, f'{sections} has no train list'),
    ]:
        with pytest.raises(ValueError) as e:
            run_meta_train(data=str(own), split=str(split), out_dir=str(tmp_path / 'mt'), **META, **TINY)
        assert f'split={str(split)!r}: ' in str(e.value) and text in str(e.value)
    assert not (tmp_path / 'mt').exists()


def test_too_few_examples_one_error_or_skipped(own, tmp_path, capsys):
    small = write_own_folder(tmp_path / 'small', {'alpha': 3, 'beta': 6, 'gamma': 2, 'delta': 7, 'eps': 9})
    (tmp_path / 's.txt').write_text('[train]\nalpha\nbeta\ndelta\n[test]\ngamma\neps\n')
    with pytest.raises(ValueError) as e:
        resolve_data(small, tmp_path / 's.txt', min_examples={'trn': 4, 'test': 6})
    msg = str(e.value)  # one error names every short class, in every list, with its count
    assert 'alpha (3)' in msg and 'gamma (2)' in msg and 'beta' not in msg and 'skip_small=True' in msg
    _, kept = resolve_data(small, tmp_path / 's.txt', min_examples={'trn': 4, 'test': 6}, skip_small=True)
    assert kept == {'trn': ['beta', 'delta'], 'val': ['alpha', 'beta', 'delta'], 'test': ['eps']}
    assert 'alpha (3)' in capsys.readouterr().out
    # skipping never changes a random split: it is drawn before the short classes are left out
    counts = {'alpha': 3, 'beta': 6, 'gamma': 2, 'delta': 7, 'eps': 9}
    full = resolve_data(small, RANDOM)[1]
    skipped = resolve_data(small, RANDOM, min_examples={'trn': 6}, skip_small=True)[1]
    assert skipped == {**full, 'trn': [c for c in full['trn'] if counts[c] >= 6]} and skipped['trn'] != full['trn']


def test_real_classes_assembled_from_shared(realdata, tmp_path):
    "Real sets of other kinds (horses, EM cells, retina vessels, polyps, VOC, FSS-1000) as one folder of classes."
    pick = {
        'horse': 'extra/weizmann_horse',
        'em cells': 'extra/isbi2012_em_cells',
        'retina vessels': 'extra/drive_retina_vessels',
        'polyp': 'extra/kvasir_seg_polyp',
        'voc aeroplane': 'voc2012/aeroplane',
        'elephant': 'fss1000/african_elephant',
        'eiffel tower': 'fss1000_demo/eiffel_tower',
        'spongebob': 'extra_small/seggpt_hmbb_spongebob',
    }
    root = tmp_path / 'real'
    root.mkdir()
    for name, rel in pick.items():
        (root / name).symlink_to(realdata / rel)
    assert class_folders(root) == sorted(pick)
    with pytest.raises(ValueError, match='spongebob \\(3\\)'):
        resolve_data(root, RANDOM, min_examples=5)
    _, splits = resolve_data(root, RANDOM, min_examples=5, skip_small=True)
    assert 'spongebob' not in sum(splits.values(), [])
    ds = open_data(root, classes=sorted(set(sum(splits.values(), []))), size=48, cache_dir=False)
    for c in ds.classes:
        imgs, masks = ds.examples(c)
        assert imgs.shape[1:] == (48, 48, 3) and masks.any(axis=(1, 2)).all(), c
