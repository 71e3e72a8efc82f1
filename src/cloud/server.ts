// The cloud half of a split: a node:http server that takes a frame (the activation after the device's layer k),
// runs layers k+1..L and the last exit, and answers JSON. Everything a hostile or broken client can send ends in a
// 4xx with a machine-readable code; the model is reached only by well-formed frames for this exact model.
//
//   POST /v1/infer  body = frame  → 200 {label, probs, confidence, layersRun, requestId}
//   GET  /healthz                 → 200 {ok, model, digest, numLayers}   (no token needed: liveness probes)
//
// Status codes: 400 malformed frame (FrameError code) · 401 token · 404 · 405 · 409 DIGEST_MISMATCH ·
// 413 TOO_LARGE · 422 BAD_SPLIT / SHAPE_MISMATCH / NON_FINITE / model input errors · 500 MODEL_ERROR ·
// 503 BUSY (Retry-After) / SHUTTING_DOWN · 504 TIMEOUT. Error bodies are {error: CODE, message}.
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { decode } from '../transport/codec.js';
import { DEFAULT_FRAME_LIMITS, FrameError, decodeFrame, encodeResponse, toHex, type FrameLimits } from '../transport/frame.js';

/** What the server needs from a model: the engine's cloud half implements this. */
export interface CloudModel {
  name: string;
  /** SHA-256 of the model file (32 bytes); frames carrying another digest are refused. */
  digest: Uint8Array;
  numLayers: number;
  /**
   * Run layers fromLayer+1..L and the last exit on the activation after layer `fromLayer`. `signal` aborts when the
   * request times out or the client goes away (a model may ignore it; the server stops waiting either way).
   */
  finish(fromLayer: number, activation: { shape: number[]; data: Float32Array }, signal?: AbortSignal):
    Promise<{ probs: Float32Array; label: number; confidence: number }>;
  /** Expected activation shape after layer k, or null when it varies (token models: [T, D], T ≤ maxLen). */
  inputShapeAfter(k: number): number[] | null;
}

export interface RequestLog {
  time: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  code?: string;
  requestId?: string;
  splitLayer?: number;
  bytes?: number;
}

export interface CloudServerOptions {
  model: CloudModel;
  /** 0 picks a free port (tests). Default 8787. */
  port?: number;
  host?: string;
  /** When set, POST /v1/infer needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body; past it the server answers 413 and stops reading. Default 8 MiB. */
  maxBodyBytes?: number;
  /** From the first byte of the request to the answer; past it 504. Default 10 s. */
  requestTimeoutMs?: number;
  /** Inference requests in progress at once; one more gets 503. Default 4. */
  maxConcurrent?: number;
  /** Element limit for frames (bytes are capped by maxBodyBytes). Default DEFAULT_FRAME_LIMITS.maxElements. */
  maxElements?: number;
  log?: (entry: RequestLog) => void;
}

