"""The defaults of ``micrographcleaner train``: one set for a new network, one for fine-tuning.

Kept apart from :mod:`.training` (which loads Keras) so the command's help can state them.
"""
from __future__ import annotations

FROZEN_PARTS = ("none", "norm", "encoder")
"""``norm``: the batch-normalisation layers keep their statistics and scales (a few real frames in
small batches would otherwise shift them for every micrograph); ``encoder``: the down blocks too."""
NEW_NETWORK = {"learning_rate": 1e-3, "simulated_fraction": 0.5, "steps_per_epoch": 200, "frozen": "none",
               "boundary_ignore": 0.0}
"""For a new network (the simulated share applies with labelled sources)."""
FINE_TUNING = {"learning_rate": 1e-4, "simulated_fraction": 0.5, "steps_per_epoch": 25, "frozen": "encoder",
               "boundary_ignore": 0.0}
"""With ``--initial-model``, the few-shot recipe: a tenth of a new network's rate, half the samples still
simulated, the encoder and every batch normalisation as they were (the decoder learns where the grid's
film lies; features and statistics stay those of every grid seen before), an epoch (a held-out check)
every 25 steps. Chosen with ``benchmarks/benchmark_fine_tune.py`` (docs: fine-tuning)."""


def defaults_text(key: str) -> str:
    """``default 0.001; 0.0001 when fine-tuning``, for a flag's help."""
    new, tuned = NEW_NETWORK[key], FINE_TUNING[key]
    return f"default {new}" + ("" if tuned == new else f"; {tuned} when fine-tuning")
