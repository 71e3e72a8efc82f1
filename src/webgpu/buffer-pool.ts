// Reuses activation and scratch buffers across ops and runs: creating GPU buffers is slow and every inference needs
// the same sizes again. Sizes are bucketed (8 classes per power of two) so a slightly different T or batch still hits.

/** The bucket a request of `bytes` is served from: ≥ 256 bytes, at most 12.5 % above the request. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes));
  const step = Math.max(256, 2 ** Math.floor(Math.log2(b)) / 8);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly owned = new Map<GPUBuffer, number>();
  private liveBytes = 0;

  constructor(private readonly device: GPUDevice, private readonly label = 'splitee-pool') {}

  /** A storage buffer of at least `bytes` bytes; contents are undefined (stale data from an earlier user). */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) return reused;
    // GPUBufferUsage is read at call time: in Node it only exists once the webgpu globals were installed.
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buf = this.device.createBuffer({ size, usage, label: this.label });
    this.owned.set(buf, size);
    this.liveBytes += size;
    return buf;
  }

  /** Returns a buffer to the pool. Only buffers from acquire(); releasing twice is a bug caught here. */
  release(buf: GPUBuffer): void {
    const size = this.owned.get(buf);
    if (size === undefined) throw new Error('BufferPool.release: buffer does not belong to this pool');
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    if (list.includes(buf)) throw new Error('BufferPool.release: buffer released twice');
    list.push(buf);
  }

  /** Bytes of GPU memory the pool holds (in use or free). */
  get bytes(): number { return this.liveBytes; }

  /** Destroys the free buffers (the ones in use stay valid). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) { this.liveBytes -= this.owned.get(b) ?? 0; this.owned.delete(b); b.destroy(); }
    }
    this.free.clear();
  }

  destroy(): void {
    for (const b of this.owned.keys()) b.destroy();
    this.owned.clear();
    this.free.clear();
    this.liveBytes = 0;
  }
}
