"""Reliability: bad input gives a clear error naming the thing at fault and the expectation (through the library and,
for a representative subset, through the papermill notebooks); faults (a full disk, a read-only folder) leave earlier
files intact; U leaks nothing from one task into the next; the same seed gives the same results.
The table of the "Reliability" docs page (nbs/guide_reliability.ipynb) lists every case with the test that checks it."""

import copy, errno, json, os, pickle, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_nb, notebook_error
import papermill as pm
import torch
from PIL import Image

from mliis_nb.adapt import Omega
from mliis_nb.data import FSSDataset, load_pair, write_fss_folder, class_folders
from mliis_nb.episodes import EpisodeSampler, eval_tasks
from mliis_nb.evaluate import evaluate, save_results
from mliis_nb.inits import load_initialisation, checkpoint_kind
from mliis_nb.io import (
    atomic_write_bytes,
    load_checkpoint,
    read_header,
    save_checkpoint,
    stale_temp_files,
    write_json,
    TMP_INFIX,
)
from mliis_nb.joint import joint_model, save_joint, load_joint
from mliis_nb.meta import FORMAT as META_FORMAT, MetaConfig, meta_train, CHECKPOINT
from mliis_nb.model import EfficientLab
from mliis_nb.checks import Checks, check_common
from mliis_nb.synthetic import resolve_data, synthetic_splits
from mliis_nb.uho import run_trial
from mliis_nb.distances import weight_analysis

REPO = Path(__file__).resolve().parents[1]
NBS = REPO / 'nbs' / 'experiments'
ENC = 'efficientnet_b0'
TINY = dict(image_size=32, encoder=ENC, device='cpu', seed=0)
EVAL = dict(shots=1, splits_per_class=1, steps=1, batch=2, max_classes=2, queries=2)


run = run_nb


def papermill_error(tmp_path, nb, **params) -> str:
    "Run a notebook's first cells as papermill would (in this process) where they must fail; return 'ExceptionName: message'."
    e, _ = notebook_error(nb, **params)
    return f"{type(e).__name__}: {e}"


def _mask(path, size=(32, 32)):
    m = np.zeros(size, np.uint8)
    m[4:12, 4:12] = 255
    Image.fromarray(m).save(path)


@pytest.fixture
def folder(tmp_path):
    "A tiny FSS-1000-layout folder with 4 good classes of 4 examples (32 px), and split lists naming them."
    root = write_fss_folder(tmp_path / 'data', {'a': 4, 'b': 4, 'c': 4, 'd': 4})
    (tmp_path / 'lists.txt').write_text('[train]\na\nb\n[test]\nc\nd\n')
    return root


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return EfficientLab(ENC)


# ---------------------------------------------------------------- bad data


def test_missing_data_root(tmp_path):
    for f in (lambda: FSSDataset(tmp_path / 'nope'), lambda: class_folders(tmp_path / 'nope')):
        with pytest.raises(ValueError, match=f"data folder not found: {tmp_path / 'nope'}"):
            f()
    with pytest.raises(
        ValueError, match=r"^data: folder not found: .*nope \(expected 'synthetic', a folder of class folders"
    ):
        resolve_data(tmp_path / 'nope')


def test_class_folder_with_images_but_no_masks(folder):
    for p in (folder / 'c').glob('*.png'):
        p.unlink()
    with pytest.raises(
        ValueError, match=f"mask file not found for image {folder / 'c' / '1.jpg'}: expected {folder / 'c' / '1.png'}"
    ):
        FSSDataset(folder, cache_dir=False).n_examples('c')


def test_image_without_mask(folder):
    (folder / 'b' / '3.png').unlink()
    with pytest.raises(
        ValueError, match=f"mask file not found for image {folder / 'b' / '3.jpg'}: expected {folder / 'b' / '3.png'}"
    ):
        FSSDataset(folder, cache_dir=False).examples('b')
    with pytest.raises(ValueError, match='mask file not found for image'):
        load_pair(folder / 'b' / '3.jpg', folder / 'b' / '3.png')


