"""Byte entropy: the entropy of the byte values of data, against SciPy and mpmath.

Contract: within 4e-15 relative of the exact entropy of the byte counts; the counts
are exact. Any bytes-like object of 1-byte items is read without a copy where it is
contiguous; anything else raises ValueError.
"""

from __future__ import annotations

import math
import mmap

import mpmath
import numpy as np
import pytest
import scipy.stats

import shannon

mpmath.mp.dps = 50


def exact_byte_entropy(counts, ln_base=mpmath.log(2)):
    n = mpmath.mpf(int(sum(int(c) for c in counts)))
    return -mpmath.fsum(
        mpmath.mpf(int(c)) / n * mpmath.log(mpmath.mpf(int(c)) / n) for c in counts if c
    ) / ln_base


def relative_error(got, exact):
    return 0.0 if got == exact else float(abs(mpmath.mpf(got) - exact) / abs(exact))


def samples():
    rng = np.random.default_rng(11)
    yield "uniform", rng.integers(0, 256, 1_000_003, dtype=np.uint8)
    yield "skewed", rng.geometric(0.02, 300_001).clip(max=255).astype(np.uint8)
    yield "two values", rng.integers(0, 2, 10_000, dtype=np.uint8) * 200
    # One value dominates: ln(N / c) of that value is tiny and must keep its digits.
    dominated = np.full(3_000_000, 65, dtype=np.uint8)
    dominated[[5, 77, 2_000_000]] = [1, 2, 3]
    yield "dominated", dominated


@pytest.mark.parametrize("name,data", list(samples()), ids=lambda v: v if isinstance(v, str) else "")
def test_matches_scipy_and_mpmath(name, data):
    counts = np.bincount(data, minlength=256)
    assert np.array_equal(shannon.byte_counts(data), counts)
    assert shannon.byte_counts(data).dtype == np.uint64
    h = shannon.byte_entropy(data)
    assert h == pytest.approx(scipy.stats.entropy(counts, base=2), rel=1e-13)
    assert relative_error(h, exact_byte_entropy(counts)) <= 4e-15
    nats = shannon.byte_entropy(data, base="nats")
    assert relative_error(nats, exact_byte_entropy(counts, mpmath.mpf(1))) <= 4e-15


def test_bounds_and_hand_values():
    assert shannon.byte_entropy(b"abab") == 1.0
    assert shannon.byte_entropy(b"a" * 1000) == 0.0
    assert shannon.byte_entropy(bytes(range(256)) * 7) == pytest.approx(8.0, rel=4e-15)
    assert shannon.byte_entropy(b"ab", base=4) == pytest.approx(0.5, rel=4e-15)


def test_bytes_like_inputs_agree(tmp_path):
    data = np.random.default_rng(3).integers(0, 50, 100_000, dtype=np.uint8)
    raw = data.tobytes()
    expected = shannon.byte_entropy(raw)
    path = tmp_path / "data.bin"
    path.write_bytes(raw)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        view = memoryview(m)
        assert shannon.byte_entropy(view) == expected
        view.release()
    for same in (bytearray(raw), memoryview(raw), data, data.view(np.int8), data.reshape(100, 1000)):
        assert shannon.byte_entropy(same) == expected
    # Strided views count their own elements (through a contiguous copy).
    assert shannon.byte_entropy(data[::2]) == shannon.byte_entropy(data[::2].tobytes())
    assert shannon.byte_entropy(memoryview(raw)[::3]) == shannon.byte_entropy(raw[::3])
    assert shannon.byte_entropy(np.array([True, False, False, True])) == 1.0


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "data is empty: byte entropy needs at least one byte"),
        ("text", r"data is a str: byte entropy counts bytes; encode it first"),
        (3, "data must be bytes-like .* got int"),
        (np.zeros(4), r"data has items of 8 bytes \(format 'd'\).*arr.view\(np.uint8\)"),
        (np.zeros(4, np.uint16), "data has items of 2 bytes"),
    ],
)
def test_bad_data_raises_value_error(data, match):
    with pytest.raises(ValueError, match=match):
        shannon.byte_entropy(data)


def test_bad_base_raises_value_error():
    with pytest.raises(ValueError, match="base"):
        shannon.byte_entropy(b"ab", base=1)
    assert not math.isnan(shannon.byte_entropy(b"ab", base=10))
    assert list(shannon.byte_counts(b"")) == [0] * 256
