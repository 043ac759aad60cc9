import json

import numpy as np

from micrographcleaner.classes import CLASSES, CODES
from micrographcleaner.coordinates import read_coordinates
from micrographcleaner.images import read_mask, read_micrograph
from micrographcleaner.preprocessing import area_resize
from micrographcleaner.simulation import (
    draw_scene,
    render,
    simulate,
    write_simulated,
)


def scene_with(kind: str, start: int = 0) -> int:
    """First seed from ``start`` whose scene holds ``kind`` (carbon, contamination, ...)."""
    return next(seed for seed in range(start, start + 500) if draw_scene(seed)[kind])


def test_same_seed_same_micrograph_other_seed_other():
    first, again, other = simulate(3, (96, 128)), simulate(3, (96, 128)), simulate(4, (96, 128))
    assert first.image.shape == first.labels.shape == (96, 128)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.image, other.image)
    assert np.isfinite(first.image).all() and first.image.dtype == np.float32


def test_every_class_appears_and_is_labelled_where_drawn():
    for name in CLASSES:
        micrograph = simulate(scene_with(name), (128, 128))
        assert (micrograph.labels == CODES[name]).any(), name
    assert set(np.unique(np.concatenate([simulate(s, (64, 64)).labels.ravel() for s in range(40)]))) <= {0, *CODES.values()}


def test_carbon_is_darker_than_the_hole_on_average():
    darker = 0
    seeds = [scene_with("carbon", start) for start in (0, 100, 200, 300, 400)]
    for seed in seeds:
        micrograph = simulate(seed, (128, 128))
        film = micrograph.labels == CODES["carbon"]
        hole = micrograph.labels == 0
        if film.any() and hole.any():
            darker += micrograph.image[film].mean() < micrograph.image[hole].mean()
    assert darker >= 3


def test_particles_lie_in_the_frame_and_carry_their_true_class():
    micrograph = simulate(scene_with("carbon"), (128, 160))
    xy = micrograph.particles
    assert len(xy) > 0
    assert (xy[:, 0] >= 0).all() and (xy[:, 0] < 160).all() and (xy[:, 1] >= 0).all() and (xy[:, 1] < 128).all()
    rows, cols = np.rint(xy[:, 1]).astype(int).clip(0, 127), np.rint(xy[:, 0]).astype(int).clip(0, 159)
    assert np.array_equal(micrograph.labels[rows, cols], micrograph.particle_labels)


def test_ethane_bubbles_are_bright_and_free_of_particles():
    seed = next(s for s in range(500) if any(item["kind"] == "ethane" and item["radius"] > 12
                                             for item in draw_scene(s, (128, 128))["contamination"]))
    scene = draw_scene(seed, (128, 128))
    bubble = next(item for item in scene["contamination"] if item["kind"] == "ethane" and item["radius"] > 12)
    micrograph = render(scene)
    y, x = np.mgrid[:128, :128]
    distance = np.hypot(x - bubble["centre"][0], y - bubble["centre"][1]) / bubble["radius"]
    inside, around = distance < 0.5, (distance > 1.5) & (distance < 2.5) & (micrograph.labels == 0)
    if around.any():
        assert micrograph.image[inside].mean() > micrograph.image[around].mean()
    particles = micrograph.particles
    inner = np.hypot(*(particles - np.array(bubble["centre"])).T) < 0.5 * bubble["radius"]
    assert not inner.any()  # only contamination picks elsewhere; none inside a bubble


def test_full_size_rendering_shows_the_same_scene():
    seed = scene_with("contamination")
    working = simulate(seed, (64, 80))
    full = simulate(seed, (64, 80), box_size=64)  # 4x finer
    assert full.image.shape == (256, 320)
    assert abs(full.pixel_size * 4 - working.pixel_size) < 1e-6
    down = area_resize((full.labels > 0).astype(np.float32), (64, 80)) >= 0.5
    truth = working.labels > 0
    assert (down == truth).mean() > 0.98
    assert len(full.particles) == len(working.particles)
    assert np.allclose((full.particles + 0.5) / 4 - 0.5, working.particles)


def test_written_files_round_trip(tmp_path):
    path = write_simulated(tmp_path, 7, (64, 96), box_size=32)
    micrograph = read_micrograph(path)
    assert micrograph.data.shape == (128, 192)
    labels = read_mask(tmp_path / "sim_000007_labels.mrc")
    assert labels.shape == (128, 192) and set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    info = json.loads((tmp_path / "sim_000007.json").read_text())
    assert info["box_size"] == 32 and info["classes"][1:] == list(CLASSES) and info["scene"]["seed"] == 7
    assert abs(micrograph.pixel_size - info["pixel_size"]) < 1e-3
    particles = read_coordinates(tmp_path / "sim_000007_particles.star")
    assert len(particles.xy) == len(render(draw_scene(7, (64, 96)), 2.0).particles)


