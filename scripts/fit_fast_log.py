#!/usr/bin/python3
"""Fits the kernels' constants with mpmath: the tables and polynomials of
src/kernels/fast_log-inl.h (the float log, and the double LogAwayFromOne, below), kKlPoly2 of the float KL terms in
src/kernels/measures_kernels.cc, and the polynomial of exp_reduced, the float loss
kernels' exponential, in src/kernels/loss_kernels.cc.

ln x = k ln 2 + ln c + ln(1 + r), r = z/c - 1, z in [0.75, 1.5): 32 intervals of z
([0.75, 1) in steps of 1/64, [1, 1.5) in steps of 1/32), c their middles but 1 for
the two that touch 1, and for z < 1 moved to the nearby float 1/c for which ln 2 - ln(1/c)
is a float (log_table); ln(1 + r) = r + r^2 P(r), P a quadratic fitted by least squares on
Chebyshev nodes, weighted for relative error. Prints the constants and the polynomial's
largest relative error with its coefficients rounded to float.

The double log: 16 intervals ([0.75, 1) in steps of 1/32, [1, 1.5) of 1/16), c their
middles, 1/c moved to the nearby double whose entry lies within 2^-59 of a double
(log_table_f64); ln(1 + r) = r + r^2 Q(r), Q of degree 7 rounded to double.

    /usr/bin/python3 scripts/fit_fast_log.py
"""
import math

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def f32(x) -> float:
    return float(np.float32(float(x)))


def kl_series(x):
    """P(x) = sum x^k / (2k + 3) = (atanh(s) - s) / s^3 with s = sqrt(x)."""
    if x == 0:
        return mp.mpf(1) / 3
    s = mp.sqrt(x)
    return (mp.atanh(s) - s) / s**3


def horner(coef, x):
    """The polynomial of coef (lowest first) at x, in mpmath."""
    p = mp.mpf(0)
    for c in reversed(coef):
        p = p * x + mp.mpf(c)
    return p


def fit_kl(x_max: float = 0.36, degree: int = 6) -> None:
    """P on [0, x_max] (|s| <= 0.6, q/p in [1/4, 4]) by Chebyshev interpolation."""
    coef = [f32(c) for c in reversed(mp.chebyfit(kl_series, [0, x_max], degree + 1))]
    worst = 0
    for x in mp.linspace(0, x_max, 4001):
        worst = max(worst, abs(horner(coef, x) / kl_series(x) - 1))
    print(f"KL: x in [0, {x_max}]; max relative error of P(x): {float(worst):.3g}")
    print("kKlPoly2: 2 *", ", 2 * ".join(f"{c!r}F" for c in coef))


def fit_remainder(lo, hi, degree: int, f, scale, rounding):
    """P of the given degree with f(x) = x + x^2 P(x) on [lo, hi] (f = e^x - 1 or ln(1 + x)),
    fitted by least squares on 600 Chebyshev nodes, weighted for the error relative to
    scale(x) (e^x, or f itself), its coefficients rounded by `rounding`; returns them (lowest
    first) and that error at its largest over 4001 points."""
    n = 600
    nodes = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (k + 0.5) / n) for k in range(n)]
    a = mp.matrix(n, degree + 1)
    b = mp.matrix(n, 1)
    for j, x in enumerate(nodes):
        w = x * x / abs(scale(x))
        for k in range(degree + 1):
            a[j, k] = w * x**k
        b[j] = w * (f(x) - x) / (x * x)
    coef = [rounding(c) for c in mp.qr_solve(a, b)[0]]
    worst = 0
    for x in mp.linspace(lo, hi, 4001):
        if x != 0:
            worst = max(worst, abs((x + x * x * horner(coef, x) - f(x)) / scale(x)))
    return coef, worst


def fit_exp(u_max: float = 0.3536, degree: int = 4, rounding=None, name: str = "exp_reduced P") -> None:
    """e^u = 1 + u + u^2 P(u) on |u| <= u_max, P of the given degree fitted by least squares
    on Chebyshev nodes, weighted for relative error, its coefficients rounded to float (or
    by `rounding`): the exponentials of the loss kernels in src/kernels/loss_kernels.cc."""
    rounding = rounding or f32
    coef, worst = fit_remainder(-mp.mpf(u_max), mp.mpf(u_max), degree, mp.expm1, mp.exp, rounding)
    suffix = "F" if rounding is f32 else ""
    print(f"exp: |u| <= {u_max}; max relative error of 1 + u + u^2 P(u): {float(worst):.3g}")
    print(f"{name}, highest coefficient first:", ", ".join(f"{c!r}{suffix}" for c in reversed(coef)))


LN2F = mp.mpf(f32(mp.log(2)))  # ln 2 as the kernel's float constant


