// How a device reaches the cloud half of its model. `CloudClient` is the one call the runner needs (a frame in, the
// cloud's answer out); `HttpCloudClient` speaks to `splitee serve` with the global fetch (Node 18+ and browsers:
// no Node imports here), `LocalCloudClient` (./local-client.ts) runs the cloud half in-process.
import { FrameError, REQUEST_ID_BYTES, decodeResponse, toHex, type CloudAnswer } from '../transport/frame.js';

export interface InferOptions {
  /** Abandons the call (the runner's stop); the client rejects with CloudError ABORTED. */
  signal?: AbortSignal;
  /** Deadline of this one attempt, connection to last byte of the answer; past it CloudError TIMEOUT. */
  timeoutMs?: number;
  /** The request id inside the frame (read from the frame when omitted); an answer must echo it. */
  requestId?: string;
  /** Class count of the model; an answer with another number of probabilities is refused. */
  numClasses?: number;
}

export interface CloudHealth {
  ok: boolean;
  model: string;
  /** SHA-256 of the model file the cloud runs, 64 hex characters. */
  digest: string;
  numLayers: number;
}

export interface CloudClient {
  /** Human-readable target for logs (`http://…`, `local`). */
  readonly target: string;
  /** Sends one frame; resolves with the checked answer or rejects with a CloudError. */
  infer(frame: Uint8Array, opts?: InferOptions): Promise<CloudAnswer>;
  /** Which model the cloud runs (no token needed), so a device can refuse a mismatched cloud before streaming. */
  health?(opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<CloudHealth>;
}

/**
 * A failed cloud call. `status` is the HTTP status (0 when no HTTP answer arrived: network, timeout). `retryable`:
 * another attempt may succeed (network, timeout, 5xx, 408, 429). `fatal`: a configuration error no retry and no
 * other sample will fix (401/403 token, 409 another model), so a runner stops instead of degrading every sample.
 */
export class CloudError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly fatal: boolean;
  /** The server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs?: number;
  /** Set by runStream when it stops on a fatal error: what was answered before (see RunResult). */
  partial?: unknown;

