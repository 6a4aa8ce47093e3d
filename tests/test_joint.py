"""The joint baseline's library contract (head conversion, loading, loss, training header) and the joint-training
experiment notebook run end to end through papermill on a tiny benchmark, with its parameter checks."""

import copy, json, math
from pathlib import Path

import pytest
from conftest import run_nb, notebook_error
import torch

from mliis_nb.synthetic import make_synthetic
from mliis_nb.data import FSSDataset
from mliis_nb.model import SegHead
from mliis_nb.joint import (
    joint_model,
    joint_loss,
    joint_train,
    load_joint,
    load_joint_initialisation,
    multiclass_soft_iou,
    read_joint_header,
    save_joint,
    to_binary_head,
)

NB = Path(__file__).resolve().parents[1] / "nbs" / "experiments" / "joint_train.ipynb"
TINY = dict(image_size=32, epochs=1, encoder="efficientnet_b0", weights="none", device="cpu", batch=4)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_synthetic(
        tmp_path_factory.mktemp("bench") / "b", n_classes=6, n_per_class=4, size=48, seed=0, workers=1
    )


def _run(tmp_path, **params):
    return run_nb(NB, tmp_path / "out.ipynb", cwd=tmp_path, **params)


def test_notebook_runs_and_writes_outputs(bench, tmp_path):
    out = tmp_path / "run"
    _run(tmp_path, data=str(bench), out_dir=str(out), **TINY)
    for f in (
        "joint.safetensors",
        "joint_best.safetensors",
        "joint_last.safetensors",
        "metrics.csv",
        "training_curve.png",
        "results.json",
    ):
        assert (out / f).is_file(), f
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    res = json.loads((out / "results.json").read_text())
    assert res["epochs_run"] == 1 and res["stopped"] == "completed" and res["n_classes"] == 3
    assert (
        res["parameters"]["epochs"] == 1
        and res["parameters"]["image_size"] == 32
        and isinstance(res["seconds"], float)
        and res["seconds"] >= 0
    )  # wall time: any value is right
    assert set(res["final"]) >= {"train_loss", "valid_loss", "pixel_acc", "fg_iou"}
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 2  # header + 1 epoch
    model, header = load_joint(out / "joint.safetensors")
    assert header["n_classes"] == 3 and header["head"] == "joint" and model.head.conv.out_channels == 4
    init = load_joint_initialisation(out / "joint.safetensors").eval()
    with torch.no_grad():
        assert init(torch.rand(2, 3, 32, 32)).shape == (2, 2, 32, 32)


@pytest.mark.parametrize("bad, name", [(dict(lr=-1), "lr"), (dict(device="tpu"), "device")])
def test_notebook_invalid_parameter_is_named(bench, tmp_path, bad, name):
    e, _ = notebook_error(NB.name, data=str(bench), out_dir=str(tmp_path / "run"), **(TINY | bad))
    assert f"{name}=" in str(e) and isinstance(e, ValueError)
    assert not (tmp_path / "run").exists()  # nothing written before the checks pass


def test_notebook_missing_data_folder_is_named(tmp_path):
    e, _ = notebook_error(NB.name, data=str(tmp_path / "nowhere"), out_dir=str(tmp_path / "run"), **TINY)
    assert "data=" in str(e) and isinstance(e, ValueError)


def _saved_joint(tmp_path, n_classes=5):
    torch.manual_seed(0)
    m = joint_model(n_classes, encoder="efficientnet_b0", rsd_stages=(6, 3)).eval()
    with torch.no_grad():
        m.head.conv.bias.normal_()  # non-zero biases, so every row of the head matters
    return m, save_joint(tmp_path / "j.safetensors", m, {"k": 1})


@pytest.mark.parametrize("mode", ["fresh", "mean"])
def test_binary_head_round_trip(tmp_path, mode):
    "Library contract used by the evaluation code: save -> load_joint_initialisation(head=mode) == to_binary_head(mode), bit-exact."
    m, path = _saved_joint(tmp_path)
    back, hdr = load_joint(path)
    assert hdr["model_kwargs"]["rsd_stages"] == [6, 3] and hdr["meta"] == {"k": 1} and hdr["head"] == "joint"
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in m.state_dict().items())
    init = load_joint_initialisation(path, head=mode).eval()
    ref = to_binary_head(copy.deepcopy(m), mode=mode).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(init(x), ref(x)) and init(x).shape == (1, 2, 32, 32)
    # a converted model round-trips with its conversion recorded
    save_joint(tmp_path / "b.safetensors", init)
    hb = read_joint_header(tmp_path / "b.safetensors")
    assert hb["head"] == "binary" and hb["binary_head"]["mode"] == mode
    again = load_joint_initialisation(tmp_path / "b.safetensors").eval()
    with torch.no_grad():
        assert torch.equal(again(x), init(x))


