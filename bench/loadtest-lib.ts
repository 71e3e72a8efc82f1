// The pieces of the load test, shared by `npm run loadtest` (bench/loadtest.ts) and its smoke test: N `splitee serve`
// replicas on loopback, HAProxy in front of them with the repository's deploy/haproxy.cfg, and D simulated devices,
// each a real device runner (runStream: its own SplitEE policy, the engine's device half, frames, retries) streaming
// the dataset through the balancer. What is counted is what each device saw: every sample must be answered exactly
// once, by the cloud whenever the device chose to offload.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, openStream, type Model } from '../src/node.js';
import { createInputEncoder } from '../src/index.js';
import { createPolicy } from '../src/policy/registry.js';
import { CloudError, HttpCloudClient, type CloudClient, type InferOptions } from '../src/device/cloud.js';
import { runStream, type SampleRecord } from '../src/device/runner.js';
import { V2CloudClient } from '../src/device/v2-client.js';
import type { CloudAnswer } from '../src/transport/frame.js';

/** The package root (dist/bench/loadtest-lib.js → ../..). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'splitee.js');
export const HAPROXY_TEMPLATE = join(ROOT, 'deploy', 'haproxy.cfg');

export interface LoadtestOptions {
  replicas: number;
  devices: number;
  /** Seconds the devices stream for. */
  durationS: number;
  /** SIGKILL one replica half-way through. */
  killOne: boolean;
  /** The signal for killOne: SIGKILL (a crash, default) or SIGTERM (a graceful drain). */
  killSignal?: 'SIGKILL' | 'SIGTERM';
  model: string;
  dataset: string;
  /** Samples each device streams at most (the run also stops at durationS). */
  maxSamplesPerDevice: number;
  /** Wire dtype of the activations. */
  dtype?: 'int8' | 'f32' | 'fp16' | 'int8c' | 'int4';
  /** Per-replica inference slots (HAProxy's per-server maxconn is set to this). */
  maxConcurrent?: number;
  /** The replicas' engine: wasm (splitee) or onnxruntime (the exported tails on onnxruntime-node). */
  engine?: 'wasm' | 'onnxruntime';
  /** How the devices talk to the cloud: splitee's /v1/infer frames, or the KServe v2 protocol (V2CloudClient). */
  protocol?: 'v1' | 'v2';
  log?: (line: string) => void;
}

export interface LoadtestResult {
  balancer: string;
  engine: string;
  protocol: string;
  replicas: number;
  devices: number;
  /** Samples the devices streamed (each must get one answer). */
  samples: number;
  /** Samples answered as intended: on the device, or by the cloud when offloaded (not degraded). */
  answered: number;
  /** Samples whose offload the cloud never answered (answered by the device's own exit as a fallback). */
  lost: number;
  /** Answers beyond the first one for the same request, or samples recorded twice. */
  duplicated: number;
  /** Failed cloud attempts the devices saw (each retried or given up). */
  errors: number;
  samplesPerSec: number;
  /** End-to-end per sample: device half + cloud round trip (retries included) for offloads. */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  offloaded: number;
  offloadRate: number;
  /** Offloads the cloud answered per second (the balancer's throughput). */
  offloadsPerSec: number;
  /** Offload round trips (first attempt to answer). */
  cloudP50Ms: number;
  cloudP99Ms: number;
  errorCodes: Record<string, number>;
  /** Answers per replica (from /readyz) for the ones alive at the end; a killed one is null. */
  perReplica: (number | null)[];
  /** CPU seconds the replica processes used, and offloads answered per replica CPU second (per-core throughput). */
  replicaCpuS: number;
  offloadsPerCpuS: number;
  killedAt?: number;
  durationS: number;
}

