// A network you can change, emulated on the server side: every inference request waits as if it had crossed a link
// of the given round-trip time and bandwidth — half the RTT plus its bytes' serialization time on the way in, the
// same for the answer on the way out — with one shared queue per direction, so concurrent requests share the
// bandwidth as on a real bottleneck link. Conditions can follow a schedule ("0s:rtt=2ms,bw=100mbit;20s:rtt=120ms,
// bw=1mbit") and be changed while the server runs. Core module: no Node imports (timers only).

export interface LinkConditions {
  /** Round-trip time in milliseconds (≥ 0). */
  rttMs: number;
  /** Bandwidth in bits per second (> 0; Infinity: no serialization delay). */
  bitsPerSecond: number;
}

export interface ScheduleStep extends LinkConditions {
  /** From this many milliseconds after the schedule started. */
  atMs: number;
}

export class EmulateError extends Error {
  readonly code = 'BAD_EMULATION';
  constructor(message: string) { super(message); this.name = 'EmulateError'; }
}

const TIME_UNITS: Record<string, number> = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };
const RATE_UNITS: Record<string, number> = { bit: 1, bps: 1, kbit: 1e3, kbps: 1e3, mbit: 1e6, mbps: 1e6, gbit: 1e9, gbps: 1e9 };

function parseQuantity(text: string, units: Record<string, number>, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(text);
  const unit = m ? units[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new EmulateError(`${what} '${text}': a number and a unit (${Object.keys(units).join(', ')})`);
  return Number(m[1]) * unit;
}

/** "rtt=80ms,bw=2mbit" → conditions; either key may be left out (rtt 0, unlimited bandwidth). */
export function parseConditions(text: string): LinkConditions {
  const c: LinkConditions = { rttMs: 0, bitsPerSecond: Infinity };
  const seen = new Set<string>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq).trim().toLowerCase() : '';
    const value = eq > 0 ? part.slice(eq + 1) : '';
    if (seen.has(key)) throw new EmulateError(`'${key}' given twice in '${text}'`);
    seen.add(key);
    if (key === 'rtt' || key === 'delay') c.rttMs = parseQuantity(value, TIME_UNITS, 'rtt');
    else if (key === 'bw' || key === 'rate') {
      c.bitsPerSecond = parseQuantity(value, RATE_UNITS, 'bw');
      if (!(c.bitsPerSecond > 0)) throw new EmulateError('bw must be positive');
    } else throw new EmulateError(`unknown setting '${part}' (rtt=<time>, bw=<rate>)`);
  }
  if (!seen.size) throw new EmulateError(`no conditions in '${text}' (e.g. rtt=80ms,bw=2mbit)`);
  return c;
}

/** "rtt=80ms,bw=2mbit" (one step from 0 s) or "0s:rtt=2ms,bw=100mbit;20s:rtt=120ms,bw=1mbit". */
export function parseSchedule(text: string): ScheduleStep[] {
  if (typeof text !== 'string' || !text.trim()) throw new EmulateError('empty network emulation');
  const steps = text.split(';').map((s) => s.trim()).filter(Boolean).map((s): ScheduleStep => {
    const m = /^(\d+(?:\.\d+)?\s*[a-z]+)\s*:(.*)$/i.exec(s);
    if (!m) return { atMs: 0, ...parseConditions(s) };
    return { atMs: parseQuantity(m[1], TIME_UNITS, 'time'), ...parseConditions(m[2]) };
  });
  for (let i = 1; i < steps.length; i++) if (!(steps[i].atMs > steps[i - 1].atMs)) throw new EmulateError('schedule times must increase');
  if (steps[0].atMs !== 0) steps.unshift({ atMs: 0, rttMs: 0, bitsPerSecond: Infinity });
  return steps;
}

export function formatConditions(c: LinkConditions): string {
  const bw = c.bitsPerSecond === Infinity ? 'unlimited' : c.bitsPerSecond >= 1e6 ? `${c.bitsPerSecond / 1e6}mbit` : c.bitsPerSecond >= 1e3 ? `${c.bitsPerSecond / 1e3}kbit` : `${c.bitsPerSecond}bit`;
  return `rtt=${c.rttMs}ms,bw=${bw}`;
}

export interface EmulatorOptions {
  /** Clock in ms (tests inject one). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** One emulated link (per server process): the schedule, and the time each direction's queue is busy until. */
export class NetworkEmulator {
  private steps: ScheduleStep[];
  private start: number;
  private upFreeAt = 0;
  private downFreeAt = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(spec: string | ScheduleStep[], opts: EmulatorOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.steps = typeof spec === 'string' ? parseSchedule(spec) : spec;
    this.start = this.now();
  }

  /** Replaces the schedule; its times count from now. */
  set(spec: string): void {
    this.steps = parseSchedule(spec);
    this.start = this.now();
  }

  /** The conditions in force at `t` (default now). */
  conditions(t = this.now()): LinkConditions {
    const since = t - this.start;
    let cur = this.steps[0];
    for (const s of this.steps) if (s.atMs <= since) cur = s;
    return { rttMs: cur.rttMs, bitsPerSecond: cur.bitsPerSecond };
  }

  /** What GET /v1/emulate reports. */
  describe(): { now: string; elapsedMs: number; schedule: { atMs: number; rttMs: number; bw: string }[] } {
    const elapsedMs = Math.round(this.now() - this.start);
    return {
      now: formatConditions(this.conditions()), elapsedMs,
      schedule: this.steps.map((s) => ({ atMs: s.atMs, rttMs: s.rttMs, bw: formatConditions(s).split('bw=')[1] })),
    };
  }

  /** When a transfer of `bytes` entering a direction's queue now ends (and books the queue until then). */
  private book(dir: 'up' | 'down', bytes: number): number {
    const t = this.now();
    const { rttMs, bitsPerSecond } = this.conditions(t);
    const serialize = bitsPerSecond === Infinity ? 0 : (bytes * 8 * 1000) / bitsPerSecond;
    const free = dir === 'up' ? this.upFreeAt : this.downFreeAt;
    const done = Math.max(t, free) + serialize;
    if (dir === 'up') this.upFreeAt = done; else this.downFreeAt = done;
    return done + rttMs / 2 - t;
  }

  /** Waits as long as a request of `bytes` takes to arrive over the link (the bytes really arrived already). */
  uplink(bytes: number): Promise<void> { const ms = this.book('up', bytes); return ms > 0 ? this.sleep(ms) : Promise.resolve(); }
  /** Waits as long as an answer of `bytes` takes to get back to the device; send it afterwards. */
  downlink(bytes: number): Promise<void> { const ms = this.book('down', bytes); return ms > 0 ? this.sleep(ms) : Promise.resolve(); }
}
