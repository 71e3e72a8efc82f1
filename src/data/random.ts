// Seeded randomness for the dataset distortions. The same arithmetic is written in models/recipes/fmnist_data.py
// (explicit uint32 masking there, Math.imul / >>> 0 here) so the recipe and `splitee eval` draw identical numbers.
// Pure module: no Node imports.
import { Mulberry32 } from '../util/random.js';

export { Mulberry32 };

/** Hash (stream seed, sample index) to a mulberry32 state, so sample i's noise never depends on which samples were
 *  drawn before it (streams are reproducible under any order, limit or subset). murmur3's 32-bit finalizer. */
export function sampleSeed(streamSeed: number, index: number): number {
  let h = ((streamSeed >>> 0) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Fills `out` with standard normal draws by Box-Muller in float64: each pair of uniforms (u1, u2) gives
 * r·cos(2πu2) then r·sin(2πu2) with r = sqrt(−2 ln u1); for an odd length the last sine is dropped.
 */
export function fillStandardNormal(rng: Mulberry32, out: Float64Array): Float64Array {
  const twoPi = 2 * Math.PI;
  for (let i = 0; i < out.length; i += 2) {
    const u1 = rng.nextUniform();
    const u2 = rng.nextUniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const th = twoPi * u2;
    out[i] = r * Math.cos(th);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
  }
  return out;
}
