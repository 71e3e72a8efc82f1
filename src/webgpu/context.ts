// One GpuContext per device: it owns the buffer pool and the pipeline cache, and batches every op's dispatch into one
// command encoder (one compute pass) until something must be read back. Ops never submit on their own, so a whole
// layer (or several) goes to the GPU as one submission and activations never leave GPU memory in between.
import { BufferPool } from './buffer-pool.js';
import { acquireDevice, type AcquireOptions } from './device.js';
import { WebGpuError } from './errors.js';
import { PipelineCache } from './pipeline-cache.js';

/** Bytes of every op's uniform block (all params are 4-byte scalars; 16 of them is plenty). */
export const PARAMS_BYTES = 64;
export const MAX_WORKGROUPS_PER_DIM = 65535;

export class GpuContext {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** Bound in place of an absent optional input (no bias, no mask); the kernel is told by a flag not to read it. */
  readonly dummy: GPUBuffer;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private paramsFree: GPUBuffer[] = [];
  private paramsInFlight: GPUBuffer[] = [];
  private readonly staging = new Map<number, GPUBuffer[]>();
  private firstError: string | null = null;
  private lostReason: string | null = null;
  private destroyed = false;
  /** Dispatches recorded since the context was made (for tests and benchmarks). */
  dispatches = 0;

