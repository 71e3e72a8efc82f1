// Device acquisition. The core never imports Node modules: it takes a GPU object from the caller (Node passes the one
// from ./node-gpu.ts) or falls back to the browser's navigator.gpu.
import { WebGpuError } from './errors.js';

export interface AcquireOptions {
  /** A GPU object (e.g. from dawn.node); defaults to globalThis.navigator.gpu. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
}

export interface AcquiredDevice {
  /**
   * The GPU object the device came from. Hold on to it as long as the device is used: dawn.node tears its instance
   * down (and the device with it, hanging pending maps) when this object is garbage-collected.
   */
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  /** Human-readable adapter name for logs and benchmarks ("" when the adapter does not say). */
  adapterName: string;
}

/** The browser's GPU object, or undefined (Node without a polyfill, browsers without WebGPU). */
export function defaultGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}

/** Requests an adapter and a device from it (see deviceFromAdapter). */
export async function acquireDevice(opts: AcquireOptions = {}): Promise<AcquiredDevice> {
  const gpu = opts.gpu ?? defaultGpu();
  if (!gpu) throw new WebGpuError('NO_WEBGPU', 'WebGPU is not available (no navigator.gpu and no GPU object given)');
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  if (!adapter) throw new WebGpuError('NO_ADAPTER', 'WebGPU is available but requestAdapter() found no adapter');
  return { gpu, adapter, ...(await deviceFromAdapter(adapter)) };
}

/**
 * A device from an adapter the caller already has (the engine asks for the adapter itself, to fall back to WASM),
 * with the buffer-size limits raised to what the adapter allows: a big embedding or linear weight can exceed the
 * 128 MiB default binding size.
 */
export async function deviceFromAdapter(adapter: GPUAdapter): Promise<{ device: GPUDevice; adapterName: string }> {
  const want = ['maxStorageBufferBindingSize', 'maxBufferSize'] as const;
  const requiredLimits: Record<string, number> = {};
  for (const k of want) requiredLimits[k] = adapter.limits[k];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits });
  } catch (e) {
    throw new WebGpuError('NO_DEVICE', `requestDevice() failed: ${(e as Error).message}`);
  }
  const info = adapter.info;
  const adapterName = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : '';
  return { device, adapterName };
}
