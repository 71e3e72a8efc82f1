# Minimax polynomial fit (Remez exchange) for relative error on a dense grid; used by scripts/gelu-fit.py.
import numpy as np
def remez(f, a, b, deg, rel=True, iters=30, grid=20000, fixed=None):
    """Minimax polynomial (monomial coefficients) of f on [a,b], relative error; f vectorized float64 (or mp-backed)."""
    fixed = fixed or {}
    free = [i for i in range(deg + 1) if i not in fixed]
    n = len(free)
    xs = np.cos(np.pi * np.arange(grid) / (grid - 1))[::-1] * (b - a) / 2 + (a + b) / 2
    ys = f(xs)
    k = np.arange(n + 1)
    pts = np.cos(np.pi * k / n)[::-1] * (b - a) / 2 + (a + b) / 2
    def fixedpart(x):
        return sum(v * x ** i for i, v in fixed.items()) if fixed else 0 * x
    best = None
    for it in range(iters):
        yp = f(pts)
        A = np.zeros((n + 1, n + 1))
        for j, i in enumerate(free):
            A[:, j] = pts ** i
        A[:, n] = ((-1) ** k) * (np.abs(yp) if rel else 1)
        sol = np.linalg.solve(A, yp - fixedpart(pts))
        c = np.zeros(deg + 1)
        for i, v in fixed.items(): c[i] = v
        c[free] = sol[:n]
        e = (np.polyval(c[::-1], xs) - ys) / (np.abs(ys) if rel else 1)
        m = np.max(np.abs(e))
        if best is None or m < best[1]: best = (c.copy(), m)
        # new reference: extrema of alternating sign segments
        s = np.sign(e); s[s == 0] = 1
        idx = []; start = 0
        for i in range(1, grid + 1):
            if i == grid or s[i] != s[start]:
                seg = np.arange(start, i); idx.append(seg[np.argmax(np.abs(e[seg]))]); start = i
        idx = np.array(idx)
        while len(idx) > n + 1:  # drop the smallest, keeping alternation (drop from ends or merge)
            if abs(e[idx[0]]) < abs(e[idx[-1]]): idx = idx[1:]
            else: idx = idx[:-1]
        if len(idx) < n + 1: break
        pts = xs[idx]
    return best
