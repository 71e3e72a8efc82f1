// The web demo's server (Node only): one HTTP port that serves
//   GET  /, /demo.html, /*.js …      the static pages in web/
//   GET  /dist/src/**.js              the built core as ES modules (the pages import /dist/src/index.js)
//   GET  /models/<name>.spx           model bytes (the demo model, plus any the caller registers)
//   GET  /api/config                  the demo's settings (DemoConfig)
//   GET  /api/samples[?dataset=&limit=]  a stream's samples and labels (SamplesPayload)
//   POST /v1/infer, GET /healthz      the cloud half of the demo model (src/cloud/server.ts, mounted here)
//   GET/PUT /v1/emulate               the emulated link to the cloud half, with the `emulate` option (the page's control)
// Every request must name this server in its Host header (localhost, 127.0.0.1, [::1] or the configured host): a
// page of another site that re-points its own name at 127.0.0.1 (DNS rebinding) is refused.
// The cloud half is `createCloudServer`'s own handler: this module takes over its http.Server's request event and
// hands it the two cloud routes, so the page offloads to the same origin (no CORS) and gets exactly the server's
// checks and error codes.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelBytes, type Model } from '../engine/model.js';
import { cloudModelFrom } from '../cloud/cloud-model.js';
import { createCloudServer, type CloudServer, type RequestLog } from '../cloud/server.js';
import { NetworkEmulator } from '../cloud/emulate.js';
import { createPolicy } from '../policy/registry.js';
import { DEFAULT_STREAMS, DEMO_DEFAULTS, demoCosts, encodeSamples, type DemoConfig, type DemoSample, type SamplesPayload } from './demo-core.js';

/** The package root: dist/src/demo/server.js → ../../.. (also right for a run from src/ via a loader). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export class WebServerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) { super(message); this.name = 'WebServerError'; this.code = code; }
}

/** Loads a stream's samples for GET /api/samples; the default reads the named streams of src/data/streams.ts. */
export type SampleSource = (dataset: string, limit: number) => Promise<SamplesPayload>;

export interface WebServerOptions {
  /** 0 picks a free port (tests). Default 8080. */
  port?: number;
  host?: string;
  /** The demo model: its bytes are served to the page, and its cloud half answers /v1/infer. */
  model?: { name: string; bytes: Uint8Array };
  /** More model files to serve at /models/<name>.spx (the browser test's fixtures). */
  models?: Record<string, Uint8Array>;
  /** Demo settings; the rest come from DEMO_DEFAULTS and the model's default stream. */
  demo?: Partial<Omit<DemoConfig, 'model' | 'modelUrl'>>;
  samples?: SampleSource;
  /** Where the datasets are, for the default sample source. */
  dataDir?: string;
  /** Largest `limit` /api/samples accepts (default 10,000). */
  maxLimit?: number;
  /** Package root holding web/ and dist/src/ (default: the one this file was built into). */
  root?: string;
  /** The cloud half's request log. */
  log?: (entry: RequestLog) => void;
  /**
   * Emulate the link between the page and the cloud half ("rtt=2ms,bw=100mbit", a schedule, or an emulator), and
   * serve GET / PUT /v1/emulate so the page can change it while it runs. Default: none (no /v1/emulate).
   */
  emulate?: string | NetworkEmulator;
  /** Host names besides localhost, 127.0.0.1, [::1] and `host` that requests may name (a reverse proxy's). */
  allowedHosts?: string[];
  /** Sample sets kept in memory by the default sample source, most recently used first (default 4). */
  sampleCacheEntries?: number;
}

/**
 * A cache of at most `max` entries that drops the least recently used one; a rejected promise is not kept.
 * The page asks for (dataset, limit) pairs of its choosing: without a bound, asking for every limit would keep every
 * decoded set in memory.
 */
