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
const MAX_ANSWER_BYTES = 4 << 20;

export interface HttpCloudOptions {
  /** Bearer token for `splitee serve --token`. */
  token?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/** Client of `splitee serve`: POST {url}/v1/infer with the frame as the body, GET {url}/healthz. */
export class HttpCloudClient implements CloudClient {
  readonly target: string;
  private readonly base: string;
  private readonly token?: string;
  private readonly fetchFn: typeof fetch;

  constructor(url: string, opts: HttpCloudOptions = {}) {
    let u: URL;
    try { u = new URL(url); } catch { throw new CloudError('BAD_URL', 0, `'${url}' is not a URL`, { retryable: false, fatal: true }); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CloudError('BAD_URL', 0, `'${url}': only http and https are supported`, { retryable: false, fatal: true });
    this.base = u.href.replace(/\/+$/, '');
    this.target = this.base;
    this.token = opts.token || undefined;
    const f = opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== 'function') throw new CloudError('NO_FETCH', 0, 'no fetch in this runtime (Node 18+ or a browser is needed)', { retryable: false, fatal: true });
    this.fetchFn = f.bind(globalThis);
  }

  async infer(frame: Uint8Array, opts: InferOptions = {}): Promise<CloudAnswer> {
    // A frame too short to hold an id is sent anyway: the server's 400 names what is wrong with it.
    const requestId = opts.requestId ?? (frame instanceof Uint8Array && frame.length >= 12 + REQUEST_ID_BYTES ? frameRequestId(frame) : undefined);
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return withDeadline(async (signal) => {
      let res: Response;
      try {
        res = await this.fetchFn(`${this.base}/v1/infer`, { method: 'POST', headers, body: frame as Uint8Array<ArrayBuffer>, signal });
      } catch (e) {
        throw networkError(e, this.base);
      }
      const text = await readText(res);
      if (res.status !== 200) throw httpError(res, text);
      try {
        return decodeResponse(text, { numClasses: opts.numClasses, requestId });
      } catch (e) {
        if (e instanceof FrameError) throw new CloudError('BAD_RESPONSE', res.status, e.message, { retryable: false, fatal: false });
        throw e;
      }
    }, opts.timeoutMs, opts.signal);
  }

  async health(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<CloudHealth> {
    return withDeadline(async (signal) => {
      let res: Response;
      try {
        res = await this.fetchFn(`${this.base}/healthz`, { headers: { Accept: 'application/json' }, signal });
      } catch (e) {
        throw networkError(e, this.base);
      }
      const text = await readText(res);
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
function networkError(e: unknown, base: string): CloudError {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const why = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return new CloudError('NETWORK', 0, `${base}: ${why}`, { retryable: true, fatal: false });
}

async function readText(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_ANSWER_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw new CloudError('BAD_RESPONSE', res.status, `answer of ${declared} bytes is larger than ${MAX_ANSWER_BYTES}`, { retryable: false, fatal: false });
  }
  const text = await res.text();
  if (text.length > MAX_ANSWER_BYTES) throw new CloudError('BAD_RESPONSE', res.status, `answer larger than ${MAX_ANSWER_BYTES} bytes`, { retryable: false, fatal: false });
  return text;
}

/** A non-200 answer → CloudError with the server's {error, message} when it sent them. */
function httpError(res: Response, text: string): CloudError {
  let code = `HTTP_${res.status}`, message = `HTTP ${res.status} ${res.statusText}`.trim();
  try {
    const v = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof v.error === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(v.error)) code = v.error;
    if (typeof v.message === 'string') message = `${res.status} ${code}: ${v.message.slice(0, 500)}`;
  } catch { /* not JSON: keep the status line */ }
  const ra = res.headers.get('retry-after');
  const secs = ra !== null && /^\d+$/.test(ra.trim()) ? Number(ra) : undefined;
  return new CloudError(code, res.status, message, { retryAfterMs: secs !== undefined ? secs * 1000 : undefined });
}
