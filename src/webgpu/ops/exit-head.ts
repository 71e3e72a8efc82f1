// exit head: softmax of N logits and its argmax, the one result the device half reads back per exit.
// Output layout [N + 1] f32: probs[0..N), then the label as a float (exact: N < 2^24); probs[label] = max(probs) is
// the confidence.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { need, packParams, positiveInts, REDUCE64_WGSL } from '../wgsl.js';

export const EXIT_HEAD_WGSL = /* wgsl */ `
struct Params { N: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${REDUCE64_WGSL}
var<workgroup> firstMax: atomic<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32) {
  let N = P.N;
  if (t == 0u) { atomicStore(&firstMax, N); }
  var m = logits[0];
  for (var i = t; i < N; i += 64u) { m = max(m, logits[i]); }
  let mx = wgMax(m, t);
  var s = 0.0;
  for (var i = t; i < N; i += 64u) { s += exp(logits[i] - mx); }
  let inv = 1.0 / wgSum(s, t);
  // The label is the argmax of the probabilities as written (like the WASM exit_head), lowest index on ties: each
  // thread keeps its own first best (strict >), then the lowest index among the threads holding the overall max.
  var best = -1.0;
  var bestI = N;
  for (var i = t; i < N; i += 64u) {
    let p = exp(logits[i] - mx) * inv;
    out[i] = p;
    if (p > best) { best = p; bestI = i; }
  }
  let pm = wgMax(best, t);
  if (best == pm) { atomicMin(&firstMax, bestI); }
  workgroupBarrier();
  if (t == 0u) { out[N] = f32(atomicLoad(&firstMax)); }
}
`;

/** Bytes the output buffer needs: N probabilities and the label. */
export const exitHeadOutBytes = (N: number): number => (N + 1) * 4;

export function exitHead(ctx: GpuContext, a: { logits: GPUBuffer; out: GPUBuffer; N: number }): void {
  const { N } = a;
  positiveInts('exitHead', { N });
  if (N >= 1 << 24) throw new WebGpuError('BAD_ARGUMENT', `exitHead: N ${N} too large`);
  if (a.out === a.logits) throw new WebGpuError('BAD_ARGUMENT', 'exitHead: out must not be logits');
  need(a.logits, N * 4, 'exitHead logits');
  need(a.out, exitHeadOutBytes(N), 'exitHead out');
  const p = ctx.pipelines.get('exit-head', () => EXIT_HEAD_WGSL);
  ctx.dispatch(p, packParams(N), [a.logits, a.out], 1);
}

/** Splits what exitHead wrote (read back with ctx.readF32(out, N + 1)) into the engine's result fields. */
export function decodeExitHead(raw: Float32Array, N: number): { probs: Float32Array; label: number; confidence: number } {
  const probs = raw.slice(0, N);
  const label = raw[N];
  return { probs, label, confidence: probs[label] };
}
