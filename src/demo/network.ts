// The demo across a changing network: a schedule of link conditions by sample number (or by time), a device that
// runs at the speed of a slower one, and per-phase statistics (mean split layer, offload rate, latency percentiles,
// accuracy). Shared by `splitee demo --network` and the web demo. Core module: no Node imports.
import { percentile, type RunnableModel, type SampleRecord } from '../device/runner.js';
import type { DeviceRun, DeviceRunOptions } from '../engine/model.js';
import type { ModelInput } from '../engine/types.js';
import { EmulateError, parseConditions, parseSchedule } from '../cloud/emulate.js';

/**
 * `--network schedule`: a fast link (100 Mbit/s, 2 ms round trip) for the first half of the stream, then a slow,
 * distant one (1 Mbit/s, 120 ms) from the middle sample on.
 */
export const DEFAULT_NETWORK_SCHEDULE = '0:rtt=2ms,bw=100mbit;50%:rtt=120ms,bw=1mbit';

/**
 * Whole-network device time (ms) the demo emulates under `--network` unless told otherwise: a phone-class device, as
 * in the simulator's bandwidth-drop experiment. A desktop CPU runs the zoo models in well under a millisecond, less
 * than any round trip, and its cloud half runs on the same CPU: offloading could never pay there.
 */
export const DEFAULT_NETWORK_DEVICE_MS = 20;

export class NetworkScheduleError extends Error {
  readonly code = 'BAD_NETWORK';
  constructor(message: string) { super(message); this.name = 'NetworkScheduleError'; }
}

/** One phase of a demo schedule: the conditions text (the emulator's syntax) and where it starts. */
export interface NetworkStep {
  /** First sample (0-based) of the phase, for a schedule by sample; undefined for one by time. */
  fromSample?: number;
  /** Start of the phase in ms from the stream's start, for a schedule by time. */
  atMs?: number;
  /** As the schedule wrote it: "50%", "500", "20s". */
  from: string;
  /** "rtt=120ms,bw=1mbit". */
  conditions: string;
}

export interface NetworkPlan {
  /** 'samples': phases start at sample numbers (the demo switches the link); 'time': the emulator's own clock. */
  by: 'samples' | 'time';
  steps: NetworkStep[];
  /** For 'time': the schedule as the server's emulator takes it. */
  spec?: string;
}

const SAMPLE_AT = /^\d+$/;
const SHARE_AT = /^\d+(?:\.\d+)?%$/;
const TIME_AT = /^\d+(?:\.\d+)?\s*(?:us|ms|s|m)$/i;

/**
 * A demo schedule: `schedule` (DEFAULT_NETWORK_SCHEDULE), one set of conditions ("rtt=80ms,bw=2mbit"), or steps
 * "<from>:<conditions>;…" where every <from> is a sample number ("500"), a share of the stream ("50%"), or — all of
 * them — a time with a unit ("20s", the `splitee serve --emulate` syntax, counted from the stream's start).
 * A schedule by sample whose first step starts after sample 0 begins with no emulation.
 */
export function parseNetworkPlan(text: string, n: number): NetworkPlan {
  if (typeof text !== 'string' || !text.trim()) throw new NetworkScheduleError('empty --network (give `schedule` or e.g. "0:rtt=2ms,bw=100mbit;50%:rtt=120ms,bw=1mbit")');
  const src = text.trim() === 'schedule' ? DEFAULT_NETWORK_SCHEDULE : text.trim();
  const parts = src.split(';').map((s) => s.trim()).filter(Boolean);
  const raw = parts.map((p) => {
    const colon = p.indexOf(':');
    const head = colon > 0 ? p.slice(0, colon).trim() : '';
    if (colon > 0 && (SAMPLE_AT.test(head) || SHARE_AT.test(head) || TIME_AT.test(head))) return { from: head, conditions: p.slice(colon + 1).trim() };
    if (colon > 0 && !p.slice(0, colon).includes('=')) throw new NetworkScheduleError(`'${head}' in '${p}' is no sample number ("500"), share of the stream ("50%") or time ("20s")`);
    // No "<from>:": the phase starts with the stream (only the first step may leave it out).
    return { from: '', conditions: p };
  });
  raw.forEach((r, i) => {
    if (r.from === '' && i > 0) throw new NetworkScheduleError(`'${parts[i]}' needs a start ("<sample>:", "<share>%:" or "<time>:") as every step after the first`);
  });
  for (const r of raw) {
    try { parseConditions(r.conditions); } catch (e) {
      throw new NetworkScheduleError(e instanceof EmulateError ? e.message : String(e));
    }
  }
  const timed = raw.filter((r) => TIME_AT.test(r.from)).length;
  const implicit = raw[0].from === '' ? 1 : 0;
  if (timed && timed + implicit !== raw.length) throw new NetworkScheduleError(`'${text}' mixes times and sample numbers: use one or the other`);
  if (timed) {
    if (implicit) raw[0].from = '0s';
    const spec = raw.map((r) => `${r.from}:${r.conditions}`).join(';');
    let steps;
    try { steps = parseSchedule(spec); } catch (e) {
      throw new NetworkScheduleError(e instanceof EmulateError ? e.message : String(e));
    }
    const out: NetworkStep[] = raw.map((r, i) => ({ from: r.from, atMs: steps[steps.length - raw.length + i].atMs, conditions: r.conditions }));
    if (out[0].atMs !== 0) out.unshift({ from: '0s', atMs: 0, conditions: 'rtt=0ms' });
    return { by: 'time', steps: out, spec: out.map((s) => `${s.atMs}ms:${s.conditions}`).join(';') };
  }
  if (implicit) raw[0].from = '0';
  const steps: NetworkStep[] = raw.map((r) => {
    const at = SHARE_AT.test(r.from) ? Math.floor((n * Number(r.from.slice(0, -1))) / 100) : Number(r.from);
    if (!Number.isSafeInteger(at)) throw new NetworkScheduleError(`'${r.from}' is not a usable sample number`);
    return { from: r.from, fromSample: at, conditions: r.conditions };
  });
  for (let i = 1; i < steps.length; i++) {
    if (!(steps[i].fromSample! > steps[i - 1].fromSample!)) {
      throw new NetworkScheduleError(`the phases of '${text}' must start at increasing samples (${steps.map((s) => `${s.from} → ${s.fromSample}`).join(', ')} of ${n})`);
    }
  }
  if (steps[0].fromSample !== 0) steps.unshift({ from: '0', fromSample: 0, conditions: 'rtt=0ms' });
  return { by: 'samples', steps };
}