def test_mask_without_image(folder):
    (folder / 'a' / '2.jpg').unlink()
    with pytest.raises(ValueError, match=f"mask file {folder / 'a' / '2.png'} has no image: expected 2.jpg"):
        FSSDataset(folder, cache_dir=False).n_examples('a')


def test_class_folder_without_examples(folder):
    (folder / 'e').mkdir()
    with pytest.raises(ValueError, match=f"class e: no examples in {folder / 'e'} \\(expected image files .jpg"):
        FSSDataset(folder, cache_dir=False).examples('e')


def test_corrupt_and_truncated_jpegs(folder):
    (folder / 'a' / '1.jpg').write_bytes(b'this is not an image')  # rubbish named .jpg
    good = (folder / 'b' / '1.jpg').read_bytes()
    (folder / 'b' / '1.jpg').write_bytes(good[: len(good) // 2])  # cut in half
    (folder / 'd' / '1.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a JPEG')  # a JPEG signature, then rubbish
    for cls, why in (
        ('a', 'cannot identify image file'),
        ('b', '.*[Tt]runcated'),
        ('d', '.*[Tt]runcated'),
    ):  # Pillow's own words
        p = folder / cls / '1.jpg'
        with pytest.raises(ValueError, match=f"image file {p} is unreadable or truncated: {why}"):
            FSSDataset(folder, cache_dir=False).examples(cls)
    (folder / 'c' / '1.png').write_bytes(b'')  # an empty mask file
    with pytest.raises(ValueError, match=f"mask file {folder / 'c' / '1.png'} is unreadable or truncated"):
        load_pair(folder / 'c' / '1.jpg', folder / 'c' / '1.png')


def test_mask_image_size_mismatch(folder):
    _mask(folder / 'a' / '2.png', size=(30, 32))
    with pytest.raises(
        ValueError,
        match=f"mask {folder / 'a' / '2.png'} is 32x30 \\(WxH\\) but image {folder / 'a' / '2.jpg'} "
        "is 32x32: they must have the same size",
    ):
        FSSDataset(folder, cache_dir=False).examples('a')


def test_multiclass_palette_mask(folder):
    a = np.zeros((32, 32), np.uint8)
    a[2:10, 2:10] = 1
    a[15:25, 15:25] = 2
    a[0] = 255  # two objects and a void band
    m = Image.fromarray(a, 'P')
    m.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 756 + [224, 224, 192])
    m.save(folder / 'a' / '1.png')
    with pytest.raises(
        ValueError,
        match=f"mask file {folder / 'a' / '1.png'} is not binary: it holds 2 distinct labels \\[1, 2\\]; "
        "expected \\{0,1\\}, \\{0,255\\}, \\{0,c\\} or grey 0..255",
    ):
        FSSDataset(folder, cache_dir=False).examples('a')
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[2:10, 2:10] = (255, 0, 0)
    Image.fromarray(rgb).save(folder / 'b' / '1.png')
    with pytest.raises(ValueError, match="is an RGB mask whose channels disagree .* not a colour-coded mask"):
        FSSDataset(folder, cache_dir=False).examples('b')


def test_shots_larger_than_a_class_has(folder):
    ds = FSSDataset(folder, cache_dir=False)
    with pytest.raises(
        ValueError, match=r"4 classes have fewer than the 9 examples needed \(shots \+ queries\): a \(4\), b \(4\)"
    ):
        eval_tasks(ds, shots=5, queries=4)
    with pytest.raises(ValueError, match=r"fewer than the 6 examples needed .*a \(4\)"):
        EpisodeSampler(ds, shots=5, queries=1)
    with pytest.raises(
        ValueError,
        match=r"(?s)data: too few examples\n  test: 2 classes have fewer than the 6 examples needed "
        r"\(shots \+ queries\): c \(4\), d \(4\)\n  \(skip_small=True leaves these classes out\)",
    ):
        resolve_data(folder, folder.parent / 'lists.txt', min_examples={'test': 6})


# ---------------------------------------------------------------- bad parameters


def test_unknown_encoder():
    with pytest.raises(ValueError, match=r"encoder='resnet9000' is not a timm model name \(see timm.list_models\(\)\)"):
        EfficientLab('resnet9000')
    c = Checks()
    check_common(c, 'synthetic', 'auto', 'out', 0, 0, 'resnet9000', 'cpu')
    assert c.errors == ["encoder='resnet9000': expected a timm model name (see timm.list_models())"]


def test_unknown_algorithm():
    with pytest.raises(
        ValueError, match=r"algorithm must be one of \('reptile', 'fomaml', 'fomaml_star'\), got 'maml'"
    ):
        MetaConfig(algorithm='maml')


BAD_LRS = {
    'negative': -0.005,
    'zero': 0.0,
    'NaN': float('nan'),
    'infinite': float('inf'),
    'non-numeric': '0.005x',
    'None': None,
}


@pytest.mark.parametrize('kind', list(BAD_LRS))
def test_bad_learning_rates(kind, folder):
    lr = BAD_LRS[kind]
    msg = f"lr must be a positive number, got {lr!r}"
    with pytest.raises(ValueError, match=f"^{msg.replace('(', '.').replace(')', '.')}$"):
        Omega(lr=lr)  # U (evaluate, UHO, weights)
    with pytest.raises(ValueError, match='^lr must be a positive number'):
        MetaConfig(inner_lr=lr)  # meta-training's inner loop
    from mliis_nb.joint import joint_train

    with pytest.raises(
        ValueError, match=r'^lr must be a finite number > 0'
    ):  # the joint baseline (checked before any work)
        joint_train(FSSDataset(folder, cache_dir=False), ['a', 'b'], folder.parent / 'jt', epochs=1, lr=lr)
    assert not (folder.parent / 'jt').exists()
    c = Checks()
    c.number('inner_lr', lr, positive=True)  # the notebooks' check
    assert c.errors == [f"inner_lr={lr!r}: expected a finite number > 0"]


def test_image_size_not_a_multiple_of_the_stride():
    for size, ok in ((50, False), (24, False), (16, False), (32, True), (0, True)):
        c = Checks()
        check_common(c, 'synthetic', 'auto', 'out', 0, size, ENC, 'cpu')
        assert c.errors == (
            []
            if ok
            else [
                f"image_size={size}: expected 0 (the default for the data) or a multiple of the "
                "encoder's stride 16, at least 32"
            ]
        ), size


# ---------------------------------------------------------------- bad checkpoints


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory, model):
    d = tmp_path_factory.mktemp('ckpts')
    good = save_checkpoint(
        d / 'meta' / CHECKPOINT,
        model.state_dict(),
        {'format': META_FORMAT, 'model_kwargs': {'encoder': ENC, 'rsd_stages': [3]}},
    )
    other = save_checkpoint(
        d / 'other.safetensors',
        model.state_dict(),  # header: EfficientLab-6-3; tensors: EfficientLab-3
        {'format': META_FORMAT, 'model_kwargs': {'encoder': ENC, 'rsd_stages': [6, 3]}},
    )
    return good, other


