// Cost traces: per-sample measured costs replayed with a confidence matrix, so a simulation can follow changing
// conditions (a bandwidth drop, a device that slows down). CSV, one row per sample of the stream, in stream order:
//   ms1,…,msL,bytes1,…,bytes{L−1},rtt_ms,mbit
// msj: device time of layer j (exit included), ms; bytesk: the frame of a split at k, bytes; rtt_ms: round trip
// without the payload (latency both ways plus the cloud's time), ms; mbit: bandwidth towards the cloud, Mbit/s.
// Row t's costs: γ_k = μ·Σ_{j≤k} msj, o_k = μ·(rtt_ms + bytesk·8/(mbit·1000)) (src/policy/measured-costs.ts).
import { costsFromMs, defaultMu, offloadMs } from '../policy/measured-costs.js';
import type { ResolvedCosts } from '../policy/types.js';
import { MatrixError } from './matrix.js';

export interface CostTraceRow {
  layerMs: Float64Array;
  /** Frame bytes of a split at k = 1..L − 1 (index k − 1). */
  bytes: Float64Array;
  rttMs: number;
  bandwidthMbit: number;
}

export function costTraceHeader(L: number): string {
  const cols: string[] = [];
  for (let j = 1; j <= L; j++) cols.push(`ms${j}`);
  for (let k = 1; k < L; k++) cols.push(`bytes${k}`);
  cols.push('rtt_ms', 'mbit');
  return cols.join(',');
}

const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses a cost trace for a model of L layers; every problem is a MatrixError naming its line. */
export function parseCostTrace(text: string, L: number): CostTraceRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  if (!lines.length) throw new MatrixError('EMPTY', 1, `the cost trace is empty (expected the header ${costTraceHeader(L)})`);
  const want = costTraceHeader(L);
  const head = lines[0].split(',').map((s) => s.trim()).join(',');
  if (head !== want) throw new MatrixError('BAD_HEADER', 1, `bad cost-trace header '${lines[0].slice(0, 120)}': for L = ${L} expected ${want}`);
  if (lines.length < 2) throw new MatrixError('NO_ROWS', 2, 'the header is not followed by any sample');
  const width = 2 * L + 1;
  const rows: CostTraceRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    const f = lines[i].split(',');
    if (f.length !== width) throw new MatrixError('RAGGED', line, `expected ${width} fields (L = ${L}), got ${f.length}`);
    const v = f.map((s, c) => {
      const t = s.trim();
      const x = Number(t);
      if (!FLOAT.test(t) || !Number.isFinite(x) || x < 0) throw new MatrixError('BAD_NUMBER', line, `column ${c + 1}: '${t.slice(0, 40)}' is not a finite number ≥ 0`);
      return x;
    });
    const bandwidthMbit = v[2 * L];
    if (!(bandwidthMbit > 0)) throw new MatrixError('BAD_NUMBER', line, 'mbit: the bandwidth must be > 0');
    rows.push({ layerMs: Float64Array.from(v.slice(0, L)), bytes: Float64Array.from(v.slice(L, 2 * L - 1)), rttMs: v[2 * L - 1], bandwidthMbit });
  }
  return rows;
}

/** One trace row as CSV (no newline). */
export function costTraceRow(r: CostTraceRow): string {
  return [...r.layerMs, ...r.bytes, r.rttMs, r.bandwidthMbit].map(String).join(',');
}

/** Offload time of a split at k = 1..L − 1 for one row, ms. */
export function rowOffloadMs(r: CostTraceRow): Float64Array {
  const out = new Float64Array(r.bytes.length);
  for (let k = 0; k < r.bytes.length; k++) out[k] = offloadMs(r.bytes[k], { rttMs: r.rttMs, bandwidthMbit: r.bandwidthMbit });
  return out;
}

/**
 * Per-step costs from a trace: step t uses row t. μ (reward per ms) is one number for the whole stream, so rewards
 * stay comparable across rows: default 1 / (the first row's whole-network device time).
 */
export function traceCosts(rows: readonly CostTraceRow[], opts: { alpha: number; mu?: number }): { costsAt: (t: number) => ResolvedCosts; mu: number; costs: ResolvedCosts[] } {
  if (!rows.length) throw new MatrixError('NO_ROWS', 2, 'the cost trace has no rows');
  const mu = opts.mu ?? defaultMu(rows[0].layerMs);
  const costs = rows.map((r) => costsFromMs({ alpha: opts.alpha, layerMs: r.layerMs, offloadMs: rowOffloadMs(r), mu }));
  return {
    mu, costs,
    costsAt: (t: number) => {
      if (t >= costs.length) throw new MatrixError('SHORT_TRACE', costs.length + 1, `the cost trace has ${costs.length} rows; step ${t} needs row ${t + 1}`);
      return costs[t];
    },
  };
}
