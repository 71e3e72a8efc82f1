// ONNX import: multi-exit models exported from PyTorch (or anything writing ONNX) → .spx.
export { importOnnx, importOnnxDetailed, type ImportOptions, type ImportReport } from './import.js';
export { OnnxImportError, type OnnxImportErrorCode } from './errors.js';
