// Compiles each WGSL variant once per device. Keys are short names chosen by the op files ("linear:gemm"), so a
// lookup never hashes a whole shader source.

export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  get(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Compiles and reports WGSL errors of one variant with line numbers (used by tests; compilation is lazy otherwise). */
  async check(key: string, code: string): Promise<string[]> {
    const module = this.device.createShaderModule({ code, label: key });
    const info = await module.getCompilationInfo();
    return info.messages.filter((m) => m.type === 'error').map((m) => `${key}:${m.lineNum}:${m.linePos}: ${m.message}`);
  }

  get size(): number { return this.pipelines.size; }
}
