// Pieces several subcommands share: the standard options, opening a model and a stream, a TTY progress line.
import type { BackendChoice } from '../engine/types.js';
import { loadModel, resolveModelPath, type Model } from '../node.js';
import { LIMIT_HELP, UsageError, type OptionSpec, type Parsed } from './args.js';

export const PRECISION_HELP = 'f32 | int8 (WASM: int8 weights, int16 activations, int32 sums)';

/** Where and how a command's model computes: every command that loads a model for the device takes these. */
export const ENGINE_OPTIONS: Record<string, OptionSpec> = {
  backend: { type: 'string', default: 'wasm', help: 'wasm | webgpu | auto' },
  precision: { type: 'string', default: 'f32', help: PRECISION_HELP },
};

export const MODEL_OPTIONS: Record<string, OptionSpec> = {
  model: { type: 'string', help: 'zoo model name (fmnist-cnn, sst2-transformer) or path to a .spx file' },
  dataset: { type: 'string', help: 'stream: fmnist:test, fmnist:test:noise, fmnist:test:blur, sst2:dev, kotzias:imdb, kotzias:yelp, kotzias:amazon' },
  'data-dir': { type: 'string', help: 'where the datasets are (else $SPLITEE_DATA, ../shared/datasets, /usr/share/datasets)' },
  limit: { type: 'string', help: LIMIT_HELP },
  ...ENGINE_OPTIONS,
};

export function backendOption(p: Parsed): BackendChoice {
  const b = String(p.options.backend ?? 'wasm');
  if (b !== 'wasm' && b !== 'webgpu' && b !== 'auto') throw new UsageError(`--backend must be wasm, webgpu or auto, got '${b}'`);
  return b;
}

export function precisionOption(p: Parsed): 'f32' | 'int8' {
  const v = String(p.options.precision ?? 'f32');
  if (v !== 'f32' && v !== 'int8') throw new UsageError(`--precision must be f32 or int8, got '${v}'`);
  return v;
}

export function requireString(p: Parsed, name: string): string {
  const v = p.options[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/**
 * Loads a model for the CLI. WebGPU in Node comes from the optional peer dependency `webgpu` (dawn.node), which the
 * Node entry's loadModel loads when asked for; `auto` falls back to WASM when it is missing or finds no adapter.
 */
export async function openModel(nameOrPath: string, backend: BackendChoice, precision: 'f32' | 'int8' = 'f32'): Promise<Model> {
  resolveModelPath(nameOrPath); // an unknown name fails here, before any backend work
  if (precision === 'int8') {
    if (backend === 'webgpu') throw new UsageError('--precision int8 runs on the WASM backend: use --backend wasm');
    return loadModel(nameOrPath, { precision });
  }
  if (backend === 'wasm') return loadModel(nameOrPath);
  try {
    return await loadModel(nameOrPath, { backend });
  } catch (err) {
    if (backend === 'auto') return loadModel(nameOrPath);
    throw err;
  }
}

/** A single updating status line on a TTY (stderr); silent otherwise, so pipes and --json stay clean. */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private last = 0;
  constructor(private readonly total: number, private readonly label: string) {}
  update(done: number, extra = ''): void {
    if (!this.tty) return;
    const now = Date.now();
    if (done < this.total && now - this.last < 80) return;
    this.last = now;
    const width = 28;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    process.stderr.write(`\r${this.label} ${bar} ${done}/${this.total} ${extra}\x1b[K`);
  }
  done(): void { if (this.tty) process.stderr.write('\n'); }
}