export function boundedCache<V>(max: number): { get(key: string, make: () => Promise<V>): Promise<V>; readonly size: number } {
  if (!Number.isInteger(max) || max < 1) throw new WebServerError('BAD_OPTION', `the sample cache needs at least 1 entry, got ${max}`);
  const map = new Map<string, Promise<V>>();
  return {
    get(key, make) {
      let p = map.get(key);
      if (p) { map.delete(key); map.set(key, p); return p; } // most recent last
      p = make();
      map.set(key, p);
      p.catch(() => { if (map.get(key) === p) map.delete(key); });
      while (map.size > max) map.delete(map.keys().next().value as string);
      return p;
    },
    get size() { return map.size; },
  };
}

/** The host part of a Host header or an Origin's host, lower-case, brackets kept for IPv6 ("[::1]"). */
function hostName(h: string): string {
  const v = h.trim().toLowerCase();
  if (v.startsWith('[')) { const end = v.indexOf(']'); return end > 0 ? v.slice(0, end + 1) : v; }
  const colon = v.indexOf(':');
  return colon >= 0 ? v.slice(0, colon) : v;
}

export interface WebServer {
  url: string;
  port: number;
  /** The demo's settings as /api/config serves them (null without a demo model). */
  config: DemoConfig | null;
  /** The cloud half's engine model (WASM), when a demo model is set. */
  cloudModel: Model | null;
  httpServer: http.Server;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.spx': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
  '.ico': 'image/x-icon',
};

/** Sample sets already read, per (dataset, limit): opening fmnist decodes 10,000 images. */
function defaultSampleSource(dataDir: string | undefined, entries: number): SampleSource {
  const cache = boundedCache<SamplesPayload>(entries);
  return (dataset, limit) => cache.get(`${dataset}\0${limit}`, async () => {
    const { openStream } = await import('../data/streams.js');
    const s = await openStream(dataset, { limit, dataDir });
    return encodeSamples(s.name, s.classes, s.samples as DemoSample[], s.kind === 'image' ? s.shape.slice() : undefined);
  });
}

function modelUrl(name: string): string { return `/models/${encodeURIComponent(name)}.spx`; }

