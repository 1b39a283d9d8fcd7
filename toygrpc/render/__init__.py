"""Renderers: each reads the same model (timeline + analysis) and writes one view."""
