"""attnwidgets.course.vit: the tiny ViT, its maps, the explanation scores, attention swaps and the exercise checks."""

import json

import numpy as np
import pytest
import torch

import attnwidgets as aw
from attnwidgets.course import vit
from attnwidgets.course.vision import make_images


@pytest.fixture(scope="module")
def untrained():
    return vit.build(0).eval()


@pytest.fixture(scope="module")
def rand_images():
    return torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_preprocess_standardises_each_patch(rand_images):
    x = rand_images[:2].clone()
    x[1, :, 8:16, 16:24] = 0.7  # one flat patch
    p = vit.preprocess(x)
    assert p.shape == x.shape
    patch = x[0, :, 16:24, 40:48].reshape(-1)  # cell (2, 5), all three channels
    np.testing.assert_allclose(p[0, :, 16:24, 40:48].reshape(-1), (patch - patch.mean()) / (patch.std() + vit.PATCH_EPS), atol=1e-5)
    assert float(p[1, :, 8:16, 16:24].abs().max()) < 1e-4  # a flat patch is (nearly) all zeros
    np.testing.assert_allclose(p[0].reshape(3, 8, 8, 8, 8).permute(1, 3, 0, 2, 4).reshape(64, -1).mean(-1), 0, atol=1e-5)
    with pytest.raises(ValueError, match="3, 64, 64"):
        vit.preprocess(torch.zeros(2, 3, 32, 32))


# ---- maps ------------------------------------------------------------------------------------------


def test_capture_gives_the_patch_grid(untrained, rand_images):
    rec = vit.record(untrained, rand_images[0])
    assert rec.weights.shape == (4, 4, 65, 65)
    assert rec.grid == (8, 8)
    assert rec.query_tokens[0] == "[CLS]" and rec.query_special[0] and not rec.query_special[1:].any()


def test_maps_match_capture_and_analysis_rollout(untrained, rand_images):
    m = vit.maps(untrained, rand_images, batch=4)  # two batches
    assert {k: m[k].shape for k in ("raw", "rollout", "gradxattn", "gradxattn_last", "random")} == {k: (6, 8, 8) for k in ("raw", "rollout", "gradxattn", "gradxattn_last", "random")}
    for i in (0, 5):
        rec = vit.record(untrained, rand_images[i])
        np.testing.assert_allclose(m["raw"][i].ravel(), rec.weights[-1, :, 0, 1:].mean(0), atol=1e-6)
        np.testing.assert_allclose(m["rollout"][i].ravel(), aw.analysis.rollout(rec).weights[-1, 0, 0, 1:], atol=1e-6)
        np.testing.assert_allclose(m["heads"][i, 2, 3].ravel(), rec.weights[2, 3, 0, 1:], atol=1e-6)
    np.testing.assert_allclose(m["probs"].sum(-1), 1, atol=1e-5)


