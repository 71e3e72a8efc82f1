// Weights for the int8 path (docs/KERNELS.md, "The int8 path"): a matrix as int8 rows with one f32 scale per row
// (axis 0: the output channel of a linear or conv weight, the token of an embedding table).
//
// An int8 tensor stored per channel along axis 0 is used as it is, byte for byte: no f32 copy is ever made. Any
// other weight (f32, or int8 with one scale and a zero point) is quantized here symmetrically per row:
// scale = max|w_row| / 127, q = round(w / scale), which is how the model files' own int8 weights are made.
import type { SpxModelFile } from '../format/index.js';

export interface Int8Rows {
  /** rows × cols int8 values, row-major. */
  q: Int8Array;
  /** One scale per row: value ≈ q · scale. */
  scales: Float32Array;
  rows: number;
  cols: number;
}

/** Symmetric per-row int8 quantization of an f32 [rows, cols] matrix. */
export function quantizeRows(w: Float32Array, rows: number, cols: number): Int8Rows {
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let i = r * cols, e = i + cols; i < e; i++) amax = Math.max(amax, Math.abs(w[i]));
    if (!(amax > 0) || !Number.isFinite(amax)) continue;
    const s = amax / 127;
    scales[r] = s;
    for (let i = r * cols, e = i + cols; i < e; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i] / s)));
  }
  return { q, scales, rows, cols };
}

/** The tensor `name` as int8 rows along axis 0. */
export function int8Rows(file: SpxModelFile, name: string): Int8Rows {
  const e = file.header.tensors[name];
  const rows = e.shape[0];
  const cols = e.shape.slice(1).reduce((a, b) => a * b, 1);
  if (e.dtype === 'i8' && e.quant && 'scales' in e.quant) {
    const b = file.tensorBytes(name);
    return { q: new Int8Array(b.buffer, b.byteOffset, b.length), scales: Float32Array.from(e.quant.scales), rows, cols };
  }
  return quantizeRows(file.tensor(name), rows, cols);
}
