"Contract of `mliis_nb.augment` as the data and meta-learning code call it (the notebook has the full story)."
import pytest, torch
from mliis_nb.augment import AUGMENTATIONS, augment_pair, augment_batch


def _example(seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, size, size, generator=g)
    msk = torch.zeros(size, size, dtype=torch.bool); msk[8:20, 6:24] = True
    return img, msk


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.uint8])
def test_dtype_range_binary(dtype):
    img, msk = _example()
    for seed in range(10):
        i, m = augment_pair(img, msk.to(dtype), 1., torch.Generator().manual_seed(seed))
        assert i.dtype == torch.float32 and i.shape == img.shape and 0 <= i.min() and i.max() <= 1
        assert m.dtype == dtype and m.shape == msk.shape and set(m.unique().tolist()) <= {0, 1}
        assert not torch.equal(i, img)


def test_rate_zero_seed_and_global_rng():
    img, msk = _example()
    i, m = augment_pair(img, msk, 0., torch.Generator().manual_seed(0))
    assert torch.equal(i, img) and torch.equal(m, msk)
    state = torch.get_rng_state()
    a = augment_batch(img[None].repeat(4, 1, 1, 1), msk[None].repeat(4, 1, 1), 1., torch.Generator().manual_seed(7))
    b = augment_batch(img[None].repeat(4, 1, 1, 1), msk[None].repeat(4, 1, 1), 1., torch.Generator().manual_seed(7))
    c = augment_batch(img[None].repeat(4, 1, 1, 1), msk[None].repeat(4, 1, 1), 1., torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    assert torch.equal(torch.get_rng_state(), state)


def test_errors():
    img, msk = _example()
    with pytest.raises(ValueError, match="rate"): augment_pair(img, msk, rate=2.)
    with pytest.raises(ValueError, match="translate"): augment_pair(img, msk, ops=["blur"])
    with pytest.raises(ValueError): augment_pair(img, msk[1:])
    assert len(AUGMENTATIONS) == 6
