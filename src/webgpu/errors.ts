// Typed errors of the WebGPU backend: callers branch on `code`, never on message text.

export type WebGpuErrorCode =
  | 'NO_WEBGPU'   // no GPU object: navigator.gpu is missing and none was passed in
  | 'NO_ADAPTER'  // requestAdapter() resolved to null
  | 'NO_DEVICE'   // requestDevice() failed
  | 'DEVICE_LOST' // the device was lost or destroyed
  | 'GPU_ERROR'   // an uncaptured validation / out-of-memory / internal error reported by the device
  | 'BAD_ARGUMENT'; // an op was called with sizes that do not fit its buffers, or out of its limits

export class WebGpuError extends Error {
  constructor(readonly code: WebGpuErrorCode, message: string) {
    super(message);
    this.name = 'WebGpuError';
  }
}
