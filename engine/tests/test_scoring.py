import numpy as np
import pytest

from micrographcleaner.contract import ACCEPTED, CRYSTALLINE_ICE, LOW_GOODNESS, MOSTLY_BAD, unreadable_row
from micrographcleaner.preprocessing import geometry_for
from micrographcleaner.scoring import (CoordinateScores, MicrographRule, ScoringRule, disc_mean, distance_to_bad,
                                       flagged_fractions, score_coordinates)


def square_mask(shape=(100, 120), channels=1):
    badness = np.zeros(shape + (channels,), np.float32)
    badness[:, 80:, 0] = 1.0  # bad beyond column 80
    if channels > 1:
        badness[:, 80:, 1] = 1.0  # class 1 = the same region
    return badness


def test_disc_mean_counts_the_disc_only():
    values = np.zeros((50, 50))
    values[:, 25:] = 1.0
    centres = np.array([[25.0 - 0.5, 20.0], [5.0, 5.0], [45.0, 45.0]])
    means = disc_mean(values, centres, 10.0)
    assert means[0] == pytest.approx(0.5, abs=0.05)
    assert means[1] == 0 and means[2] == 1


def test_disc_mean_ignores_pixels_off_the_image():
    values = np.ones((20, 20))
    assert disc_mean(values, np.array([[0.0, 0.0]]), 6.0)[0] == 1.0


def test_distance_is_exact_and_infinite_without_bad_pixels():
    bad = np.zeros((10, 10), bool)
    assert np.isinf(distance_to_bad(bad, np.array([[1.0, 1.0]]), 1.0)).all()
    bad[:, 9] = True
    np.testing.assert_allclose(distance_to_bad(bad, np.array([[2.0, 4.0], [9.0, 0.0]]), 2.0), [14.0, 0.0])


def test_scores_follow_the_particle_box_not_a_fixed_window():
    geometry = geometry_for((1000, 1200), 10.0)  # working 100 x 120
    xy = np.array([[790.0, 500.0], [300.0, 500.0]])  # 1 working px and 49 px left of the edge at x=800
    small = score_coordinates(square_mask(), geometry, xy, 40.0, ["bad"], ScoringRule())
    large = score_coordinates(square_mask(), geometry, xy, 200.0, ["bad"], ScoringRule())
    assert large.goodness[0] < small.goodness[0] < 1.0  # a bigger particle overlaps more of the bad region
    assert small.goodness[1] == large.goodness[1] == 1.0


def test_decisions_and_reasons():
    geometry = geometry_for((1000, 1200), 10.0)
    xy = np.array([[100.0, 500.0], [700.0, 500.0], [1100.0, 500.0], [-20.0, 500.0]])
    scores = score_coordinates(square_mask(), geometry, xy, 40.0, ["bad"],
                               ScoringRule(threshold=0.8, min_distance={"any": 300.0}), pixel_size=2.0)
    assert scores.reason == ["accepted", "near bad region", "low goodness", "outside micrograph"]
    assert scores.accepted.tolist() == [True, False, False, False]
    assert scores.distance[0] == pytest.approx((795 - 100) * 2.0, abs=20)  # Angstrom


def test_a_centre_in_zero_to_size_is_on_the_micrograph():
    """Pixel sides, not pixel centres, bound the micrograph: [0, width) x [0, height)."""
    geometry = geometry_for((512, 512), 10.0)
    xy = np.array([[511.99, 511.99], [0.0, 0.0], [512.0, 100.0], [100.0, -0.01]])
    scores = score_coordinates(np.zeros((256, 256, 1), np.float32), geometry, xy, 40.0, ["bad"], ScoringRule())
    assert scores.reason == ["accepted", "accepted", "outside micrograph", "outside micrograph"]


def test_per_class_minimum_distance():
    geometry = geometry_for((1000, 1200), 10.0)
    xy = np.array([[700.0, 500.0]])
    rule = ScoringRule(min_distance={"carbon": 200.0})
    scores = score_coordinates(square_mask(channels=2), geometry, xy, 40.0, ["bad", "carbon"], rule)
    assert scores.reason == ["near carbon"] and "carbon" in scores.class_distance
    with pytest.raises(ValueError, match="ice"):
        score_coordinates(square_mask(channels=2), geometry, xy, 40.0, ["bad", "carbon"],
                          ScoringRule(min_distance={"ice": 1.0}))


def test_flagged_fractions_per_class():
    fractions = flagged_fractions(square_mask(channels=2), ["bad", "carbon"])
    assert fractions == {"any": pytest.approx(40 / 120), "carbon": pytest.approx(40 / 120)}


def test_micrograph_rule_rejects_every_scored_coordinate_and_keeps_why_the_others_were_not():
    rule = MicrographRule(max_flagged=0.5, max_iciness=1.2)
    assert rule.rejection(0.6, None) == MOSTLY_BAD
    assert rule.rejection(0.4, 1.5) == CRYSTALLINE_ICE
    assert rule.rejection(0.4, None) is None  # an iciness not measured passes
    assert MicrographRule().rejection(1.0, 9.0) is None
    scores = CoordinateScores(np.array([0.9, 0.2, np.nan]), np.array([5.0, 0.0, np.nan]), {},
                              np.array([True, False, False]), [ACCEPTED, LOW_GOODNESS, unreadable_row(3)])
    rejected = scores.rejected_as(MOSTLY_BAD)
    assert not rejected.accepted.any()
    assert rejected.reason == [MOSTLY_BAD, MOSTLY_BAD, unreadable_row(3)]
    assert np.array_equal(rejected.goodness[:2], scores.goodness[:2])