def test_fresh_head_is_the_default(tmp_path):
    "The original restored everything but the final layer: by default the head conv is fresh (seeded), the rest is the saved weights."
    m, path = _saved_joint(tmp_path)
    saved = m.state_dict()
    init, mean = load_joint_initialisation(path), load_joint_initialisation(path, head="mean")
    assert init.joint_config["binary_head"] == dict(mode="fresh", seed=0, log_c_offset=False)
    assert not torch.equal(init.head.conv.weight, mean.head.conv.weight)
    assert not torch.equal(init.head.conv.weight[0], saved["head.conv.weight"][0])  # not the background row either
    for k, v in init.state_dict().items():
        if k.startswith("head.conv."):
            assert v.shape[0] == 2, k
        else:
            assert torch.equal(v, saved[k]), k
    # the fresh conv is the model's own 2-class head initialisation, drawn from torch.manual_seed(seed)
    torch.manual_seed(0)
    ref = SegHead(init.head.conv.in_channels, init.head.drop.p, n_out=2).conv
    assert torch.equal(init.head.conv.weight, ref.weight) and torch.equal(init.head.conv.bias, ref.bias)
    assert torch.equal(load_joint_initialisation(path).head.conv.weight, init.head.conv.weight)  # reproducible
    assert not torch.equal(load_joint_initialisation(path, seed=1).head.conv.weight, init.head.conv.weight)
    with pytest.raises(ValueError, match="mode"):
        load_joint_initialisation(path, head="median")


def test_joint_loss_hand_computed():
    "CE - log Dice(J), J = batch mean of the per-image soft IoU over all C + 1 channels pooled (the original's reduction)."
    probs = torch.tensor(
        [[[0.5, 0.2], [0.25, 0.6], [0.25, 0.2]], [[0.1, 1 / 3], [0.1, 1 / 3], [0.8, 1 / 3]]]
    ).unsqueeze(2)  # 2 images, 3 channels, 1 x 2 pixels
    logits, target = probs.log(), torch.tensor([[[0, 1]], [[2, 0]]])
    inter = [0.5 + 0.6, 0.8 + 1 / 3]  # probabilities of the true labels; sum p = sum y = 2 per image
    iou = [(i + 1e-7) / (4 - i + 1e-7) for i in inter]
    assert torch.allclose(multiclass_soft_iou(logits, target), torch.tensor(iou), atol=1e-6)
    ce = -(math.log(0.5) + math.log(0.6) + math.log(0.8) + math.log(1 / 3)) / 4
    J = sum(iou) / 2
    assert joint_loss(logits, target, "ce").item() == pytest.approx(ce, abs=1e-6)
    assert joint_loss(logits, target).item() == pytest.approx(ce - math.log(2 * J / (J + 1)), abs=1e-6)
    with pytest.raises(ValueError, match="loss"):
        joint_loss(logits, target, "dice")


@pytest.mark.parametrize("loss", ["ce_iou", "ce"])
def test_train_records_loss_and_device(bench, tmp_path, monkeypatch, loss):
    "joint_train's default device is 'auto' (resolved by resolve_device); the loss goes into every checkpoint header."
    import mliis_nb.joint as J

    seen = []
    real = J.resolve_device
    monkeypatch.setattr(J, "resolve_device", lambda d: seen.append(d) or real("cpu"))
    fss = FSSDataset(bench, cache_dir=False)
    kw = {} if loss == "ce_iou" else dict(loss=loss)  # the default is the original's ce_iou
    model, hist = joint_train(fss, fss.classes[:3], tmp_path, epochs=1, batch=4, progress=False, **kw)
    assert seen == ["auto"] and len(hist) == 1 and model.joint_config["loss"] == loss
    for f in ("joint_last.safetensors", "joint_best.safetensors"):
        h = read_joint_header(tmp_path / f)
        assert h["loss"] == loss and h["meta"]["loss"] == loss and h["meta"]["device"] == "cpu"
