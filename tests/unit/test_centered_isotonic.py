"""The risk calibration map: the pools of isotonic regression, joined by straight lines."""

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from training.calibration import centered_isotonic
from training.metrics import expected_calibration_error

pytestmark = pytest.mark.unit


def _scores_and_outcomes(
    n: int = 50_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Booster-like scores: many ties (shared leaves), true probability the square of the score.
    score = np.round(rng.beta(2, 5, n), 3)
    truth = score**2
    return score, (rng.uniform(size=n) < truth).astype(float), truth


def test_pools_are_those_of_isotonic_regression_placed_at_their_mean_score():
    score, late, _ = _scores_and_outcomes()
    x, y = centered_isotonic(score, late)
    plain = IsotonicRegression(y_min=0.0, y_max=1.0).fit(score, late)
    assert np.allclose(np.unique(y), np.unique(plain.y_thresholds_))
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) >= 0)
    # Each node sits inside the score range of its pool, where plain isotonic is flat.
    assert np.allclose(plain.predict(x), y)


def test_the_map_has_no_plateaus_inside_the_pools_so_a_threshold_can_split_them():
    score, late, truth = _scores_and_outcomes()
    x, y = centered_isotonic(score, late)
    risk = np.interp(score, x, y)
    plain = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, late)
    inside = (score > x[0]) & (score < x[-1])
    assert len(np.unique(risk[inside])) == len(np.unique(score[inside]))
    assert len(np.unique(plain.predict(score))) < len(np.unique(risk)) / 2
    # Still honest: as well calibrated as the step map, against the true probability too.
    assert abs(risk.mean() - late.mean()) < 0.005
    assert expected_calibration_error(late, risk) < 0.01
    assert np.mean(np.abs(risk - truth)) < 0.01


def test_one_tied_score_is_one_pool_at_the_observed_rate():
    x, y = centered_isotonic(np.full(10, 0.3), np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0]))
    assert x.tolist() == [0.3] and y.tolist() == [0.2]
    assert np.interp([0.0, 0.3, 0.9], x, y).tolist() == [0.2, 0.2, 0.2]


def test_mismatched_or_empty_input_is_refused():
    with pytest.raises(ValueError, match="matching"):
        centered_isotonic(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="non-empty"):
        centered_isotonic(np.zeros(0), np.zeros(0))
