// Sampling on tinybench, shared by every part of the bench.
//
// - Interleaved rounds: competitors of one comparison run in alternating short rounds, so a burst of load from
//   other processes slows all of them alike instead of whichever task happened to run during it.
// - Batching: a task of a few µs is repeated within one sample until the sample lasts ≥ minSampleMs, so the clock's
//   own cost and resolution do not count; results are per call.
// - Clock: 'cpu' (default) is this process's CPU time (user + system, all threads), 'wall' is performance.now().
//   On a machine shared with other jobs a multi-millisecond call is preempted again and again, which inflates its
//   wall time by the machine's load but not its CPU time; every timed workload here (splitee, onnxruntime-web with
//   1 thread, onnxruntime-node with 1 intra-op and 1 inter-op thread) computes on one thread at a time, so on an
//   idle machine CPU time and wall time agree and CPU time is the better estimate of latency on a busy one.
import { Bench } from 'tinybench';

export type Clock = 'cpu' | 'wall';

export interface Timing {
  name: string;
  /** Median time per call over every sample of every round, ms. */
  medianMs: number;
  minMs: number;
  /** Median absolute deviation, ms (descriptive spread). */
  madMs: number;
  samples: number;
  /** Calls per sample. */
  batch: number;
}

export interface MeasureOptions {
  /** Total time budget per task, ms (split over the rounds). */
  timeMs: number;
  rounds?: number;
  /** Minimum samples per task per round. */
  minIterations?: number;
  clock?: Clock;
  /** A sample lasts at least this long (calls are batched), ms. */
  minSampleMs?: number;
}

export type TaskFn = () => unknown;

export const cpuNow = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

function median(sorted: number[]): number {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

interface Prepared { name: string; run: () => unknown; batch: number; isAsync: boolean }

/** Times a few calls to choose the batch, and wraps the task so one sample runs `batch` calls. */
async function prepare(name: string, fn: TaskFn, minSampleMs: number): Promise<Prepared> {
  const first = fn();
  const isAsync = first instanceof Promise;
  await first;
  let per = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await fn();
    per = Math.min(per, performance.now() - t);
  }
  const batch = Math.max(1, Math.min(100000, Math.ceil(minSampleMs / Math.max(per, 1e-5))));
  if (batch === 1) return { name, run: fn, batch, isAsync };
  const run = isAsync
    ? async () => { for (let i = 0; i < batch; i++) await fn(); }
    : () => { for (let i = 0; i < batch; i++) fn(); };
  return { name, run, batch, isAsync };
}

export async function measureInterleaved(tasks: { name: string; fn: TaskFn }[], opts: MeasureOptions): Promise<Map<string, Timing>> {
  const rounds = opts.rounds ?? 3;
  const clock = opts.clock ?? 'cpu';
  const prepared: Prepared[] = [];
  for (const t of tasks) prepared.push(await prepare(t.name, t.fn, opts.minSampleMs ?? 0.25));
  const samples = new Map<string, number[]>(tasks.map((t) => [t.name, []]));
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({
      time: opts.timeMs / rounds,
      iterations: opts.minIterations ?? 5,
      warmup: r === 0,
      warmupTime: Math.min(100, opts.timeMs / 4),
      warmupIterations: 3,
      retainSamples: true,
      throws: true,
      ...(clock === 'cpu' ? { now: cpuNow } : {}),
    });
    // Rotate the order every round so no task always runs right after another.
    for (let i = 0; i < prepared.length; i++) {
      const t = prepared[(i + r) % prepared.length];
      // Say whether the task is async: otherwise tinybench calls it once, unawaited, to find out, and that stray
      // call would overlap the next ones (onnxruntime-web does not survive overlapping runs of one session).
      bench.add(t.name, t.run as () => void, { async: t.isAsync });
    }
    await bench.run();
    for (const task of bench.tasks) {
      const res = task.result;
      if (res.state !== 'completed') throw new Error(`benchmark task ${task.name}: ${res.state}${'error' in res ? `: ${res.error}` : ''}`);
      const batch = prepared.find((p) => p.name === task.name)!.batch;
      const all = samples.get(task.name)!;
      for (const v of res.latency.samples ?? []) all.push(v / batch); // no spread: a fast task leaves ~10^5 samples
    }
  }
  const out = new Map<string, Timing>();
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    const med = median(s);
    const dev = s.map((v) => Math.abs(v - med)).sort((a, b) => a - b);
    out.set(name, { name, medianMs: med, minMs: s[0], madMs: median(dev), samples: s.length, batch: prepared.find((p) => p.name === name)!.batch });
  }
  return out;
}
