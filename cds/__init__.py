"""cds: sleep-myoclonus clinical decision support."""

__version__ = "0.1.0"
