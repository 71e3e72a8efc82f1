// `splitee serve`: the cloud half of a split as an HTTP server (src/cloud/server.ts) running one model file, in one
// process or in N worker processes sharing one port (node:cluster). Replicas hold no state: any one answers any
// frame, so the workers, and any number of `splitee serve` processes behind a balancer, are interchangeable.
import cluster, { type Worker } from 'node:cluster';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { closeOnSignals, createCloudServer, type CloudModel, type RequestLog } from '../cloud/server.js';
import { cloudModelFrom } from '../cloud/cloud-model.js';
import { parseSchedule } from '../cloud/emulate.js';
import { resolveModelPath } from '../node.js';
import { helpText, numberOption, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { backendOption, openModel, requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', help: 'zoo model name (fmnist-cnn, sst2-transformer) or path to a .spx file (required)' },
  port: { type: 'string', default: '8787', help: 'TCP port; 0 picks a free one (the URL printed says which)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0 or :: to accept other machines)' },
  workers: { type: 'string', help: 'engine processes sharing the port (default: one per core); 1 serves in this process' },
  token: { type: 'string', help: 'require Authorization: Bearer <token> on inference routes (else $SPLITEE_TOKEN; none: open)' },
  'max-concurrent': { type: 'string', default: '4', help: 'inference requests at once per process; one more gets 503 BUSY' },
  'timeout-ms': { type: 'string', default: '10000', help: 'per-request deadline (504 TIMEOUT past it)' },
  'max-body-bytes': { type: 'string', default: String(8 << 20), help: 'largest frame accepted (413 past it)' },
  'max-connections': { type: 'string', default: '1024', help: 'open connections per process; more are closed on arrival' },
  backend: { type: 'string', default: 'wasm', help: 'wasm | webgpu | auto (the splitee engine\'s backend)' },
  engine: { type: 'string', default: 'wasm', help: 'wasm (the splitee engine, on --backend) | onnxruntime (the exported tails on onnxruntime-node)' },
  emulate: { type: 'string', help: 'emulate a network on inference requests: "rtt=80ms,bw=2mbit" or a schedule "0s:rtt=2ms,bw=100mbit;20s:rtt=120ms,bw=1mbit" (GET/PUT /v1/emulate reads or changes it; implies --workers 1 unless given)' },
  quiet: { type: 'boolean', help: 'no per-request log lines on stderr' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee serve --model <m> [--port P] [--host 127.0.0.1] [--workers N] [--engine wasm|onnxruntime] [--token T]\n'
  + '                     [--max-concurrent N] [--timeout-ms T] [--max-body-bytes B] [--max-connections C]\n\n'
  + 'Serves POST /v1/infer (body: a split frame, docs/TRANSPORT.md), the KServe v2 inference protocol under /v2,\n'
  + 'GET /healthz (liveness) and GET /readyz (readiness) until SIGTERM / SIGINT, then finishes the requests in flight\n'
  + 'and exits 0. Prints "listening on <url>" on stdout once every worker accepts connections.';

function logLine(e: RequestLog): string {
  const extra = [e.code, e.requestId && `req ${e.requestId.slice(0, 8)}`, e.splitLayer !== undefined && `k=${e.splitLayer}`, e.bytes !== undefined && `${e.bytes} B`]
    .filter(Boolean).join(' ');
  return `${e.time} ${e.method} ${e.path} ${e.status} ${e.ms.toFixed(1)} ms${extra ? ' ' + extra : ''}`;
}

interface ServeConfig {
  modelName: string;
  port: number;
  host: string;
  workers: number;
  token?: string;
  maxConcurrent: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  maxConnections: number;
  backend: ReturnType<typeof backendOption>;
  engine: 'wasm' | 'onnxruntime';
  emulate?: string;
  quiet: boolean;
}

function engineOption(v: string): ServeConfig['engine'] {
  if (v === 'wasm' || v === 'onnxruntime') return v;
  throw new UsageError(`--engine must be wasm or onnxruntime, got '${v}'`);
}

/** The cloud half on the chosen engine, with what the banner says about it and how to let it go. */
async function openCloudModel(c: ServeConfig): Promise<{ model: CloudModel; banner: string; dispose(): Promise<void> | void }> {
  if (c.engine === 'onnxruntime') {
    const { onnxRuntimeCloudModel } = await import('../cloud/onnxruntime-node.js');
    const bytes = new Uint8Array(await readFile(resolveModelPath(c.modelName)));
    const digest = new Uint8Array(createHash('sha256').update(bytes).digest());
    const m = await onnxRuntimeCloudModel(bytes, digest);
    return { model: m, banner: `${m.name} (${m.numLayers} layers, sha256 ${Buffer.from(digest).toString('hex').slice(0, 16)}…, onnxruntime)`, dispose: () => m.dispose() };
  }
  const model = await openModel(c.modelName, c.backend);
  return {
    model: cloudModelFrom(model),
    banner: `${model.name} (${model.numLayers} layers, sha256 ${model.digestHex.slice(0, 16)}…, ${model.backendName})`,
    dispose: () => model.dispose(),
  };
}

function parseConfig(argv: string[]): ServeConfig | null {
  const p = parseArgs(argv, spec);
  if (p.options.help) { console.log(helpText(USAGE, spec)); return null; }
  if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const host = String(p.options.host);
  if (host === '') throw new UsageError('--host must not be empty');
  const tokenOpt = p.options.token;
  if (tokenOpt === '') throw new UsageError('--token must not be empty');
  const emulate = typeof p.options.emulate === 'string' ? p.options.emulate : undefined;
  if (emulate !== undefined) {
    try { parseSchedule(emulate); } catch (e) { throw new UsageError(`--emulate: ${(e as Error).message}`); }
  }
  return {
    emulate,
    modelName: requireString(p, 'model'),
    port: numberOption(p, 'port', { integer: true, min: 0, max: 65535 })!,
    host,
    // One emulated link is one process's: the control endpoint would reach only the worker that took the request.
    workers: numberOption(p, 'workers', { integer: true, min: 1, max: 1024 }) ?? (emulate !== undefined ? 1 : availableParallelism()),
    token: typeof tokenOpt === 'string' ? tokenOpt : process.env.SPLITEE_TOKEN || undefined,
    maxConcurrent: numberOption(p, 'max-concurrent', { integer: true, min: 1 })!,
    requestTimeoutMs: numberOption(p, 'timeout-ms', { integer: true, min: 1 })!,
    maxBodyBytes: numberOption(p, 'max-body-bytes', { integer: true, min: 64 })!,
    maxConnections: numberOption(p, 'max-connections', { integer: true, min: 1 })!,
    backend: backendOption(p),
    engine: engineOption(String(p.options.engine)),
    quiet: Boolean(p.options.quiet),
  };
}

/** One engine process: load the model, serve until a signal, drain. `onListening` reports the URL. */
async function serveOne(c: ServeConfig, onListening: (url: string, banner: string) => void): Promise<number> {
  const cloud = await openCloudModel(c);
  try {
    const server = await createCloudServer({
      model: cloud.model, port: c.port, host: c.host, token: c.token, maxConcurrent: c.maxConcurrent,
      requestTimeoutMs: c.requestTimeoutMs, maxBodyBytes: c.maxBodyBytes, maxConnections: c.maxConnections, emulate: c.emulate,
      log: c.quiet ? undefined : (e) => process.stderr.write(logLine(e) + '\n'),
    });
    // Handlers first: whoever reads the URL may send SIGTERM at once.
    const who = cluster.isWorker ? `splitee serve [worker ${process.pid}]` : 'splitee serve';
    const closed = closeOnSignals(server, { log: (m) => process.stderr.write(`${who}: ${m}\n`) });
    onListening(server.url, cloud.banner + (c.emulate ? `, emulating ${c.emulate}` : ''));
    const sig = await closed;
    if (!cluster.isWorker) process.stderr.write(`${who}: closed after ${sig}\n`);
    return 0;
  } finally {
    await cloud.dispose();
  }
}

/**
 * The primary of `--workers N`: forks N workers that each run serveOne on the shared port, replaces a worker that
 * dies, and on SIGTERM / SIGINT tells every worker to drain and returns once all have exited.
 */
function superviseWorkers(c: ServeConfig, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    cluster.setupPrimary({ args: ['serve', ...argv], silent: false });
    let draining: NodeJS.Signals | null = null;
    let started = false;
    let failed = 0;
    const listening = new Map<number, string>();
    const live = new Set<Worker>();
    let banner = '';
    const fork = () => {
      const w = cluster.fork({ SPLITEE_SERVE_WORKER: '1' });
      live.add(w);
      w.on('message', (m: { type?: string; url?: string; banner?: string }) => {
        if (m?.type !== 'listening' || typeof m.url !== 'string') return;
        listening.set(w.id, m.url);
        banner = m.banner ?? banner;
        if (!started && listening.size >= c.workers) {
          started = true;
          // One line on stdout that scripts parse for the URL (port 0 included: the workers share one port).
          console.log(`splitee serve: ${banner}, ${c.workers} workers, listening on ${m.url}${c.token ? ' (token required)' : ''}`);
        }
      });
      w.on('exit', (code, signal) => {
        live.delete(w);
        listening.delete(w.id);
        if (draining) {
          if (code !== 0) failed++;
          if (live.size === 0) { cleanup(); process.stderr.write(`splitee serve: closed after ${draining} (${c.workers} workers drained)\n`); resolve(failed ? 1 : 0); }
          return;
        }
        if (!started) { cleanup(); for (const o of live) o.process.kill('SIGKILL'); reject(new Error(`a worker failed to start (exit ${code ?? signal})`)); return; }
        process.stderr.write(`splitee serve: worker ${w.process.pid} died (${signal ?? `exit ${code}`}); starting another\n`);
        fork();
      });
    };
    const onSignal = (sig: NodeJS.Signals) => {
      if (draining) { for (const w of live) w.process.kill('SIGKILL'); return; }
      draining = sig;
      process.stderr.write(`splitee serve: ${sig}: draining ${live.size} workers\n`);
      // A terminal's Ctrl-C already reached the workers (one process group); a SIGTERM to the primary did not.
      for (const w of live) if (sig === 'SIGTERM') w.process.kill('SIGTERM');
      if (live.size === 0) { cleanup(); resolve(0); }
    };
    const cleanup = () => { process.off('SIGTERM', onSignal); process.off('SIGINT', onSignal); };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    for (let i = 0; i < c.workers; i++) fork();
  });
}

export const command: Command = {
  summary: 'serve the cloud half of a split model over HTTP (POST /v1/infer, KServe v2, /healthz, /readyz)',
  async run(argv) {
    const c = parseConfig(argv);
    if (!c) return 0;
    if (cluster.isWorker && process.env.SPLITEE_SERVE_WORKER === '1') {
      const code = await serveOne(c, (url, banner) => process.send?.({ type: 'listening', url, banner }));
      // The IPC channel would keep this process alive: let go of it once drained.
      cluster.worker?.disconnect();
      return code;
    }
    if (c.workers > 1) {
      resolveModelPath(c.modelName); // an unknown model fails here, once, not in every worker
      return superviseWorkers(c, argv);
    }
    return serveOne(c, (url, banner) => {
      // One line on stdout that scripts (and the end-to-end test) parse for the URL, port 0 included.
      console.log(`splitee serve: ${banner} listening on ${url}${c.token ? ' (token required)' : ''}`);
    });
  },
};
