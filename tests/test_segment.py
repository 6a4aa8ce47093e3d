"Segment your own images: the `python -m mliis_nb.segment` command line and the papermill notebook on tiny inputs, and their bad-input errors."
import json, shutil, subprocess, sys
from dataclasses import asdict
from pathlib import Path
import numpy as np
import pytest
import papermill as pm
from PIL import Image
from mliis_nb.adapt import Omega
from mliis_nb.data import write_fss_folder
from mliis_nb.uho import UHOResult, save_uho
from mliis_nb.segment import main

REPO = Path(__file__).resolve().parents[1]
NB = REPO/'nbs'/'experiments'/'segment.ipynb'
TINY = ['--checkpoint', 'random', '--encoder', 'efficientnet_b0', '--image-size', '32', '--device', 'cpu']



@pytest.fixture
def images(tmp_path):
    "A support of 4 pairs in two sizes, and a query folder: 2 images with masks (56x40) and 1 without (30x50)."
    sup = write_fss_folder(tmp_path/'a', {'obj': 2}, size=(40, 48), seed=0)/'obj'
    other = write_fss_folder(tmp_path/'b', {'obj': 2}, size=(64, 32), seed=1)/'obj'
    for i in (1, 2):
        for ext in ('jpg', 'png'): shutil.copyfile(other/f'{i}.{ext}', sup/f'{i + 2}.{ext}')
    qry = write_fss_folder(tmp_path/'q', {'q': 2}, size=(56, 40), seed=2)/'q'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(qry/'photo.jpg')
    return sup, qry


def cli(*args):
    return subprocess.run([sys.executable, '-m', 'mliis_nb.segment', *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=600)


def test_cli_writes_masks_at_original_sizes_and_scores(images, tmp_path):
    sup, qry = images
    r = cli('--support', sup, '--queries', qry, '--out-dir', tmp_path/'out', *TINY)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path/'out'/'results.json').read_text())
    assert res['n_support'] == 4 and res['n_queries'] == 3 and res["omega"] == asdict(Omega())
    sizes = {Path(i['image']).name: Image.open(tmp_path/'out'/i['mask']).size[::-1] for i in res['images']}
    assert sizes == {'1.jpg': (56, 40), '2.jpg': (56, 40), 'photo.jpg': (30, 50)}
    assert [('iou' in i) for i in res['images']] == [True, True, False] and 0 <= res['miou'] <= 1
    assert all(0 <= i['foreground_fraction'] <= 1 for i in res['images']) and res['seconds']['total'] > 0
    assert (tmp_path/'out'/'overlay.png').stat().st_size > 0 and 'masks written' in r.stdout
    m = np.array(Image.open(tmp_path/'out'/'masks'/'1.png'))
    assert set(np.unique(m)) <= {0, 255}


def test_cli_with_a_uho_omega_and_a_glob(images, tmp_path):
    sup, qry = images
    fake = UHOResult(Omega(lr=0.002, steps=2, batch=2), {'lr': 0.002, 'steps': 2}, 0.5, 0.1, [], {'lr': ('real', 5e-4, 5e-2, 'log-uniform')}, {})
    save_uho(fake, tmp_path/'uho.json')
    r = cli('--support', sup, '--queries', f'{qry}/*.jpg', '--omega', tmp_path/'uho.json', '--out-dir', tmp_path/'out', *TINY)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path/'out'/'results.json').read_text())
    assert (res['omega']['lr'], res['omega']['steps'], res['omega']['batch']) == (0.002, 2, 2) and res['n_queries'] == 3


@pytest.mark.parametrize('case,expected', [
    ('image without mask', 'mask file not found for image'),
    ('empty queries', 'queries'),
    ('missing support', 'support'),
    ('not a UHO file', 'omega'),
    ('bad image size', 'image_size'),
])
def test_cli_bad_input(images, tmp_path, capsys, case, expected):
    "The command line's errors (in-process: `main` is what `python -m mliis_nb.segment` runs)."
    sup, qry = images
    args = dict(support=sup, queries=qry, omega='', size='32')
    if case == 'image without mask': (sup/'3.png').unlink()
    if case == 'empty queries': (tmp_path/'empty').mkdir(); args['queries'] = tmp_path/'empty'
    if case == 'missing support': args['support'] = tmp_path/'nothing'
    if case == 'not a UHO file': (tmp_path/'x.json').write_text('{"lr": 1}'); args['omega'] = tmp_path/'x.json'
    if case == 'bad image size': args['size'] = '40'
    rc = main([str(v) for v in ('--support', args['support'], '--queries', args['queries'], '--omega', args['omega'], '--out-dir',
                                tmp_path/'out', '--checkpoint', 'random', '--encoder', 'efficientnet_b0', '--image-size', args['size'])])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err, err
    assert not (tmp_path/'out').exists(), 'nothing is written before the inputs are checked'


def run(out_nb, **params):
    return pm.execute_notebook(str(NB), str(out_nb), parameters=params, kernel_name='python3', progress_bar=False)


def test_notebook_on_given_folders_and_demo(images, tmp_path):
    sup, qry = images
    run(tmp_path/'s.ipynb', support=str(sup), queries=str(qry), checkpoint='random', encoder='efficientnet_b0', image_size=32,
        device='cpu', out_dir=str(tmp_path/'given'))
    res = json.loads((tmp_path/'given'/'results.json').read_text())
    assert res['n_support'] == 4 and res['n_queries'] == 3 and (tmp_path/'given'/'overlay.png').is_file()
    # the demo: support and queries drawn from a (tiny) embedded benchmark, the queries scored
    run(tmp_path/'d.ipynb', checkpoint='random', encoder='efficientnet_b0', image_size=32, device='cpu', out_dir=str(tmp_path/'demo'),
        demo_shots=2, synthetic_classes=10, synthetic_examples=5, synthetic_size=48)
    res = json.loads((tmp_path/'demo'/'results.json').read_text())
    assert (res['n_support'], res['n_queries']) == (2, 3) and 0 <= res['miou'] <= 1


def test_notebook_bad_input(images, tmp_path):
    sup, _ = images
    with pytest.raises(pm.PapermillExecutionError) as e:
        run(tmp_path/'x.ipynb', support=str(sup), queries=str(tmp_path/'none'), checkpoint='/nonexistent.safetensors',
            out_dir=str(tmp_path/'out'))
    assert 'queries' in str(e.value) and 'checkpoint' in str(e.value) and 'ValueError' in str(e.value)
    assert e.value.exec_count <= 4 and not (tmp_path/'out').exists()
