"""The One-Euro filter (edgepose.deploy.smoothing): what Casiez et al. 2012 promise, on numbers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from edgepose.deploy.smoothing import (
    OneEuroFilter,
    OneEuroParams,
    PoseSmoother,
    smooth_track,
    smoothing_factor,
)

FPS = 30.0


def noisy_constant(frames: int = 300, sigma: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (T, 17, 2) track of a still person at (50, 80) plus Gaussian noise; returns (noisy, truth)."""
    rng = np.random.default_rng(seed)
    truth = np.broadcast_to(np.array([50.0, 80.0]), (frames, 17, 2)).copy()
    return truth + rng.normal(0, sigma, truth.shape), truth


def ramp_then_stop(frames: int = 120, speed_px: float = 4.0) -> np.ndarray:
    """(T, 1, 2): x moves speed_px per frame for the first half, then stands still."""
    x = np.minimum(np.arange(frames), frames // 2) * speed_px
    return np.stack([x, np.zeros(frames)], axis=-1)[:, None, :]


def test_smoothing_factor_is_the_exponential_filter_alpha() -> None:
    # tau = 1 / (2 pi fc); alpha = 1 / (1 + tau / dt)
    assert smoothing_factor(1.0, 1 / FPS) == pytest.approx(1 / (1 + FPS / (2 * math.pi)))
    assert 0 < smoothing_factor(0.1, 1 / FPS) < smoothing_factor(10.0, 1 / FPS) < 1


def test_a_constant_signal_stays_exactly_constant() -> None:
    track = np.broadcast_to(np.array([12.5, -3.0]), (50, 17, 2))
    out = smooth_track(track, OneEuroParams(min_cutoff=0.5, beta=2.0))
    np.testing.assert_array_equal(out, track)


def test_a_noisy_constant_gets_quieter_and_stays_unbiased() -> None:
    noisy, truth = noisy_constant()
    out = smooth_track(noisy, OneEuroParams(min_cutoff=0.5, beta=0.0))
    settled = slice(60, None)  # past the start-up (the first output is the first input)
    raw_err = np.abs(noisy[settled] - truth[settled]).std()
    err = np.abs(out[settled] - truth[settled]).std()
    assert err < 0.35 * raw_err
    assert abs(float((out[settled] - truth[settled]).mean())) < 0.1  # noise sigma is 1 px
    jitter_raw = np.abs(np.diff(noisy[settled], 2, axis=0)).mean()
    jitter = np.abs(np.diff(out[settled], 2, axis=0)).mean()
    assert jitter < 0.15 * jitter_raw


def test_a_step_converges_to_the_new_value() -> None:
    step = np.zeros((90, 1, 2))
    step[30:] = 10.0
    out = smooth_track(step, OneEuroParams(min_cutoff=1.0, beta=0.0))
    assert out[30, 0, 0] < 5.0  # it lags ...
    assert np.all(np.diff(out[30:, 0, 0]) >= 0)  # ... rises monotonically, never overshoots ...
    assert out[-1, 0, 0] == pytest.approx(10.0, abs=0.01)  # ... and gets there


@pytest.mark.parametrize("beta", [0.05, 0.5])
def test_beta_trades_lag_for_jitter(beta: float) -> None:
    """More beta: less lag on a moving point, more jitter left on a still noisy one (than beta 0)."""
    moving = ramp_then_stop()
    noisy, _ = noisy_constant(sigma=2.0, seed=1)
    slow, fast = OneEuroParams(min_cutoff=0.5, beta=0.0), OneEuroParams(min_cutoff=0.5, beta=beta)
    lag_slow = np.abs(smooth_track(moving, slow) - moving)[5:60].mean()
    lag_fast = np.abs(smooth_track(moving, fast) - moving)[5:60].mean()
    assert lag_fast < 0.7 * lag_slow
    jitter_slow = np.abs(np.diff(smooth_track(noisy, slow)[60:], 2, axis=0)).mean()
    jitter_fast = np.abs(np.diff(smooth_track(noisy, fast)[60:], 2, axis=0)).mean()
    assert jitter_fast > jitter_slow


def test_scale_makes_beta_size_independent() -> None:
    """A person twice as big moving twice as fast, with the box as scale, is smoothed the same way."""
    moving = ramp_then_stop(speed_px=3.0)
    params = OneEuroParams(min_cutoff=0.5, beta=0.3)
    small = smooth_track(moving, params, scale=100.0)
    big = smooth_track(2 * moving, params, scale=200.0)
    np.testing.assert_allclose(big, 2 * small, rtol=1e-12, atol=1e-9)


def test_timestamps_stand_in_for_the_frame_rate() -> None:
    noisy, _ = noisy_constant(frames=40)
    by_fps = smooth_track(noisy, OneEuroParams(min_cutoff=1.0, beta=0.2, fps=25.0))
    by_time = smooth_track(noisy, OneEuroParams(min_cutoff=1.0, beta=0.2), timestamps_s=np.arange(40) / 25.0)
    np.testing.assert_allclose(by_time, by_fps, rtol=1e-12)


def test_scores_are_kept_and_missing_points_hold_their_state() -> None:
    track = np.zeros((6, 2, 3))
    track[..., 0] = np.arange(6)[:, None] * 2.0
    track[..., 2] = 0.7
    track[2:4, 1, :2] = np.nan  # keypoint 1 unseen for two frames
    out = smooth_track(track, OneEuroParams(min_cutoff=1.0, beta=0.0))
    assert np.all(out[..., 2] == 0.7)
    assert np.isnan(out[2:4, 1, :2]).all() and np.isfinite(out[4:, 1, :2]).all()
    np.testing.assert_allclose(out[:, 0], smooth_track(track[:, :1], OneEuroParams(1.0, 0.0))[:, 0])


def test_filter_holds_on_a_repeated_timestamp_and_restarts_on_a_new_shape() -> None:
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    f(np.zeros(3), t_s=1.0)
    moved = f(np.ones(3), t_s=1.1)
    assert np.all((moved > 0) & (moved < 1))
    np.testing.assert_array_equal(f(np.full(3, 9.0), t_s=1.1), moved)  # same time: nothing new integrated
    np.testing.assert_array_equal(f(np.full(4, 7.0), t_s=2.0), np.full(4, 7.0))  # a new shape starts afresh
    with pytest.raises(ValueError):
        OneEuroParams(min_cutoff=0.0)
    with pytest.raises(ValueError):
        OneEuroFilter(beta=-1.0)


def test_pose_smoother_keeps_one_filter_per_track_and_matches_smooth_track() -> None:
    params = OneEuroParams(min_cutoff=1.0, beta=0.0)
    smoother = PoseSmoother(params.min_cutoff, params.beta, params.d_cutoff, forget_after_s=10.0)
    noisy, _ = noisy_constant(frames=20)
    kp = np.concatenate([noisy[:, :3], np.full((20, 3, 1), 0.9)], axis=-1)  # (T, K, 3) with scores
    a = [smoother(kp[t], "a", t / params.fps) for t in range(20)]
    b = [smoother(kp[t] + [100.0, 100.0, 0.0], "b", t / params.fps) for t in range(20)]
    np.testing.assert_allclose(np.stack(a), smooth_track(kp, params), rtol=1e-6, atol=1e-4)  # float32 out
    np.testing.assert_allclose(np.stack(b)[..., :2], smooth_track(kp[..., :2] + 100.0, params), rtol=1e-6, atol=1e-4)
    smoother.forget("a")
    np.testing.assert_allclose(smoother(kp[0] + 7.0, "a", 1.0)[:, :2], kp[0, :, :2] + 7.0, rtol=1e-6)  # a fresh start


def test_deploy_imports_no_torch() -> None:
    code = "import sys, edgepose.deploy.smoothing; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
