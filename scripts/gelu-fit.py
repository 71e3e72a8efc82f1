#!/usr/bin/python3
# Fits the polynomial coefficients of the f32x4 GELU in assembly/elementwise.ts (erf form).
#
# gelu(x) = x·Φ(x); with u = |x|, c = Φ(−u) = ½·erfc(u/√2) is computed as c = exp(−u²/2) · F(t), t = (u − L)/(u + L):
#   F(t) = ½·erfcx(u/√2), u = L(1 + t)/(1 − t): smooth and bounded for u ∈ [0, UMAX], i.e. t ∈ [−1, t(UMAX)]
#   exp(−u²/2) = 2^k · P(r'), r' = u² + 2k·ln2 ∈ [−ln2, ln2], P(r') ≈ exp(−r'/2)
# Each is a minimax fit for relative error (Remez exchange on a dense grid, gelu-remez.py) against mpmath values at
# 30 digits. The coefficients are then rounded to f32 one at a time, lowest order first, re-running the Remez fit of
# the remaining ones after each rounding so later coefficients absorb the earlier rounding errors.
# Usage: /usr/bin/python3 scripts/gelu-fit.py [degF=8] [degP=5] [L=2.5] [UMAX=13.2]  (needs numpy and mpmath:
# Debian python3-numpy, python3-mpmath)
import os
import sys
import numpy as np
import mpmath as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module
remez = import_module('gelu-remez').remez

mp.mp.dps = 30
degF = int(sys.argv[1]) if len(sys.argv) > 1 else 8
degP = int(sys.argv[2]) if len(sys.argv) > 2 else 5
L = float(np.float32(float(sys.argv[3]))) if len(sys.argv) > 3 else 2.5
UMAX = float(sys.argv[4]) if len(sys.argv) > 4 else 13.2


def f32(v):
    return float(np.float32(v))


def fit_rounded(f, a, b, deg, grid):
    fixed = {}
    c, m = remez(f, a, b, deg, grid=grid, iters=25)
    for i in range(deg + 1):
        fixed[i] = f32(c[i])
        if len(fixed) <= deg:
            c, m = remez(f, a, b, deg, grid=grid, iters=25, fixed=fixed)
    c = np.array([fixed[i] for i in range(deg + 1)])
    xs = np.linspace(a, b, 20001)
    return c, np.max(np.abs(np.polyval(c[::-1], xs) / f(xs) - 1))


def F(t):
    out = np.empty(len(t))
    for i, tt in enumerate(t):
        u = L * (1 + mp.mpf(tt)) / (1 - mp.mpf(tt))
        out[i] = float(mp.erfc(u / mp.sqrt(2)) * mp.exp(u * u / 2) / 2)
    return out


tmax = (UMAX - L) / (UMAX + L)
cF, eF = fit_rounded(F, -1.0, tmax, degF, 2500)
print(f'F: degree {degF}, L = {L!r}, u ≤ {UMAX} (t ≤ {tmax:.5f}): max rel err with f32 coefficients {eF:.3e}')
t2 = np.linspace(tmax, (14.5 - L) / (14.5 + L), 300)
print(f'   extended to u = 14.5 (subnormal outputs only): max rel err {np.max(np.abs(np.polyval(cF[::-1], t2) / F(t2) - 1)):.3e}')
print('   F =', ', '.join(repr(f32(v)) for v in cF))

# k = round(−u²·log2(e)/2) is computed from a rounded u², so r' may exceed ln2 by a hair: fit a little wider
R = float(mp.log(2)) * (1 + 1e-4)
cP, eP = fit_rounded(lambda r: np.array([float(mp.exp(-mp.mpf(v) / 2)) for v in r]), -R, R, degP, 4000)
print(f'P: degree {degP}, |r\'| ≤ {R:.6f}: max rel err with f32 coefficients {eP:.3e}')
print('   P =', ', '.join(repr(f32(v)) for v in cP))
