// SVG plots of the HTML report. Unlike the compact plots of src/sim/svg.ts (legend inside the axes), every legend
// here sits below the axes, outside the area the data is drawn in, so it can never hide a curve; the SVG grows to
// fit it. Elements carry classes (plot-area, series, legend, legend-item, band) so a browser test can check the
// geometry. Pure strings, no scripts.
import { decimate, escapeXml, niceStep } from '../sim/svg.js';

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export interface Axis {
  label: string;
  min?: number;
  max?: number;
  /** Tick label (`step`: the distance between ticks); default: the value with the step's decimals. */
  format?: (v: number, step: number) => string;
  /** Integer ticks only (layers, sample counts). */
  integer?: boolean;
}

export interface LineSeries {
  label: string;
  y: ArrayLike<number>;
  /** Default 1, 2, 3, … (the sample number). */
  x?: ArrayLike<number>;
  color?: string;
  dashed?: boolean;
  /** Draw dots instead of a line (per-sample scatter). */
  dots?: boolean;
}

/** A shaded x range with a label at its top (phases of a run). */
export interface Band { from: number; to: number; label: string }

export interface PlotFrame {
  /** Unique per page: ids of clip paths derive from it. */
  id: string;
  title: string;
  x: Axis;
  y: Axis;
  width?: number;
  /** Height of the axes area and its labels, without the legend. */
  height?: number;
  bands?: Band[];
}

export interface LegendItem { label: string; color: string; dashed?: boolean; swatch?: 'line' | 'box' | 'dot' }

const r2 = (v: number) => Math.round(v * 100) / 100;

interface Scale { lo: number; hi: number; step: number; ticks: number[] }

function scale(lo: number, hi: number, axis: Axis): Scale {
  if (axis.min !== undefined) lo = axis.min;
  if (axis.max !== undefined) hi = axis.max;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) { const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1; lo -= d; hi += d; }
  let step = niceStep(hi - lo);
  if (axis.integer) step = Math.max(1, Math.round(step));
  const s = { lo: axis.min ?? Math.floor(lo / step + 1e-9) * step, hi: axis.max ?? Math.ceil(hi / step - 1e-9) * step, step, ticks: [] as number[] };
  const first = Math.ceil(s.lo / step - 1e-9) * step;
  for (let i = 0, v = first; v <= s.hi + step * 1e-6 && i < 60; i++, v = first + i * step) s.ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return s;
}

function defaultTick(step: number): (v: number) => string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return (v) => (Math.abs(v) >= 1e4 ? Math.round(v).toLocaleString('en-US') : v.toFixed(decimals));
}

/** Approximate text width in px at font-size 12 (no layout engine here): wide enough to never collide. */
const textWidth = (s: string, px = 12) => s.length * px * 0.6;