  constructor(code: string, status: number, message: string, opts: { retryable?: boolean; fatal?: boolean; retryAfterMs?: number } = {}) {
    super(message);
    this.name = 'CloudError';
    this.code = code;
    this.status = status;
    this.fatal = opts.fatal ?? (status === 401 || status === 403 || status === 409);
    this.retryable = opts.retryable ?? (status === 0 || status === 408 || status === 429 || status >= 500);
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Any throw → CloudError (a client bug or an unexpected rejection counts as a retryable network failure). */
export function asCloudError(e: unknown): CloudError {
  if (e instanceof CloudError) return e;
  if (e instanceof FrameError) return new CloudError(e.code, 0, e.message, { retryable: false, fatal: false });
  const err = e as Error | undefined;
  return new CloudError('NETWORK', 0, err?.message ?? String(e), { retryable: true, fatal: false });
}

/** The request id carried in bytes 12..27 of a frame. */
export function frameRequestId(frame: Uint8Array): string {
  if (!(frame instanceof Uint8Array) || frame.length < 12 + REQUEST_ID_BYTES) throw new CloudError('BAD_FRAME', 0, 'not a frame', { retryable: false, fatal: false });
  return toHex(frame.subarray(12, 12 + REQUEST_ID_BYTES));
}

/**
 * Runs `fn` with a signal that aborts when `timeoutMs` passes or the caller's signal aborts, and turns those
 * aborts into CloudError TIMEOUT / ABORTED whatever `fn` rejected with.
 */
export async function withDeadline<T>(fn: (signal: AbortSignal) => Promise<T>, timeoutMs: number | undefined, outer?: AbortSignal): Promise<T> {
  if (outer?.aborted) throw new CloudError('ABORTED', 0, 'the call was abandoned', { retryable: false, fatal: false });
  const ac = new AbortController();
  let why: 'timeout' | 'aborted' | null = null;
  const onOuter = () => { why ??= 'aborted'; ac.abort(); };
  outer?.addEventListener('abort', onOuter);
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The race makes the deadline hold even for work that ignores the signal (in-process models).
  const deadline = new Promise<never>((_, reject) => {
    const fail = () => reject(why === 'timeout'
      ? new CloudError('TIMEOUT', 0, `no answer within ${timeoutMs} ms`, { retryable: true, fatal: false })
      : new CloudError('ABORTED', 0, 'the call was abandoned', { retryable: false, fatal: false }));
    ac.signal.addEventListener('abort', fail);
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) timer = setTimeout(() => { why ??= 'timeout'; ac.abort(); }, timeoutMs);
  });
  deadline.catch(() => undefined);
  try {
    return await Promise.race([fn(ac.signal), deadline]);
  } catch (e) {
    if (why) await deadline; // rethrows the TIMEOUT / ABORTED error instead of fetch's AbortError
    throw e;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

/** Largest answer body read from a server: ~1,000 classes of probabilities fit many times over. */
export const MAX_ANSWER_BYTES = 4 << 20;

export interface HttpCloudOptions {
  /** Bearer token for `splitee serve --token`. */
  token?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Largest answer read; past it the client stops reading and fails with BAD_RESPONSE. Default 4 MiB. */
  maxAnswerBytes?: number;
}

/**
 * Client of `splitee serve`: POST {url}/v1/infer with the frame as the body, GET {url}/healthz. Given several URLs
 * (replicas without a balancer in front), it sends to one and moves to the next after a failure another attempt
 * may fix (network, timeout, 5xx, 408, 429), so the runner's retry of a frame goes to another replica.
 */
export class HttpCloudClient implements CloudClient {
  readonly target: string;
  private readonly bases: string[];
  private current = 0;
  private readonly token?: string;
  private readonly fetchFn: typeof fetch;
  private readonly maxAnswerBytes: number;

  constructor(url: string | readonly string[], opts: HttpCloudOptions = {}) {
    const urls = typeof url === 'string' ? [url] : [...url];
    if (!urls.length) throw new CloudError('BAD_URL', 0, 'no cloud URL given', { retryable: false, fatal: true });
    this.bases = urls.map((one) => {
      let u: URL;
      try { u = new URL(one); } catch { throw new CloudError('BAD_URL', 0, `'${one}' is not a URL`, { retryable: false, fatal: true }); }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CloudError('BAD_URL', 0, `'${one}': only http and https are supported`, { retryable: false, fatal: true });
      return u.href.replace(/\/+$/, '');
    });
    this.target = this.bases.length === 1 ? this.bases[0] : `${this.bases[0]} (+${this.bases.length - 1} more)`;
    this.token = opts.token || undefined;
    const f = opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== 'function') throw new CloudError('NO_FETCH', 0, 'no fetch in this runtime (Node 18+ or a browser is needed)', { retryable: false, fatal: true });
    this.fetchFn = f.bind(globalThis);
    this.maxAnswerBytes = opts.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  }

  /** The replica the next request goes to. */
  get base(): string { return this.bases[this.current]; }

  async infer(frame: Uint8Array, opts: InferOptions = {}): Promise<CloudAnswer> {
    // A frame too short to hold an id is sent anyway: the server's 400 names what is wrong with it.
    const requestId = opts.requestId ?? (frame instanceof Uint8Array && frame.length >= 12 + REQUEST_ID_BYTES ? frameRequestId(frame) : undefined);
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const used = this.current;
    const base = this.bases[used];
    try {
      return await withDeadline(async (signal) => {
        let res: Response;
        try {
          res = await this.fetchFn(`${base}/v1/infer`, { method: 'POST', headers, body: frame as Uint8Array<ArrayBuffer>, signal });
        } catch (e) {
          throw networkError(e, base);
        }
        const text = await readText(res, this.maxAnswerBytes);
        if (res.status !== 200) throw httpError(res, text);
        try {
          return decodeResponse(text, { numClasses: opts.numClasses, requestId });
        } catch (e) {
          if (e instanceof FrameError) throw new CloudError('BAD_RESPONSE', res.status, e.message, { retryable: false, fatal: false });
          throw e;
        }
      }, opts.timeoutMs, opts.signal);
    } catch (e) {
      // Frames are idempotent: the next attempt may as well go to another replica.
      if (e instanceof CloudError && e.retryable && this.current === used) this.current = (used + 1) % this.bases.length;
      throw e;
    }
  }

  async health(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<CloudHealth> {
    return withDeadline(async (signal) => {
      let res: Response;
      try {
        res = await this.fetchFn(`${this.base}/healthz`, { headers: { Accept: 'application/json' }, signal });
      } catch (e) {
        throw networkError(e, this.base);
      }
      const text = await readText(res, this.maxAnswerBytes);
      if (res.status !== 200) throw httpError(res, text);
      let v: Partial<CloudHealth> | null = null;
      try { v = JSON.parse(text); } catch { /* checked below */ }
      if (!v || typeof v.model !== 'string' || typeof v.digest !== 'string' || !/^[0-9a-f]{64}$/.test(v.digest) || !Number.isInteger(v.numLayers)) {
        throw new CloudError('BAD_RESPONSE', res.status, `${this.base}/healthz did not answer {ok, model, digest, numLayers}`, { retryable: false, fatal: false });
      }
      return { ok: v.ok === true, model: v.model, digest: v.digest, numLayers: v.numLayers as number };
    }, opts.timeoutMs, opts.signal);
  }
}

/** fetch rejected (refused, reset, DNS, …): Node hides the reason in `cause`. */
export function networkError(e: unknown, base: string): CloudError {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const why = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return new CloudError('NETWORK', 0, `${base}: ${why}`, { retryable: true, fatal: false });
}

/**
 * The answer's bytes, read chunk by chunk and abandoned (the stream cancelled, the connection dropped) as soon as
 * they pass `cap`, so that a broken or hostile server cannot grow the device's memory with an endless answer.
 */
export async function readBytes(res: Response, cap = MAX_ANSWER_BYTES): Promise<Uint8Array> {
  const tooBig = (what: string) => new CloudError('BAD_RESPONSE', res.status, `answer ${what} is larger than ${cap} bytes`, { retryable: false, fatal: false });
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig(`of ${declared} bytes`);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      throw tooBig('body');
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { all.set(c, o); o += c.length; }
  return all;
}

/** readBytes as UTF-8 text. */
export async function readText(res: Response, cap = MAX_ANSWER_BYTES): Promise<string> {
  return new TextDecoder().decode(await readBytes(res, cap));
}

/** A non-200 answer → CloudError with the server's {error, message} when it sent them. */
export function httpError(res: Response, text: string): CloudError {
  let code = `HTTP_${res.status}`, message = `HTTP ${res.status} ${res.statusText}`.trim();
  try {
    // /v1 errors are {error: CODE, message}; the v2 protocol's are {error: message}, ours adding {code}.
    const v = JSON.parse(text) as { error?: unknown; message?: unknown; code?: unknown };
    const isCode = (x: unknown): x is string => typeof x === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(x);
    if (isCode(v.code)) code = v.code;
    else if (isCode(v.error)) code = v.error;
    const said = typeof v.message === 'string' ? v.message : typeof v.error === 'string' && !isCode(v.error) ? v.error : undefined;
    if (said !== undefined) message = `${res.status} ${code}: ${said.slice(0, 500)}`;
  } catch { /* not JSON: keep the status line */ }
  const ra = res.headers.get('retry-after');
  const secs = ra !== null && /^\d+$/.test(ra.trim()) ? Number(ra) : undefined;
  return new CloudError(code, res.status, message, { retryAfterMs: secs !== undefined ? secs * 1000 : undefined });
}
