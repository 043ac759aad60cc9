"""MicrographCleaner engine: find carbon, contamination and other bad regions in cryo-EM
micrographs and score particle coordinates against them (no Scipion imports)."""

__version__ = "0.2.3"
