"Segment your own images: the `python -m mliis_nb.segment` command line and the papermill notebook on tiny inputs, and their bad-input errors."

import json, shutil, subprocess, sys
from dataclasses import asdict
from pathlib import Path
import numpy as np
import pytest
from conftest import run_nb, notebook_error, phone_photo
import torch
from PIL import Image, ImageOps
from mliis_nb.adapt import Omega
from mliis_nb.data import write_fss_folder
from mliis_nb.uho import UHOResult, save_uho
from mliis_nb.segment import main, find_queries

REPO = Path(__file__).resolve().parents[1]
NB = REPO / 'nbs' / 'experiments' / 'segment.ipynb'
TINY = ['--checkpoint', 'random', '--encoder', 'efficientnet_b0', '--image-size', '32', '--device', 'cpu']


@pytest.fixture
def images(tmp_path):
    "A support of 4 pairs in two sizes, and a query folder: 2 images with masks (56x40) and 1 without (30x50)."
    sup = write_fss_folder(tmp_path / 'a', {'obj': 2}, size=(40, 48), seed=0) / 'obj'
    other = write_fss_folder(tmp_path / 'b', {'obj': 2}, size=(64, 32), seed=1) / 'obj'
    for i in (1, 2):
        for ext in ('jpg', 'png'):
            shutil.copyfile(other / f'{i}.{ext}', sup / f'{i + 2}.{ext}')
    qry = write_fss_folder(tmp_path / 'q', {'q': 2}, size=(56, 40), seed=2) / 'q'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(qry / 'photo.jpg')
    return sup, qry


