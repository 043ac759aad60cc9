"""The hole edge: fitted where network and image agree, drawn only as far as its confidence goes."""
import numpy as np
import pytest

from micrographcleaner import holes
from micrographcleaner.evaluation import iou
from micrographcleaner.holes import fit_edge, hole_radius, radii_to_try, with_hole_geometry

CLASSES = ["bad", "carbon", "contamination"]
SHAPE = (240, 320)
CENTRE, RADIUS = (-150.0, 380.0), 420.0  # a hole whose edge crosses the frame's lower left; film beyond it


def film_outside(shape=SHAPE, centre=CENTRE, radius=RADIUS) -> np.ndarray:
    rows, columns = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(columns - centre[0], rows - centre[1]) > radius


def frame(film: np.ndarray, darkening: float, seed: int = 0) -> np.ndarray:
    """A working image in (0, 1): noise, and the film darker by ``darkening`` noise deviations."""
    noise = np.random.default_rng(seed).normal(0.0, 1.0, film.shape)
    return (1 / (1 + np.exp(-0.3 * (noise - darkening * film)))).astype(np.float32)


def badness_of(bad: np.ndarray, carbon_share: float = 1.0) -> np.ndarray:
    """Three channels: any bad, carbon, contamination."""
    bad = bad.astype(np.float32)
    return np.stack([bad, bad * carbon_share, bad * (1 - carbon_share)], axis=-1)


def test_a_faint_film_found_in_part_is_completed_along_its_arc():
    film = film_outside()
    # the network sees only the film in the upper quarter of the frame, and weakly
    seen = film & (np.mgrid[:SHAPE[0], :SHAPE[1]][0] < SHAPE[0] // 4)
    badness = badness_of(np.where(seen, 0.55, 0.05))
    image = frame(film, darkening=0.8)
    drawn, edge = with_hole_geometry(image, badness, CLASSES, None)
    assert edge is not None and edge.confidence == 1.0
    assert iou(film, drawn[..., 0] >= 0.5) > 0.9 > iou(film, badness[..., 0] >= 0.5) + 0.3
    assert np.all(drawn[..., 1] >= drawn[..., 0] - 1e-6)  # what was added is carbon


def test_a_known_radius_is_searched_around_and_a_hole_radius_comes_from_the_diameter():
    assert radii_to_try(SHAPE, 100.0) == pytest.approx([87.0, 100.0, 115.0])
    assert len(radii_to_try(SHAPE, None)) > 3
    # 1.2 um at 1 A/px, 20 micrograph px per working px: 6000 micrograph px = 300 working px
    assert hole_radius(1.2, 1.0, 20.0) == pytest.approx(300.0)
    film = film_outside()
    edge = fit_edge(frame(film, 0.8), np.where(film, 0.55, 0.05), radii_to_try(SHAPE, RADIUS))
    assert edge.radius == pytest.approx(RADIUS, rel=0.2)
    assert iou(film, edge.signed_distance(SHAPE) > 0) > 0.9


def test_empty_ice_with_a_thickness_gradient_gains_no_film():
    ramp = np.linspace(0.0, 4.0, SHAPE[1])[None, :] * np.ones((SHAPE[0], 1))
    noise = np.random.default_rng(1).normal(0.0, 1.0, SHAPE)
    image = (1 / (1 + np.exp(-0.3 * (noise - ramp)))).astype(np.float32)
    badness = badness_of(np.full(SHAPE, 0.05))
    drawn, edge = with_hole_geometry(image, badness, CLASSES, None)
    assert edge is None or edge.confidence == 0.0
    assert (drawn[..., 0] >= 0.5).mean() == 0.0


def test_contamination_in_the_hole_stays_flagged():
    film = film_outside()
    rows, columns = np.mgrid[:SHAPE[0], :SHAPE[1]]
    ball = np.hypot(columns - 60, rows - 200) < 20  # an ice ball inside the hole
    assert not (film & ball).any()
    bad = np.where(film, 0.9, 0.05)
    badness = np.stack([np.where(ball, 0.9, bad), np.where(ball, 0.0, bad), np.where(ball, 0.9, 0.0)],
                       axis=-1).astype(np.float32)
    drawn, edge = with_hole_geometry(frame(film, 0.8), badness, CLASSES, None)
    assert edge is not None and edge.confidence > 0
    assert (drawn[..., 0][ball] >= 0.5).all()


def test_the_network_must_agree_that_film_lies_outside():
    film = film_outside()
    # the image darkens beyond the arc, but the network flags the hole side: no circle is drawn
    badness = badness_of(np.where(film, 0.05, 0.6))
    drawn, edge = with_hole_geometry(frame(film, 0.8), badness, CLASSES, None)
    assert (drawn[..., 0][film] < 0.5).mean() > 0.9


def test_an_ice_ball_is_not_taken_for_film():
    """A dark ice ball in a corner, called contamination, with a weak carbon rim around it (as
    networks often give): its darkness is the ball's, so no edge is drawn."""
    rows, columns = np.mgrid[:SHAPE[0], :SHAPE[1]]
    distance = np.hypot(columns - 300, rows - 20) - 70
    ball, rim = distance < 0, (distance >= 0) & (distance < 12)
    image = frame(ball, darkening=3.0, seed=2)
    badness = np.stack([np.where(ball, 0.95, np.where(rim, 0.3, 0.05)), np.where(rim, 0.3, 0.02),
                        np.where(ball, 0.95, 0.03)], axis=-1).astype(np.float32)
    drawn, edge = with_hole_geometry(image, badness, CLASSES, None)
    assert edge is None or edge.confidence == 0.0
    assert ((drawn[..., 0] >= 0.5) == (badness[..., 0] >= 0.5)).all()
    # without leaving the ball out, the rim and the ball's darkness would make an edge
    assert fit_edge(image, badness[..., 1], radii_to_try(SHAPE, None)).confidence > 0


def test_a_film_shown_only_by_a_faint_line_along_its_edge_is_found(monkeypatch):
    """No darkening and a network that barely leans toward film outside: the dark line along the
    arc, and its curvature, place the circle; without the line the fit has nothing to go on."""
    film = film_outside()
    rows, columns = np.mgrid[:SHAPE[0], :SHAPE[1]]
    line = np.abs(np.hypot(columns - CENTRE[0], rows - CENTRE[1]) - RADIUS) < 3
    image = frame(line, darkening=1.5, seed=3)
    badness = badness_of(np.where(film, 0.08, 0.05))
    drawn, edge = with_hole_geometry(image, badness, CLASSES, None)
    assert edge is not None and edge.confidence == 1.0
    assert iou(film, drawn[..., 0] >= 0.5) > 0.9
    monkeypatch.setattr(holes, "LINE_WEIGHT", 0.0)
    drawn, edge = with_hole_geometry(image, badness, CLASSES, None)
    assert (iou(film, drawn[..., 0] >= 0.5) or 0.0) < 0.5


@pytest.mark.parametrize("offset", [-6.0, 6.0])
def test_the_arc_is_placed_by_the_film_evidence_on_a_finer_grid(monkeypatch, offset):
    # the hole is 6 working px (1.5 coarse px) off the radius tried: the coarse fit alone misplaces it
    film = film_outside(radius=RADIUS + offset)
    image, network = frame(film, 0.8), np.where(film, 0.9, 0.05)

    def misplaced() -> int:
        return int((film ^ (fit_edge(image, network, [RADIUS]).signed_distance(SHAPE) > 0)).sum())

    refined = misplaced()
    monkeypatch.setattr(holes, "REFINE_REACH", 0.0)
    assert refined < misplaced() / 3
