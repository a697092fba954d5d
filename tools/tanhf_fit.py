"""Coefficients of float32 tanh (csrc/kernels.c, vt_tab): prints the table.

    python tools/tanhf_fit.py > /tmp/tab.h      (needs numpy and mpmath)

With a = |x| clamped to 9.125, k = round(4a) (at most 31), c = k/4 and
r = a - c, interval k (of width 1/4) evaluates
    tanh a = c0 + r (c1 + r (c2 + ... + r c5))       k > KG
    tanh a = a + a (g0 + r (c1 + ... + r c5))        k <= KG (a < 0.625)
Row k of the table: c0 hi, c0 lo (tanh(c) as a float pair; g0 in the
relative form), c1 .. c5, 0.  The polynomials are near-minimax (Lawson's
iteratively reweighted least squares on Chebyshev nodes, the error
weighted by the float ulp of tanh); the coefficients are rounded to float
one at a time, lowest degree first, the rest refitted after each.  The
printed "approx" is the fit's own error; the rounding of the evaluation
comes on top (checked on all 2^32 inputs: at most 0.6306 ulp).
"""
import re

import mpmath as mp
import numpy as np

mp.mp.prec = 80
A, W, NK, KG, DEG = 9.125, 4, 32, 2, 5


def ulp(y):
    return 2.0 ** (np.floor(np.log2(np.abs(y))) - 23)


def fit(k):
    h, c = 0.5 / W, k / W
    lo, hi = max(c - h, 0.0), (c + h if k < NK - 1 else A)
    n = 300
    nodes = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(
        np.pi * (np.arange(n) + 0.5) / n)
    nodes = np.sort(np.concatenate([nodes, [lo, hi]]))
    nodes = nodes[nodes > 0]
    r = nodes - c
    T = [mp.tanh(mp.mpf(float(t))) for t in nodes]
    if k <= KG:                 # relative: (tanh a - a)/a by g0 + r (...)
        c0h = 0.0
        target = np.array([float((t - mp.mpf(float(a))) / mp.mpf(float(a)))
                           for t, a in zip(T, nodes)])
        bs, w, j0 = np.ones_like(r), np.full_like(r, 2.0 ** 23), 0
    else:                       # tanh a - c0 by r (c1 + ...)
        tc = mp.tanh(mp.mpf(c))
        c0h = float(np.float32(float(tc)))
        c0l = float(np.float32(float(tc - mp.mpf(c0h))))
        target = np.array([float(t - mp.mpf(c0h) - mp.mpf(c0l)) for t in T])
        bs, w, j0 = r, 1 / ulp(np.array([float(t) for t in T])), 1
    coefs, resid = [], target.copy()
    for j in range(j0, DEG + 1):
        M = np.stack([bs * r ** (j + i - j0) for i in range(DEG + 1 - j)], 1)
        ww = w.copy()
        for _ in range(40):
            sol, *_ = np.linalg.lstsq(M * ww[:, None], resid * ww, rcond=None)
            e = np.abs(M @ sol - resid) * w
            ww = ww * np.sqrt(e / e.max() + 1e-4)
        cj = float(np.float32(sol[0]))
        coefs.append(cj)
        resid = resid - bs * r ** (j - j0) * cj
    if k <= KG:
        c0l = coefs.pop(0)
    return [c0h, c0l] + coefs + [0.0], np.max(np.abs(resid) * w)


def hx(v):
    return re.sub(r"\.?0+p", "p", float(v).hex()) + "f" if v else "0.0f"


rows = []
for k in range(NK):
    row, err = fit(k)
    print(f"/* k = {k}: approx {err:.4f} ulp */")
    rows.append(row)
print("static const float vt_tab[VT_NK][8] __attribute__((aligned(32))) = {")
for row in rows:
    v = [hx(x) for x in row]
    print("    {" + ", ".join(v[:4]) + ",\n     " + ", ".join(v[4:]) + "},")
print("};")
