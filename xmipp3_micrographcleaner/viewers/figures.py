"""The viewer's pictures, drawn into a given matplotlib Figure from plain numbers and file paths.

No Scipion and no pyplot here: the same functions fill the Tk windows, the headless tests' PNGs
and the README's pictures. Every colour that means something (a class, accepted, rejected, a chosen
value) is the contract's, which the engine's thumbnails use too. Micrograph records only need the attributes of
:class:`..results.MicrographResult`.
"""
import math
import textwrap
from collections import Counter

import mrcfile
import numpy as np
from matplotlib.image import imread

from ..constants import contract

BINS = np.linspace(0.0, 1.0, 51)


def reasonCounts(reasons, accepted):
    """Rejections by reason; a failed micrograph's many messages count as one reason."""
    return Counter(contract.MICROGRAPH_FAILED if reason.startswith(contract.MICROGRAPH_FAILED) else reason
                   for reason, keep in zip(reasons, accepted) if not keep)


def thresholdText(threshold):
    return "none (score only)" if threshold is None or threshold < 0 else "%.2f" % threshold


def scoreHistogram(figure, scores, accepted, reasons, threshold):
    """Stacked histogram of goodness (accepted / rejected) with the run's threshold, counts beside it."""
    scores, accepted = np.asarray(scores, float), np.asarray(accepted, bool)
    scored = ~np.isnan(scores)
    grid = figure.add_gridspec(1, 2, width_ratios=[3, 1.3])
    axes = figure.add_subplot(grid[0])
    groups = [scores[scored & accepted], scores[scored & ~accepted]]
    axes.hist(groups, bins=BINS, stacked=True, color=[contract.ACCEPTED_COLOUR, contract.REJECTED_COLOUR],
              label=["accepted (%d)" % len(groups[0]), "rejected (%d)" % len(groups[1])])
    if threshold is not None and threshold >= 0:
        axes.axvline(threshold, color=contract.THRESHOLD_COLOUR, linestyle="--", label="threshold %.2f" % threshold)
    axes.set_xlim(0, 1)
    axes.set_xlabel("goodness (1 - mean badness under the particle)")
    axes.set_ylabel("coordinates")
    axes.set_title("Goodness of %d scored coordinates" % scored.sum())
    axes.legend(loc="upper left")

    lines = ["threshold: %s" % thresholdText(threshold), "",
             "coordinates: %d" % len(scores),
             "accepted: %d (%.1f%%)" % (accepted.sum(), 100.0 * accepted.sum() / max(len(scores), 1)),
             "rejected: %d" % (~accepted).sum()]
    lines += ["  %s: %d" % item for item in sorted(reasonCounts(reasons, accepted).items())]
    lines += ["not scored: %d" % (~scored).sum()]
    side = figure.add_subplot(grid[1])
    side.axis("off")
    side.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=9)
    return axes


def keptCurve(figure, thresholds, kept, total, threshold, chosen, minDistance, runThreshold):
    """Coordinates kept as a function of the threshold, with the chosen threshold's count marked."""
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(thresholds, kept, color=contract.ACCEPTED_COLOUR, drawstyle="steps-post")
    axes.plot([threshold], [chosen], "o", color="black")
    axes.annotate("%d of %d kept (%.1f%%)" % (chosen, total, 100.0 * chosen / max(total, 1)),
                  (threshold, chosen), textcoords="offset points", xytext=(-8 if threshold > 0.5 else 8, 8),
                  ha="right" if threshold > 0.5 else "left")
    if runThreshold is not None and runThreshold >= 0:
        axes.axvline(runThreshold, color=contract.THRESHOLD_COLOUR, linestyle="--",
                     label="run's threshold %.2f" % runThreshold)
        axes.legend(loc="lower left")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, max(total, 1) * 1.05)
    axes.set_xlabel("goodness threshold")
    axes.set_ylabel("coordinates kept")
    axes.set_title("Kept coordinates by threshold" + (", min. distance %g A" % minDistance if minDistance else ""))
    return axes


def readPicture(record):
    """The micrograph's thumbnail, else its mask as a grey image, else None."""
    if record.thumbnail:
        return imread(record.thumbnail)
    if record.mask:
        with mrcfile.open(record.mask, permissive=True) as mrc:
            data = np.asarray(mrc.data, dtype=np.float32)
        return data[0] if data.ndim == 3 else data
    return None


def caption(record):
    flagged = "failed" if record.error else "flagged %.0f%%" % (100 * record.flagged)
    return "%d %s\n%s · kept %d · rejected %d" % (record.micId, record.name[:28], flagged, record.accepted,
                                                 record.rejected)


