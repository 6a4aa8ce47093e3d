"Readers on real files from ../shared/realdata (skipped when absent) and on fixtures made here."

import json
import numpy as np
import pytest
from PIL import Image, ImageOps
from conftest import phone_photo
from mliis_nb.data import load_pair, FSSDataset, write_fss_folder
from mliis_nb.splits import read_split, SPLITS
from mliis_nb.pascal import VOCDataset
from mliis_nb.fpk import fpk_dataset
from mliis_nb.episodes import EpisodeSampler, eval_tasks
from mliis_nb.synthetic import make_synthetic, synthetic_splits, resolve_data


def test_fss1000_rgba_grey_convention(realdata):
    d = realdata / 'fss1000' / 'african_elephant'
    for p in sorted(d.glob('*.jpg')):
        img, mask = load_pair(p, p.with_suffix('.png'))
        assert img.shape == (224, 224, 3) and img.dtype == np.uint8 and mask.dtype == bool
        grey = np.array(Image.open(p.with_suffix('.png')).convert('L'))
        assert np.array_equal(mask, grey >= 128)  # the HSNet rule
        assert 0.01 < mask.mean() < 0.99


def test_fss1000_rgb01_convention(realdata):
    d = realdata / 'fss1000_demo' / 'eiffel_tower'
    for p in sorted(d.glob('*.jpg')):
        _, mask = load_pair(p, p.with_suffix('.png'))
        raw = np.array(Image.open(p.with_suffix('.png')))
        assert set(np.unique(raw).tolist()) <= {0, 1}
        assert (mask != (raw[..., 0] == 1)).sum() <= 2 and mask.any()  # a stray pixel whose channels differ


def test_voc_derived_masks_resize(realdata):
    d = realdata / 'voc2012' / 'bus'
    img, mask = load_pair(d / '1.jpg', d / '1.png', size=(96, 128))
    assert img.shape == (96, 128, 3) and mask.shape == (96, 128) and mask.any()


def test_fss_reader_and_sampler_on_real_class(realdata):
    ds = FSSDataset(realdata / 'fss1000', size=64)
    assert ds.classes == ['african_elephant'] and ds.n_examples('african_elephant') == 5
    t = EpisodeSampler(ds, shots=2, queries=3, seed=0).sample()
    assert t.support_x.shape == (2, 3, 64, 64) and t.query_y.shape == (3, 64, 64)
    with pytest.raises(ValueError, match='fewer than'):
        EpisodeSampler(ds, shots=5, queries=1)


def test_shipped_splits_match_upstream(realdata):
    up = realdata / 'splits'

    def norm(p):
        return [
            l.strip().strip('"').replace('thors_hammer', "thor's_hammer")
            for l in p.read_text().splitlines()
            if l.strip()
        ]

    assert read_split('hsnet_trn') == norm(up / 'fss_hsnet' / 'trn.txt')
    assert read_split('hsnet_test') == norm(up / 'fss_hsnet' / 'test.txt')
    assert read_split('mliis_train') == norm(up / 'fss_mliis' / 'fss_train_set.txt')
    assert read_split(up / 'fss_mliis' / 'fss_train_set.txt') == read_split('mliis_train')  # CRLF + quotes handled
    assert read_split('fpk') == ['airliner', 'bus', 'motorbike', 'potted_plant', 'television']


def test_shipped_splits_without_shared():
    assert {k: len(read_split(k)) for k in SPLITS} == {
        'hsnet_trn': 520,
        'hsnet_val': 240,
        'hsnet_test': 240,
        'mliis_train': 760,
        'mliis_test': 240,
        'fpk': 5,
    }


def test_truncated_real_jpeg(realdata, tmp_path):
    src = realdata / 'fss1000' / 'african_elephant' / '3.jpg'
    (tmp_path / '3.jpg').write_bytes(src.read_bytes()[:2000])
    with pytest.raises(ValueError, match='3.jpg'):
        load_pair(tmp_path / '3.jpg', src.with_suffix('.png'))


def test_split_naming_missing_classes(tmp_path):
    (tmp_path / 'a').mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / 'a' / '1.jpg')
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / 'a' / '1.png')
    with pytest.raises(ValueError, match=r"2 classes named in the split are missing.*'b', 'c'"):
        FSSDataset(tmp_path, classes=['a', 'b', 'c'])
    (tmp_path / 'a' / '2.jpg').write_bytes((tmp_path / 'a' / '1.jpg').read_bytes())
    with pytest.raises(ValueError, match='mask file not found'):
        FSSDataset(tmp_path).n_examples('a')