/** The phase a sample falls in: by its number, or by when it started (ms since the stream started). */
export function phaseOf(plan: NetworkPlan, t: number, startedMs: number): number {
  let p = 0;
  plan.steps.forEach((s, i) => {
    if (plan.by === 'samples' ? s.fromSample! <= t : s.atMs! <= startedMs) p = i;
  });
  return p;
}

/** The `--json` "phases" entries (and the report's). */
export interface PhaseStats {
  /** As the schedule wrote it ("0", "50%", "20s"). */
  from: string;
  /** First sample of the stream in this phase (null: no sample fell in it). */
  fromSample: number | null;
  network: string;
  n: number;
  meanSplit: number | null;
  offloadRate: number | null;
  /** Per-sample end-to-end latency (device + cloud round trip), ms; nearest-rank percentiles. */
  p50Ms: number | null;
  p95Ms: number | null;
  /** Mean per-sample latency, ms. */
  meanMs: number | null;
  /** Round trip of the phase's answered offloads, ms (null: none). */
  offloadP50Ms: number | null;
  accuracy: number | null;
}

/** End-to-end latency of one sample: device time plus, for an offload, the cloud's round trip. */
export function sampleLatencyMs(r: Pick<SampleRecord, 'deviceMs' | 'cloudMs'>): number {
  return r.deviceMs + (r.cloudMs ?? 0);
}

/** Per-phase statistics of a run; `phaseIndex[t]` is sample t's phase. */
export function phaseStats(plan: NetworkPlan, records: readonly SampleRecord[], phaseIndex: readonly number[]): PhaseStats[] {
  return plan.steps.map((s, p) => {
    const rs = records.filter((r) => phaseIndex[r.t] === p);
    const lat = rs.map(sampleLatencyMs).sort((a, b) => a - b);
    const rtt = rs.filter((r) => r.offloaded && !r.degraded && r.cloudMs !== undefined).map((r) => r.cloudMs!).sort((a, b) => a - b);
    const labelled = rs.filter((r) => r.correct !== undefined);
    const m = rs.length;
    return {
      from: s.from, fromSample: m ? rs[0].t : null, network: s.conditions, n: m,
      meanSplit: m ? rs.reduce((a, r) => a + r.arm, 0) / m : null,
      offloadRate: m ? rs.filter((r) => r.offloaded).length / m : null,
      p50Ms: percentile(lat, 50), p95Ms: percentile(lat, 95), meanMs: m ? lat.reduce((a, b) => a + b, 0) / m : null, offloadP50Ms: percentile(rtt, 50),
      accuracy: labelled.length ? labelled.filter((r) => r.correct).length / labelled.length : null,
    };
  });
}

/** A clock and a sleep, for the slowed device (tests inject them). */
export interface DeviceClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: DeviceClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * The model on a slower device: each layer takes `wholeMs / L` ms longer than here. Layers whose exits are timed one
 * by one (side exits, the cascade, the measured-cost calibration) hold the thread for their extra time, as a slow
 * processor would; otherwise the run waits it out once at the end (the device's time, without burning this one).
 */
export function slowDevice<M extends RunnableModel>(model: M, wholeMs: number, clock: DeviceClock = realClock): M {
  if (!(wholeMs >= 0) || !Number.isFinite(wholeMs)) throw new NetworkScheduleError(`device time must be a finite number ≥ 0 ms, got ${wholeMs}`);
  if (wholeMs === 0) return model;
  const per = wholeMs / model.numLayers;
  const spin = (ms: number) => { const end = clock.now() + ms; while (clock.now() < end) { /* a slow layer */ } };
  const wait = async (ms: number) => {
    // Timers are coarse (≥ 1 ms, late under load): sleep most of it, then hold for the rest.
    const end = clock.now() + ms;
    if (ms > 2) await clock.sleep(ms - 1.5);
    const left = end - clock.now();
    if (left > 0) spin(left);
  };
  const runDevice = async (input: ModelInput, k: number, opts: DeviceRunOptions): Promise<DeviceRun> => {
    let held = 0;
    const stopAt = opts.stopAt;
    const o: DeviceRunOptions = stopAt && opts.exits === 'every'
      ? { ...opts, stopAt: (j, e) => { spin(per); held++; return stopAt(j, e); } }
      : opts;
    const r = await model.runDevice(input, k, o);
    const rest = r.layer - held;
    if (rest > 0) await wait(rest * per);
    return r;
  };
  return new Proxy(model, {
    get(target, prop) {
      if (prop === 'runDevice') return runDevice;
      // The target as receiver: getters of classes with private fields only work on the instance itself.
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