def test_checkpoint_for_another_architecture(ckpts, tmp_path, model):
    _, other = ckpts
    with pytest.raises(
        ValueError,
        match=f"^checkpoint: {other} does not fit the architecture its header describes "
        r"\({'encoder': 'efficientnet_b0', 'rsd_stages': \(6, 3\)}\): \d+ tensors missing "
        r"\(e.g. decoder.rsds.1.branch1.0.weight, decoder.rsds.1.branch1.0.bias\); \d+ tensors of another shape "
        r"\(e.g. decoder.rsds.0.branch1.0.weight",
    ):
        load_initialisation(other)
    lite = save_checkpoint(
        tmp_path / 'lite.safetensors',
        model.state_dict(),
        {'format': META_FORMAT, 'model_kwargs': {'encoder': 'tf_efficientnet_lite0'}},
    )
    with pytest.raises(
        ValueError,
        match=r"does not fit the architecture .*'tf_efficientnet_lite0'.*: "
        r"\d+ tensors unexpected \(e.g. encoder.blocks.\d.\d.se.conv_",
    ):  # squeeze-excitation: B0 has it, Lite0 not
        load_initialisation(lite)
    odd = save_checkpoint(
        tmp_path / 'odd.safetensors',
        model.state_dict(),
        {'format': META_FORMAT, 'model_kwargs': {'encoder': 'resnet9000'}},
    )
    with pytest.raises(
        ValueError,
        match=f"checkpoint: {odd} describes a model that cannot be built .*encoder='resnet9000' is not a timm model",
    ):
        load_initialisation(odd)


