"""Shared set-up of the Python tests: import path, hypothesis profile, helpers."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

# ctest sets PYTHONPATH to the build's python directory; when pytest runs by hand
# without it, fall back to the default build trees.
try:
    import shannon  # noqa: F401
except ImportError:
    _root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for _build in ("build", "build-py"):
        _dir = os.path.join(_root, _build, "python")
        if os.path.isdir(os.path.join(_dir, "shannon")):
            sys.path.insert(0, _dir)
            break
    import shannon  # noqa: F401

from hypothesis import HealthCheck, settings

# Fast and deterministic on a shared 2-core machine.
settings.register_profile(
    "shannon",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# SHANNON_HYPOTHESIS_PROFILE=thorough for a long, random search by hand.
settings.register_profile("thorough", max_examples=2000, deadline=None, database=None)
settings.load_profile(os.environ.get("SHANNON_HYPOTHESIS_PROFILE", "shannon"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


@pytest.fixture
def make_dist(rng):
    """make_dist(shape, dtype=float64, zeros=0.0): random probability vectors along the
    last axis, skewed, with a fraction `zeros` of exact zeros (never an all-zero row)."""

    def make(shape, dtype=np.float64, zeros=0.0):
        x = rng.random(shape) ** 3
        if zeros:
            x[rng.random(shape) < zeros] = 0.0
            x[..., 0] += 1e-3
        x = x / x.sum(axis=-1, keepdims=True)
        return x.astype(dtype)

    return make