def test_gradient_times_attention_follows_chefer(untrained, rand_images):
    """Reference computed one image at a time: R = I; R += mean_h[(dy/dA * A)+] @ R; the [CLS] row."""
    m = vit.maps(untrained, rand_images[:2])
    for i in range(2):
        out = untrained(pixel_values=vit.preprocess(rand_images[i:i + 1]), output_attentions=True)
        y = out.logits[0, out.logits[0].argmax()]
        grads = torch.autograd.grad(y, out.attentions)
        rel = torch.eye(65)
        for a, g in zip(out.attentions, grads):
            cam = (a[0].detach() * g[0]).clamp(min=0).mean(0)
            rel = rel + cam @ rel
        np.testing.assert_allclose(m["gradxattn"][i].ravel(), rel[0, 1:].numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(m["gradxattn_last"][i].ravel(), cam[0, 1:].numpy(), rtol=1e-4, atol=1e-8)
    assert (m["gradxattn"] >= 0).all()


def test_rollout_cls_on_known_matrices():
    eye = np.eye(3)
    a1, a2 = vit.EX_A1, vit.EX_A2
    att = np.stack([np.stack([a1, a1]), np.stack([a2, a2])])[None]  # [1, layers 2, heads 2, 3, 3]
    want = ((eye + a2) / 2 @ (eye + a1) / 2)[0, 1:]
    np.testing.assert_allclose(vit.rollout_cls(att)[0], want)


# ---- pointing game and mass -------------------------------------------------------------------------


def test_patch_coverage():
    mask = np.zeros((1, 64, 64), bool)
    mask[0, 8:16, 16:24] = True  # all of cell (1, 2)
    mask[0, 0:4, 0:8] = True  # half of cell (0, 0)
    cov = vit.patch_coverage(mask)
    assert cov.shape == (1, 8, 8)
    assert cov[0, 1, 2] == 1.0 and cov[0, 0, 0] == 0.5 and cov.sum() == 1.5


def test_pointing_uses_the_top_cells_centre_pixel():
    m = np.zeros((3, 8, 8))
    m[:, 2, 3] = 1.0
    masks = np.zeros((3, 64, 64), bool)
    masks[0, 20, 28] = True  # the centre pixel of cell (2, 3)
    masks[1, 16:20, 24:32] = True  # the cell's top half: overlaps it, misses its centre
    masks[2, 28, 20] = True  # rows and columns swapped
    assert vit.pointing_hits(m, masks).tolist() == [True, False, False]


def test_random_maps_point_at_the_target_at_its_area_share():
    _, _, target, distractor = make_images(300, 5)
    rand = np.random.default_rng(0).random((300, 8, 8))
    table = vit.pointing_table({"random": rand}, target, distractor, names=["random"])["random"]
    area = target.mean()
    assert abs(table["mass"] - area) < 0.004  # mass of a flat-ish map = the target's share of the image
    assert table["pointing"] < 0.08 and table["distractor"] < 0.25


def test_mass_in_target():
    masks = np.zeros((2, 64, 64), bool)
    masks[:, :32] = True  # the top half
    m = np.ones((2, 8, 8))
    m[1, 4:] = 0  # all mass in the top half
    np.testing.assert_allclose(vit.mass_in(m, masks), [0.5, 1.0])


# ---- deletion ---------------------------------------------------------------------------------------


def test_deletion_order_and_ties():
    m = np.zeros((2, 8, 8))
    m[0, 0, 5], m[0, 7, 7] = 2.0, 1.0
    order = vit.deletion_order(m, seed=1)
    assert order.shape == (2, 64) and order[0, 0] == 5 and order[0, 1] == 63
    assert sorted(order[1].tolist()) == list(range(64))
    assert order[1].tolist() != list(range(64))  # a flat map deletes in a random order, not row by row
    assert not np.array_equal(order[0, 2:], order[1, :62])


def test_delete_patches(rand_images):
    order = np.tile(np.arange(64), (2, 1))
    order[:, 0] = 9  # cell (1, 1) first
    order[:, 9] = 0
    fill = [0.1, 0.2, 0.3]
    x = rand_images[:2]
    assert torch.equal(vit.delete_patches(x, order, 0, fill), x)
    one = vit.delete_patches(x, order, 1, fill)
    assert torch.allclose(one[:, :, 8:16, 8:16], torch.tensor(fill).view(1, 3, 1, 1).expand(2, 3, 8, 8))
    keep = torch.ones(64, 64, dtype=torch.bool)
    keep[8:16, 8:16] = False
    assert torch.equal(one[:, :, keep], x[:, :, keep])
    full = vit.delete_patches(x, order, 64, fill)
    assert torch.allclose(full, torch.tensor(fill).view(1, 3, 1, 1).expand_as(x))


def test_deletion_auc():
    f = np.linspace(0, 1, 5)
    assert vit.deletion_auc(f, np.ones(5)) == pytest.approx(1.0)
    assert vit.deletion_auc(f, 1 - f) == pytest.approx(0.5)
    assert vit.deletion_auc(vit.EX_FRACTIONS, vit.EX_PROBS) == pytest.approx(0.3875)
    assert vit.deletion_auc(f, np.array([[1.0] * 5, [0.0] * 5])) == pytest.approx(0.5)  # the mean curve


def test_deletion_curve_ends(untrained, rand_images):
    m = np.random.default_rng(0).random((6, 8, 8))
    fractions, probs = vit.deletion_curve(untrained, rand_images, m, [0.5, 0.5, 0.5], step=16)
    assert fractions.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    base = vit.probabilities(untrained, rand_images)
    np.testing.assert_allclose(probs[:, 0], base.max(-1), atol=1e-5)
    blank = vit.probabilities(untrained, torch.full((1, 3, 64, 64), 0.5))[0]
    np.testing.assert_allclose(probs[:, -1], blank[base.argmax(-1)], atol=1e-5)  # every image is the same grey at the end


# ---- swaps ------------------------------------------------------------------------------------------


def test_uniform_and_permuted_attention(untrained, rand_images):
    x = rand_images[:2]
    with torch.no_grad():
        before = untrained(pixel_values=x, output_attentions=True)
        with vit.swapped_attention(untrained, "uniform", [1]):
            uni = untrained(pixel_values=x, output_attentions=True)
        with vit.swapped_attention(untrained, "permuted", [2], seed=3):
            per = untrained(pixel_values=x, output_attentions=True)
        after = untrained(pixel_values=x, output_attentions=True)
    assert torch.allclose(uni.attentions[1], torch.full_like(uni.attentions[1], 1 / 65))
    assert torch.allclose(uni.attentions[0], before.attentions[0])  # earlier layers untouched
    assert not torch.allclose(uni.logits, before.logits)
    # each row permuted: the same weights, other places
    assert torch.allclose(per.attentions[2].sort(-1).values, before.attentions[2].sort(-1).values, atol=1e-6)
    assert not torch.allclose(per.attentions[2], before.attentions[2])
    assert torch.equal(after.logits, before.logits) and untrained.config._attn_implementation == "eager"


def test_swap_refuses_bad_input(untrained):
    with pytest.raises(ValueError, match="uniform"):
        with vit.swapped_attention(untrained, "zeros"):
            pass
    with pytest.raises(IndexError, match="0 to 3"):
        with vit.swapped_attention(untrained, "uniform", [4]):
            pass


def test_swap_table_rows(untrained, rand_images):
    table = vit.swap_table(untrained, rand_images, np.zeros(6, int))
    assert len(table) == 11 and table["none"]["survival"] == 1.0
    assert all(0 <= v["survival"] <= 1 and 0 <= v["accuracy"] <= 1 for v in table.values())


# ---- seeds ------------------------------------------------------------------------------------------


def test_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.random((50, 8, 8))
    np.testing.assert_allclose(vit.rank_correlation(a, a), 1)
    np.testing.assert_allclose(vit.rank_correlation(a, -a), -1)
    assert abs(vit.rank_correlation(a, rng.random((50, 8, 8))).mean()) < 0.05


def test_seed_agreement_of_identical_seeds():
    rng = np.random.default_rng(0)
    one = {k: rng.random((20, 8, 8)) for k in vit.MAPS} | {"probs": rng.random((20, 5))}
    pairs = vit.seed_agreement({0: one, 1: one}, one["probs"].argmax(-1))
    row = pairs["0-1"]
    assert row["prediction_agreement"] == 1.0 and row["both_right"] == 1.0
    assert row["raw"]["same_image"] == pytest.approx(1.0) and abs(row["raw"]["shuffled"]) < 0.2


# ---- exercise checks --------------------------------------------------------------------------------


def test_check_rollout():
    right = lambda a1, a2: (np.eye(len(a1)) + a2) / 2 @ (np.eye(len(a1)) + a1) / 2  # noqa: E731
    assert vit.check_rollout(right).status == "right"

    def stub(a1, a2):
        raise NotImplementedError

    assert vit.check_rollout(stub).status == "unanswered"
    assert vit.check_rollout(None).status == "unanswered"
    no_residual = vit.check_rollout(lambda a1, a2: a2 @ a1)
    assert no_residual.status == "wrong" and "residual" in no_residual.hint
    order = vit.check_rollout(lambda a1, a2: (np.eye(3) + a1) / 2 @ (np.eye(3) + a2) / 2)
    assert order.status == "wrong" and "order" in order.hint
    assert "I" in vit.check_rollout(lambda a1, a2: (np.eye(len(a1)) + a2) @ (np.eye(len(a1)) + a1)).hint
    assert vit.check_rollout(lambda a1, a2: 1 / 0).status == "wrong"


def test_check_auc():
    assert vit.check_auc(0.3875).status == "right"
    assert vit.check_auc(None).status == "unanswered"
    mean = vit.check_auc(float(vit.EX_PROBS.mean()))
    assert mean.status == "wrong" and "half" in mean.hint
    assert "width" in vit.check_auc(1.55).hint
    assert "left" in vit.check_auc(0.475).hint
    assert vit.check_auc("a lot").status == "wrong"


def test_check_pointing():
    def right(m, mask):
        r, c = divmod(int(np.argmax(m)), 8)
        return bool(mask[8 * r + 4, 8 * c + 4])

    assert vit.check_pointing(right).status == "right"

    def stub(m, mask):
        raise NotImplementedError

    assert vit.check_pointing(stub).status == "unanswered"

    def overlap(m, mask):
        r, c = divmod(int(np.argmax(m)), 8)
        return bool(mask[8 * r:8 * r + 8, 8 * c:8 * c + 8].any())

    got = vit.check_pointing(overlap)
    assert got.status == "wrong" and "centre" in got.hint

    def swapped(m, mask):
        r, c = divmod(int(np.argmax(m)), 8)
        return bool(mask[8 * c + 4, 8 * r + 4])

    got = vit.check_pointing(swapped)
    assert got.status == "wrong" and "row" in got.hint


# ---- training and the shipped models ---------------------------------------------------------------


def test_smoke_training_writes_a_loadable_model(tmp_path):
    settings = vit.Settings(steps=3, batch=8, warmup=1, pool=40, chunk=20, n_test=20, log_every=1)
    info = vit.train(5, tmp_path / "shapes-vit-5", settings, progress=False)
    assert [h["step"] for h in info["history"]] == [1, 2, 3] and np.isfinite(info["history"][-1]["loss"])
    assert 0 <= info["test_accuracy"] <= 1 and len(info["fill"]) == 3
    saved = json.loads((tmp_path / "shapes-vit-5" / "training.json").read_text())
    assert saved["test_accuracy"] == info["test_accuracy"] and saved["seed"] == 5
    meta = json.loads((tmp_path / "shapes-vit-5" / "attnwidgets.json").read_text())
    assert meta["loader"] == "attnwidgets.course.vit:load" and "--seed 5" in meta["recreate"]
    model, tok = vit.load(tmp_path / "shapes-vit-5")
    assert tok is None and model.config._attn_implementation == "eager"


@pytest.mark.parametrize("seed", vit.SEEDS)
def test_shipped_models_learned(seed):
    folder = vit.DATA_DIR / vit.name(seed)
    assert (folder / "model.safetensors").stat().st_size <= 5_000_000
    info = vit.training_info(seed)
    assert info["test_images"] == 2000 and info["test_accuracy"] > 0.35  # chance is 20%
    model, _ = aw.load_model(vit.name(seed))
    images, labels, _, _ = make_images(200, vit.NOTEBOOK_SEED)
    acc = vit.accuracy(model, images, labels)
    assert acc > 0.3 and abs(acc - info["test_accuracy"]) < 0.12  # 200 images: a few points of noise
    assert aw.capture(model, None, {"pixel_values": torch.from_numpy(images[:1])}).grid == (8, 8)


def test_cnn_accuracies_read_either_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(vit, "DATA_DIR", tmp_path)
    assert vit.cnn_accuracies() == {}
    (tmp_path / "shapes-cnn-se").mkdir()
    (tmp_path / "shapes-cnn-se" / "training.json").write_text(json.dumps({"seed": 0, "test": {"images": 2000, "accuracy": 0.8}, "recipe": {"lr": 0.003}}))
    (tmp_path / "shapes-cnn-plain").mkdir()
    (tmp_path / "shapes-cnn-plain" / "training.json").write_text(json.dumps({"test_accuracy": 0.5}))
    assert vit.cnn_accuracies() == {"shapes-cnn-plain": 0.5, "shapes-cnn-se": 0.8}
    assert "not trained yet" not in vit.accuracy_report({}, np.zeros((1, 3, 64, 64)), [0])
