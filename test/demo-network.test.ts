// `splitee demo --network`: the live demo across an emulated change of the link (real loopback sockets delayed and
// throttled by the demo's cloud server), on the Fashion-MNIST sample shipped in the package. Checks that phases are
// reported, that round trips in the slow phase really take longer than its round-trip time, and that the adaptive
// policy splits deeper once offloads became slow. Plus the schedule parser and the slowed device, without processes.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_NETWORK_SCHEDULE, NetworkScheduleError, parseNetworkPlan, phaseOf, phaseStats, slowDevice } from '../src/demo/network.js';
import type { RunnableModel, SampleRecord } from '../src/device/runner.js';
import type { DeviceRunOptions } from '../src/engine/model.js';
import { packageRoot } from '../src/node.js';
import { rng } from './util.js';

const run = promisify(execFile);
const bin = join(packageRoot, 'bin', 'splitee.js');
const SLOW_RTT_MS = 120;
const out = mkdtempSync(join(tmpdir(), 'splitee-demo-network-'));

interface Phase {
  from: string; fromSample: number | null; network: string; n: number; meanSplit: number; offloadRate: number;
  p50Ms: number; p95Ms: number; offloadP50Ms: number | null; accuracy: number;
}

async function demo(args: string[]) {
  try {
    const { stdout } = await run(process.execPath, [bin, 'demo', '--sample', '--json', '--out', out, ...args], { maxBuffer: 16 << 20, timeout: 120_000 });
    return JSON.parse(stdout) as { n: number; bytesSent: number; offloadRate: number; phases: Phase[]; measured: { lambda: number[]; offload: number[]; layerMs: number[]; mu: number }; report: string };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    throw new Error(`splitee demo ${args.join(' ')} exited ${err.code}: ${err.stderr || err.stdout}`);
  }
}

test.after(() => rmSync(out, { recursive: true, force: true }));

test('the adaptive policy splits deeper once the link is slow; phases, measured costs and the report', async () => {
  // 60 samples on a fast link, then 100 on a slow one. The device runs as one 20 ms slow on the whole network (the
  // --network default), so an offload on the fast link (a few ms, even on a loaded machine) clearly beats the device,
  // and one on the slow link (≥ 120 ms) clearly loses to it.
  const r = await demo(['--limit', '160', '--network', `0:rtt=2ms,bw=100mbit;60:rtt=${SLOW_RTT_MS}ms,bw=1mbit`]);
  assert.is(r.n, 160);
  assert.is(r.phases.length, 2);
  const [fast, slow] = r.phases;
  assert.equal([fast.from, fast.fromSample, fast.n, fast.network], ['0', 0, 60, 'rtt=2ms,bw=100mbit']);
  assert.equal([slow.from, slow.fromSample, slow.n, slow.network], ['60', 60, 100, `rtt=${SLOW_RTT_MS}ms,bw=1mbit`]);
  for (const ph of r.phases) {
    for (const k of ['meanSplit', 'offloadRate', 'p50Ms', 'p95Ms', 'accuracy'] as const) assert.type(ph[k], 'number', `${k} of phase ${ph.from}`);
    assert.ok(ph.meanSplit >= 1 && ph.meanSplit <= 7);
    assert.ok(ph.p50Ms > 0 && ph.p50Ms <= ph.p95Ms, `p50 ${ph.p50Ms} p95 ${ph.p95Ms}`);
    assert.ok(ph.accuracy > 0.5, `accuracy ${ph.accuracy}`);
  }
  // Every slow round trip waits the emulated RTT on real sockets; fast ones do not.
  assert.ok(slow.offloadP50Ms !== null && slow.offloadP50Ms > SLOW_RTT_MS, `slow-phase round trip p50 ${slow.offloadP50Ms} ms`);
  assert.ok(fast.offloadP50Ms !== null && fast.offloadP50Ms < SLOW_RTT_MS, `fast-phase round trip p50 ${fast.offloadP50Ms} ms`);
  assert.ok(slow.meanSplit > fast.meanSplit + 0.5, `mean split: fast ${fast.meanSplit}, slow ${slow.meanSplit}`);
  assert.ok(slow.offloadRate < fast.offloadRate, `offload rate: fast ${fast.offloadRate}, slow ${slow.offloadRate}`);
  // Measured λ_k and o_k: one per layer and per split; the slow link priced every offload above the whole network.
  assert.is(r.measured.lambda.length, 7);
  assert.is(r.measured.offload.length, 6);
  const whole = r.measured.lambda.reduce((a, b) => a + b, 0);
  for (const o of r.measured.offload) assert.ok(o > whole, `o_k ${o} vs whole network ${whole}`);
  const html = readFileSync(r.report, 'utf8');
  assert.match(html, /Changing network conditions/);
  assert.match(html, /Measured costs/);
  assert.match(html, /id="split-time"|split-time/);
});

