// What every test/kernels-*.test.ts needs around a raw WASM kernel call: its own kernel instance, outputs poisoned
// with NaN inside sentinel guard zones (an element the kernel forgot to write, or a write outside the output, fails),
// inputs with NaN around them (a read past the input shows up in the result), buffers that end at the very end of
// memory (an access past them traps), and mark/release scoping of the arena.
// Kept apart from util.ts, which holds helpers for every test and must not load the WASM module.
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { loadKernels, type Kernels } from '../src/wasm/runtime.js';

export interface GuardOptions {
  /** floats of sentinel on each side of a guarded buffer (and of NaN around a poisoned input) */
  guard: number;
  /** the sentinel value (a float32; compared after Math.fround) */
  sentinel: number;
}

/** An f32 buffer inside sentinel guard zones. */
export interface Guarded {
  readonly ptr: number;
  /** Asserts that nothing was written into the guard zones. */
  check(what: string): void;
  /** check, then a copy of the buffer's contents. */
  read(what: string): Float32Array;
}

export interface KernelHarness {
  /** This file's kernel instance (its own memory), loaded by the test.before hook kernelHarness registers. */
  readonly kern: Kernels;
  /**
   * n floats with sentinel guards on both sides. Inside: `inside` when it is a number (NaN poison by default, so an
   * element the kernel does not write fails), or NaN overwritten by the data when it is an array.
   */
  guarded(n: number, inside?: number | ArrayLike<number>): Guarded;
  /** Places x with `guard` NaNs on both sides (a read past x that leaks into a result shows); returns x's pointer. */
  putPoisoned(x: ArrayLike<number>): number;
  /**
   * Places `n` floats so that they end at the last byte of memory and nothing can be allocated after them: a read or
   * write past the end then traps instead of silently touching a neighbour. Call it last.
   */
  allocAtEnd(n: number): number;
  /** Runs fn and gives back every byte it allocated, also when it throws. */
  scoped<T>(fn: () => T): T;
}

/** Registers a test.before hook on `test` that loads a fresh kernel instance, and returns the helpers bound to it. */
export function kernelHarness(test: Test, { guard, sentinel }: GuardOptions): KernelHarness {
  let loaded: Kernels | undefined;
  test.before(async () => { loaded = await loadKernels(); });
  const kern = (): Kernels => {
    if (!loaded) throw new Error('kernel harness: the kernels load in test.before; use them inside a test');
    return loaded;
  };
  const fenced = Math.fround(sentinel);

  return {
    get kern() { return kern(); },

    guarded(n, inside = NaN) {
      const k = kern();
      const base = k.alloc((n + 2 * guard) * 4);
      const all = k.f32(base, n + 2 * guard);
      all.fill(sentinel);
      if (typeof inside === 'number') {
        all.fill(inside, guard, guard + n);
      } else {
        all.fill(NaN, guard, guard + n);
        all.set(inside, guard);
      }
      const check = (what: string) => {
        const v = k.f32(base, n + 2 * guard);
        for (let i = 0; i < guard; i++) {
          assert.is(v[i], fenced, `${what}: wrote before the buffer`);
          assert.is(v[guard + n + i], fenced, `${what}: wrote past the buffer`);
        }
      };
      return {
        ptr: base + guard * 4,
        check,
        read(what) {
          check(what);
          return k.f32(base + guard * 4, n).slice();
        },
      };
    },

    putPoisoned(x) {
      const k = kern();
      const base = k.alloc((x.length + 2 * guard) * 4);
      k.f32(base, x.length + 2 * guard).fill(NaN).set(x, guard);
      return base + guard * 4;
    },

    allocAtEnd(n) {
      const k = kern();
      const bytes = n * 4;
      const top = k.mark();
      if (k.memory.buffer.byteLength - top < bytes) { k.alloc(bytes); k.release(top); }
      const end = k.memory.buffer.byteLength;
      k.alloc(end - top, 4);
      return end - bytes;
    },

    scoped(fn) {
      const k = kern();
      const mark = k.mark();
      try {
        return fn();
      } finally {
        k.release(mark);
      }
    },
  };
}