export interface CloudServer {
  /** http://host:port (IPv6 hosts bracketed). */
  url: string;
  host: string;
  port: number;
  httpServer: http.Server;
  /** Inference requests being served right now. */
  inFlight(): number;
  /**
   * Graceful shutdown: stop accepting, answer 503 SHUTTING_DOWN to new requests on open connections, let the ones in
   * flight finish, then close every connection. After `graceMs` (default requestTimeoutMs + 1 s) the rest are cut.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

class HttpError extends Error {
  constructor(public status: number, public code: string, message: string, public headers: Record<string, string> = {}) {
    super(message);
  }
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export async function createCloudServer(opts: CloudServerOptions): Promise<CloudServer> {
  const model = opts.model;
  if (!model || !(model.digest instanceof Uint8Array) || model.digest.length !== 32) throw new TypeError('model.digest must be 32 bytes');
  if (!Number.isInteger(model.numLayers) || model.numLayers < 1) throw new TypeError('model.numLayers must be a positive integer');
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8787;
  const maxBodyBytes = opts.maxBodyBytes ?? 8 << 20;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const maxConcurrent = opts.maxConcurrent ?? 4;
  const limits: FrameLimits = { maxBytes: maxBodyBytes, maxElements: opts.maxElements ?? DEFAULT_FRAME_LIMITS.maxElements };
  for (const [k, v] of Object.entries({ port, maxBodyBytes, requestTimeoutMs, maxConcurrent, maxElements: limits.maxElements })) {
    if (!Number.isSafeInteger(v) || v < (k === 'port' ? 0 : 1)) throw new TypeError(`${k} must be a ${k === 'port' ? 'non-negative' : 'positive'} integer, got ${v}`);
  }
  // Compare hashes, not the strings: equal lengths for timingSafeEqual, and the time says nothing about the token.
  const tokenHash = opts.token !== undefined && opts.token !== '' ? sha256(opts.token) : null;
  const digestHex = toHex(model.digest);

  let closing = false;
  let active = 0;
  let idleWaiters: (() => void)[] = [];
  const release = () => {
    active--;
    if (active === 0) { const w = idleWaiters; idleWaiters = []; for (const f of w) f(); }
  };

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const h: Record<string, string | number> = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      ...headers,
    };
    if (closing) h['Connection'] = 'close';
    res.writeHead(status, h);
    res.end(text);
  }

  function readBody(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, signal: AbortSignal): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      const cleanup = () => { req.off('data', onData); req.off('end', onEnd); req.off('error', onErr); req.off('aborted', onGone); signal.removeEventListener('abort', onAbort); };
      const onData = (c: Buffer) => {
        total += c.length;
        if (total > maxBodyBytes) {
          cleanup();
          reject(new HttpError(413, 'TOO_LARGE', `request body exceeds ${maxBodyBytes} bytes`));
          return;
        }
        chunks.push(c);
      };
      const onEnd = () => {
        cleanup();
        const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
        resolve(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
      };
      const onErr = (e: Error) => { cleanup(); reject(new HttpError(400, 'BAD_REQUEST', `request stream failed: ${e.message}`)); };
      const onAbort = () => { cleanup(); reject(new HttpError(504, 'TIMEOUT', 'request body did not arrive in time')); };
      const onGone = () => { cleanup(); reject(new HttpError(400, 'CLIENT_ABORTED', 'client hung up before sending the whole body')); };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onErr);
      req.on('aborted', onGone);
      signal.addEventListener('abort', onAbort);
      if (expectContinue) res.writeContinue();
    });
  }

  async function infer(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, entry: RequestLog): Promise<void> {
    if (tokenHash) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m || !timingSafeEqual(sha256(m[1]), tokenHash)) {
        throw new HttpError(401, 'UNAUTHORIZED', m ? 'wrong token' : 'missing Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
      }
    }
    if (active >= maxConcurrent) throw new HttpError(503, 'BUSY', `${maxConcurrent} requests in flight`, { 'Retry-After': '1' });
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      throw new HttpError(413, 'TOO_LARGE', `Content-Length ${declared} exceeds ${maxBodyBytes} bytes`);
    }
    active++;
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { ac.abort(); reject(new HttpError(504, 'TIMEOUT', `no answer within ${requestTimeoutMs} ms`)); }, requestTimeoutMs);
    });
    timedOut.catch(() => undefined);
    // A client that hangs up cannot be answered: tell the model to stop.
    const onGone = () => { if (!res.writableEnded) ac.abort(); };
    res.once('close', onGone);
    let work: Promise<unknown> | undefined;
    try {
      const body = await Promise.race([readBody(req, res, expectContinue, ac.signal), timedOut]);
      entry.bytes = body.length;
      let frame;
      try {
        frame = decodeFrame(body, limits);
      } catch (e) {
        if (e instanceof FrameError) throw new HttpError(e.code === 'TOO_LARGE' ? 413 : 400, e.code, e.message);
        throw e;
      }
      entry.requestId = frame.requestId;
      entry.splitLayer = frame.splitLayer;
      if (!timingSafeEqual(frame.digest, model.digest)) {
        throw new HttpError(409, 'DIGEST_MISMATCH', `frame is for model ${toHex(frame.digest)}, this server runs ${model.name} (${digestHex})`);
      }
      const k = frame.splitLayer;
      if (k < 1 || k >= model.numLayers) throw new HttpError(422, 'BAD_SPLIT', `split layer ${k} is not in 1..${model.numLayers - 1}`);
      const want = model.inputShapeAfter(k);
      if (want && !sameShape(want, frame.tensor.shape)) {
        throw new HttpError(422, 'SHAPE_MISMATCH', `activation after layer ${k} must be ${JSON.stringify(want)}, got ${JSON.stringify(frame.tensor.shape)}`);
      }
      const data = decode(frame.tensor);
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) throw new HttpError(422, 'NON_FINITE', `activation element ${i} is ${data[i]}`);
      }
      work = Promise.resolve().then(() => model.finish(k, { shape: frame.tensor.shape.slice(), data }, ac.signal));
      let out: Awaited<ReturnType<CloudModel['finish']>>;
      try {
        out = await Promise.race([work as Promise<typeof out>, timedOut]);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        const err = e as Error & { code?: unknown };
        // An engine error with a code is about the input it got (shape, length); anything else is the server's fault.
        if (typeof err?.code === 'string') throw new HttpError(422, err.code, err.message);
        throw new HttpError(500, 'MODEL_ERROR', `model failed: ${err?.message ?? String(e)}`);
      }
      const probs = out?.probs;
      if (!(probs instanceof Float32Array) || probs.length < 1 || !Number.isInteger(out.label) || out.label < 0 || out.label >= probs.length ||
          !(out.confidence >= 0 && out.confidence <= 1)) {
        throw new HttpError(500, 'MODEL_ERROR', 'model returned a malformed result');
      }
      send(res, 200, encodeResponse({ label: out.label, probs, confidence: out.confidence, layersRun: model.numLayers - k, requestId: frame.requestId }),
        { 'X-Request-Id': frame.requestId });
      entry.status = 200;
    } finally {
      clearTimeout(timer);
      res.off('close', onGone);
      // The slot stays taken until the model really stops working (a timed-out finish still burns CPU).
      if (work) work.then(release, release); else release();
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const entry: RequestLog = { time: new Date().toISOString(), method: req.method ?? '?', path, status: 0, ms: 0 };
    let bodyPending = false;
    try {
      if (path === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}`, { Allow: 'GET, HEAD' });
        if (closing) throw new HttpError(503, 'SHUTTING_DOWN', 'server is shutting down');
        send(res, 200, { ok: true, model: model.name, digest: digestHex, numLayers: model.numLayers });
        entry.status = 200;
      } else if (path === '/v1/infer') {
        if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}`, { Allow: 'POST' });
        if (closing) throw new HttpError(503, 'SHUTTING_DOWN', 'server is shutting down');
        bodyPending = true;
        await infer(req, res, expectContinue, entry);
      } else {
        throw new HttpError(404, 'NOT_FOUND', `no route ${path}`);
      }
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, 'INTERNAL', (e as Error)?.message ?? String(e));
      entry.status = err.status;
      entry.code = err.code;
      // A body that was not read stays on the connection. A small declared one is discarded by node (keep-alive
      // goes on); a huge, unbounded (chunked) or stalled one is not worth reading: answer and drop the connection.
      const headers = { ...err.headers };
      if (bodyPending && !req.complete) {
        const declared = req.headers['content-length'];
        if (err.status === 413 || err.status === 504 || declared === undefined || !(Number(declared) <= maxBodyBytes)) {
          headers['Connection'] = 'close';
          req.pause();
        }
      }
      send(res, err.status, { error: err.code, message: err.message }, headers);
    } finally {
      entry.ms = performance.now() - t0;
      if (opts.log) { try { opts.log(entry); } catch { /* a logger must not take the server down */ } }
    }
  }

  const server = http.createServer();
  server.on('request', (req, res) => { void handle(req, res, false); });
  server.on('checkContinue', (req, res) => { void handle(req, res, true); });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  // Backstops under our own per-request timer (which answers 504 first).
  server.requestTimeout = requestTimeoutMs + 5_000;
  server.headersTimeout = Math.min(60_000, requestTimeoutMs + 5_000);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;

  let closed: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    httpServer: server,
    inFlight: () => active,
    close(o = {}) {
      if (closed) return closed;
      closing = true;
      const graceMs = o.graceMs ?? requestTimeoutMs + 1000;
      closed = new Promise<void>((resolve) => {
        let done = false;
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => { done = true; clearTimeout(force); resolve(); });
        server.closeIdleConnections();
        const drained = () => { if (!done) server.closeIdleConnections(); };
        if (active === 0) drained(); else idleWaiters.push(drained);
      });
      return closed;
    },
  };
}

/**
 * For the CLI: on SIGTERM / SIGINT close `server` gracefully and resolve with the signal's name once it is closed
 * (a second signal cuts the remaining connections at once). The handlers are removed afterwards.
 */
export function closeOnSignals(server: CloudServer, opts: { signals?: NodeJS.Signals[]; log?: (msg: string) => void } = {}): Promise<NodeJS.Signals> {
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  return new Promise((resolve) => {
    let got: NodeJS.Signals | null = null;
    const on = (sig: NodeJS.Signals) => {
      if (got) {
        opts.log?.(`${sig} again: closing every connection now`);
        server.httpServer.closeAllConnections();
        return;
      }
      got = sig;
      opts.log?.(`${sig}: finishing ${server.inFlight()} request(s) in flight, then exiting`);
      void server.close().then(() => {
        for (const s of signals) process.off(s, on);
        resolve(sig);
      });
    };
    for (const s of signals) process.on(s, on);
  });
}
