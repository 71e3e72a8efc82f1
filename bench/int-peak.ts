// The integer ceiling of the int8 kernels: the machine's throughput for `acc = i32x4.add(acc, i32x4.dot_i16x8_s(u, v))`,
// the multiply-accumulate step of linear_q8 / conv2d_q8 / attention_q8 (8 int16 products summed pairwise into 4
// int32 lanes, then added to the accumulator: 8 multiply-adds = 16 integer ops per step, counted like f32 flops).
//
// The f32 peak (assembly/peak.ts) is the wrong bound for these kernels: one dot instruction does 8 multiply-adds
// where f32x4.mul + f32x4.add do 4, so an int8 kernel can run well past 100 % of the f32 peak. This probe is built
// here, byte by byte, as a tiny standalone WASM module (so the kernel module is untouched), with the same structure
// as the f32 probe: independent accumulator chains, the `u` factors loaded at an address that moves with the loop
// counter (nothing can be hoisted), two invariant `v` factors, every SIMD arithmetic instruction in the loop counted.

const SIMD = 0xfd;
const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => { const b = [...new TextEncoder().encode(s)]; return [...uleb(b.length), ...b]; };

// Instructions used (opcodes from the WebAssembly core and SIMD specifications).
const localGet = (i: number) => [0x20, ...uleb(i)];
const localSet = (i: number) => [0x21, ...uleb(i)];
const i32Const = (v: number) => [0x41, ...sleb(v)];
const I32_ADD = [0x6a], I32_AND = [0x71], I32_SHL = [0x74], I32_GE_S = [0x4e];
const v128Load = (offset: number) => [SIMD, ...uleb(0), 4 /* align 2^4 */, ...uleb(offset)];
const I32X4_ADD = [SIMD, ...uleb(174)];
const I32X4_DOT_I16X8_S = [SIMD, ...uleb(186)];
const i32x4ExtractLane = (lane: number) => [SIMD, ...uleb(27), lane];

/** Integer ops per loop iteration of the `chains`-chain probe: `chains` loads × 2 steps × 8 multiply-adds × 2. */
export const intOpsPerIter = (chains: number) => chains * 2 * 8 * 2;

/** Bytes the probe reads from address 0: 8 offsets of 16 bytes + `chains` vectors. */
export const intProbeBytes = (chains: number) => 7 * 16 + 16 * chains;

/**
 * `dot<chains>(buf, iters) → i32`: per iteration, `chains` vectors u_j = load(buf + 16·(i & 7) + 16·j), each added
 * into two accumulators as dot(u_j, v0) and dot(u_j, v1) (accumulator pair j mod chains/2); returns the wrapping sum
 * of every lane of every accumulator, so nothing is dead code.
 */
function probeBody(chains: number): number[] {
  // locals: 0 buf, 1 iters (params), 2 i, 3 p (i32), 4 v0, 5 v1, 6 u, 7.. accumulators (v128, zero-initialised)
  const ACC = 7;
  const code: number[] = [];
  code.push(...localGet(0), ...v128Load(0), ...localSet(4));
  code.push(...localGet(0), ...v128Load(16), ...localSet(5));
  code.push(0x02, 0x40, 0x03, 0x40); // block, loop
  code.push(...localGet(2), ...localGet(1), ...I32_GE_S, 0x0d, ...uleb(1)); // br_if out when i >= iters
  code.push(...localGet(0), ...localGet(2), ...i32Const(7), ...I32_AND, ...i32Const(4), ...I32_SHL, ...I32_ADD, ...localSet(3));
  for (let j = 0; j < chains; j++) {
    code.push(...localGet(3), ...v128Load(16 * j), ...localSet(6));
    const a = ACC + 2 * (j % (chains / 2));
    code.push(...localGet(a), ...localGet(6), ...localGet(4), ...I32X4_DOT_I16X8_S, ...I32X4_ADD, ...localSet(a));
    code.push(...localGet(a + 1), ...localGet(6), ...localGet(5), ...I32X4_DOT_I16X8_S, ...I32X4_ADD, ...localSet(a + 1));
  }
  code.push(...localGet(2), ...i32Const(1), ...I32_ADD, ...localSet(2));
  code.push(0x0c, ...uleb(0), 0x0b, 0x0b); // br loop, end loop, end block
  code.push(...localGet(ACC));
  for (let c = 1; c < chains; c++) code.push(...localGet(ACC + c), ...I32X4_ADD);
  code.push(...localSet(6));
  code.push(...localGet(6), ...i32x4ExtractLane(0));
  for (let l = 1; l < 4; l++) code.push(...localGet(6), ...i32x4ExtractLane(l), ...I32_ADD);
  code.push(0x0b);
  const locals = vec([[...uleb(2), I32], [...uleb(3 + chains), V128]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** The probe module: memory (1 page, exported as `memory`) and `dot<C>` for each chain count. */
export function intPeakModuleBytes(chainCounts: readonly number[]): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vec([[I32], [I32]]), ...vec([[I32]])];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    ...section(3, vec(chainCounts.map(() => [0]))),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...name('memory'), 0x02, 0], ...chainCounts.map((c, i) => [...name(`dot${c}`), 0x00, i])])),
    ...section(10, vec(chainCounts.map(probeBody))),
  ];
  return Uint8Array.from(bytes);
}

export interface IntPeakProbe {
  memory: WebAssembly.Memory;
  /** dot<chains>(0, iters): runs the probe over the int16 data at address 0. */
  run(chains: number, iters: number): number;
  chains: readonly number[];
}

/**
 * Chain counts timed (the ceiling is the fastest): the dot's result feeds only the 1-cycle add, so few chains hide
 * the latency; more show whether V8's register allocation copes (15 xmm: accumulators + 2 factors + load + product).
 */
export const INT_PEAK_CHAINS = [4, 6, 8, 12] as const;

export async function intPeakProbe(chainCounts: readonly number[] = INT_PEAK_CHAINS): Promise<IntPeakProbe> {
  for (const c of chainCounts) if (!(Number.isInteger(c) && c >= 2 && c % 2 === 0 && c <= 24)) throw new RangeError(`chains must be an even integer in 2..24, got ${c}`);
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(intPeakModuleBytes(chainCounts)));
  const ex = instance.exports as Record<string, unknown>;
  return {
    memory: ex.memory as WebAssembly.Memory,
    chains: chainCounts,
    run: (chains, iters) => (ex[`dot${chains}`] as (b: number, i: number) => number)(0, iters),
  };
}