def high_frequency_power(image: np.ndarray, region: np.ndarray, patch: int = 16) -> float:
    """Mean power of the upper half of frequencies over the patches lying wholly in ``region``."""
    power = []
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(patch), np.fft.fftfreq(patch), indexing="ij"))
    for y in range(0, image.shape[0] - patch, patch):
        for x in range(0, image.shape[1] - patch, patch):
            if region[y:y + patch, x:x + patch].all():
                piece = image[y:y + patch, x:x + patch]
                power.append((np.abs(np.fft.fft2(piece - piece.mean())) ** 2)[frequency > 0.25].mean())
    return float(np.mean(power))


def test_faint_carbon_differs_from_the_hole_by_grain_not_darkness():
    scenes = [draw_scene(seed, (128, 128)) for seed in range(400)]
    faint = [scene["seed"] for scene in scenes if scene["carbon"] and "faint" in scene["carbon"][0]
             and not any(scene[kind] for kind in ("contamination", "aggregate", "crystalline_ice"))]
    assert len(faint) >= 5
    grainier = 0
    for seed in faint[:5]:
        micrograph = simulate(seed, (128, 128))
        carbon, hole = micrograph.labels == CODES["carbon"], micrograph.labels == 0
        if carbon.sum() < 1024 or hole.sum() < 1024:
            continue
        spread = micrograph.image[hole].std()
        # about as bright as the hole (within a few noise widths), yet grainier
        assert abs(micrograph.image[carbon].mean() - micrograph.image[hole].mean()) < 3 * spread
        grainier += high_frequency_power(micrograph.image, carbon) > high_frequency_power(micrograph.image, hole)
    assert grainier >= 2


def test_a_bright_band_along_the_film_edge_is_film():
    """Some scenes show the bright band that denoised frames have along the film's edge: brighter
    than the hole ice, and labelled carbon as human labels count it."""
    from scipy import ndimage

    shape = (128, 160)
    seeds = [seed for seed in range(600) if (carbon := draw_scene(seed, shape)["carbon"])
             and carbon[0].get("edge_band", {}).get("width", 0) > 6]
    assert len(seeds) >= 5
    brighter = 0
    for seed in seeds[:5]:
        micrograph = simulate(seed, shape)
        film, hole = micrograph.labels == CODES["carbon"], micrograph.labels == 0
        depth = ndimage.distance_transform_edt(film)
        band = film & (depth > 1) & (depth < 3)
        if band.any() and hole.any():
            brighter += np.median(micrograph.image[band]) > np.median(micrograph.image[hole])
    assert brighter >= 3


def test_hollow_particles_are_rings_and_good():
    seed = next(s for s in range(300) if draw_scene(s)["particles"]["hollow"] and draw_scene(s)["particles"]["coverage"] > 0.3
                and draw_scene(s)["noise"] < 0.03)
    micrograph = simulate(seed, (128, 128))
    good = micrograph.particle_labels == 0
    assert good.sum() > 10
    rows, cols = np.indices(micrograph.image.shape)
    radius = draw_scene(seed)["particle_diameter"] / 2
    centre_values, rim_values = [], []
    for x, y in micrograph.particles[good][:20]:
        distance = np.hypot(cols - x, rows - y)
        centre_values.append(micrograph.image[distance < 0.3 * radius].mean())
        rim_values.append(micrograph.image[(distance > 0.7 * radius) & (distance < radius)].mean())
    assert np.mean(centre_values) > np.mean(rim_values)  # dark rim, lighter middle: a ring


def test_empty_ice_has_a_thickness_gradient_no_particles_and_is_good():
    shape = (128, 128)
    seeds = [seed for seed in range(300) if draw_scene(seed, shape)["ice"].get("empty")]
    assert len(seeds) >= 5
    for seed in seeds[:5]:
        micrograph = simulate(seed, shape)
        assert (micrograph.labels == 0).all() and len(micrograph.particles) == 0
        # the gradient: the image's linear trend across the frame exceeds the per-pixel noise's share
        rows, columns = np.mgrid[:shape[0], :shape[1]]
        plane = np.stack([np.ones(rows.size), columns.ravel(), rows.ravel()], axis=1)
        trend = plane @ np.linalg.lstsq(plane, micrograph.image.ravel(), rcond=None)[0]
        assert trend.max() - trend.min() > 0.05 * micrograph.image.mean()