def test_synthetic_benchmark_layout_and_determinism(tmp_path):
    a = make_synthetic(tmp_path / 'a', n_classes=25, n_per_class=3, size=48, seed=5, workers=2)
    b = make_synthetic(tmp_path / 'b', n_classes=25, n_per_class=3, size=48, seed=5, workers=1)
    files = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob('*') if p.is_file())
    for f in files:
        if f.name != 'benchmark.json':
            assert (a / f).read_bytes() == (b / f).read_bytes(), f
    sp = synthetic_splits(a)
    assert [len(sp[k]) for k in ('trn', 'val', 'test')] == [13, 6, 6]
    root, splits = resolve_data(a)
    assert root == a and splits == sp
    ds = FSSDataset(a)
    img, mask = ds.examples(sp['test'][0])
    assert img.shape == (3, 48, 48, 3) and mask.any(axis=(1, 2)).all()
    assert json.loads((a / 'benchmark.json').read_text())['params']['seed'] == 5
    with pytest.raises(ValueError, match='data: folder not found'):
        resolve_data(tmp_path / 'nope')


def test_eval_tasks_protocol(tmp_path):
    root = make_synthetic(tmp_path / 's', n_classes=10, n_per_class=6, size=32, seed=0, workers=1)
    ds = FSSDataset(root)
    test = synthetic_splits(root)['test']
    splits = eval_tasks(ds, test, shots=5, splits_per_class=2, queries='all')
    assert len(splits) == 2 * len(test) and all(len(q) == 1 for _, _, q in splits)
    assert all(len(q) == 5 for _, _, q in eval_tasks(ds, test, shots=1))  # 5 queries by default, as the original
    assert all(set(s).isdisjoint(q) for _, s, q in splits)
    with pytest.raises(ValueError, match='fewer than'):
        eval_tasks(ds, test, shots=6)


