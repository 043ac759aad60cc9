"""``python scripts/demo_picks.py [SHARED_DATA]`` (default ../shared/data/real): the demo's EMPIAR-10017
picks, the centres of the expert's particle discs (``empiar10028/particle_masks/``, CryoSegNet's set), written once into the plugin's
``demo_data/empiar10017/`` as STAR files; the demo ships these small files, not the masks.

The discs (~108 px across, thresholded at 127) often touch, so a connected region can hold several:
each disc's centre is a maximum of the distance to the background, at least ~0.9 radius deep.
Run it in Scipion's Python of the checkout (scipy, scikit-image and Pillow come with pwem).
"""
import os
import sys

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.feature import peak_local_max

FRAMES = ("Falcon_2012_06_12-14_57_34_0", "Falcon_2012_06_12-15_30_21_0")
RADIUS = 54  # px, of the expert's discs
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGET = os.path.join(ROOT, "xmipp3_micrographcleaner", "demo_data", "empiar10017")


def centres(mask):
    """[(x, y)] of the discs in a boolean mask, in pixels (x the column)."""
    depth = ndimage.distance_transform_edt(mask)
    peaks = peak_local_max(depth, min_distance=RADIUS // 3, threshold_abs=0.9 * RADIUS, exclude_border=False)
    return sorted((int(col), int(row)) for row, col in peaks)


def writeStar(path, points, source):
    with open(path, "w") as stream:
        stream.write("# the expert's particle centres in %s (scripts/demo_picks.py)\n\ndata_\n\nloop_\n"
                     "_rlnCoordinateX #1\n_rlnCoordinateY #2\n" % source)
        stream.writelines("%d %d\n" % point for point in points)


def main(shared):
    for frame in FRAMES:
        source = os.path.join(shared, "empiar10028", "particle_masks", frame + "_mask.jpg")
        mask = np.asarray(Image.open(source).convert("L")) > 127
        points = centres(mask)
        writeStar(os.path.join(TARGET, frame + "_picks.star"), points, os.path.basename(source))
        print("%s: %d picks" % (frame, len(points)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "real"))
