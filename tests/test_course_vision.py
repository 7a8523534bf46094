"""Notebook 06 (attnwidgets.course.vision): the shapes generator, SE, CBAM, the CNNs, the pointing game, the checks."""

import json

import numpy as np
import pytest

from attnwidgets.course import vision


@pytest.fixture(scope="module")
def scenes():
    return vision.make_images(200, seed=3, details=True)


def test_generator_shapes_types_and_range(scenes):
    images, labels, target, distract, info = scenes
    assert images.shape == (200, 3, 64, 64) and images.dtype == np.float32
    assert labels.shape == (200,) and labels.dtype == np.int64
    assert target.shape == distract.shape == (200, 64, 64) and target.dtype == distract.dtype == bool
    assert images.min() >= 0 and images.max() <= 1
    assert vision.CLASSES == ("circle", "square", "triangle", "plus", "diamond")


def test_generator_labels_balanced(scenes):
    counts = np.bincount(scenes[1], minlength=5)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 200
    counts = np.bincount(vision.make_images(13, seed=0)[1], minlength=5)
    assert counts.max() - counts.min() <= 1


def test_generator_masks_nonempty_disjoint_and_sized(scenes):
    images, labels, target, distract, info = scenes
    t_area = target.reshape(200, -1).sum(1)
    assert t_area.min() >= 60 and t_area.max() <= 200  # AREA_RANGE 80-180 px, rasterised
    assert distract.reshape(200, -1).sum(1).min() >= 2 * 60  # at least two distractors
    assert not (target & distract).any()
    assert 3 <= info.n_shapes.min() and info.n_shapes.max() <= 6
    for masks, n in zip(info.shape_masks, info.n_shapes):
        assert masks.shape[0] == n and (masks.sum(0) <= 1).all()


def test_generator_deterministic_and_seed_dependent():
    a = vision.make_images(20, seed=7)
    b = vision.make_images(20, seed=7)
    c = vision.make_images(20, seed=8)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_generator_target_is_odd_one_out_by_colour(scenes):
    images, labels, target, distract, info = scenes
    gap = np.abs((info.target_hue - info.distractor_hue + 180) % 360 - 180)
    assert gap.min() >= vision.MIN_HUE_GAP - 1e-3
    # the target's pixels are one colour, and that colour differs from the distractors'
    i = 0
    t = images[i][:, target[i]]
    d = images[i][:, distract[i]]
    assert np.abs(t.mean(1) - d.mean(1)).max() > 0.1


def test_generator_distractor_kinds_do_not_follow_the_label(scenes):
    images, labels, target, distract, info = scenes
    # if distractors were drawn from the label, the label's kind would dominate them
    same = np.mean([np.mean(np.array(k) == l) for k, l in zip(info.distractor_kinds, labels)])
    assert 0.1 < same < 0.32  # independent: ~1/5


# ---- SE and CBAM ----------------------------------------------------------------------------------

import torch  # noqa: E402
from torch import nn  # noqa: E402


def _hooked(module, path):
    """Run-time outputs of the submodule at `path` (e.g. 'spatial.gate')."""
    seen = []
    sub = module.get_submodule(path)
    return seen, sub.register_forward_hook(lambda m, a, out: seen.append(out.detach()))


def cbam_gate_failures(cbam) -> list[str]:
    """What is wrong with a CBAM's gates: shapes, range, and two known inputs. [] when all is well."""
    failures = []
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8) * 50  # large activations: logits far outside [0, 1]
    seen_c, hc = _hooked(cbam, "channel.gate")
    seen_s, hs = _hooked(cbam, "spatial.gate")
    try:
        with torch.no_grad():
            y = cbam(x)
            if y.shape != x.shape:
                failures.append(f"output shape {tuple(y.shape)}")
            c, s = seen_c[-1], seen_s[-1]
            if c.shape != (2, 16) or s.shape != (2, 1, 8, 8):
                failures.append(f"gate shapes {tuple(c.shape)}, {tuple(s.shape)}")
            for name, g in (("channel", c), ("spatial", s)):
                if g.min() < 0 or g.max() > 1:
                    failures.append(f"{name} gate outside [0, 1]: {float(g.min()):.3g}..{float(g.max()):.3g}")
            # known spatial input: conv reads only the max map's centre tap; one bright pixel
            saved = [p.detach().clone() for p in cbam.spatial.conv.parameters()]
            cbam.spatial.conv.weight.zero_(); cbam.spatial.conv.bias.zero_()
            cbam.spatial.conv.weight[0, 1, 3, 3] = 1.0
            x2 = torch.zeros(1, 16, 8, 8)
            x2[0, 0, 3, 5] = 4.0
            cbam.spatial(x2)  # the spatial half alone: the channel half would rescale the pixel first
            s2 = seen_s[-1][0, 0]
            want = torch.full((8, 8), 0.5)
            want[3, 5] = torch.sigmoid(torch.tensor(4.0))
            if not torch.allclose(s2, want, atol=1e-5):
                failures.append("known spatial input: expected sigmoid(max map) = 0.5 everywhere, 0.982 at the bright pixel")
            for p, v in zip(cbam.spatial.conv.parameters(), saved):
                p.copy_(v)
            # known channel input: constant channels, so avg = max and gate = sigmoid(2 * mlp(c))
            x3 = torch.arange(16.0).view(1, 16, 1, 1).expand(1, 16, 4, 4) / 16
            cbam(x3)
            mlp = cbam.channel.mlp
            want_c = torch.sigmoid(2 * mlp(x3[:, :, 0, 0]))
            if not torch.allclose(seen_c[-1], want_c, atol=1e-5):
                failures.append("known channel input: gate != sigmoid(mlp(avg) + mlp(max))")
    finally:
        hc.remove(); hs.remove()
    return failures


