// Dependency-free SVG line plots (regret curves in reports, the demo page). Output is a self-contained <svg> string.

export interface PlotSeries {
  label: string;
  y: ArrayLike<number>;
  /** x values; default 0, 1, 2, … (the sample index). */
  x?: ArrayLike<number>;
  /** Any SVG colour; default from a 10-colour palette. */
  color?: string;
  dashed?: boolean;
}

export interface PlotOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Points drawn per series at most; longer series are decimated keeping each bucket's min and max. Default 800. */
  maxPoints?: number;
  xMin?: number; xMax?: number; yMin?: number; yMax?: number;
  /** Draw the legend (default true). */
  legend?: boolean;
  /** Prefix for element ids, unique per page when several plots are inlined in one HTML document. */
  id?: string;
}

let plotCounter = 0;

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

/** A 1-2-5 step giving about `target` intervals over `span`. */
export function niceStep(span: number, target = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / target;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(1).replace('e+', 'e');
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 6));
}

interface Range { lo: number; hi: number }

function niceRange(lo: number, hi: number, fixedLo?: number, fixedHi?: number): Range & { step: number } {
  if (fixedLo !== undefined) lo = fixedLo;
  if (fixedHi !== undefined) hi = fixedHi;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) { const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1; lo -= d; hi += d; }
  const step = niceStep(hi - lo);
  return {
    lo: fixedLo ?? Math.floor(lo / step + 1e-9) * step,
    hi: fixedHi ?? Math.ceil(hi / step - 1e-9) * step,
    step,
  };
}

/**
 * Indices to draw: all of them, or per bucket its min and max (in index order) to keep spikes visible; non-finite
 * points are kept so a line breaks there.
 */
export function decimate(y: ArrayLike<number>, n: number, maxPoints: number): number[] {
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const out: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const s = Math.floor((b * n) / buckets), e = Math.floor(((b + 1) * n) / buckets);
    let lo = -1, hi = -1;
    for (let i = s; i < e; i++) {
      if (!Number.isFinite(y[i])) { out.push(i); continue; } // keep gaps as gaps
      if (lo < 0 || y[i] < y[lo]) lo = i;
      if (hi < 0 || y[i] > y[hi]) hi = i;
    }
    if (lo >= 0) { if (lo <= hi) out.push(lo, hi); else out.push(hi, lo); }
  }
  out.push(n - 1);
  return [...new Set(out)].sort((a, b) => a - b);
}

const r2 = (v: number) => Math.round(v * 100) / 100;

export function svgLinePlot(series: readonly PlotSeries[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 640, H = opts.height ?? 400;
  const maxPoints = Math.max(4, opts.maxPoints ?? 800);
  const left = 68, right = 16, top = opts.title ? 34 : 14, bottom = opts.xLabel ? 48 : 32;
  const pw = Math.max(10, W - left - right), ph = Math.max(10, H - top - bottom);

  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  for (const s of series) {
    const n = Math.min(s.y.length, s.x ? s.x.length : Infinity);
    for (let i = 0; i < n; i++) {
      const x = s.x ? s.x[i] : i, y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (x < xlo) xlo = x; if (x > xhi) xhi = x;
      if (y < ylo) ylo = y; if (y > yhi) yhi = y;
    }
  }
  const xr = niceRange(xlo, xhi, opts.xMin, opts.xMax);
  const yr = niceRange(ylo, yhi, opts.yMin, opts.yMax);
  const sx = (x: number) => left + ((x - xr.lo) / (xr.hi - xr.lo)) * pw;
  const sy = (y: number) => top + ph - ((y - yr.lo) / (yr.hi - yr.lo)) * ph;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  if (opts.title) parts.push(`<text x="${r2(left + pw / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(opts.title)}</text>`);

  // Grid and tick labels.
  parts.push('<g stroke="#e5e5e5" stroke-width="1">');
  const yTicks: number[] = [], xTicks: number[] = [];
  for (let i = 0, v = yr.lo; v <= yr.hi + yr.step * 1e-6 && i < 50; i++, v = yr.lo + i * yr.step) yTicks.push(v);
  for (let i = 0, v = xr.lo; v <= xr.hi + xr.step * 1e-6 && i < 50; i++, v = xr.lo + i * xr.step) xTicks.push(v);
  for (const v of yTicks) parts.push(`<line x1="${left}" y1="${r2(sy(v))}" x2="${left + pw}" y2="${r2(sy(v))}"/>`);
  for (const v of xTicks) parts.push(`<line x1="${r2(sx(v))}" y1="${top}" x2="${r2(sx(v))}" y2="${top + ph}"/>`);
  parts.push('</g>');
  if (yr.lo < 0 && yr.hi > 0) parts.push(`<line x1="${left}" y1="${r2(sy(0))}" x2="${left + pw}" y2="${r2(sy(0))}" stroke="#999" stroke-dasharray="4 3"/>`);
  parts.push(`<g fill="#333">`);
  for (const v of yTicks) parts.push(`<text x="${left - 6}" y="${r2(sy(v) + 4)}" text-anchor="end">${formatTick(v, yr.step)}</text>`);
  for (const v of xTicks) parts.push(`<text x="${r2(sx(v))}" y="${top + ph + 16}" text-anchor="middle">${formatTick(v, xr.step)}</text>`);
  parts.push('</g>');
  parts.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  if (opts.xLabel) parts.push(`<text x="${r2(left + pw / 2)}" y="${H - 10}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  if (opts.yLabel) parts.push(`<text transform="translate(16 ${r2(top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(opts.yLabel)}</text>`);

  // Lines, clipped to the plot area (fixed axis limits may cut them).
  const clipId = `${escapeXml(opts.id ?? `splitee-plot-${++plotCounter}`)}-clip`;
  parts.push(`<clipPath id="${clipId}"><rect x="${left}" y="${top}" width="${pw}" height="${ph}"/></clipPath>`);
  parts.push(`<g clip-path="url(#${clipId})" fill="none" stroke-width="1.6" stroke-linejoin="round">`);
  series.forEach((s, si) => {
    const color = escapeXml(s.color ?? PALETTE[si % PALETTE.length]);
    const n = Math.min(s.y.length, s.x ? s.x.length : Infinity);
    let d = '', pen = false;
    for (const i of decimate(s.y, n, maxPoints)) {
      const x = s.x ? s.x[i] : i, y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${r2(sx(x))} ${r2(sy(y))}`;
      pen = true;
    }
    if (d) parts.push(`<path d="${d}" stroke="${color}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
  });
  parts.push('</g>');

  if (opts.legend !== false && series.length > 0) {
    const lh = 16, lw = Math.min(pw - 8, 30 + Math.max(...series.map((s) => s.label.length)) * 7);
    parts.push(`<g transform="translate(${left + 8} ${top + 8})">`);
    parts.push(`<rect x="0" y="0" width="${lw}" height="${series.length * lh + 6}" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`);
    series.forEach((s, si) => {
      const color = escapeXml(s.color ?? PALETTE[si % PALETTE.length]);
      const y = 4 + si * lh + lh / 2;
      parts.push(`<line x1="6" y1="${y}" x2="24" y2="${y}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      parts.push(`<text x="30" y="${y + 4}">${escapeXml(s.label)}</text>`);
    });
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n');
}