export interface Replica {
  url: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** A free TCP port on loopback (for HAProxy's frontend, which cannot report a port it picked). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** Starts `splitee serve --workers 1` on a free port and resolves once it prints its URL. */
export async function startReplica(model: string, opts: { maxConcurrent?: number; timeoutMs?: number; engine?: string } = {}): Promise<Replica> {
  const args = [BIN, 'serve', '--model', model, '--port', '0', '--workers', '1', '--quiet', '--max-concurrent', String(opts.maxConcurrent ?? 4), '--engine', opts.engine ?? 'wasm'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let out = '', err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const t0 = Date.now();
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    if (child.exitCode !== null || Date.now() - t0 > (opts.timeoutMs ?? 20_000)) {
      child.kill('SIGKILL');
      throw new Error(`replica did not start: ${out}${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /listening on (http:\/\/\S+)/.exec(out)![1];
  return { url, port: Number(new URL(url).port), child, exited };
}

/**
 * deploy/haproxy.cfg with the ports filled in: {{FRONTEND_PORT}}, and the line holding {{REPLICA_PORT}} repeated
 * once per replica ({{REPLICA}} = 1, 2, …). `maxconn` on that line follows the replicas' slots.
 */
export function renderHaproxyConfig(template: string, frontendPort: number, replicaPorts: number[], maxConcurrent = 4): string {
  const out: string[] = [];
  for (const line of template.split('\n')) {
    if (/^\s*#/.test(line)) { out.push(line); continue; }
    if (line.includes('{{REPLICA_PORT}}')) {
      replicaPorts.forEach((p, i) => out.push(line.replace(/\{\{REPLICA\}\}/g, String(i + 1)).replace(/\{\{REPLICA_PORT\}\}/g, String(p))
        .replace(/maxconn \d+/, `maxconn ${maxConcurrent}`)));
    } else {
      out.push(line.replace(/\{\{FRONTEND_PORT\}\}/g, String(frontendPort)));
    }
  }
  const text = out.join('\n');
  if (out.some((l) => !/^\s*#/.test(l) && l.includes('{{'))) throw new Error('deploy/haproxy.cfg has a placeholder this renderer does not know');
  return text;
}

export interface Balancer {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  dir: string;
  stop(): Promise<void>;
}

/** HAProxy (Debian's `haproxy`) in the foreground with the rendered config; resolves once every replica is up in it. */
export async function startHaproxy(replicas: Replica[], maxConcurrent = 4): Promise<Balancer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'splitee-lb-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, renderHaproxyConfig(readFileSync(HAPROXY_TEMPLATE, 'utf8'), port, replicas.map((r) => r.port), maxConcurrent));
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.on('error', (e) => { err += `cannot run haproxy: ${e.message}`; });
  child.stderr!.on('data', (c) => (err += c));
  child.stdout!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  child.on('error', () => undefined);
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  // Ready when the frontend answers and a round of /readyz through it succeeds for as many tries as replicas.
  for (;;) {
    if (child.exitCode !== null || err.includes('cannot run haproxy')) throw new Error(`haproxy did not start: ${err}`);
    if (Date.now() - t0 > 10_000) { child.kill('SIGKILL'); throw new Error(`haproxy not ready after 10 s: ${err}`); }
    try {
      const oks = await Promise.all(replicas.map(() => fetch(`${url}/readyz`).then((r) => r.status === 200, () => false)));
      if (oks.every(Boolean)) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, child, exited, dir,
    async stop() {
      if (child.exitCode === null) { child.kill('SIGTERM'); await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]); }
      if (child.exitCode === null) { child.kill('SIGKILL'); await exited; }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user + system) a process used so far, from /proc (Linux); null when unreadable. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch { return null; }
}

/** Counts every answer per request id and every failed attempt, around the real HTTP client. */
class CountingClient implements CloudClient {
  readonly target: string;
  answers = new Map<string, number>();
  errors = 0;
  codes: Record<string, number> = {};
  constructor(private readonly inner: CloudClient) { this.target = inner.target; }
  async infer(frame: Uint8Array, opts?: InferOptions): Promise<CloudAnswer> {
    try {
      const a = await this.inner.infer(frame, opts);
      this.answers.set(a.requestId, (this.answers.get(a.requestId) ?? 0) + 1);
      return a;
    } catch (e) {
      this.errors++;
      const code = e instanceof CloudError ? e.code : 'THROWN';
      this.codes[code] = (this.codes[code] ?? 0) + 1;
      throw e;
    }
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] : NaN);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs the whole load test: replicas, balancer, devices; tears everything down before it returns. */
export async function runLoadtest(o: LoadtestOptions): Promise<LoadtestResult> {
  const log = o.log ?? (() => undefined);
  const maxConcurrent = o.maxConcurrent ?? 4;
  const replicas: Replica[] = [];
  let balancer: Balancer | undefined;
  let model: Model | undefined;
  try {
    log(`starting ${o.replicas} replica(s) of ${o.model}`);
    replicas.push(...await Promise.all(Array.from({ length: o.replicas }, () => startReplica(o.model, { maxConcurrent, engine: o.engine }))));
    balancer = await startHaproxy(replicas, maxConcurrent);
    log(`haproxy on ${balancer.url} → ${replicas.map((r) => r.port).join(', ')}`);
    model = await loadModel(o.model);
    const stream = await openStream(o.dataset, { samples: 'auto' });
    const pool = stream.samples as { index: number; label: number; input: Float32Array | string }[];
    const encode = createInputEncoder(model.header);
    const L = model.numLayers;
    const costs = { alpha: 0.9, lambda: 1 / L, offloadCost: 0.25 };
    const cpu0 = replicas.map((r) => cpuSeconds(r.child.pid) ?? 0);
    const client = new CountingClient(o.protocol === 'v2'
      ? new V2CloudClient(`v2+${balancer.url}`, { model: model.name, numLayers: L, digest: model.digestHex })
      : new HttpCloudClient(balancer.url));
    const stop = new AbortController();
    const t0 = performance.now();
    const stopTimer = setTimeout(() => stop.abort(), o.durationS * 1000);
    let killedAt: number | undefined;
    let killedCpu: number | null = null;
    const killTimer = o.killOne ? setTimeout(() => {
      killedAt = (performance.now() - t0) / 1000;
      const sig = o.killSignal ?? 'SIGKILL';
      log(`${sig} replica 1 (pid ${replicas[0].child.pid}) at ${killedAt.toFixed(1)} s`);
      killedCpu = cpuSeconds(replicas[0].child.pid);
      replicas[0].child.kill(sig);
    }, o.durationS * 500) : undefined;
    let taken = 0;
    const m = model;
    const devices = Array.from({ length: o.devices }, (_, d) => {
      // Each device streams its own part of the dataset, cycling, until the time or its count runs out.
      function* samples() {
        for (let i = 0; i < o.maxSamplesPerDevice && !stop.signal.aborted; i++) {
          const s = pool[(d * 7919 + i) % pool.length];
          taken++;
          yield { input: s.input, label: s.label, index: d * o.maxSamplesPerDevice + i };
        }
      }
      return runStream({
        model: m, samples: samples(), encode, costs, cloud: client, dtype: o.dtype ?? 'int8',
        policy: createPolicy('splitee', { L, costs, seed: d + 1 }),
        retry: { retries: 4, baseDelayMs: 50, maxDelayMs: 1000, timeoutMs: 8000 },
      });
    });
    const results = await Promise.all(devices);
    const wall = (performance.now() - t0) / 1000;
    clearTimeout(stopTimer); clearTimeout(killTimer);
    // The killed replica's CPU time as read just before the kill (its answers count in the total).
    const replicaCpuS = replicas.reduce((s, r, i) => s + Math.max(0, ((i === 0 && killedCpu !== null ? killedCpu : cpuSeconds(r.child.pid)) ?? cpu0[i]) - cpu0[i]), 0);
    const perReplica = await Promise.all(replicas.map((r) => fetch(`${r.url}/readyz`).then((x) => x.json() as Promise<{ answered: number }>).then((j) => j.answered, () => null)));

    const records: SampleRecord[] = results.flatMap((r) => r.records);
    const ids = new Set<number>();
    let dupRecords = 0;
    for (const r of records) { if (ids.has(r.index)) dupRecords++; ids.add(r.index); }
    const dupAnswers = [...client.answers.values()].reduce((s, n) => s + (n - 1), 0);
    const degraded = records.filter((r) => r.degraded).length;
    const offloaded = records.filter((r) => r.offloaded).length;
    const lat = records.map((r) => r.deviceMs + (r.offloaded ? (r.cloudMs ?? 0) : 0)).sort((a, b) => a - b);
    const cloudLat = records.filter((r) => r.offloaded && !r.degraded).map((r) => r.cloudMs!).sort((a, b) => a - b);
    const answeredOffloads = offloaded - degraded;
    return {
      balancer: 'haproxy',
      engine: o.engine ?? 'wasm',
      protocol: o.protocol ?? 'v1',
      replicas: o.replicas,
      devices: o.devices,
      samples: records.length,
      answered: records.length - degraded,
      lost: degraded + Math.max(0, taken - records.length),
      duplicated: dupRecords + dupAnswers,
      errors: client.errors,
      samplesPerSec: round(records.length / wall, 1),
      p50Ms: round(pct(lat, 0.5)), p95Ms: round(pct(lat, 0.95)), p99Ms: round(pct(lat, 0.99)),
      offloaded,
      offloadRate: round(offloaded / Math.max(1, records.length), 4),
      offloadsPerSec: round(answeredOffloads / wall, 1),
      cloudP50Ms: round(pct(cloudLat, 0.5)), cloudP99Ms: round(pct(cloudLat, 0.99)),
      errorCodes: client.codes,
      perReplica,
      replicaCpuS: round(replicaCpuS),
      offloadsPerCpuS: round(answeredOffloads / Math.max(1e-9, replicaCpuS), 1),
      killedAt: killedAt !== undefined ? round(killedAt, 1) : undefined,
      durationS: round(wall, 2),
    };
  } finally {
    model?.dispose();
    await balancer?.stop();
    await Promise.all(replicas.map(async (r) => {
      if (r.child.exitCode === null && r.child.signalCode === null) { r.child.kill('SIGTERM'); await Promise.race([r.exited, new Promise((x) => setTimeout(x, 3000))]); }
      if (r.child.exitCode === null && r.child.signalCode === null) { r.child.kill('SIGKILL'); await r.exited; }
    }));
  }
}
