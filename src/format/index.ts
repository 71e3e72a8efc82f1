// The `.spx` model file: types, reader (full validation + shape inference), writer. See docs/FORMAT.md.
export * from './types.js';
export { SpxError, isSpxError, type SpxErrorCode } from './errors.js';
export { parseSpx, type SpxModelFile } from './reader.js';
export {
  inferShapes, normalizeOp, fmtShape,
  type InferredShapes, type BlockShapes, type OpShape,
} from './shapes.js';
export {
  writeSpx, encodeSpx, quantizeWeightPerChannel, roundHalfEven,
  type WriterTensor, type QuantizedTensor,
} from './writer.js';
