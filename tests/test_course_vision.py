"""Notebook 06 (attnwidgets.course.vision): the shapes generator, SE, CBAM, the CNNs, the pointing game, the checks."""

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