def test_se_shapes_range_and_known_inputs():
    torch.manual_seed(1)
    se = vision.SE(32, reduction=8)
    assert se.mlp[0].out_features == 4
    seen, h = _hooked(se, "gate")
    x = torch.randn(3, 32, 6, 6) * 40
    with torch.no_grad():
        y = se(x)
    h.remove()
    assert y.shape == x.shape and seen[0].shape == (3, 32)
    assert seen[0].min() >= 0 and seen[0].max() <= 1
    assert torch.allclose(y, x * seen[0][:, :, None, None])
    with torch.no_grad():  # zero last layer: every gate is sigmoid(0) = 0.5, so the block halves its input
        se.mlp[2].weight.zero_(); se.mlp[2].bias.zero_()
        assert torch.allclose(se(x), x / 2)
        se.mlp[2].bias.fill_(-30.0)  # a closed gate
        assert se(x).abs().max() < 1e-6
    assert torch.allclose(vision.se_gate_reference(x, se.mlp[0].weight, se.mlp[0].bias, se.mlp[2].weight, se.mlp[2].bias), torch.full((3, 32), torch.sigmoid(torch.tensor(-30.0)).item()))


def test_cbam_passes_its_gate_checks():
    torch.manual_seed(2)
    assert cbam_gate_failures(vision.CBAM(16, reduction=4)) == []


def test_cbam_without_spatial_sigmoid_fails_them():
    torch.manual_seed(2)
    broken = vision.CBAM(16, reduction=4)
    broken.spatial.gate = nn.Identity()
    failures = cbam_gate_failures(broken)
    assert any("spatial gate outside [0, 1]" in f for f in failures)
    assert any("known spatial input" in f for f in failures)


def test_gates_open_sets_gates_to_one_and_restores():
    torch.manual_seed(3)
    model = vision.ShapesCNN("cbam").eval()
    x = torch.rand(4, 3, 64, 64)
    before = model(x)
    with vision.gates_open(model, "spatial"):
        maps = vision.gate_values(model, x, "spatial")
        assert all(np.all(m == 1) for m in maps)
        assert [m.shape[1:] for m in maps] == [(32, 32), (16, 16), (8, 8), (8, 8)]
        assert not torch.allclose(model(x), before)
    assert torch.allclose(model(x), before)
    assert len(model.gates("channel")) == 4 and len(vision.ShapesCNN("plain").gates("channel")) == 0


# ---- capture and views ----------------------------------------------------------------------------

import attnwidgets as aw  # noqa: E402


def test_capture_spatial_is_a_spatial_record_of_the_real_gates():
    torch.manual_seed(4)
    model = vision.ShapesCNN("cbam").eval()
    images = vision.make_images(3, seed=5)[0]
    rec = vision.capture_spatial(model, images[1])
    assert rec.kind == "spatial" and rec.grid == (32, 32) and rec.weights.shape == (4, 1, 1, 1024)
    native = vision.gate_values(model, images, "spatial")
    block2 = rec.weights[1, 0, 0].reshape(32, 32)
    assert np.allclose(block2[::2, ::2], native[1][1], atol=1e-6)  # repeated, not interpolated
    assert np.allclose(rec.weights[3, 0, 0].reshape(32, 32)[::4, ::4], native[3][1], atol=1e-6)
    stretched = vision.capture_spatial(model, images[1], stretch=True)
    assert stretched.weights.min() == 0 and np.isclose(stretched.weights.max(), 1)
    view = aw.ImageAttention(rec, vision.outlined(images[1], np.zeros((64, 64), bool)))
    assert view.n_layers == 4
    with pytest.raises(ValueError, match="no spatial gates"):
        vision.capture_spatial(vision.ShapesCNN("se"), images[0])