def cli(*args):
    return subprocess.run(
        [sys.executable, '-m', 'mliis_nb.segment', *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def test_cli_writes_masks_at_original_sizes_and_scores(images, tmp_path):
    sup, qry = images
    r = cli('--support', sup, '--queries', qry, '--out-dir', tmp_path / 'out', *TINY)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert res['n_support'] == 4 and res['n_queries'] == 3 and res["omega"] == asdict(Omega())
    sizes = {Path(i['image']).name: Image.open(tmp_path / 'out' / i['mask']).size[::-1] for i in res['images']}
    assert sizes == {'1.jpg': (56, 40), '2.jpg': (56, 40), 'photo.jpg': (30, 50)}
    assert [('iou' in i) for i in res['images']] == [True, True, False] and 0 <= res['miou'] <= 1
    assert (
        all(0 <= i['foreground_fraction'] <= 1 for i in res['images']) and res['seconds']['total'] >= 0
    )  # wall time: any value is right
    assert (tmp_path / 'out' / 'overlay.png').stat().st_size > 0 and 'masks written' in r.stdout
    m = np.array(Image.open(tmp_path / 'out' / 'masks' / '1.png'))
    assert set(np.unique(m)) <= {0, 255}


def test_cli_with_a_uho_omega_and_a_glob(images, tmp_path):
    sup, qry = images
    fake = UHOResult(
        Omega(lr=0.002, steps=2, batch=2),
        {'lr': 0.002, 'steps': 2},
        0.5,
        0.1,
        [],
        {'lr': ('real', 5e-4, 5e-2, 'log-uniform')},
        {},
    )
    save_uho(fake, tmp_path / 'uho.json')
    r = cli(
        '--support',
        sup,
        '--queries',
        f'{qry}/*.jpg',
        '--omega',
        tmp_path / 'uho.json',
        '--out-dir',
        tmp_path / 'out',
        *TINY,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert (res['omega']['lr'], res['omega']['steps'], res['omega']['batch']) == (0.002, 2, 2) and res['n_queries'] == 3


@pytest.mark.parametrize(
    'case,expected',
    [
        ('image without mask', 'mask file not found for image'),
        ('empty queries', 'queries'),
        ('missing support', 'support'),
        ('not a UHO file', 'omega'),
        ('bad image size', 'image_size'),
    ],
)
def test_cli_bad_input(images, tmp_path, capsys, case, expected):
    "The command line's errors (in-process: `main` is what `python -m mliis_nb.segment` runs)."
    sup, qry = images
    args = dict(support=sup, queries=qry, omega='', size='32')
    if case == 'image without mask':
        (sup / '3.png').unlink()
    if case == 'empty queries':
        (tmp_path / 'empty').mkdir()
        args['queries'] = tmp_path / 'empty'
    if case == 'missing support':
        args['support'] = tmp_path / 'nothing'
    if case == 'not a UHO file':
        (tmp_path / 'x.json').write_text('{"lr": 1}')
        args['omega'] = tmp_path / 'x.json'
    if case == 'bad image size':
        args['size'] = '40'
    rc = main(
        [
            str(v)
            for v in (
                '--support',
                args['support'],
                '--queries',
                args['queries'],
                '--omega',
                args['omega'],
                '--out-dir',
                tmp_path / 'out',
                '--checkpoint',
                'random',
                '--encoder',
                'efficientnet_b0',
                '--image-size',
                args['size'],
            )
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and expected in err, err
    assert not (tmp_path / 'out').exists(), 'nothing is written before the inputs are checked'


def run(out_nb, **params):
    return run_nb(NB, out_nb, **params)


def test_notebook_on_given_folders_and_demo(images, tmp_path):
    sup, qry = images
    run(
        tmp_path / 's.ipynb',
        support=str(sup),
        queries=str(qry),
        checkpoint='random',
        encoder='efficientnet_b0',
        image_size=32,
        device='cpu',
        out_dir=str(tmp_path / 'given'),
    )
    res = json.loads((tmp_path / 'given' / 'results.json').read_text())
    assert res['n_support'] == 4 and res['n_queries'] == 3 and (tmp_path / 'given' / 'overlay.png').is_file()
    # the demo: support and queries drawn from a (tiny) embedded benchmark, the queries scored
    run(
        tmp_path / 'd.ipynb',
        checkpoint='random',
        encoder='efficientnet_b0',
        image_size=32,
        device='cpu',
        out_dir=str(tmp_path / 'demo'),
        demo_shots=2,
        synthetic_classes=10,
        synthetic_examples=5,
        synthetic_size=48,
    )
    res = json.loads((tmp_path / 'demo' / 'results.json').read_text())
    assert (res['n_support'], res['n_queries']) == (2, 3) and 0 <= res['miou'] <= 1


def test_notebook_bad_input(images, tmp_path):
    sup, _ = images
    e, _ = notebook_error(
        NB.name,
        support=str(sup),
        queries=str(tmp_path / 'none'),
        checkpoint='/nonexistent.safetensors',
        out_dir=str(tmp_path / 'out'),
    )
    assert 'queries' in str(e) and 'checkpoint' in str(e) and isinstance(e, ValueError)
    assert not (tmp_path / 'out').exists()


# Photos as phones and cameras write them (conftest's phone_photo): stored turned with an EXIF orientation tag, upper-case extensions.


def portrait(h=40, w=24, top=12):
    "A portrait photo, red in its top `top` rows and blue below, and its mask (the red part) drawn upright."
    img = np.zeros((h, w, 3), np.uint8)
    img[:top, :, 0] = 255
    img[top:, :, 2] = 255
    mask = np.zeros((h, w), bool)
    mask[:top] = True
    return img, mask


def save_mask(mask, path):
    Image.fromarray((mask * 255).astype(np.uint8)).save(path)
    return path


def test_cli_phone_photos_with_upright_masks(tmp_path, capsys):
    "Support and query photos stored turned (EXIF orientation 6 and 8) with their masks drawn upright: read, and masks written upright."
    img, mask = portrait()
    sup, qry = tmp_path / 'sup', tmp_path / 'qry'
    sup.mkdir()
    qry.mkdir()
    for name, o in (('1', 6), ('2', 8)):
        phone_photo(img, sup / f'{name}.jpg', o)
        save_mask(mask, sup / f'{name}.png')
    phone_photo(img, qry / 'scored.jpg', 6)
    save_mask(mask, qry / 'scored.png')
    phone_photo(img, qry / 'other.jpg', 8)
    rc = main(['--support', str(sup), '--queries', str(qry), '--out-dir', str(tmp_path / 'out'), *TINY])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert res['n_support'] == 2 and [Path(i['image']).name for i in res['images']] == ['other.jpg', 'scored.jpg']
    for it in res['images']:
        assert it['size'] == [40, 24] and np.array(Image.open(tmp_path / 'out' / it['mask'])).shape == (
            40,
            24,
        )  # upright, as a viewer shows the photo
    assert ['iou' in i for i in res['images']] == [False, True]


class RedIsForeground(torch.nn.Module):
    "A stand-in network whose foreground is where the image is red: what it predicts shows where the photo's pixels went."

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            self.conv.weight[1, 0] = 20.0
            self.conv.bias[1] = -10.0

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_query_masks_are_written_upright(tmp_path, monkeypatch, orientation):
    "A query photo stored turned: its mask is written as the photo is shown upright (size and content), and scored against its upright mask."
    import mliis_nb.segment as seg
    from types import SimpleNamespace
    from mliis_nb.model import snapshot_state

    model = RedIsForeground()
    monkeypatch.setattr(seg, 'load_initialisation', lambda *a, **k: model)
    monkeypatch.setattr(seg, 'adapt', lambda m, *a, **k: SimpleNamespace(weights=snapshot_state(m)))
    sup = write_fss_folder(tmp_path / 's', {'obj': 2}, size=(32, 32)) / 'obj'
    img, mask = portrait()
    qry = tmp_path / 'qry'
    qry.mkdir()
    phone_photo(img, qry / 'phone.jpg', orientation)
    phone_photo(img, qry / 'scored.jpg', orientation)
    save_mask(mask, qry / 'scored.png')
    res = seg.segment_folder(sup, qry, checkpoint='random', image_size=32, device='cpu', out_dir=tmp_path / 'out')
    written = {Path(i['image']).name: np.array(Image.open(tmp_path / 'out' / i['mask'])) > 127 for i in res['images']}
    for name, pred in written.items():
        assert pred.shape == (40, 24), name
        assert pred[:10].all() and not pred[14:].any(), (
            name
        )  # the red top of the upright photo, not a side or the bottom
    assert next(i['iou'] for i in res['images'] if i['image'].endswith('scored.jpg')) > 0.9


def test_cli_camera_upper_case_extensions(tmp_path, capsys):
    "IMG_1.JPG with IMG_1.PNG as cameras write them, beside a computer's clutter (.DS_Store, Thumbs.db, notes)."
    src = write_fss_folder(tmp_path / 'src', {'obj': 3}, size=(40, 48)) / 'obj'
    sup, qry = tmp_path / 'sup', tmp_path / 'qry'
    sup.mkdir()
    qry.mkdir()
    for i, (img, m) in enumerate([('IMG_1.JPG', 'IMG_1.PNG'), ('IMG_2.jpeg', 'IMG_2.Png')], 1):
        shutil.copyfile(src / f'{i}.jpg', sup / img)
        shutil.copyfile(src / f'{i}.png', sup / m)
    shutil.copyfile(src / '3.jpg', qry / 'Q_1.JPG')
    shutil.copyfile(src / '3.png', qry / 'Q_1.PNG')
    shutil.copyfile(src / '1.jpg', qry / 'Q_2.JPEG')
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(qry / 'SHOT.PNG')
    for d in (sup, qry):
        for junk in ('.DS_Store', '._IMG_9.JPG', 'Thumbs.db', 'notes.txt'):
            (d / junk).write_bytes(b'\0')
    rc = main(['--support', str(sup), '--queries', str(qry), '--out-dir', str(tmp_path / 'out'), *TINY])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert [Path(p).name for p in res['support']] == ['IMG_1.JPG', 'IMG_2.jpeg']
    got = {Path(i['image']).name: ('iou' in i, i['mask']) for i in res['images']}
    assert got == {
        'Q_1.JPG': (True, 'masks/Q_1.png'),
        'Q_2.JPEG': (False, 'masks/Q_2.png'),
        'SHOT.PNG': (False, 'masks/SHOT.png'),
    }
    assert sorted(p.name for p in (tmp_path / 'out' / 'masks').iterdir()) == ['Q_1.png', 'Q_2.png', 'SHOT.png']
    assert find_queries(f'{qry}/*.JPG') == [
        (qry / 'Q_1.JPG', qry / 'Q_1.PNG')
    ]  # a glob that leaves the mask out still finds it


def test_two_masks_for_one_image_are_refused(tmp_path, capsys):
    "IMG_1.png beside IMG_1.PNG (a case-sensitive file system): which is the mask is not guessed."
    sup = write_fss_folder(tmp_path / 's', {'obj': 2}, size=(32, 32)) / 'obj'
    shutil.copyfile(sup / '1.png', sup / '1.PNG')
    if (sup / '1.PNG').samefile(sup / '1.png'):
        pytest.skip('this file system does not tell 1.png from 1.PNG')
    rc = main(['--support', str(sup), '--queries', str(sup), '--out-dir', str(tmp_path / 'out'), *TINY])
    err = capsys.readouterr().err
    assert (
        rc == 2 and '1.jpg has 2 mask files (1.PNG, 1.png): keep one' in err and 'support=' in err and 'queries=' in err
    ), err
    assert not (tmp_path / 'out').exists()
