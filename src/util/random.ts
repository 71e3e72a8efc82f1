// mulberry32: the one seeded PRNG of the package (a 32-bit state, one uint32 per step). The split policies' `random`
// baseline, the simulator's shuffles and the dataset distortions all draw from it, so a seed means the same numbers
// everywhere. Pure module: no Node imports.

export class Mulberry32 {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }

  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1): u32 / 2^32. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in the open interval (0, 1): (u32 + 0.5) / 2^32, exact in float64, never 0 so log() stays finite. */
  nextUniform(): number {
    return (this.nextU32() + 0.5) / 4294967296;
  }
}

/** A generator of uniform numbers in [0, 1) from `seed` (Mulberry32.next as a function). */
export function mulberry32(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.next();
}