  /**
   * @param gpu the GPU object the device came from, kept referenced here: dawn.node destroys its instance (hanging
   *   every pending map) once that object is garbage-collected, even while its device is still in use.
   */
  constructor(readonly device: GPUDevice, readonly adapterName = '', readonly gpu: GPU | null = null) {
    this.pool = new BufferPool(device);
    this.pipelines = new PipelineCache(device);
    this.dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'splitee-dummy' });
    // Keep the first uncaptured error: later ones are usually consequences of it.
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.firstError ??= `${err.constructor?.name ?? 'GPUError'}: ${err.message}`;
    });
    void device.lost.then((info) => { this.lostReason = `${info.reason}: ${info.message}`; });
  }

  static async create(opts: AcquireOptions = {}): Promise<GpuContext> {
    const { gpu, device, adapterName } = await acquireDevice(opts);
    return new GpuContext(device, adapterName, gpu);
  }

  get limits(): GPUSupportedLimits { return this.device.limits; }

  /** A pooled storage buffer of at least `bytes` bytes (contents undefined). Give it back with free(). */
  alloc(bytes: number): GPUBuffer {
    this.checkAlive();
    if (bytes > this.device.limits.maxStorageBufferBindingSize) {
      throw new WebGpuError('BAD_ARGUMENT', `buffer of ${bytes} bytes exceeds maxStorageBufferBindingSize ${this.device.limits.maxStorageBufferBindingSize}`);
    }
    return this.pool.acquire(bytes);
  }

  free(buf: GPUBuffer): void { this.pool.release(buf); }

  /**
   * A persistent buffer holding `data` (weights, constants): created mapped, so the upload happens once, at load,
   * without a staging copy. Not pooled: destroy it with the model. Sizes are padded to 4 bytes.
   */
  upload(data: ArrayBufferView, label = 'splitee-weights'): GPUBuffer {
    this.checkAlive();
    const bytes = data.byteLength;
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    const buf = this.device.createBuffer({
      size, label, mappedAtCreation: true,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, bytes));
    buf.unmap();
    return buf;
  }

  /** Writes `data` into an existing buffer, ordered after everything recorded so far (flushes first). */
  write(buf: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    this.checkAlive();
    // writeBuffer is queue-ordered: commands still sitting in the encoder would otherwise see the new data.
    this.flush();
    const bytes = data.byteLength;
    if (bytes % 4 === 0) {
      this.device.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes / 4) * 4);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
      this.device.queue.writeBuffer(buf, offsetBytes, padded);
    }
  }

  /**
   * Records one dispatch of `pipeline` with `params` at @binding(0) (uniform) and `buffers` at @binding(1..n).
   * Every kernel of this backend follows that binding convention.
   */
  dispatch(pipeline: GPUComputePipeline, params: Uint32Array, buffers: GPUBuffer[], x: number, y = 1, z = 1): void {
    this.checkAlive();
    if (x > MAX_WORKGROUPS_PER_DIM || y > MAX_WORKGROUPS_PER_DIM || z > MAX_WORKGROUPS_PER_DIM) {
      throw new WebGpuError('BAD_ARGUMENT', `dispatch ${x}×${y}×${z} exceeds ${MAX_WORKGROUPS_PER_DIM} workgroups per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (params.byteLength > PARAMS_BYTES) throw new Error(`params block of ${params.byteLength} bytes > ${PARAMS_BYTES}`);
    const ub = this.paramsFree.pop() ?? this.device.createBuffer({
      size: PARAMS_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'splitee-params',
    });
    // Queue writes land before the submission that carries this dispatch; each dispatch has its own block, so two
    // dispatches in the same encoder never see each other's params.
    this.device.queue.writeBuffer(ub, 0, params.buffer, params.byteOffset, params.byteLength);
    this.paramsInFlight.push(ub);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: ub } }];
    for (let i = 0; i < buffers.length; i++) entries.push({ binding: i + 1, resource: { buffer: buffers[i] } });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  /** Records a buffer-to-buffer copy (sizes and offsets multiples of 4). */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.checkAlive();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, Math.ceil(bytes / 4) * 4);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const cmd = this.encoder.finish();
    this.encoder = null;
    this.device.queue.submit([cmd]);
    // Params buffers may be rewritten now: later writeBuffer calls are ordered after this submission.
    this.paramsFree.push(...this.paramsInFlight);
    this.paramsInFlight = [];
  }

  /** Reads `bytes` bytes of `buf` (from `offset`) back to the CPU, after everything recorded so far. */
  async read(buf: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.checkAlive();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const list = this.staging.get(size);
    const st = list?.pop() ?? this.device.createBuffer({
      size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'splitee-staging',
    });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(buf, offset, st, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    try {
      await st.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      this.throwIfFailed();
      throw new WebGpuError('GPU_ERROR', `mapAsync failed: ${(e as Error).message}`);
    }
    const out = st.getMappedRange(0, size).slice(0, bytes);
    st.unmap();
    let back = this.staging.get(size);
    if (!back) this.staging.set(size, (back = []));
    back.push(st);
    this.throwIfFailed();
    return out;
  }

  async readF32(buf: GPUBuffer, n: number, offsetElements = 0): Promise<Float32Array> {
    return new Float32Array(await this.read(buf, n * 4, offsetElements * 4));
  }

  /** Waits for the GPU and throws the first uncaptured GPU error, if any (tests call this after each op). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  /** Throws if the device reported an error or was lost. */
  throwIfFailed(): void {
    if (this.lostReason !== null && !this.destroyed) throw new WebGpuError('DEVICE_LOST', `WebGPU device lost (${this.lostReason})`);
    if (this.firstError !== null) throw new WebGpuError('GPU_ERROR', this.firstError);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pass = null;
    this.encoder = null;
    this.pool.destroy();
    for (const b of [...this.paramsFree, ...this.paramsInFlight, this.dummy]) b.destroy();
    for (const list of this.staging.values()) for (const b of list) b.destroy();
    this.device.destroy();
  }

  private checkAlive(): void {
    if (this.destroyed) throw new WebGpuError('DEVICE_LOST', 'GpuContext used after destroy()');
    if (this.lostReason !== null) throw new WebGpuError('DEVICE_LOST', `WebGPU device lost (${this.lostReason})`);
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder({ label: 'splitee' }));
  }

  private computePass(): GPUComputePassEncoder {
    return (this.pass ??= this.commandEncoder().beginComputePass());
  }

  private endPass(): void {
    if (this.pass) { this.pass.end(); this.pass = null; }
  }
}