def test_a_meniscus_thickens_empty_ice_toward_a_rim_beyond_the_frame_and_is_good():
    """Half the empty-ice frames curve toward a hole rim outside them: the image's residual from
    its best plane still holds the darkening, and every pixel stays good ice."""
    shape = (128, 128)
    seeds = [seed for seed in range(600) if draw_scene(seed, shape)["ice"].get("meniscus")]
    assert len(seeds) >= 5
    rows, columns = np.mgrid[:shape[0], :shape[1]]
    plane = np.stack([np.ones(rows.size), columns.ravel(), rows.ravel()], axis=1)
    curved = 0
    for seed in seeds[:5]:
        scene = draw_scene(seed, shape)
        meniscus = scene["ice"]["meniscus"]
        corners = np.array([[0, 0], [0, shape[0]], [shape[1], 0], [shape[1], shape[0]]])
        assert (np.hypot(*(corners - meniscus["centre"]).T) < meniscus["radius"]).all()  # rim beyond the frame
        micrograph = simulate(seed, shape)
        assert (micrograph.labels == 0).all() and len(micrograph.particles) == 0
        without = dict(scene, ice={key: value for key, value in scene["ice"].items() if key != "meniscus"})
        difference = (render(without).image - micrograph.image).ravel()  # the meniscus's darkening alone
        residual = difference - plane @ np.linalg.lstsq(plane, difference, rcond=None)[0]
        curved += np.abs(residual).max() > 0.01 * micrograph.image.mean()
    assert curved >= 3


def test_film_with_only_an_edge_line_is_film_as_bright_as_the_hole():
    """Film whose only sign is a faint line along its edge: labelled carbon, no darker than the hole
    beyond the noise, and the line stands out of both sides."""
    from scipy import ndimage

    shape = (128, 160)
    seeds = [seed for seed in range(800) if (carbon := draw_scene(seed, shape)["carbon"]) and "edge_line" in carbon[0]
             and not any(draw_scene(seed, shape)[kind] for kind in ("contamination", "aggregate", "crystalline_ice"))]
    assert len(seeds) >= 5
    lined = 0
    for seed in seeds[:5]:
        micrograph = simulate(seed, shape)
        film, hole = micrograph.labels == CODES["carbon"], micrograph.labels == 0
        if film.sum() < 512 or hole.sum() < 512:
            continue
        film_depth, hole_depth = ndimage.distance_transform_edt(film), ndimage.distance_transform_edt(hole)
        line = (film & (film_depth <= 1)) | (hole & (hole_depth <= 1))
        beside = (film & (film_depth > 2) & (film_depth <= 8)) | (hole & (hole_depth > 2) & (hole_depth <= 8))
        # on either side near the edge (away from the frame's ice gradient) film and hole look alike
        image = micrograph.image
        assert abs(image[beside & film].mean() - image[beside & hole].mean()) < image[hole].std()
        contrast = micrograph.scene["carbon"][0]["edge_line"]["contrast"]
        difference = image[line].mean() - image[beside].mean()
        lined += np.sign(difference) == np.sign(contrast)
    assert lined >= 3


def test_a_crystalline_mosaic_is_labelled_and_stays_in_its_patch():
    """Half the crystalline patches are a mosaic of flat crystallites: labelled crystalline ice, and
    confined to the patch."""
    from scipy import ndimage

    shape = (128, 128)
    seeds = [seed for seed in range(1500) if (ice := draw_scene(seed, shape)["crystalline_ice"]) and "mosaic" in ice[0]
             and 0.2 < ice[0]["coverage"] < 0.8]
    assert len(seeds) >= 3
    for seed in seeds[:3]:
        micrograph = simulate(seed, shape)
        crystalline = micrograph.labels == CODES["crystalline_ice"]
        assert crystalline.any()
        plain = json.loads(json.dumps(micrograph.scene))
        del plain["crystalline_ice"][0]["mosaic"]
        without = render(plain)
        assert (without.labels == micrograph.labels).all()

        # the mosaic changes the patch, and only the patch (beyond its blurred border)
        changed = np.abs(micrograph.image - without.image)
        far = ndimage.distance_transform_edt(~crystalline) > 4
        assert changed[crystalline].mean() > 5 * changed[far].mean()
