// Part 4 of the bench: what the device half holds. The WASM backend places every buffer at load time (packed
// weights, one buffer per slot of the buffer plan, kernel scratch) in one linear memory that never grows afterwards,
// so the size of that memory after loading (model.memoryBytes) is the device half's peak, whatever split point it runs.
import { numel } from '../src/engine/types.js';
import { WasmBackend } from '../src/engine/wasm-backend.js';
import type { BenchModel } from './zoo.js';

export interface MemoryRow {
  name: string;
  /** WASM linear memory of the model after load (= peak: nothing is allocated while running). */
  wasmBytes: number;
  /** Weights as the engine holds them (f32, before the kernels' padding of packed panels). */
  weightBytesF32: number;
  spxBytes: number;
  onnxBytes: number | null;
  /** Whether memory grew during an all-exits pass at the longest input (the plan says it never does). */
  grewWhileRunning: boolean;
  /** The same for the int8 path (precision 'int8'), when the bench loaded it. */
  int8?: { wasmBytes: number; grewWhileRunning: boolean };
}

export async function benchMemory(models: BenchModel[]): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const bm of models) {
    const backend = bm.model.backend;
    if (!(backend instanceof WasmBackend)) continue;
    // Run the deepest path once so a (buggy) growth on the hot path would show up as a difference.
    const h = bm.model.header;
    const input = h.input.kind === 'image' ? new Float32Array(numel(h.input.shape)).fill(0.5) : new Int32Array(h.input.maxLen).fill(1 % h.input.vocabSize);
    const measure = async (m: typeof bm.model) => {
      const before = m.memoryBytes;
      await m.exits(input);
      return { wasmBytes: m.memoryBytes, grewWhileRunning: m.memoryBytes !== before };
    };
    const f32 = await measure(bm.model);
    const weightBytesF32 = Object.values(h.tensors).reduce((a, t) => a + numel(t.shape) * 4, 0);
    rows.push({
      name: bm.name, ...f32, weightBytesF32, spxBytes: bm.spxBytes, onnxBytes: bm.onnx?.length ?? null,
      ...(bm.int8 ? { int8: await measure(bm.int8) } : {}),
    });
  }
  return rows;
}
