// A fake cloud model for the server, handler and client tests: the "rest of the network" is a fixed softmax of the
// activation (float64 reference below), and modes make it block, throw or answer nonsense.
import { createHash } from 'node:crypto';
import type { CloudModel } from '../src/cloud/handler.js';

export const DIGEST = new Uint8Array(createHash('sha256').update('fake-model-v1').digest());
export const L = 4, CLASSES = 3;
export const SHAPE_AFTER: Record<number, number[] | null> = { 1: [4, 3, 3], 2: [8], 3: null /* [T, 5], T varies */ };

/** The fake "rest of the network": softmax of fixed ±weights · activation, different for every split. float64. */
export function expectedProbs(k: number, x: ArrayLike<number>): number[] {
  const z = Array.from({ length: CLASSES }, (_, c) => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * ((((i * 7 + c * 3 + k) % 5) - 2) / 4);
    return s;
  });
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const t = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / t);
}

export type Mode = 'normal' | 'block' | 'throw' | 'throwCode' | 'malformed' | 'nan';
export interface FakeModel extends CloudModel {
  mode: Mode;
  calls: number;
  pending: (() => void)[];
  signals: AbortSignal[];
  seen: { k: number; shape: number[] }[];
  releaseAll(): void;
}

export function fakeModel(): FakeModel {
  const m: FakeModel = {
    name: 'fake-4', digest: DIGEST, numLayers: L, mode: 'normal', calls: 0, pending: [], signals: [], seen: [],
    inputShapeAfter: (k) => SHAPE_AFTER[k] ?? null,
    async finish(k, act, signal) {
      m.calls++;
      if (signal) m.signals.push(signal);
      m.seen.push({ k, shape: act.shape });
      if (m.mode === 'block') await new Promise<void>((res) => m.pending.push(res));
      if (m.mode === 'throw') throw new Error('boom');
      if (m.mode === 'throwCode') throw Object.assign(new Error('bad activation'), { code: 'SHAPE_MISMATCH' });
      if (m.mode === 'malformed') return { probs: new Float32Array([0.5, 0.5]), label: 7, confidence: 0.5 };
      if (m.mode === 'nan') return { probs: new Float32Array([NaN, NaN, NaN]), label: 0, confidence: 0.5 };
      const probs = Float32Array.from(expectedProbs(k, act.data));
      let label = 0;
      for (let c = 1; c < probs.length; c++) if (probs[c] > probs[label]) label = c;
      return { probs, label, confidence: probs[label] };
    },
    releaseAll() { const p = m.pending; m.pending = []; for (const f of p) f(); },
  };
  return m;
}

