// Decision + update cost per sample of the UCB policies (the work a device adds per sample), L = 12.
// Each task iteration drives a batch of samples so the timer's resolution does not dominate (~1 µs per sample).
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { createPolicy, resolveCosts, type Observation } from '../src/policy/index.js';

const L = 12;
const BATCH = 1024;

export async function benchPolicy(opts: { time?: number } = {}): Promise<{ name: string; nsPerSample: number }[]> {
  const costs = resolveCosts({ alpha: 0.8, lambda: 0.1, offloadCost: 0.6 }, L);
  // A pool of samples whose confidences grow with depth, so every policy sees exits and offloads.
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const POOL = 4096;
  const conf = new Float64Array(POOL * L);
  for (let i = 0; i < POOL; i++) {
    const easy = rand();
    for (let j = 0; j < L; j++) conf[i * L + j] = Math.min(1, easy * (0.5 + (0.5 * (j + 1)) / L) + 0.2 * rand());
  }
  const bench = new Bench({ time: opts.time ?? 500, warmup: true });
  const names = ['splitee', 'splitee-s', 'splitee-su'];
  for (const name of names) {
    const policy = createPolicy(name, { L, costs });
    const seen: (number | undefined)[] = new Array(L).fill(undefined);
    const obs: Observation = { t: 0, arm: 1, exited: false, confidences: seen };
    let t = 0;
    bench.add(name, () => {
      for (let b = 0; b < BATCH; b++, t++) {
        const k = policy.chooseArm(t);
        const base = (t % POOL) * L;
        const exited = k === L || conf[base + k - 1] >= costs.alpha;
        for (let j = 0; j < L; j++) seen[j] = j < k ? conf[base + j] : undefined;
        if (!exited) seen[L - 1] = conf[base + L - 1];
        obs.t = t; obs.arm = k; obs.exited = exited;
        policy.observe(obs);
      }
    });
  }
  await bench.run();
  return bench.tasks.map((task) => {
    const r = task.result as { latency?: { mean: number } } | undefined;
    if (!r?.latency) throw new Error(`benchmark task ${task.name} did not complete`);
    return { name: task.name, nsPerSample: (r.latency.mean * 1e6) / BATCH };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchPolicy();
  console.log(`policy decision + update per sample, L = ${L} (aim < 2000 ns)`);
  for (const r of rows) console.log(`  ${r.name.padEnd(12)} ${r.nsPerSample.toFixed(0).padStart(6)} ns/sample${r.nsPerSample < 2000 ? '' : '  ABOVE AIM'}`);
}