/** Lays legend items out in rows under the axes; returns the SVG and the height it takes. */
function legend(items: LegendItem[], left: number, top: number, width: number): { svg: string; height: number } {
  if (items.length === 0) return { svg: '', height: 0 };
  const rowH = 18, pad = 6;
  const widths = items.map((it) => 28 + textWidth(it.label) + 14);
  const rows: number[][] = [[]];
  let used = 0;
  widths.forEach((w, i) => {
    if (used > 0 && used + w > width - 2 * pad) { rows.push([]); used = 0; }
    rows[rows.length - 1].push(i);
    used += w;
  });
  const h = rows.length * rowH + 2 * pad - 4;
  const parts = [`<g class="legend" transform="translate(${r2(left)} ${r2(top)})">`, `<rect class="legend-box" x="0" y="0" width="${r2(width)}" height="${h}" fill="#fafafa" stroke="#ddd"/>`];
  rows.forEach((row, ri) => {
    let x = pad;
    const y = pad + ri * rowH + rowH / 2 - 2;
    for (const i of row) {
      const it = items[i];
      const c = escapeXml(it.color);
      parts.push(`<g class="legend-item">`);
      if (it.swatch === 'box') parts.push(`<rect x="${r2(x + 4)}" y="${r2(y - 6)}" width="14" height="12" fill="${c}"/>`);
      else if (it.swatch === 'dot') parts.push(`<circle cx="${r2(x + 11)}" cy="${r2(y)}" r="3.5" fill="${c}"/>`);
      else parts.push(`<line x1="${r2(x)}" y1="${r2(y)}" x2="${r2(x + 22)}" y2="${r2(y)}" stroke="${c}" stroke-width="2.2"${it.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      parts.push(`<text x="${r2(x + 28)}" y="${r2(y + 4)}">${escapeXml(it.label)}</text></g>`);
      x += widths[i];
    }
  });
  parts.push('</g>');
  return { svg: parts.join(''), height: h };
}

interface Frame {
  parts: string[];
  sx: (x: number) => number;
  sy: (y: number) => number;
  left: number; top: number; pw: number; ph: number; W: number; axesH: number;
  clip: string;
}

/** Title, grid, ticks, axis labels and phase bands; the caller draws the data and finishes with `close`. */
function openFrame(f: PlotFrame, xr: [number, number], yr: [number, number]): Frame {
  const W = f.width ?? 560, axesH = f.height ?? 300;
  const xs = scale(xr[0], xr[1], f.x), ys = scale(yr[0], yr[1], f.y);
  const xt = f.x.format ? (v: number) => f.x.format!(v, xs.step) : defaultTick(xs.step);
  const yt = f.y.format ? (v: number) => f.y.format!(v, ys.step) : defaultTick(ys.step);
  // Room on the left for the widest tick label and the rotated axis label, so the two never touch.
  const left = Math.round(Math.max(48, 30 + Math.max(0, ...ys.ticks.map((v) => textWidth(yt(v), 11))) + 8));
  const right = 18, top = 34, bottom = 46;
  const pw = W - left - right, ph = axesH - top - bottom;
  const sx = (x: number) => left + ((x - xs.lo) / (xs.hi - xs.lo)) * pw;
  const sy = (y: number) => top + ph - ((y - ys.lo) / (ys.hi - ys.lo)) * ph;
  const id = escapeXml(f.id);
  const parts: string[] = [];
  parts.push(`<text x="${r2(left + pw / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(f.title)}</text>`);
  for (const b of f.bands ?? []) {
    const x0 = Math.max(left, sx(b.from)), x1 = Math.min(left + pw, sx(b.to));
    if (!(x1 > x0)) continue;
    parts.push(`<g class="band"><rect x="${r2(x0)}" y="${top}" width="${r2(x1 - x0)}" height="${ph}" fill="${(f.bands!.indexOf(b) % 2) ? '#f3f3f3' : '#fbfbfb'}"/>` +
      `<line x1="${r2(x0)}" y1="${top}" x2="${r2(x0)}" y2="${top + ph}" stroke="#888" stroke-dasharray="3 3"/>` +
      `<text x="${r2(x0 + 4)}" y="${top + 13}" font-size="11" fill="#555">${escapeXml(b.label)}</text></g>`);
  }
  parts.push('<g stroke="#e6e6e6">');
  for (const v of ys.ticks) parts.push(`<line x1="${left}" y1="${r2(sy(v))}" x2="${left + pw}" y2="${r2(sy(v))}"/>`);
  parts.push('</g><g fill="#333" font-size="11">');
  for (const v of ys.ticks) parts.push(`<text x="${left - 6}" y="${r2(sy(v) + 4)}" text-anchor="end">${escapeXml(yt(v))}</text>`);
  for (const v of xs.ticks) parts.push(`<text x="${r2(sx(v))}" y="${top + ph + 15}" text-anchor="middle">${escapeXml(xt(v))}</text>`);
  parts.push('</g>');
  parts.push(`<text x="${r2(left + pw / 2)}" y="${axesH - 8}" text-anchor="middle">${escapeXml(f.x.label)}</text>`);
  parts.push(`<text transform="translate(14 ${r2(top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(f.y.label)}</text>`);
  parts.push(`<clipPath id="${id}-clip"><rect x="${left}" y="${top}" width="${pw}" height="${ph}"/></clipPath>`);
  return { parts, sx, sy, left, top, pw, ph, W, axesH, clip: `${id}-clip` };
}

function closeFrame(fr: Frame, f: PlotFrame, items: LegendItem[]): string {
  fr.parts.push(`<rect class="plot-area" x="${fr.left}" y="${fr.top}" width="${fr.pw}" height="${fr.ph}" fill="none" stroke="#333"/>`);
  const lg = legend(items, fr.left, fr.axesH + 2, fr.pw);
  const H = fr.axesH + (lg.height ? lg.height + 8 : 0);
  return `<svg class="plot" id="${escapeXml(f.id)}" xmlns="http://www.w3.org/2000/svg" width="${fr.W}" height="${H}" viewBox="0 0 ${fr.W} ${H}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="${escapeXml(f.title)}">` +
    `<rect x="0" y="0" width="${fr.W}" height="${H}" fill="#fff"/>${fr.parts.join('')}${lg.svg}</svg>`;
}

export function linePlot(series: readonly LineSeries[], f: PlotFrame): string {
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  const xOf = (s: LineSeries, i: number) => (s.x ? s.x[i] : i + 1);
  for (const s of series) {
    for (let i = 0; i < s.y.length; i++) {
      const x = xOf(s, i), y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      xlo = Math.min(xlo, x); xhi = Math.max(xhi, x);
      ylo = Math.min(ylo, y); yhi = Math.max(yhi, y);
    }
  }
  const fr = openFrame(f, [xlo, xhi], [ylo, yhi]);
  fr.parts.push(`<g clip-path="url(#${fr.clip})" fill="none" stroke-width="1.8" stroke-linejoin="round">`);
  const items: LegendItem[] = [];
  series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length];
    items.push({ label: s.label, color, dashed: s.dashed, swatch: s.dots ? 'dot' : 'line' });
    if (s.dots) {
      const pts: string[] = [];
      for (const i of decimate(s.y, s.y.length, 1500)) {
        const x = xOf(s, i), y = s.y[i];
        if (Number.isFinite(x) && Number.isFinite(y)) pts.push(`M${r2(fr.sx(x))} ${r2(fr.sy(y))}h0`);
      }
      // Dots as zero-length round-capped segments: one path element, however many samples.
      if (pts.length) fr.parts.push(`<path class="series" d="${pts.join('')}" stroke="${escapeXml(color)}" stroke-width="3" stroke-linecap="round" stroke-opacity="0.55"/>`);
      return;
    }
    let d = '', pen = false;
    for (const i of decimate(s.y, s.y.length, 900)) {
      const x = xOf(s, i), y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${r2(fr.sx(x))} ${r2(fr.sy(y))}`;
      pen = true;
    }
    if (d) fr.parts.push(`<path class="series" d="${d}" stroke="${escapeXml(color)}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
  });
  fr.parts.push('</g>');
  return closeFrame(fr, f, items);
}

export interface StackedColumn {
  /** x range the column covers (sample numbers). */
  from: number;
  to: number;
  /** One share per category, summing to 1 (or 0 for an empty window). */
  shares: number[];
}

/** Columns of stacked shares (0..1), one colour per category, legend below. */
export function stackedColumns(columns: readonly StackedColumn[], categories: readonly { label: string; color: string }[], f: PlotFrame): string {
  const xlo = columns.length ? columns[0].from : 0, xhi = columns.length ? columns[columns.length - 1].to : 1;
  const fr = openFrame({ ...f, y: { ...f.y, min: 0, max: 1 } }, [xlo, xhi], [0, 1]);
  fr.parts.push(`<g clip-path="url(#${fr.clip})">`);
  for (const c of columns) {
    const x0 = fr.sx(c.from), x1 = fr.sx(c.to);
    let acc = 0;
    c.shares.forEach((share, j) => {
      if (!(share > 0)) return;
      const y0 = fr.sy(acc + share), y1 = fr.sy(acc);
      acc += share;
      fr.parts.push(`<rect class="series" x="${r2(x0)}" y="${r2(y0)}" width="${r2(Math.max(0.5, x1 - x0 - 1))}" height="${r2(y1 - y0)}" fill="${escapeXml(categories[j].color)}"><title>${escapeXml(`${categories[j].label}: ${(share * 100).toFixed(1)} % of samples ${c.from}–${c.to}`)}</title></rect>`);
    });
  }
  fr.parts.push('</g>');
  return closeFrame(fr, f, categories.map((c) => ({ label: c.label, color: c.color, swatch: 'box' as const })));
}