test('every sample offloaded (fixed:1, α = 1): per-sample latency in the slow phase exceeds its round-trip time', async () => {
  const r = await demo(['--limit', '16', '--policy', 'fixed:1', '--alpha', '1', '--network', `0:rtt=2ms,bw=100mbit;50%:rtt=${SLOW_RTT_MS}ms,bw=1mbit`]);
  const [fast, slow] = r.phases;
  assert.equal([fast.n, slow.n, slow.fromSample], [8, 8, 8]);
  assert.is(slow.meanSplit, 1);
  assert.ok(slow.offloadRate > 0.5, `offload rate ${slow.offloadRate}`);
  assert.ok(slow.p50Ms > SLOW_RTT_MS, `slow-phase p50 ${slow.p50Ms} ms`);
  // Each slow round trip waits the round trip plus the frame at 1 Mbit/s (1,000 bits per ms) on top of the work.
  const frameBytes = r.bytesSent / Math.round(r.offloadRate * r.n); // one frame per offload (a split at layer 1 always)
  assert.ok(frameBytes > 1000, `${frameBytes} bytes per frame`);
  assert.ok(slow.offloadP50Ms! > SLOW_RTT_MS + (frameBytes * 8) / 1000, `slow-phase round trip p50 ${slow.offloadP50Ms} ms`);
});

test('usage errors: a malformed schedule, --mu without measured costs, --lambda with them', async () => {
  for (const [args, re] of [
    [['--network', 'rtt=fast'], /--network|rtt/],
    [['--network', '0:rtt=2ms;0s:rtt=5ms'], /mixes times and sample numbers/],
    [['--network', '10:rtt=2ms;5:rtt=5ms'], /increasing/],
    [['--mu', '0.1'], /--costs measured/],
    [['--costs', 'measured', '--lambda', '0.1'], /replace --lambda/],
  ] as [string[], RegExp][]) {
    try {
      await run(process.execPath, [bin, 'demo', '--sample', '--limit', '2', '--out', out, ...args], { timeout: 60_000 });
      assert.unreachable(`${args.join(' ')} was accepted`);
    } catch (e) {
      const err = e as { code: number; stderr: string };
      assert.is(err.code, 2, `${args.join(' ')}: ${err.stderr}`);
      assert.match(err.stderr, re);
    }
  }
});

test('schedules: by sample number, by share of the stream, by time; the phase of each sample', () => {
  const d = parseNetworkPlan('schedule', 1000);
  assert.is(d.by, 'samples');
  assert.equal(d.steps.map((s) => [s.fromSample, s.conditions]), [[0, 'rtt=2ms,bw=100mbit'], [500, 'rtt=120ms,bw=1mbit']]);
  assert.is(parseNetworkPlan(DEFAULT_NETWORK_SCHEDULE, 7).steps[1].fromSample, 3);
  const one = parseNetworkPlan('rtt=80ms,bw=2mbit', 10);
  assert.equal(one.steps.map((s) => s.fromSample), [0]);
  const late = parseNetworkPlan('5:rtt=80ms', 10);
  assert.equal(late.steps.map((s) => [s.fromSample, s.conditions]), [[0, 'rtt=0ms'], [5, 'rtt=80ms']]);
  const timed = parseNetworkPlan('0s:rtt=2ms,bw=100mbit;1.5s:rtt=120ms,bw=1mbit', 10);
  assert.is(timed.by, 'time');
  assert.equal(timed.steps.map((s) => s.atMs), [0, 1500]);
  assert.is(timed.spec, '0ms:rtt=2ms,bw=100mbit;1500ms:rtt=120ms,bw=1mbit');
  assert.equal([phaseOf(timed, 99, 1499.9), phaseOf(timed, 0, 1500)], [0, 1]);
  assert.equal([phaseOf(d, 499, 1e9), phaseOf(d, 500, 0)], [0, 1]);
  for (const bad of ['', 'x:rtt=2ms', '0:rtt=2ms;rtt=3ms', '0:speed=3', '2s:rtt=1ms;1s:rtt=2ms']) {
    assert.throws(() => parseNetworkPlan(bad, 10), (e: unknown) => e instanceof NetworkScheduleError && e.code === 'BAD_NETWORK', bad);
  }
});

