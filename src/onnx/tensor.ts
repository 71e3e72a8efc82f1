// Constant tensors as the importer computes with them: every element type held as float64 (float32 values are
// exact in float64; the int64 shape arithmetic ONNX files do stays far below 2^53), row-major.
import { OnnxImportError } from './errors.js';
import { DT, type OnnxTensorProto } from './onnx-proto.js';

export type DType = 'float' | 'int' | 'bool';

export interface Const {
  dtype: DType;
  shape: number[];
  data: Float64Array;
}

export const MAX_ELEMENTS = 2 ** 28;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export function dtypeOf(onnxType: number): DType | undefined {
  switch (onnxType) {
    case DT.FLOAT: case DT.DOUBLE: case DT.FLOAT16: return 'float';
    case DT.INT8: case DT.UINT8: case DT.INT16: case DT.UINT16: case DT.INT32: case DT.INT64: case DT.UINT32: case DT.UINT64: return 'int';
    case DT.BOOL: return 'bool';
    default: return undefined;
  }
}

function half(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1, e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const RAW_BYTES: Record<number, number> = {
  [DT.FLOAT]: 4, [DT.DOUBLE]: 8, [DT.FLOAT16]: 2, [DT.INT8]: 1, [DT.UINT8]: 1, [DT.INT16]: 2, [DT.UINT16]: 2,
  [DT.INT32]: 4, [DT.UINT32]: 4, [DT.INT64]: 8, [DT.UINT64]: 8, [DT.BOOL]: 1,
};

/** The values of a TensorProto. `what` names it in errors (an initializer, a Constant node's value…). */
export function tensorFromProto(t: OnnxTensorProto, what: string): Const {
  if (t.external) throw new OnnxImportError('UNSUPPORTED', `${what} keeps its data in an external file: re-export with the weights inside the .onnx (torch.onnx.export does this below 2 GB; onnx.save_model(..., save_as_external_data=False))`);
  if (t.refused) throw new OnnxImportError('UNSUPPORTED', `${what}: ${t.refused} are not supported`);
  const dtype = dtypeOf(t.dataType);
  if (!dtype) throw new OnnxImportError('UNSUPPORTED', `${what} has element type ${t.dataType}, which the importer does not read`);
  for (const d of t.dims) {
    if (!Number.isInteger(d) || d < 0 || d > MAX_ELEMENTS) throw new OnnxImportError('CORRUPT', `${what} has dimension ${d}`);
  }
  const n = numel(t.dims);
  if (n > MAX_ELEMENTS) throw new OnnxImportError('UNSUPPORTED', `${what} has ${n} elements, past the 2^28 limit`);
  const out = new Float64Array(n);
  if (t.raw !== undefined) {
    const size = RAW_BYTES[t.dataType];
    if (t.raw.length !== n * size) throw new OnnxImportError('CORRUPT', `${what}: raw_data has ${t.raw.length} bytes, shape [${t.dims.join(', ')}] needs ${n * size}`);
    const v = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
    for (let i = 0; i < n; i++) {
      switch (t.dataType) {
        case DT.FLOAT: out[i] = v.getFloat32(4 * i, true); break;
        case DT.DOUBLE: out[i] = v.getFloat64(8 * i, true); break;
        case DT.FLOAT16: out[i] = half(v.getUint16(2 * i, true)); break;
        case DT.INT8: out[i] = v.getInt8(i); break;
        case DT.UINT8: case DT.BOOL: out[i] = v.getUint8(i); break;
        case DT.INT16: out[i] = v.getInt16(2 * i, true); break;
        case DT.UINT16: out[i] = v.getUint16(2 * i, true); break;
        case DT.INT32: out[i] = v.getInt32(4 * i, true); break;
        case DT.UINT32: out[i] = v.getUint32(4 * i, true); break;
        case DT.INT64: out[i] = Number(v.getBigInt64(8 * i, true)); break;
        case DT.UINT64: out[i] = Number(v.getBigUint64(8 * i, true)); break;
      }
    }
  } else {
    let src: number[];
    switch (t.dataType) {
      case DT.FLOAT: src = t.floatData; break;
      case DT.DOUBLE: src = t.doubleData; break;
      case DT.INT64: src = t.int64Data; break;
      case DT.UINT32: case DT.UINT64: src = t.uint64Data; break;
      default: src = t.int32Data; // int8/16/32, uint8/16, bool, float16 (as bits)
    }
    if (src.length !== n) throw new OnnxImportError('CORRUPT', `${what}: ${src.length} values for shape [${t.dims.join(', ')}] (${n} elements)`);
    for (let i = 0; i < n; i++) out[i] = t.dataType === DT.FLOAT16 ? half(src[i] & 0xffff) : src[i];
  }
  if (dtype === 'bool') for (let i = 0; i < n; i++) out[i] = out[i] ? 1 : 0;
  return { dtype, shape: t.dims.slice(), data: out };
}

export function scalarOf(c: Const): number | undefined {
  return c.data.length === 1 ? c.data[0] : undefined;
}

export function toF32(c: Const): Float32Array {
  return Float32Array.from(c.data);
}