def near_float_log(inv_c0: float, span: int = 4096):
    """The float inv_c within `span` floats of inv_c0 for which ln2f - ln(inv_c) lies
    closest to a float, and that float: the kernel's fma(e, ln2f, T) is then T - ln2f,
    exact, for e = -1, and equals -ln(inv_c) to within the returned error."""
    best = None
    x = np.float32(inv_c0)
    for _ in range(span):
        x = np.nextafter(x, np.float32(0))
    for _ in range(2 * span + 1):
        v = LN2F - mp.log(mp.mpf(float(x)))
        t = f32(v)
        err = abs(mp.mpf(t) - v)
        if best is None or err < best[2]:
            best = (float(x), t, err)
        x = np.nextafter(x, np.float32(2))
    return best


def log_table():
    """(1/c, the table's log entry, r at the interval's ends) of the 32 intervals of z in
    [0.75, 1.5), in the order of their index, bits 22..18 of z: [1 + j/32, 1 + (j + 1)/32)
    for j < 16, where the entry is -ln(1/c) and the exponent k of x = 2^k z is vgetexpps's
    e; [(32 + j)/64, (33 + j)/64) for j >= 16, where k = e + 1 and the entry is
    ln 2 - ln(1/c) with 1/c chosen to make it a float within 2^-36. c is the middle of
    its interval, or 1 for the two that touch 1."""
    table = []
    for j in range(32):
        if j < 16:
            a, b = 1 + mp.mpf(j) / 32, 1 + mp.mpf(j + 1) / 32
        else:
            a, b = mp.mpf(32 + j) / 64, mp.mpf(33 + j) / 64
        c = mp.mpf(1) if j in (0, 31) else (a + b) / 2
        inv_c = f32(1 / c)
        if j < 16:
            entry = f32(-mp.log(mp.mpf(inv_c)))
        else:
            inv_c, entry, err = near_float_log(inv_c, 0 if j == 31 else 4096)
            assert err < mp.mpf(2) ** -36, (j, err)
        table.append((inv_c, entry, a * mp.mpf(inv_c) - 1, b * mp.mpf(inv_c) - 1))
    return table


def log_table_f64(span: int = 4000):
    """(1/c, the entry, r at the interval's ends) of the double log's 16 intervals of z in
    [0.75, 1.5) (LogAwayFromOne), in the order of their index, bits 51..48 of z:
    [1 + j/16, 1 + (j + 1)/16) for j < 8, entry -ln(1/c); [0.75 + (j - 8)/32, ...) for
    j >= 8, entry ln 2 - ln(1/c). c is the middle of its interval, and 1/c the double
    within `span` doubles of it whose entry lies closest to a double (within 2^-59)."""
    ln2 = mp.log(2)
    table = []
    for j in range(16):
        if j < 8:
            a, add = 1 + mp.mpf(j) / 16, 0
            b = a + mp.mpf(1) / 16
        else:
            a, add = mp.mpf(0.75) + mp.mpf(j - 8) / 32, ln2
            b = a + mp.mpf(1) / 32
        x0 = float(2 / (a + b))
        best = None
        for k in range(-span, span + 1):
            inv_c = x0 + k * math.ulp(x0)
            v = add - mp.log(mp.mpf(inv_c))
            err = abs(v - mp.mpf(float(v)))
            if best is None or err < best[2]:
                best = (inv_c, float(v), err)
        assert best[2] < mp.mpf(2) ** -59, (j, best[2])
        table.append((best[0], best[1], a * mp.mpf(best[0]) - 1, b * mp.mpf(best[0]) - 1))
    return table


def main() -> None:
    fit_kl()
    fit_exp()  # float lanes without the table
    fit_exp(0.02167, 1, name="exp_shifted P (table of 2^(i/16))")
    fit_exp(0.04339, 2, float, "exp_for_float P (double lanes, table of 2^(i/8))")
    table = log_table()
    lo = min(t[2] for t in table)
    hi = max(t[3] for t in table)
    coef, worst = fit_remainder(lo, hi, 2, mp.log1p, mp.log1p, f32)
    print(f"r in [{float(lo)}, {float(hi)}]; max relative error of r + r^2 P(r): {float(worst):.3g}")
    print("kInvC:", ", ".join(f"{t[0]!r}F" for t in table))
    print("kLogC:", ", ".join(f"{t[1]!r}F" for t in table))
    print("kPoly:", ", ".join(f"{c!r}F" for c in coef))
    table = log_table_f64()
    r_max = max(max(abs(t[2]), abs(t[3])) for t in table)
    coef, worst = fit_remainder(-r_max, r_max, 7, mp.log1p, mp.log1p, float)
    print(f"double: |r| <= {float(r_max):.4g}; max relative error of r + r^2 Q(r): {float(worst):.3g}")
    print("kInvC64:", ", ".join(f"{t[0]!r}" for t in table))
    print("kLogC64:", ", ".join(f"{t[1]!r}" for t in table))
    print("kQ64:", ", ".join(f"{c!r}" for c in coef))


if __name__ == "__main__":
    main()