def test_checkpoint_of_another_kind(ckpts, tmp_path):
    good, _ = ckpts
    joint = save_joint(tmp_path / 'joint.safetensors', joint_model(2, encoder=ENC))
    with pytest.raises(
        ValueError, match=f"checkpoint {joint} has format 'mliis_nb.joint/1', expected 'mliis_nb.meta_train/1'"
    ):
        load_checkpoint(joint, META_FORMAT)
    with pytest.raises(
        ValueError, match=f"checkpoint {good} has format 'mliis_nb.meta_train/1', expected 'mliis_nb.joint/1'"
    ):
        load_joint(good)
    plain = tmp_path / 'plain.safetensors'
    from safetensors.torch import save_file

    save_file({'w': torch.zeros(2)}, str(plain))  # safetensors, but not written by mliis_nb
    with pytest.raises(ValueError, match='is a safetensors file without an mliis_nb header: not written by mliis_nb'):
        load_initialisation(plain)


def test_truncated_checkpoint(ckpts, tmp_path):
    good, _ = ckpts
    data = good.read_bytes()
    for n in (0, 7, 100, len(data) // 2, len(data) - 1):
        cut = tmp_path / f'cut{n}.safetensors'
        cut.write_bytes(data[:n])
        with pytest.raises(
            ValueError,
            match=f"checkpoint {cut} is not a readable safetensors file: truncated, damaged "
            "or of another kind .*never pickles",
        ):
            load_initialisation(cut)


class _Payload:
    "Unpickling this runs code: it makes the folder `marker`."

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_or_pt_with_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / 'code_ran'
    raw = tmp_path / 'evil.pkl'
    raw.write_bytes(pickle.dumps({'state': _Payload(marker)}))
    pt = tmp_path / 'evil.pt'
    torch.save({'conv_stem.weight': _Payload(marker)}, pt)  # a torch zip file holding code
    pt_named = tmp_path / 'checkpoint.safetensors'
    shutil.copy(pt, pt_named)  # named like a checkpoint
    for f in (raw, pt, pt_named):
        for load in (load_checkpoint, read_header, checkpoint_kind, load_initialisation):
            with pytest.raises(ValueError, match=f"checkpoint {f} is not a readable safetensors file.*never pickles"):
                load(f)
    with pytest.raises(ValueError, match=f"checkpoint {pt_named} is not a readable"):
        load_initialisation(tmp_path)  # a run folder
    with pytest.raises(
        ValueError,
        match=f"weights='{pt}' is not a readable state dict of tensors \\(it holds Python objects other "
        "than tensors, and loading them could run code\\).*never as arbitrary pickles",
    ):
        EfficientLab(ENC, weights=str(pt))
    assert not marker.exists(), 'a checkpoint or weights file ran code'
    torch.load(pt, weights_only=False)  # the control: an unsafe load does run the payload, so the check above can fail
    assert marker.exists()


# ---------------------------------------------------------------- out_dir


def test_out_dir_that_is_a_file(tmp_path, model):
    f = tmp_path / 'taken'
    f.write_text('a file')
    for write in (
        lambda p: write_json(p, {'a': 1}),
        lambda p: save_checkpoint(p, {'w': torch.zeros(1)}, {'format': 'x'}),
    ):
        with pytest.raises(ValueError, match=f"cannot write {f / 'r'}: {f} is a file, expected a folder"):
            write(f / 'r')
        with pytest.raises(ValueError, match=f"cannot write {f / 'run' / 'r'}: {f} is a file, expected a folder"):
            write(f / 'run' / 'r')
    assert f.read_text() == 'a file'
    for out, why in ((f, 'it is a file'), (f / 'run', f'{f} is a file')):
        c = Checks()
        check_common(c, 'synthetic', 'auto', out, 0, 0, ENC, 'cpu')
        assert c.errors == [f"out_dir={out!r}: expected a folder path ({why})"]


MOUNTED = r'''
import sys, errno, torch
from mliis_nb.io import write_json, save_checkpoint, load_checkpoint, stale_temp_files
from mliis_nb.checks import Checks, check_common
ro, small = sys.argv[1], sys.argv[2]
# a read-only out_dir
try: write_json(ro + '/run/results.json', {'a': 1}); print('WROTE')
except OSError as e: print(f'{type(e).__name__} {e.errno} {e}')
c = Checks(); check_common(c, 'synthetic', 'auto', ro + '/run', 0, 0, 'efficientnet_b0', 'cpu'); print(c.errors)
# a disk that fills up while the second checkpoint is written
path = small + '/checkpoint.safetensors'
save_checkpoint(path, {'w': torch.ones(300_000)}, {'format': 'test/1', 'step': 1})  # 1.2 MB on a 2 MB disk
try: save_checkpoint(path, {'w': torch.full((300_000,), 2.)}, {'format': 'test/1', 'step': 2}); print('WROTE')
except OSError as e: print(e.errno == errno.ENOSPC, e)
state, header = load_checkpoint(path)
print(header['step'], bool((state['w'] == 1).all()), stale_temp_files(small))
'''


@pytest.fixture(scope='module')
def mounted(tmp_path_factory):
    "Run MOUNTED in a private mount namespace with two fresh tmpfs: a read-only one and a 2 MB one; (their paths, its output lines)."
    if (
        shutil.which('unshare') is None
        or subprocess.run(['unshare', '-m', 'true'], capture_output=True).returncode != 0
    ):
        pytest.skip(
            'a read-only or full file system needs a private tmpfs mount (unshare -m), which is not permitted here'
        )
    d = tmp_path_factory.mktemp('mnt')
    ro, small = d / 'ro', d / 'small'
    ro.mkdir()
    small.mkdir()
    sh = f'mount -t tmpfs -o ro,size=1m tmpfs "{ro}" && mount -t tmpfs -o size=2m tmpfs "{small}" && exec "{sys.executable}" -c "$0" "$@"'
    p = subprocess.run(
        ['unshare', '-m', 'sh', '-c', sh, MOUNTED, str(ro), str(small)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, 'OMP_NUM_THREADS': '1'},
        cwd=REPO,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return ro, small, p.stdout.strip().splitlines()


def test_read_only_out_dir(tmp_path, request):
    if os.geteuid() != 0:  # an ordinary user: a folder without write permission
        ro = tmp_path / 'ro'
        ro.mkdir()
        os.chmod(ro, 0o555)
        try:
            with pytest.raises(
                PermissionError,
                match=f"cannot write {ro / 'run' / 'results.json'}: Permission denied; nothing was written",
            ):
                write_json(ro / 'run' / 'results.json', {'a': 1})
            c = Checks()
            check_common(c, 'synthetic', 'auto', ro / 'run', 0, 0, ENC, 'cpu')
            assert c.errors == [f"out_dir={ro / 'run'!r}: expected a writable folder ({ro} is read-only)"]
        finally:
            os.chmod(ro, 0o755)
        return
    ro, _, lines = request.getfixturevalue(
        'mounted'
    )  # root writes through permissions: a read-only file system instead
    assert (
        lines[0]
        == f"OSError {errno.EROFS} [Errno {errno.EROFS}] cannot write {ro}/run/results.json: Read-only file system; nothing was written"
    )
    assert lines[1] == repr([f"out_dir='{ro}/run': expected a writable folder ({ro} is read-only)"])


# ---------------------------------------------------------------- faults: a full disk while checkpointing


class _FullDiskAt:
    "os.fdopen whose file fails half-way through writing the n-th temp file of `name` with ENOSPC (a disk that fills up)."

    def __init__(self, name, n):
        self.name, self.n, self.seen, self.fdopen = name, n, 0, os.fdopen

    def __call__(self, fd, *a, **kw):
        f = self.fdopen(fd, *a, **kw)
        if f'.{self.name}{TMP_INFIX}' not in os.readlink(f'/proc/self/fd/{fd}'):
            return f
        self.seen += 1
        if self.seen != self.n:
            return f
        real = f.write

        def write(b):
            real(b[: len(b) // 2])
            f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        f.write = write
        return f


@pytest.fixture(scope='module')
def ds(bench):
    return FSSDataset(bench, size=32, cache_dir=False)


def _meta(ds, bench, out, **kw):
    torch.manual_seed(0)
    m = EfficientLab(ENC)
    cfg = MetaConfig(meta_steps=3, meta_batch=1, inner_steps=2, inner_batch=2, train_shots=2, val_shots=2)
    meta_train(m, ds, cfg, out, synthetic_splits(bench)['trn'], checkpoint_every=1, seed=0, progress=False, **kw)
    return m


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(ds, bench, tmp_path, monkeypatch):
    if not Path('/proc/self/fd').is_dir():
        pytest.skip('needs /proc/self/fd to see which file is written')
    full = _meta(ds, bench, tmp_path / 'full')
    out = tmp_path / 'run'
    monkeypatch.setattr(
        os, 'fdopen', _FullDiskAt(CHECKPOINT, 2)
    )  # the checkpoint of meta-step 2 hits a full disk mid-write
    with pytest.raises(
        OSError,
        match=f"cannot write {out / CHECKPOINT}: No space left on device; the previous {CHECKPOINT} is unchanged",
    ) as e:
        _meta(ds, bench, out)
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert (
        read_header(out / CHECKPOINT)['step'] == 1 and stale_temp_files(out) == []
    )  # the previous checkpoint is intact, no debris
    state, _ = load_checkpoint(out / CHECKPOINT, META_FORMAT)
    EfficientLab(ENC).load_state_dict(state, strict=True)  # and loadable
    resumed = _meta(ds, bench, out, resume=True)  # space freed: resume finishes the run exactly as without the fault
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_full_disk_on_a_real_tiny_tmpfs(mounted):
    _, small, lines = mounted
    assert lines[2] == (
        f"True [Errno {errno.ENOSPC}] cannot write {small}/checkpoint.safetensors: No space left on device; "
        "the previous checkpoint.safetensors is unchanged"
    )
    assert lines[3] == '1 True []'  # the previous checkpoint loads, and no temporary file is left


# ---------------------------------------------------------------- isolation: task A then B equals B alone


@pytest.fixture(scope='module')
def two_tasks(ds, bench):
    return eval_tasks(ds, synthetic_splits(bench)['test'][:2], shots=2, splits_per_class=1, queries=2, seed=0)


OMEGA = Omega(lr=0.05, steps=3, batch=2)  # a large lr, so a leak would show


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def _same_state(m, s):
    return all(torch.equal(v, s[k]) for k, v in m.state_dict().items())


def test_isolation_evaluate(model, ds, two_tasks):
    before = _state(model)
    ab = evaluate(model, ds, splits=two_tasks, omega=OMEGA, seed=0, progress=False)
    b = evaluate(
        model, ds, splits=two_tasks[1:], omega=OMEGA, seed=1, progress=False
    )  # U's seed for split i is seed + i
    assert ab.per_task[1]['miou'] == b.per_task[0]['miou'] and _same_state(model, before)
    again = evaluate(copy.deepcopy(model), ds, splits=two_tasks[1:], omega=OMEGA, seed=1, progress=False)
    assert again.per_task == b.per_task


def test_isolation_uho_trial(model, ds, two_tasks):
    before = _state(model)
    alone = run_trial(copy.deepcopy(model), ds, two_tasks[1:], OMEGA, max_steps=3, seed=1)
    a = run_trial(model, ds, two_tasks[:1], OMEGA, max_steps=3, seed=0)  # task A first, on the same model object
    after = run_trial(model, ds, two_tasks[1:], OMEGA, max_steps=3, seed=1)
    both = run_trial(model, ds, two_tasks, OMEGA, max_steps=3, seed=0)  # A and B in one trial
    assert (after.miou, after.best_steps, after.curve) == (alone.miou, alone.best_steps, alone.curve)
    assert both.best_steps == a.best_steps + alone.best_steps
    assert (
        both.curve == np.array([a.curve, alone.curve]).mean(0).tolist()
    )  # B's curve inside the trial is B's alone, bit for bit
    assert _same_state(model, before)


def test_isolation_weights(model, ds, two_tasks):
    before = _state(model)
    ab = weight_analysis(model, ds, splits=two_tasks, omega=OMEGA, seed=0, progress=False)
    b = weight_analysis(copy.deepcopy(model), ds, splits=two_tasks[1:], omega=OMEGA, seed=1, progress=False)
    assert (
        ab.d1[1] == b.d1[0]
        and np.array_equal(ab.block_d1[1], b.block_d1[0])
        and np.array_equal(ab.block_d3[1], b.block_d3[0])
    )
    assert _same_state(model, before)


# ---------------------------------------------------------------- the same seed, the same results


def test_same_seed_same_results_file(model, ds, bench, tmp_path):
    test = synthetic_splits(bench)['test'][:3]
    for name in ('a', 'b'):
        save_results(
            evaluate(copy.deepcopy(model), ds, test, shots=2, splits_per_class=1, omega=OMEGA, seed=3, progress=False),
            tmp_path / f'{name}.json',
        )
    assert (tmp_path / 'a.json').read_bytes() == (tmp_path / 'b.json').read_bytes()
    save_results(
        evaluate(model, ds, test, shots=2, splits_per_class=1, omega=OMEGA, seed=4, progress=False), tmp_path / 'c.json'
    )
    assert (tmp_path / 'c.json').read_bytes() != (tmp_path / 'a.json').read_bytes()  # the seed does matter


def test_same_seed_same_meta_training(ds, bench, tmp_path):
    a, b = _meta(ds, bench, tmp_path / 'a'), _meta(ds, bench, tmp_path / 'b')
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    untimed = lambda p: [{k: v for k, v in r.items() if k != 'seconds'} for r in read_header(p / CHECKPOINT)['history']]
    assert untimed(tmp_path / 'a') == untimed(tmp_path / 'b')


# ---------------------------------------------------------------- through papermill (a representative subset)


def test_notebook_names_every_bad_parameter_at_once(bench, tmp_path):
    f = tmp_path / 'taken'
    f.write_text('a file')
    err = papermill_error(
        tmp_path,
        'meta_train.ipynb',
        data=str(tmp_path / 'nope'),
        out_dir=str(f / 'run'),
        algorithm='maml',
        inner_lr='0.005x',
        encoder='resnet9000',
        image_size=50,
        device='cpu',
        seed=0,
    )
    assert err.startswith('ValueError: invalid parameters:')
    for want in (
        f"data='{tmp_path / 'nope'}': folder not found",
        f"out_dir='{f / 'run'}': expected a folder path ({f} is a file)",
        "algorithm='maml': expected one of ['reptile', 'fomaml', 'fomaml_star']",
        "inner_lr='0.005x': expected a finite number > 0",
        "encoder='resnet9000': expected a timm model name",
        "image_size=50: expected 0 (the default for the data) or a multiple of the encoder's stride 16",
    ):
        assert want in err, want
    assert f.read_text() == 'a file'


def test_notebook_refuses_a_pickle_checkpoint_without_running_it(bench, tmp_path):
    marker = tmp_path / 'code_ran'
    pt = tmp_path / 'model.pt'
    torch.save({'w': _Payload(marker)}, pt)
    err = papermill_error(
        tmp_path, 'evaluate.ipynb', data=str(bench), out_dir=str(tmp_path / 'out'), checkpoint=str(pt), **EVAL, **TINY
    )
    assert err.startswith(f'ValueError: checkpoint {pt} is not a readable safetensors file') and 'never pickles' in err
    assert not marker.exists() and not (tmp_path / 'out').exists()


def test_notebook_names_a_corrupt_jpeg(folder, tmp_path):
    (folder / 'c' / '2.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a JPEG')
    err = papermill_error(
        tmp_path,
        'evaluate.ipynb',
        data=str(folder),
        split=str(tmp_path / 'lists.txt'),
        out_dir=str(tmp_path / 'out'),
        checkpoint='random',
        **{**EVAL, 'queries': 1},
        **TINY,
    )
    assert err.startswith(f"ValueError: image file {folder / 'c' / '2.jpg'} is unreadable or truncated"), err
    assert not (tmp_path / 'out').exists()


def test_notebook_same_seed_same_results(bench, tmp_path):
    "Once through papermill, once through `run_evaluate` (what the notebook runs) in this process: the same results file."
    from mliis_nb.runners import run_evaluate

    run(
        'evaluate.ipynb',
        tmp_path / 'a.ipynb',
        data=str(bench),
        out_dir=str(tmp_path / 'a'),
        checkpoint='random',
        **EVAL,
        **TINY,
    )
    run_evaluate(data=str(bench), out_dir=str(tmp_path / 'b'), checkpoint='random', **EVAL, **TINY)
    a, b = (json.loads((tmp_path / n / 'results.json').read_text()) for n in ('a', 'b'))
    assert {k for k in a if a[k] != b.get(k)} <= {'seconds'} and a.keys() == b.keys()  # only the wall time differs
    assert a['n'] == 2 and a['per_task'] == b['per_task']


def test_meta_train_function_refuses_a_file_out_dir_and_another_architecture_on_resume(tmp_path):
    "The library function itself (not only the notebooks' checks): an out_dir that is a file, and resuming with a model of another architecture."
    from mliis_nb.meta import MetaConfig, meta_train
    from mliis_nb.model import EfficientLab
    from mliis_nb.synthetic import make_synthetic
    from mliis_nb.data import FSSDataset

    root = make_synthetic(tmp_path / 'syn', n_classes=6, n_per_class=4, size=32, seed=0, workers=1)
    ds = FSSDataset(root, cache_dir=False)
    cfg = MetaConfig(meta_steps=2, meta_batch=1, inner_steps=2, inner_batch=2, train_shots=2, val_shots=2)
    f = tmp_path / 'afile'
    f.write_text('keep me')
    with pytest.raises(ValueError, match='is a file: expected a folder'):
        meta_train(EfficientLab('efficientnet_b0'), ds, cfg, f, progress=False)
    assert f.read_text() == 'keep me'
    meta_train(
        EfficientLab('efficientnet_b0'),
        ds,
        cfg,
        tmp_path / 'run',
        stop_at=1,
        progress=False,
        model_kwargs={'encoder': 'efficientnet_b0'},
    )
    with pytest.raises(
        ValueError, match=r"^resume: the checkpoint .* holds another architecture \(\{'encoder': 'efficientnet_b0'\}\)"
    ):
        meta_train(
            EfficientLab('efficientnet_b0', rsd_stages=(6, 3)), ds, cfg, tmp_path / 'run', resume=True, progress=False
        )
