// Decision + update cost per sample of the UCB policies (the work a device adds per sample), L = 12: choosing the
// arm, the per-sample decision (src/policy/decision.ts: where the device stops, offload, cost, observation, reward)
// and the update. Each task iteration drives a batch of samples so the timer's resolution does not dominate.
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { createPolicy, deviceExits, emptyDecision, offloads, resolveCosts, settle, walkDevice } from '../src/policy/index.js';

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
    const d = emptyDecision(L);
    const rule = policy.exitRule, exits = deviceExits(policy), alpha = costs.alpha;
    let t = 0, base = 0;
    const confAt = (j: number) => conf[base + j - 1];
    bench.add(name, () => {
      for (let b = 0; b < BATCH; b++, t++) {
        const k = policy.chooseArm(t);
        base = (t % POOL) * L;
        const layer = walkDevice(rule, exits, k, alpha, confAt, seen);
        settle(costs, t, k, layer, seen, offloads(k, L, alpha, layer, seen[layer - 1]!) ? conf[base + L - 1] : undefined, d);
        policy.observe(d.observation);
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