def _voc_tree(root, pairs):
    "A tiny VOC tree: {image id: {class index: (y0, y1, x0, x1)}} palette masks with a void border."
    from PIL import Image

    (root / 'JPEGImages').mkdir(parents=True)
    (root / 'SegmentationClass').mkdir(parents=True)
    g = np.random.default_rng(0)
    for name, labels in pairs.items():
        a = np.zeros((24, 32), np.uint8)
        for c, (y0, y1, x0, x1) in labels.items():
            a[y0:y1, x0:x1] = c
            a[y1, x0:x1] = 255
        m = Image.fromarray(a, 'P')
        m.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
        m.save(root / 'SegmentationClass' / f'{name}.png')  # a full palette, so Pillow keeps the indices as written
        Image.fromarray(g.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(root / 'JPEGImages' / f'{name}.jpg')
    return root


def test_voc_ids_restrict_the_images(tmp_path):
    root = _voc_tree(
        tmp_path / 'voc',
        {'a': {6: (0, 8, 0, 8)}, 'b': {6: (2, 9, 2, 9), 15: (10, 20, 10, 20)}, 'c': {15: (1, 5, 1, 5)}},
    )
    full = VOCDataset(root, size=(24, 32), cache_dir=False)
    assert (full.n_examples('bus'), full.n_examples('person')) == (2, 2)
    sub = VOCDataset(root, size=(24, 32), ids=['b', 'c'], cache_dir=False)
    assert (sub.n_examples('bus'), sub.n_examples('person')) == (1, 2)
    imgs, masks = sub.examples('bus')
    assert (
        masks.shape == (1, 24, 32) and masks[0].sum() == 7 * 7 and not masks[0, 9, 2:9].any()
    )  # void row is background
    with pytest.raises(ValueError, match='nope'):
        VOCDataset(root, size=(24, 32), ids=['nope'], cache_dir=False)


def test_fpk_dataset_merges_fss_and_voc(tmp_path):
    fss = write_fss_folder(
        tmp_path / 'fss', {'airliner': 3, 'bus': 2, 'motorbike': 2, 'potted_plant': 2, 'television': 2}, size=(24, 32)
    )
    voc = _voc_tree(tmp_path / 'voc', {'a': {1: (0, 8, 0, 8)}, 'b': {6: (2, 9, 2, 9), 14: (10, 20, 10, 20)}})
    fpk = fpk_dataset(fss, voc, size=(24, 32), cache_dir=False)
    assert fpk.classes == ['airliner', 'bus', 'motorbike', 'potted_plant', 'television']
    assert [fpk.n_examples(c) for c in fpk.classes] == [4, 3, 3, 2, 2]
    imgs, masks = fpk.examples('airliner')
    assert imgs.shape == (4, 24, 32, 3) and masks[3].sum() == 64  # the VOC aeroplane comes after the FSS-1000 airliners
    assert [fpk_dataset(fss, size=(24, 32), cache_dir=False).n_examples(c) for c in fpk.classes] == [3, 2, 2, 2, 2]


def test_fss_reader_camera_files(tmp_path):
    "A class folder as a camera and an annotation tool leave it: .JPG / .jpeg with .PNG / .Png masks, photos stored turned (EXIF)."
    obj = np.zeros((40, 24), bool)
    obj[3:14, 4:12] = True  # near the top-left corner of the upright photo: any turn moves it
    photo = np.zeros((40, 24, 3), np.uint8)
    photo[obj] = (255, 0, 0)
    photo[~obj] = (0, 0, 255)
    up = Image.fromarray((obj * 255).astype(np.uint8))  # the mask drawn on the upright photo
    d = tmp_path / 'fss' / 'mug'
    d.mkdir(parents=True)
    phone_photo(photo, d / '1.JPG', 6)
    up.save(d / '1.PNG')
    phone_photo(photo, d / '2.jpeg', 8)
    up.save(d / '2.Png')
    phone_photo(photo, d / '3.JPEG', 3)
    up.save(d / '3.png')
    phone_photo(photo, d / '4.jpg', 6)
    up.transpose(Image.Transpose.ROTATE_90).save(d / '4.png')  # drawn on the stored pixels by a tool that ignores EXIF
    Image.fromarray(photo).save(d / '5.jpg', quality=95, subsampling=0)
    up.save(d / '5.PNG')  # no tag at all
    (d / 'Thumbs.db').write_bytes(b'\0')
    ds = FSSDataset(tmp_path / 'fss', cache_dir=tmp_path / 'cache')
    assert [(i, a.name, b.name) for i, a, b in ds.files('mug')] == [
        ('1', '1.JPG', '1.PNG'),
        ('2', '2.jpeg', '2.Png'),
        ('3', '3.JPEG', '3.png'),
        ('4', '4.jpg', '4.png'),
        ('5', '5.jpg', '5.PNG'),
    ]
    imgs, masks = ds.examples('mug')
    assert imgs.shape == (5, 40, 24, 3) and masks.shape == (5, 40, 24)
    for k in range(5):
        assert (masks[k] == obj).all(), k
        red = (
            imgs[k][..., 0] > 128
        )  # the photo upright: its red object under its mask (JPEG may blur one pixel of the edge)
        ys, xs = np.nonzero(red)
        assert (
            abs(ys.min() - 3) <= 1 and abs(ys.max() - 13) <= 1 and abs(xs.min() - 4) <= 1 and abs(xs.max() - 11) <= 1
        ), k
    assert (
        FSSDataset(tmp_path / 'fss', cache_dir=tmp_path / 'cache').examples('mug')[1] == masks
    ).all()  # and again from the cache


def test_fss_reader_refuses_two_masks_for_one_image(tmp_path):
    root = write_fss_folder(tmp_path / 'fss', {'a': 2})
    Image.open(root / 'a' / '1.png').save(root / 'a' / '1.PNG')
    if (root / 'a' / '1.PNG').samefile(root / 'a' / '1.png'):
        pytest.skip('this file system does not tell 1.png from 1.PNG')
    with pytest.raises(ValueError, match=r'1\.jpg has 2 mask files \(1\.PNG, 1\.png\): keep one'):
        FSSDataset(root, cache_dir=False).n_examples('a')


def test_load_pair_names_the_upright_size(tmp_path):
    "A mask that fits the photo neither upright nor as stored: the error gives both sizes and the EXIF orientation."
    phone_photo(np.zeros((40, 24, 3), np.uint8), tmp_path / 'p.jpg', 6)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / 'm.png')
    with pytest.raises(
        ValueError,
        match=r'image .*p\.jpg is 24x40 as a viewer shows it \(stored 40x24, EXIF orientation 6\): they must have the same size',
    ):
        load_pair(tmp_path / 'p.jpg', tmp_path / 'm.png')
