"""Chaos suite: real `python -m zeb` processes against the simulated marketplace over HTTP (see harness.py)."""
