"""Decoding outside the network: sub-pixel heatmap refinement, regression, flip test, inverse affine."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.deploy.crop import box_to_center_scale, get_affine, transform_points
from edgepose.deploy.decode import (
    decode_heatmaps,
    decode_regression,
    flip_back,
    flip_back_regression,
    to_image_coords,
)
from edgepose.schemas import COCO17


def gaussian_maps(centres_xy: np.ndarray, size_hw: tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """(N, 2) heatmap-pixel centres -> (N, 1, h, w) unnormalised Gaussians."""
    h, w = size_hw
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = centres_xy[:, 0, None, None], centres_xy[:, 1, None, None]
    return np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))[:, None].astype(np.float32)


@pytest.fixture
def subpixel_centres() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(8, 40, 64), rng.uniform(8, 56, 64)], axis=1)  # inside a 64x48 map


def test_dark_recovers_subpixel_centre_better_than_argmax(subpixel_centres: np.ndarray) -> None:
    maps = gaussian_maps(subpixel_centres, (64, 48))
    dark = decode_heatmaps(maps, stride=1.0, refine="dark")[:, 0, :2]
    plain = decode_heatmaps(maps, stride=1.0, refine="argmax")[:, 0, :2]
    dark_err = np.abs(dark - subpixel_centres).max(axis=1)
    plain_err = np.abs(plain - subpixel_centres).max(axis=1)
    assert dark_err.max() < 0.1
    assert dark_err.mean() < 0.25 * plain_err.mean()
    assert plain_err.max() > 0.3  # argmax alone is off by up to half a pixel


def test_quarter_offset_is_within_a_quarter_pixel(subpixel_centres: np.ndarray) -> None:
    maps = gaussian_maps(subpixel_centres, (64, 48))
    quarter = decode_heatmaps(maps, stride=1.0, refine="quarter")[:, 0, :2]
    err = np.abs(quarter - subpixel_centres)
    assert err.max() <= 0.25 + 1e-4
    plain = decode_heatmaps(maps, stride=1.0, refine="argmax")[:, 0, :2]
    assert err.mean() < np.abs(plain - subpixel_centres).mean()


def test_decode_scales_by_stride_and_scores_with_the_peak() -> None:
    maps = 0.7 * gaussian_maps(np.array([[10.0, 20.0]]), (64, 48))
    out = decode_heatmaps(maps, stride=(4.0, 3.0))
    assert out.shape == (1, 1, 3)
    np.testing.assert_allclose(out[0, 0], [40.0, 60.0, 0.7], atol=1e-3)


def test_decode_rejects_unknown_refinement() -> None:
    with pytest.raises(ValueError, match="refine"):
        decode_heatmaps(np.zeros((1, 1, 8, 8)), refine="cubic")


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_peaks_at_and_beyond_the_border_are_recovered(sigma: float) -> None:
    """With heatmap = input / stride, the last input pixels map past the last heatmap cell (up to
    1 - 1/stride beyond it): the border fallback must still find them."""
    centres = np.array([[0.0, 0.2], [0.6, 1.4], [47.0, 63.0], [47.7, 62.4], [46.2, 3.3], [2.7, 61.6]])
    out = decode_heatmaps(gaussian_maps(centres, (64, 48), sigma), stride=1.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0, :2], centres, atol=0.05)


def test_dark_smoothing_resists_noise() -> None:
    rng = np.random.default_rng(3)
    centres = np.stack([rng.uniform(10, 38, 200), rng.uniform(10, 54, 200)], axis=1)
    maps = gaussian_maps(centres, (64, 48)) + 0.05 * rng.standard_normal((200, 1, 64, 48)).astype(np.float32)
    err = {b: np.hypot(*(decode_heatmaps(maps, 1.0, blur_sigma=b)[:, 0, :2] - centres).T).mean() for b in (0.0, 2.0)}
    assert err[2.0] < 0.5 * err[0.0]


def test_flip_back_restores_channel_order_and_position() -> None:
    k, h, w = COCO17.num_keypoints, 32, 24
    rng = np.random.default_rng(1)
    centres = np.stack([rng.integers(3, w - 3, k), rng.integers(3, h - 3, k)], axis=1).astype(float)
    original = gaussian_maps(centres, (h, w))[:, 0][None]  # (1, K, h, w): channel j peaks at centres[j]
    flipped_input_maps = original[:, COCO17.flip_index(), :, ::-1]  # what a model sees on a mirrored image
    restored = flip_back(flipped_input_maps, COCO17.flip_index(), shift_px=0.0)
    np.testing.assert_array_equal(restored, original)
    shifted = flip_back(flipped_input_maps, COCO17.flip_index())  # the usual 1-pixel shift
    np.testing.assert_array_equal(shifted[..., 1:], original[..., :-1])
    peaks = decode_heatmaps(restored, stride=1.0, refine="argmax")[0, :, :2]
    np.testing.assert_allclose(peaks, centres)


def test_flip_back_exact_fractional_shift_recovers_location() -> None:
    stride, w_in = 4, 192
    x_in = np.array([70.3, 101.6, 120.9])
    y_hm = np.full(3, 30.0)
    seen_flipped = gaussian_maps(np.stack([(w_in - 1 - x_in) / stride, y_hm], 1), (64, 48))
    usual = decode_heatmaps(flip_back(seen_flipped, [0], shift_px=1.0), stride)[:, 0, 0]
    exact = decode_heatmaps(flip_back(seen_flipped, [0], shift_px=1 - 1 / stride), stride)[:, 0, 0]
    assert np.abs(exact - x_in).max() < 0.1
    assert np.abs(usual - x_in).min() > 0.9  # the usual shift over-corrects by a quarter heatmap pixel


def test_regression_decode_and_flip() -> None:
    h, w = 64, 48
    px = np.array([[[10.0, 20.0], [30.0, 50.0]]])
    coords = px / np.array([w, h])
    out = decode_regression(coords, (h, w))
    np.testing.assert_allclose(out[..., :2], px, atol=1e-4)
    assert (out[..., 2] == 1).all()
    flip_index = [1, 0]
    mirrored_px = np.stack([w - 1 - px[..., 0], px[..., 1]], -1)[:, flip_index]
    back = flip_back_regression(mirrored_px / np.array([w, h]), flip_index, input_width=w)
    np.testing.assert_allclose(back, coords, atol=1e-6)
    approx = flip_back_regression(coords, flip_index)
    np.testing.assert_allclose(approx[0, 1, 0], 1 - coords[0, 0, 0], atol=1e-6)


def test_to_image_coords_inverts_the_crop_affine() -> None:
    center, scale = box_to_center_scale([40, 30, 80, 160], aspect_ratio=48 / 64)
    forward = get_affine(center, scale, 17.0, (64, 48))
    inverse = get_affine(center, scale, 17.0, (64, 48), inverse=True)
    image_pts = np.array([[50.0, 40.0], [100.0, 170.0], [77.7, 91.1]])
    input_pts = transform_points(image_pts, forward)
    kpts = np.concatenate([input_pts, np.full((3, 1), 0.5)], axis=1)[None]
    back = to_image_coords(kpts, inverse[None])
    np.testing.assert_allclose(back[0, :, :2], image_pts, atol=1e-4)
    np.testing.assert_allclose(back[0, :, 2], 0.5)


def test_flip_average_refuses_heads_without_a_flip_test() -> None:
    from edgepose.deploy.decode import flip_average

    out = np.zeros((1, 17, 8, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="not head 'yolo'"):
        flip_average(out, out, "yolo", list(range(17)), 24)
