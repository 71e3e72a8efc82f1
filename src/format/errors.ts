// The one error type of the model-file code: every rejection of a file carries a machine-readable `code` and a
// message naming the field, layer, op or tensor at fault.

export type SpxErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'BAD_HEADER'
  | 'CHECKSUM'
  | 'BAD_TENSOR'
  | 'SHAPE_MISMATCH'
  | 'UNKNOWN_OP'
  | 'TOO_LARGE';

export class SpxError extends Error {
  readonly code: SpxErrorCode;
  constructor(code: SpxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpxError';
    this.code = code;
  }
}

export function isSpxError(e: unknown): e is SpxError {
  return e instanceof SpxError;
}