export async function createWebServer(opts: WebServerOptions = {}): Promise<WebServer> {
  const root = resolve(opts.root ?? PACKAGE_ROOT);
  const webDir = join(root, 'web');
  const distDir = join(root, 'dist', 'src');
  if (!existsSync(join(distDir, 'index.js'))) throw new WebServerError('NOT_BUILT', `${distDir}/index.js is missing: run \`npm run build\` first`);
  if (!existsSync(join(webDir, 'demo.html'))) throw new WebServerError('NO_WEB', `${webDir}/demo.html is missing`);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8080;
  const maxLimit = opts.maxLimit ?? 10_000;
  const samples = opts.samples ?? defaultSampleSource(opts.dataDir, opts.sampleCacheEntries ?? 4);
  const allowedHosts = new Set(['localhost', '127.0.0.1', '[::1]', ...(opts.allowedHosts ?? []), host].map((h) => hostName(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h)));
  const emulator = typeof opts.emulate === 'string' ? new NetworkEmulator(opts.emulate) : opts.emulate;

  const models = new Map<string, Uint8Array>();
  for (const [name, bytes] of Object.entries(opts.models ?? {})) models.set(name, bytes);
  if (opts.model) models.set(opts.model.name, opts.model.bytes);
  for (const name of models.keys()) {
    if (!/^[\w.-]+$/.test(name)) throw new WebServerError('BAD_NAME', `model name '${name}' must be letters, digits, '.', '_' or '-'`);
  }

  let config: DemoConfig | null = null;
  let cloudModel: Model | null = null;
  let cloud: CloudServer | null = null;
  let server: http.Server;
  if (opts.model) {
    const d = opts.demo ?? {};
    const dataset = d.dataset ?? DEFAULT_STREAMS[opts.model.name];
    if (!dataset) throw new WebServerError('NO_DATASET', `no default stream for model '${opts.model.name}': give demo.dataset`);
    config = {
      model: opts.model.name, modelUrl: modelUrl(opts.model.name), dataset,
      limit: d.limit ?? DEMO_DEFAULTS.limit, seed: d.seed ?? DEMO_DEFAULTS.seed, policy: d.policy ?? DEMO_DEFAULTS.policy,
      alpha: d.alpha ?? DEMO_DEFAULTS.alpha, lambda: d.lambda, offloadCost: d.offloadCost, c: d.c,
      dtype: d.dtype ?? DEMO_DEFAULTS.dtype, backend: d.backend ?? DEMO_DEFAULTS.backend,
      costs: d.costs, mu: d.mu, deviceMs: d.deviceMs,
      // The page shows its link control only when the server emulates one (and so serves /v1/emulate).
      network: emulator ? d.network ?? emulator.describe().now : undefined,
    };
    // Unset options stay absent (JSON drops them anyway; the page and a Node replay then see the same object).
    for (const k of Object.keys(config) as (keyof DemoConfig)[]) if (config[k] === undefined) delete config[k];
    cloudModel = await loadModelBytes(opts.model.bytes, { backend: 'wasm' });
    try {
      // A bad policy name or cost fails here, not later in every page.
      const L = cloudModel.numLayers;
      createPolicy(config.policy, { L, costs: demoCosts(config, L), seed: config.seed, c: config.c });
      cloud = await createCloudServer({ model: cloudModelFrom(cloudModel), port, host, log: opts.log, emulate: emulator });
    } catch (e) {
      cloudModel.dispose();
      throw e;
    }
    server = cloud.httpServer;
  } else {
    server = http.createServer();
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => { server.off('error', rej); res(); });
    });
  }

  // Take the request events over: the cloud routes go to the cloud server's handlers, the rest is ours.
  const cloudRequest = server.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  const cloudContinue = server.listeners('checkContinue') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.removeAllListeners('checkContinue');
  const isCloudRoute = (req: http.IncomingMessage) => {
    const path = (req.url ?? '/').split('?')[0];
    return path === '/v1/infer' || path === '/healthz' || path === '/v1/emulate';
  };
  /**
   * DNS rebinding: a page of another site whose name now resolves to 127.0.0.1 reaches this port as "same origin",
   * but its requests still carry its own name in Host. And a cross-site form may post to us (CORS does not stop a
   * simple request): a request with an Origin header must come from a page of this server to change anything.
   */
  function refused(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const h = req.headers.host;
    let why: string | undefined;
    if (!h || !allowedHosts.has(hostName(h))) why = `Host '${h ?? ''}' is not this server (allowed: ${[...allowedHosts].join(', ')})`;
    else if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers.origin !== undefined) {
      let o = '';
      try { o = new URL(req.headers.origin).host; } catch { /* "null" or garbage: refused below */ }
      if (!o || !allowedHosts.has(hostName(o))) why = `Origin '${req.headers.origin}' is not a page of this server`;
    }
    if (!why) return false;
    const body = JSON.stringify({ error: 'FORBIDDEN_HOST', message: why });
    res.writeHead(403, { 'Content-Type': MIME['.json'], 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
    // An upload we will not read must not keep the socket.
    req.resume();
    return true;
  }
  server.on('request', (req, res) => {
    if (refused(req, res)) return;
    if (cloud && isCloudRoute(req)) { for (const f of cloudRequest) f.call(server, req, res); return; }
    void handle(req, res);
  });
  server.on('checkContinue', (req, res) => {
    if (refused(req, res)) return;
    if (cloud && isCloudRoute(req)) { for (const f of cloudContinue) f.call(server, req, res); return; }
    res.writeContinue();
    void handle(req, res);
  });

  function send(res: http.ServerResponse, status: number, body: string | Uint8Array, type: string, head = false): void {
    if (res.headersSent) return;
    const len = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': len, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
    res.end(head ? undefined : body);
  }
  const sendJson = (res: http.ServerResponse, status: number, v: unknown, head = false) => send(res, status, JSON.stringify(v), MIME['.json'], head);
  const fail = (res: http.ServerResponse, status: number, code: string, message: string) => sendJson(res, status, { error: code, message });

  /** A file under `base` named by URL path segments; null when the path leaves `base` or is no regular file. */
  function fileUnder(base: string, rel: string): string | null {
    let decoded: string;
    try { decoded = decodeURIComponent(rel); } catch { return null; }
    if (decoded.includes('\0')) return null;
    const full = normalize(join(base, decoded));
    if (full !== base && !full.startsWith(base + sep)) return null;
    try { return statSync(full).isFile() ? full : null; } catch { return null; }
  }

  async function serveFile(res: http.ServerResponse, path: string | null, head: boolean): Promise<void> {
    if (!path) { fail(res, 404, 'NOT_FOUND', 'no such file'); return; }
    const type = MIME[extname(path).toLowerCase()] ?? 'application/octet-stream';
    send(res, 200, await readFile(path), type, head);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      const head = req.method === 'HEAD';
      if (req.method !== 'GET' && !head) {
        res.setHeader('Allow', 'GET, HEAD');
        fail(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}`);
        return;
      }
      if (path === '/v1/infer' || path === '/healthz' || path === '/v1/emulate') { fail(res, 404, 'NO_CLOUD', 'this server has no demo model, so no cloud half'); return; }
      if (path === '/api/config') {
        if (!config) { fail(res, 404, 'NO_DEMO', 'this server has no demo model'); return; }
        sendJson(res, 200, config, head);
        return;
      }
      if (path === '/api/samples') {
        const dataset = url.searchParams.get('dataset') ?? config?.dataset;
        if (!dataset) { fail(res, 400, 'NO_DATASET', 'give ?dataset=<stream>'); return; }
        const limitText = url.searchParams.get('limit');
        const limit = limitText === null ? (config?.limit ?? 1000) : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) { fail(res, 400, 'BAD_LIMIT', `limit must be an integer in 1..${maxLimit}, got ${limitText}`); return; }
        let payload: SamplesPayload;
        try {
          payload = await samples(dataset, limit);
        } catch (e) {
          const err = e as Error & { code?: string };
          const status = err.code === 'UNKNOWN_STREAM' ? 400 : err.code === 'DATASET_NOT_FOUND' ? 404 : 500;
          fail(res, status, err.code ?? 'SAMPLES_FAILED', err.message);
          return;
        }
        sendJson(res, 200, payload, head);
        return;
      }
      const m = /^\/models\/([\w.-]+)\.spx$/.exec(path);
      if (m) {
        const bytes = models.get(m[1]);
        if (!bytes) { fail(res, 404, 'NO_MODEL', `no model '${m[1]}' here (${[...models.keys()].join(', ') || 'none'})`); return; }
        send(res, 200, bytes, MIME['.spx'], head);
        return;
      }
      if (path.startsWith('/dist/src/')) { await serveFile(res, fileUnder(distDir, path.slice('/dist/src/'.length)), head); return; }
      const rel = path === '/' ? 'index.html' : path.slice(1);
      await serveFile(res, fileUnder(webDir, rel), head);
    } catch (e) {
      fail(res, 500, 'INTERNAL', (e as Error)?.message ?? String(e));
    }
  }

  const addr = server.address() as AddressInfo;
  const urlHost = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${addr.port}`,
    port: addr.port,
    config,
    cloudModel,
    httpServer: server,
    close() {
      closed ??= (async () => {
        if (cloud) await cloud.close({ graceMs: 2000 });
        else {
          await new Promise<void>((res) => { server.close(() => res()); server.closeIdleConnections(); setTimeout(() => server.closeAllConnections(), 2000).unref(); });
        }
        cloudModel?.dispose();
      })();
      return closed;
    },
  };
}

