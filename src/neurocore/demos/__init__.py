"""Demos run by python -m neurocore demo."""