def test_capture_channel_this_image_and_mean():
    torch.manual_seed(5)
    model = vision.ShapesCNN("se").eval()
    images = vision.make_images(6, seed=6)[0]
    rec = vision.capture_channel(model, images[0], block=-1, reference=images)
    assert rec.kind == "channel" and rec.weights.shape == (2, 1, 1, 128)
    gates = vision.gate_values(model, images, "channel")[-1]
    assert np.allclose(rec.weights[0, 0, 0], gates[0], atol=1e-6)
    assert np.allclose(rec.weights[1, 0, 0], gates.mean(0), atol=1e-6)
    assert aw.ImageAttention(rec).n_layers == 2


def test_explorer_slider_recaptures_the_view():
    torch.manual_seed(6)
    model = vision.ShapesCNN("cbam").eval()
    images, labels, targets, _ = vision.make_images(4, seed=7)
    box = vision.explorer(model, images, labels, targets, layer=2, opacity=0.3)
    first = box.view()
    first_maps = first.maps
    first.opacity = 0.8
    box.slider.value = 2
    second = box.view()
    assert second is not first and second.maps != first_maps
    assert second.layer == 2 and second.opacity == 0.8
    assert "image 2" in box.children[1].value and vision.CLASSES[labels[2]] in box.children[1].value


# ---- the pointing game --------------------------------------------------------------------------------


def test_pointing_at_native_resolution():
    for m, mask, want in vision._pointing_cases():
        assert vision.pointing(m[None], mask[None])[0] == want
    # random maps score about the target's area share (~3%), far below a map that marks the target
    images, labels, target, distract = vision.make_images(400, seed=8)
    rng = np.random.default_rng(0)
    for side in (8, 16, 32):
        hits = vision.pointing(rng.random((400, side, side)), target).mean()
        assert hits < 0.09, (side, hits)
    oracle = target.reshape(400, 16, 4, 16, 4).mean((2, 4))
    assert vision.pointing(oracle, target).mean() > 0.95
    assert np.allclose(vision.mass_share(np.ones((400, 8, 8)), target), target.mean((1, 2)))


def test_pointing_report_and_ablations_on_a_tiny_model():
    torch.manual_seed(7)
    model = vision.ShapesCNN("cbam").eval()
    images, labels, target, distract, info = vision.make_images(16, seed=9, details=True)
    rep = vision.pointing_report(model, images, labels, target, distract, info.n_shapes)
    assert len(rep["spatial"]) == 4 and 0.02 < rep["area_share"] < 0.05 and 0.15 < rep["random_shape"] < 0.35
    for layer in rep["spatial"]:
        assert 0 <= layer["pointing"] + layer["distractor"] <= 1 and 0 <= layer["mass_on_target"] <= 1
    assert set(rep["ablation"]) == {"as_trained", "spatial_gate_1", "channel_gate_1"}


# ---- training (a few steps), saving and loading ------------------------------------------------------


