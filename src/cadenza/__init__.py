"""Cadenza: a self-hostable, Suno-compatible music generation API."""

__version__ = "0.1.0"