test('phase statistics against hand counts on random records', () => {
  const r = rng(16);
  const plan = parseNetworkPlan('0:rtt=1ms;37%:rtt=50ms;80:rtt=9ms', 101);
  const recs = Array.from({ length: 101 }, (_, t) => {
    const offloaded = r.next() < 0.4;
    return { t, arm: r.int(1, 8), offloaded, degraded: offloaded && r.next() < 0.1, deviceMs: 1 + 5 * r.next(),
      cloudMs: offloaded ? 10 + 90 * r.next() : undefined, correct: r.next() < 0.8 } as SampleRecord;
  });
  const phase = recs.map((x) => phaseOf(plan, x.t, 0));
  const stats = phaseStats(plan, recs, phase);
  const bounds = [[0, 37], [37, 80], [80, 101]];
  stats.forEach((s, p) => {
    const rs = recs.slice(bounds[p][0], bounds[p][1]);
    assert.is(s.n, rs.length);
    assert.is(s.fromSample, bounds[p][0]);
    assert.ok(Math.abs(s.meanSplit! - rs.reduce((a, x) => a + x.arm, 0) / rs.length) < 1e-12);
    assert.is(s.offloadRate, rs.filter((x) => x.offloaded).length / rs.length);
    assert.is(s.accuracy, rs.filter((x) => x.correct).length / rs.length);
    const lat = rs.map((x) => x.deviceMs + (x.cloudMs ?? 0)).sort((a, b) => a - b);
    assert.ok(Math.abs(s.meanMs! - lat.reduce((a, b) => a + b, 0) / lat.length) < 1e-9);
    assert.is(s.p50Ms, lat[Math.ceil(0.5 * lat.length) - 1]);
    assert.is(s.p95Ms, lat[Math.ceil(0.95 * lat.length) - 1]);
    const rtt = rs.filter((x) => x.offloaded && !x.degraded).map((x) => x.cloudMs!).sort((a, b) => a - b);
    assert.is(s.offloadP50Ms, rtt[Math.ceil(0.5 * rtt.length) - 1]);
  });
});

test('the slowed device: each layer takes wholeMs / L longer, timed layer by layer or waited out at the end', async () => {
  let clock = 0;
  const L = 5;
  const model: RunnableModel = {
    numLayers: L, digest: new Uint8Array(32),
    async runDevice(_input, k, opts: DeviceRunOptions) {
      const conf: (number | undefined)[] = new Array(L).fill(undefined);
      if (opts.exits === 'every') {
        for (let j = 1; j <= k; j++) {
          clock += 0.25; // the layer itself
          conf[j - 1] = 0.5;
          if (j < k && opts.stopAt?.(j, { label: 0, confidence: 0.5, probs: new Float32Array(2) })) return { layer: j, exit: { label: 0, confidence: 0.5, probs: new Float32Array(2) }, confidences: conf };
        }
      } else clock += 0.25 * k;
      return { layer: k, exit: { label: 0, confidence: 0.5, probs: new Float32Array(2) }, confidences: conf };
    },
  };
  // A fake clock: spinning advances it by 0.01 ms a read, sleeping by the time asked.
  const slow = slowDevice(model, 10, { now: () => (clock += 0.01), sleep: async (ms) => { clock += ms; } });
  assert.is(slow.numLayers, L);
  for (const k of [1, 3, 5]) {
    const t0 = clock;
    const r = await slow.runDevice(new Float32Array(1), k, { exits: 'split', offload: () => false });
    assert.is(r.layer, k);
    const took = clock - t0;
    assert.ok(took >= 0.25 * k + 2 * k && took < 0.25 * k + 2 * k + 0.2, `k=${k}: ${took} ms`);
  }
  // Layer by layer: a stamp after each layer sees that layer's extra time; stopping at layer 2 costs two layers.
  const stamps: number[] = [];
  const t0 = clock;
  const r = await slow.runDevice(new Float32Array(1), 4, { exits: 'every', stopAt: (j) => { stamps.push(clock); return j === 2; }, offload: () => false });
  assert.is(r.layer, 2);
  assert.ok(stamps[0] - t0 >= 2.25 && stamps[1] - stamps[0] >= 2.25 && clock - t0 < 4.5 + 0.3, `${stamps.map((s) => s - t0)} / ${clock - t0}`);
  assert.is(slowDevice(model, 0), model);
  assert.throws(() => slowDevice(model, -1), /device time/);
});

test('the slowed device wraps the real engine: same answers, and the time really passes', async () => {
  const { loadModelBytes } = await import('../src/index.js');
  const { tinyImageModel } = await import('./fixtures/tiny-models.js');
  const m = await loadModelBytes(tinyImageModel(), { backend: 'wasm' });
  try {
    const slow = slowDevice(m, 30);
    const x = Float32Array.from({ length: 3 * 13 * 11 }, (_, i) => Math.sin(i));
    const a = await m.runDevice(x, m.numLayers, { offload: () => false });
    const t0 = performance.now();
    const b = await slow.runDevice(x, m.numLayers, { offload: () => false });
    assert.ok(performance.now() - t0 >= 30 - 0.5, `took ${performance.now() - t0} ms`);
    assert.equal(b.exit.label, a.exit.label);
    assert.is(b.exit.confidence, a.exit.confidence);
    assert.equal(slow.digest, m.digest);
  } finally {
    m.dispose();
  }
});

test('the shipped sample is there (the CLI tests above stream it)', () => {
  assert.ok(existsSync(join(packageRoot, 'samples', 'fmnist-test.bin.gz')), 'samples/fmnist-test.bin.gz is missing: run scripts/make-samples.mjs');
});

test.run();