def test_train_smoke_save_load(tmp_path):
    threads = torch.get_num_threads()
    try:
        model, info = vision.train("se", seed=1, steps=2, batch=4, n_test=10, out=tmp_path / "m", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert len(info["loss"]) == 2 and info["test"]["images"] == 10 and 0 <= info["test"]["accuracy"] <= 1
    assert "channel_gate_1" in info["test"]["ablation"]
    loaded, tok = vision.load(tmp_path / "m")
    assert tok is None and loaded.kind == "se"
    x = vision.make_images(5, seed=1)[0]
    assert np.array_equal(vision.predict(loaded, x), vision.predict(model, x))
    meta = json.loads((tmp_path / "m" / "attnwidgets.json").read_text())
    assert meta["loader"] == "attnwidgets.course.vision:load" and "--kind se --seed 1" in meta["recreate"]


def test_lr_schedule_warms_up_and_decays_to_zero():
    lrs = [vision._lr_at(s, 1000, 3e-3, 50) for s in range(1000)]
    assert np.isclose(lrs[49], 3e-3) and lrs[0] < 1e-4 and lrs[-1] < 1e-7 and np.argmax(lrs) == 49


# ---- exercise checks ------------------------------------------------------------------------------------


def test_check_se_gate():
    import torch.nn.functional as F

    def right(x, w1, b1, w2, b2):
        return torch.sigmoid(F.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)

    def stub(x, w1, b1, w2, b2):
        raise NotImplementedError

    def no_pool(x, w1, b1, w2, b2):
        return torch.sigmoid(x)

    def softmax(x, w1, b1, w2, b2):
        return torch.softmax(F.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2, dim=1)

    def no_relu(x, w1, b1, w2, b2):
        return torch.sigmoid((x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)

    assert vision.check_se_gate(right)
    assert vision.check_se_gate(stub).status == "unanswered"
    assert vision.check_se_gate(None).status == "unanswered"
    assert "Squeeze" in vision.check_se_gate(no_pool).hint
    assert "softmax" in vision.check_se_gate(softmax).hint
    assert "ReLU" in vision.check_se_gate(no_relu).hint


def test_check_pointing():
    def right(attn_map, mask):
        h, w = attn_map.shape
        r, c = divmod(int(np.argmax(attn_map)), w)
        s = 64 // w
        return bool(mask[r * s + s // 2, c * s + s // 2])

    def swapped(attn_map, mask):
        h, w = attn_map.shape
        c, r = divmod(int(np.argmax(attn_map)), w)
        s = 64 // w
        return bool(mask[r * s + s // 2, c * s + s // 2])

    def corner(attn_map, mask):
        h, w = attn_map.shape
        r, c = divmod(int(np.argmax(attn_map)), w)
        s = 64 // w
        return bool(mask[r * s, c * s])

    def stub(attn_map, mask):
        raise NotImplementedError

    assert vision.check_pointing(right)
    assert vision.check_pointing(stub).status == "unanswered"
    assert vision.check_pointing(None).status == "unanswered"
    for bad in (swapped, corner):
        fb = vision.check_pointing(bad)
        assert fb.status == "wrong" and "corner" in fb.hint


def test_check_ablation():
    ablation = {"as_trained": 0.75, "spatial_gate_1": 0.70, "channel_gate_1": 0.30}
    assert vision.check_ablation("channel", ablation)
    assert vision.check_ablation(" Channel ", ablation)
    assert vision.check_ablation(None, ablation).status == "unanswered"
    wrong = vision.check_ablation("spatial", ablation)
    assert wrong.status == "wrong" and "5.0%" in wrong.message
    assert vision.check_ablation("both", ablation).status == "wrong"


def test_gates_fixed_uses_the_mean_gate_for_every_image():
    torch.manual_seed(8)
    model = vision.ShapesCNN("cbam").eval()
    reference = torch.rand(6, 3, 64, 64)
    x = torch.rand(3, 3, 64, 64)
    mean_maps = [m.mean(0) for m in vision.gate_values(model, reference, "spatial")]
    mean_channel = [c.mean(0) for c in vision.gate_values(model, reference, "channel")]
    with vision.gates_fixed(model, "spatial", reference):
        maps = vision.gate_values(model, x, "spatial")
    for m, want in zip(maps, mean_maps):
        assert np.allclose(m, want[None], atol=1e-6)
    with vision.gates_fixed(model, "channel", reference):
        gates = vision.gate_values(model, reference, "channel")
    # only the first block's channel gate sees the same input as before; all are the constant mean
    for g, want in zip(gates, mean_channel):
        assert np.allclose(g, want[None], atol=1e-6)
    assert not np.allclose(vision.gate_values(model, x, "spatial")[1][0], mean_maps[1])  # restored


def test_image_specific_share():
    rng = np.random.default_rng(0)
    fixed = np.broadcast_to(rng.random((1, 8, 8)), (50, 8, 8))
    assert vision.image_specific_share(fixed) < 1e-9
    assert vision.image_specific_share(rng.random((50, 8, 8))) > 0.9


# ---- the committed models ------------------------------------------------------------------------------


def test_trained_models_load_and_cbam_beats_plain():
    models = vision.load_all()
    assert set(models) == {"plain", "se", "cbam"}
    images, labels, _, _ = vision.make_images(150, seed=31)
    acc = {k: vision.accuracy(m, images, labels) for k, m in models.items()}
    stored = {k: m.training_info["test"]["accuracy"] for k, m in models.items()}
    assert stored["cbam"] >= stored["plain"] and stored["se"] > stored["plain"]
    assert acc["cbam"] > 0.7 and acc["se"] > 0.7 and acc["plain"] > 0.35  # chance is 0.2
    for kind, model in models.items():
        info = model.training_info
        assert info["steps"] == 1000 and info["batch"] == 64 and info["seed"] == 0 and len(info["loss"]) == 1000
        assert info["test"]["images"] == 2000 and abs(acc[kind] - stored[kind]) < 0.12
    cbam = models["cbam"].training_info["test"]
    assert {"pointing", "distractor", "mass_on_target"} <= set(cbam["spatial"][1]) and "spatial_gate_mean" in cbam["ablation"]
