"Contract of `mliis_nb.augment` as the data and meta-learning code call it (the notebook has the full story)."

import pytest, torch
from mliis_nb.augment import AUGMENTATIONS, MAX_ANGLE, FILL_MODES, augment_pair, augment_batch, max_shift
from mliis_nb import augment as A


def _example(seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, size, size, generator=g)
    msk = torch.zeros(size, size, dtype=torch.bool)
    msk[8:20, 6:24] = True
    return img, msk


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.uint8])
def test_dtype_range_binary(dtype):
    img, msk = _example()
    for seed in range(10):
        i, m = augment_pair(img, msk.to(dtype), 1.0, torch.Generator().manual_seed(seed))
        assert i.dtype == torch.float32 and i.shape == img.shape and 0 <= i.min() and i.max() <= 1
        assert m.dtype == dtype and m.shape == msk.shape and set(m.unique().tolist()) <= {0, 1}
        assert not torch.equal(i, img)


def test_rate_zero_seed_and_global_rng():
    img, msk = _example()
    i, m = augment_pair(img, msk, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(i, img) and torch.equal(m, msk)
    state = torch.get_rng_state()
    a = augment_batch(img[None].repeat(4, 1, 1, 1), msk[None].repeat(4, 1, 1), 1.0, torch.Generator().manual_seed(7))
    b = augment_batch(img[None].repeat(4, 1, 1, 1), msk[None].repeat(4, 1, 1), 1.0, torch.Generator().manual_seed(7))
    c = augment_batch(img[None].repeat(4, 1, 1, 1), msk[None].repeat(4, 1, 1), 1.0, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    assert torch.equal(torch.get_rng_state(), state)


def _find_shift(img, msk, i, m, largest):
    "(dim, shift, keep) with `i`, `m` the roll of `img`, `msk` by `shift` along `dim` outside the uncovered strip, or None."
    found = None
    for dim in (-2, -1):
        n = img.shape[dim]
        for s in [*range(1, largest + 1), *range(-largest, 0)]:
            r, rm = img.roll(s, dim), msk.roll(s, dim)
            keep = torch.arange(n) >= s if s > 0 else torch.arange(n) < n + s
            k = keep.view(-1, 1) if dim == -2 else keep.view(1, -1)
            if torch.equal((i - r) * k, torch.zeros_like(r)) and torch.equal(m & k, rm & k):
                found = (dim, s, k)
    return found


def test_translate_one_axis_wrap_or_fill():
    "A translation is a roll along one axis by 1..max_shift(40) = 4 px; without wrap the uncovered strip is one colour, mask 0."
    img, msk = _example(size=40)
    kinds = set()
    for seed in range(60):
        i, m = augment_pair(img, msk, 1.0, torch.Generator().manual_seed(seed), ops=["translate"])
        found = _find_shift(img, msk, i, m, max_shift(40))
        assert found is not None, seed
        dim, s, k = found
        wrapped = torch.equal(i, img.roll(s, dim))
        if not wrapped:
            strip = i.masked_select(~k.expand_as(i)).view(3, -1)
            assert (strip == strip[:, :1]).all() and not m.masked_select(~k).any()
        kinds.add((dim, s > 0, wrapped))
    assert len(kinds) == 8  # both axes, both directions, wrap and fill


def test_max_shift_scales_with_side():
    "The original's 23 px at 224 px, the same fraction (23/224) of the side otherwise."
    assert max_shift(224) == 23 and max_shift(64) == 7 and max_shift(128) == 13 and max_shift(1) == 1
    assert all(abs(224 * max_shift(n) - 23 * n) <= 112 for n in range(5, 1000))


def _draws(h, w, k, seed=0):
    g, x = torch.Generator().manual_seed(seed), torch.zeros(3, h, w)
    return [A._translate_params(x, g) for _ in range(k)]


def test_shift_at_64px_at_most_7px():
    "At 64 px (the embedded benchmark) no shift exceeds 7 px (the fixed 23 px drew up to 36% of the side)."
    shifts = {abs(s) for _, s, _ in _draws(64, 64, 2000)}
    assert shifts == set(range(1, 8)), sorted(shifts)
    img, msk = _example(size=64)
    for seed in range(80):
        i, m = augment_pair(img, msk, 1.0, torch.Generator().manual_seed(seed), ops=["translate"])
        found = _find_shift(img, msk, i, m, 31)  # search well past 7 so a larger shift is seen as one
        assert found is not None and 1 <= abs(found[1]) <= 7, (seed, found and found[1])


def test_shift_at_224px_as_before():
    "At the original's 224 px the draws are those of the fixed 23 px: shifts 1..23, and each axis has its own maximum."
    assert {abs(s) for _, s, _ in _draws(224, 224, 1000)} == set(range(1, 24))
    rect = _draws(64, 224, 2000)
    assert max(abs(s) for d, s, _ in rect if d == -2) == 7 and max(abs(s) for d, s, _ in rect if d == -1) == 23


def test_rotation_draws():
    g, img = torch.Generator().manual_seed(0), torch.rand(3, 8, 8)
    draws = [A._rotate_params(img, g) for _ in range(2000)]
    assert sorted({a for a, _, _ in draws}) == list(range(-MAX_ANGLE, MAX_ANGLE))
    assert {m for _, m, _ in draws} == set(FILL_MODES) == {"reflect", "constant", "mirror", "wrap"}


def test_rotation_matches_scipy_order1():
    ndimage = pytest.importorskip("scipy.ndimage")
    img = torch.nn.functional.interpolate(
        torch.rand(1, 3, 5, 6, generator=torch.Generator().manual_seed(1)), (20, 27), mode="bilinear"
    )[0]
    msk = torch.zeros(20, 27, dtype=torch.bool)
    for mode, sp_mode in (
        ("reflect", "reflect"),
        ("mirror", "mirror"),
        ("wrap", "grid-wrap"),
        ("constant", "grid-constant"),
    ):
        ours = A._rotate_by(img, msk, 33, mode, torch.full_like(img, 0.3) if mode == "constant" else None)[0]
        ref = ndimage.rotate(img.double().numpy(), 33, axes=(2, 1), reshape=False, order=1, mode=sp_mode, cval=0.3)
        assert torch.allclose(ours, torch.from_numpy(ref).float(), atol=1e-4), mode


def test_erase_clipped_at_border():
    g, img = torch.Generator().manual_seed(0), torch.rand(3, 40, 50)
    boxes = [A._erase_params(img, g)[:4] for _ in range(500)]
    assert all(0 <= t and t + h <= 40 and 0 <= l and l + w <= 50 for t, l, h, w in boxes)
    assert sum((t + h == 40 or l + w == 50) and h * w < 0.01 * 2000 for t, l, h, w in boxes) > 20
    i, m = augment_pair(img, torch.ones(40, 50), 1.0, torch.Generator().manual_seed(3), ops=["erase"])
    assert i[:, m == 0].unique().numel() == 1 and torch.equal(i[:, m == 1], img[:, m == 1])


def test_errors():
    img, msk = _example()
    with pytest.raises(ValueError, match="rate"):
        augment_pair(img, msk, rate=2.0)
    with pytest.raises(ValueError, match="translate"):
        augment_pair(img, msk, ops=["blur"])
    with pytest.raises(ValueError):
        augment_pair(img, msk[1:])
    assert len(AUGMENTATIONS) == 6
