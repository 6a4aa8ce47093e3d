"The joint-training experiment notebook run end to end through papermill on a tiny benchmark, and its parameter checks."
import json
from pathlib import Path

import pytest
import torch

papermill = pytest.importorskip("papermill")
from mliis_nb.data import make_synthetic
from mliis_nb.joint import joint_model, load_joint, load_joint_initialisation, save_joint, to_binary_head

NB = Path(__file__).resolve().parents[1]/"nbs"/"experiments"/"joint_train.ipynb"
TINY = dict(image_size=32, epochs=1, encoder="efficientnet_b0", weights="none", device="cpu", batch=4)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("bench")/"b", n_classes=6, n_per_class=4, size=48, seed=0, workers=1)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    "The kernels papermill starts inherit this: tiny 32 px batches gain nothing from 2 threads and stall badly on a busy CPU."
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _run(tmp_path, **params):
    return papermill.execute_notebook(str(NB), str(tmp_path/"out.ipynb"), parameters=params, kernel_name="python3",
                                      progress_bar=False, cwd=str(tmp_path))


def test_notebook_runs_and_writes_outputs(bench, tmp_path):
    out = tmp_path/"run"
    _run(tmp_path, data=str(bench), out_dir=str(out), **TINY)
    for f in ("joint.safetensors", "joint_best.safetensors", "joint_last.safetensors", "metrics.csv",
              "training_curve.png", "results.json"):
        assert (out/f).is_file(), f
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    res = json.loads((out/"results.json").read_text())
    assert res["epochs_run"] == 1 and res["stopped"] == "completed" and res["n_classes"] == 3
    assert res["parameters"]["epochs"] == 1 and res["parameters"]["image_size"] == 32 and res["seconds"] > 0
    assert set(res["final"]) >= {"train_loss", "valid_loss", "pixel_acc", "fg_iou"}
    assert len((out/"metrics.csv").read_text().strip().splitlines()) == 2  # header + 1 epoch
    model, header = load_joint(out/"joint.safetensors")
    assert header["n_classes"] == 3 and header["head"] == "joint" and model.head.conv.out_channels == 4
    init = load_joint_initialisation(out/"joint.safetensors").eval()
    with torch.no_grad(): assert init(torch.rand(2, 3, 32, 32)).shape == (2, 2, 32, 32)


@pytest.mark.parametrize("bad, name", [(dict(lr=-1), "lr"), (dict(device="tpu"), "device")])
def test_invalid_parameter_is_named(bench, tmp_path, bad, name):
    with pytest.raises(papermill.PapermillExecutionError) as e:
        _run(tmp_path, data=str(bench), out_dir=str(tmp_path/"run"), **(TINY | bad))
    assert f"{name}=" in str(e.value) and "ValueError" in str(e.value)
    assert not (tmp_path/"run").exists()  # nothing written before the checks pass


def test_missing_data_folder_is_named(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="data="):
        _run(tmp_path, data=str(tmp_path/"nowhere"), out_dir=str(tmp_path/"run"), **TINY)


def test_binary_head_round_trip(tmp_path):
    "Library contract used by the evaluation code: save -> load_joint_initialisation == to_binary_head, bit-exact."
    torch.manual_seed(0)
    m = joint_model(5, encoder="efficientnet_b0", rsd_stages=(6, 3)).eval()
    save_joint(tmp_path/"j.safetensors", m, {"k": 1})
    back, hdr = load_joint(tmp_path/"j.safetensors")
    assert hdr["model_kwargs"]["rsd_stages"] == [6, 3] and hdr["meta"] == {"k": 1}
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in m.state_dict().items())
    init, ref = load_joint_initialisation(tmp_path/"j.safetensors").eval(), to_binary_head(m).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(init(x), ref(x)) and init(x).shape == (1, 2, 32, 32)