def _picture(axes, record, fontsize):
    picture = readPicture(record)
    axes.set_xticks([])
    axes.set_yticks([])
    if picture is not None:
        axes.imshow(picture, cmap="gray_r" if picture.ndim == 2 else None, vmin=0 if picture.ndim == 2 else None,
                    vmax=1 if picture.ndim == 2 else None)
    else:
        axes.set_box_aspect(1)
        axes.text(0.5, 0.5, textwrap.fill(record.error or "no picture saved", 34), ha="center", va="center",
                  color=contract.REJECTED_COLOUR if record.error else "black", fontsize=fontsize,
                  transform=axes.transAxes)
    for spine in axes.spines.values():
        spine.set_color(contract.REJECTED_COLOUR if record.error else "#999999")


def galleryPage(figure, records, columns=4, title=""):
    """Thumbnails of ``records`` (one page) in a grid with their numbers; returns [(axes, record)]."""
    rows = max(1, math.ceil(len(records) / columns))
    tiles = []
    for index, record in enumerate(records):
        axes = figure.add_subplot(rows, columns, index + 1)
        _picture(axes, record, fontsize=7)
        axes.set_title(caption(record), fontsize=8)
        tiles.append((axes, record))
    if title:
        figure.suptitle(title)
    # each picture carries its own key (classes present, accepted and rejected picks) below it
    figure.subplots_adjust(left=0.02, right=0.98, top=0.86 if title else 0.93, bottom=0.03, hspace=0.35, wspace=0.05)
    return tiles


def micrographDetail(figure, record):
    """One micrograph large, with its flagged fractions and particle counts."""
    grid = figure.add_gridspec(1, 2, width_ratios=[3, 1.2])
    axes = figure.add_subplot(grid[0])
    _picture(axes, record, fontsize=10)
    axes.set_title("%d %s" % (record.micId, record.name))
    lines = ["micrograph id: %d" % record.micId]
    if record.error:
        lines += ["FAILED:", record.error]
    else:
        lines += ["flagged: %.1f%%" % (100 * record.flagged)]
        lines += ["  %s: %.1f%%" % (name, 100 * value) for name, value in record.classFractions.items()]
        if not math.isnan(record.iciness):
            lines += ["iciness: %.2f" % record.iciness]
    if record.micrographRejected:
        lines += ["micrograph REJECTED"]
    total = record.accepted + record.rejected
    lines += ["", "particles: %d" % total, "kept: %d" % record.accepted,
              "rejected: %d (%.1f%%)" % (record.rejected, 100.0 * record.rejected / max(total, 1))]
    side = figure.add_subplot(grid[1])
    side.axis("off")
    side.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=10, wrap=True)
    return axes


def runningMean(values, window):
    """Mean over the last ``window`` values (fewer at the start), NaNs skipped."""
    values = np.asarray(values, float)
    result = np.full(len(values), np.nan)
    for end in range(len(values)):
        chunk = values[max(0, end - window + 1):end + 1]
        if np.any(~np.isnan(chunk)):
            result[end] = np.nanmean(chunk)
    return result


def overTime(figure, records, classes=(), window=10, maxFlagged=None):
    """Flagged fraction and fraction of particles rejected per micrograph, in acquisition order,
    with the run's maximum flagged fraction and the micrographs rejected by it."""
    order = np.arange(1, len(records) + 1)
    flagged = np.array([record.flagged for record in records], float)
    rejected = np.array([record.rejectedFraction for record in records], float)
    failed = [i for i, record in enumerate(records) if record.error]
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(order, 100 * flagged, ".", color=contract.class_colour("bad"), label="flagged (any class)")
    top.plot(order, 100 * runningMean(flagged, window), color="black", label="mean of last %d" % window)
    for name in classes:
        top.plot(order, [100 * record.classFractions.get(name, np.nan) for record in records], ".",
                 color=contract.class_colour(name), label=name)
    if failed:
        top.plot(order[failed], np.zeros(len(failed)), "x", color=contract.REJECTED_COLOUR, label="failed micrograph")
    mostlyBad = [i for i, record in enumerate(records) if record.micrographRejected and not record.error]
    if mostlyBad:
        top.plot(order[mostlyBad], 100 * flagged[mostlyBad], "o", mfc="none", color=contract.REJECTED_COLOUR,
                 label="rejected micrograph")
    if maxFlagged is not None and maxFlagged < 1:
        top.axhline(100 * maxFlagged, color=contract.THRESHOLD_COLOUR, linestyle="--", label="max. flagged fraction")
    top.set_ylabel("area flagged bad (%)")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left", fontsize=8)
    top.set_title("%d micrographs in acquisition order" % len(records))
    bottom.plot(order, 100 * rejected, ".", color=contract.REJECTED_COLOUR, label="rejected particles")
    bottom.plot(order, 100 * runningMean(rejected, window), color="black", label="mean of last %d" % window)
    bottom.set_ylabel("particles rejected (%)")
    bottom.set_ylim(0, 105)
    bottom.set_xlabel("micrograph (by id = acquisition order)")
    bottom.legend(loc="upper left", fontsize=8)
    return top, bottom
