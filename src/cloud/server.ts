// The cloud half of a split: a node:http server that takes a frame (the activation after the device's layer k),
// runs layers k+1..L and the last exit, and answers JSON. The frame is accepted by the one chain in ./handler.ts
// (shared with the in-process client); this file adds what only a network server needs: routes, the token,
// body limits, concurrency slots, deadlines, and defences against clients that misbehave at the socket level.
//
//   POST /v1/infer  body = frame  → 200 {label, probs, confidence, layersRun, requestId}
//   GET  /healthz                 → 200 {ok, model, digest, numLayers, draining, pid}   liveness (no token needed)
//   GET  /readyz                  → 200 {ready: true, …, answered} / 503 {ready: false, reason}   can it take work
//   /v2/...                       → the KServe v2 / Open Inference Protocol (./v2.ts)
//
// Status codes (docs/TRANSPORT.md): 400 malformed frame (FrameError code) · 401 token · 404 · 405 · 409
// DIGEST_MISMATCH · 413 TOO_LARGE · 422 BAD_SPLIT / SHAPE_MISMATCH / NON_FINITE / OUT_OF_RANGE / model input
// errors · 500 MODEL_ERROR · 503 BUSY (Retry-After) / SHUTTING_DOWN · 504 TIMEOUT. Error bodies are {error, message}.
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_FRAME_LIMITS, FrameError, encodeResponse, peekFrameSize, toHex, type CloudAnswer, type FrameLimits } from '../transport/frame.js';
import { CloudRejection, acceptFrame, checkCloudModel, frameErrorStatus, type CloudModel } from './handler.js';
import { V2_PREFIX, handleV2, type V2Reply } from './v2.js';
import { EmulateError, NetworkEmulator } from './emulate.js';

export type { CloudModel };

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
  /** When set, inference routes need `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body; past it the server answers 413 and stops reading. Default 8 MiB. */
  maxBodyBytes?: number;
  /** From the first byte of the request to the answer; past it 504. Default 10 s. */
  requestTimeoutMs?: number;
  /** Inference requests running the model at once; one more gets 503. Default 4. */
  maxConcurrent?: number;
  /** Element limit for frames (bytes are capped by maxBodyBytes). Default DEFAULT_FRAME_LIMITS.maxElements. */
  maxElements?: number;
  /** Activations with a larger |element| are refused (422 OUT_OF_RANGE). Default DEFAULT_MAX_ABS_ACTIVATION. */
  maxAbsActivation?: number;
  /** Open connections at once; more are closed as they arrive. Default 1024. */
  maxConnections?: number;
  /** The request headers must be in within this time of the connection's request start. Default min(10 s, requestTimeoutMs). */
  headersTimeoutMs?: number;
  /** A socket with no traffic in either direction for this long is destroyed (clients that never read). Default requestTimeoutMs + 5 s. */
  idleTimeoutMs?: number;
  /** Request bodies being received, all requests together; past it new uploads get 503 BUSY. Default 8 × maxBodyBytes. */
  maxBufferedBytes?: number;
  /**
   * After refusing a request whose body is still arriving, the server keeps discarding what the client sends for
   * up to this long (and up to maxBodyBytes), so the client reads the answer instead of a reset. Default 2 s.
   */
  lingerMs?: number;
  /** Serve the KServe v2 routes under /v2. Default true. */
  v2?: boolean;
  /**
   * Emulate a network on inference requests (round trip and bandwidth, or a schedule of them: ./emulate.ts), and
   * serve GET / PUT /v1/emulate to read or change it. Default: none.
   */
  emulate?: NetworkEmulator | string;
  log?: (entry: RequestLog) => void;
}

export interface CloudServer {
  /** http://host:port (IPv6 hosts bracketed). */
  url: string;
  host: string;
  port: number;
  httpServer: http.Server;
  /** Inference requests running the model right now. */
  inFlight(): number;
  /** False once close() began: /readyz answers 503 so balancers stop sending work. */
  ready(): boolean;
  /**
   * Graceful shutdown: stop accepting, answer 503 SHUTTING_DOWN to new requests on open connections, let the ones in
   * flight finish, then close every connection. After `graceMs` (default requestTimeoutMs + 1 s) the rest are cut.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export async function createCloudServer(opts: CloudServerOptions): Promise<CloudServer> {
  const model = opts.model;
  checkCloudModel(model);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8787;
  const maxBodyBytes = opts.maxBodyBytes ?? 8 << 20;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const maxConcurrent = opts.maxConcurrent ?? 4;
  const maxConnections = opts.maxConnections ?? 1024;
  const headersTimeoutMs = Math.min(opts.headersTimeoutMs ?? 10_000, requestTimeoutMs);
  const idleTimeoutMs = opts.idleTimeoutMs ?? requestTimeoutMs + 5_000;
  const maxBufferedBytes = opts.maxBufferedBytes ?? 8 * maxBodyBytes;
  const lingerMs = opts.lingerMs ?? 2_000;
  const limits: FrameLimits = { maxBytes: maxBodyBytes, maxElements: opts.maxElements ?? DEFAULT_FRAME_LIMITS.maxElements };
  const checked = { port, maxBodyBytes, requestTimeoutMs, maxConcurrent, maxElements: limits.maxElements, maxConnections, headersTimeoutMs, idleTimeoutMs, maxBufferedBytes };
  for (const [k, v] of Object.entries(checked)) {
    if (!Number.isSafeInteger(v) || v < (k === 'port' ? 0 : 1)) throw new TypeError(`${k} must be a ${k === 'port' ? 'non-negative' : 'positive'} integer, got ${v}`);
  }
  if (!Number.isSafeInteger(lingerMs) || lingerMs < 0) throw new TypeError(`lingerMs must be a non-negative integer, got ${lingerMs}`);
  const maxAbsActivation = opts.maxAbsActivation;
  if (maxAbsActivation !== undefined && !(maxAbsActivation > 0)) throw new TypeError(`maxAbsActivation must be positive, got ${maxAbsActivation}`);
  // Compare hashes, not the strings: equal lengths for timingSafeEqual, and the time says nothing about the token.
  const tokenHash = opts.token !== undefined && opts.token !== '' ? sha256(opts.token) : null;
  const digestHex = toHex(model.digest);
  const v2 = opts.v2 ?? true;
  const emulator = typeof opts.emulate === 'string' ? new NetworkEmulator(opts.emulate) : opts.emulate ?? null;

  let closing = false;
  let active = 0;
  let buffered = 0;
  let answered = 0;
  let idleWaiters: (() => void)[] = [];
  const release = () => {
    active--;
    if (active === 0) { const w = idleWaiters; idleWaiters = []; for (const f of w) f(); }
  };

  function send(res: http.ServerResponse, status: number, body: string | Uint8Array | object, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    const payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    const h: Record<string, string | number> = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length,
      'Cache-Control': 'no-store',
      ...headers,
    };
    if (closing) h['Connection'] = 'close';
    res.writeHead(status, h);
    res.end(payload);
  }

  function authorize(req: http.IncomingMessage): void {
    if (!tokenHash) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(sha256(m[1]), tokenHash)) {
      throw new CloudRejection(401, 'UNAUTHORIZED', m ? 'wrong token' : 'missing Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  /**
   * The whole body, bounded by maxBodyBytes, the server-wide maxBufferedBytes and the request's deadline. No
   * inference slot is held meanwhile, so a slow uploader costs a connection, not the model. `frame`: the body is a
   * split frame, refused (413) as soon as its header announces more than the limits.
   */
  function readBody(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, signal: AbortSignal, frame: boolean): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let peeked = !frame;
      const cleanup = () => {
        req.off('data', onData); req.off('end', onEnd); req.off('error', onErr); req.off('aborted', onGone);
        signal.removeEventListener('abort', onAbort);
        buffered -= total;
      };
      const fail = (e: Error) => { cleanup(); total = 0; reject(e); };
      const onData = (c: Buffer) => {
        if (total + c.length > maxBodyBytes) { fail(new CloudRejection(413, 'TOO_LARGE', `request body exceeds ${maxBodyBytes} bytes`)); return; }
        if (buffered + c.length > maxBufferedBytes) { fail(new CloudRejection(503, 'BUSY', 'too many uploads in progress', { 'Retry-After': '1' })); return; }
        total += c.length;
        buffered += c.length;
        chunks.push(c);
        if (!peeked) {
          const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
          try {
            if (peekFrameSize(new Uint8Array(head.buffer, head.byteOffset, head.length), limits) !== null) peeked = true;
          } catch (e) {
            if (e instanceof FrameError) { fail(new CloudRejection(frameErrorStatus(e), e.code, e.message)); return; }
            throw e;
          }
        }
      };
      const onEnd = () => {
        const n = total;
        cleanup();
        const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, n);
        resolve(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
      };
      const onErr = (e: Error) => fail(new CloudRejection(400, 'BAD_REQUEST', `request stream failed: ${e.message}`));
      const onAbort = () => fail(new CloudRejection(504, 'TIMEOUT', 'request body did not arrive in time'));
      const onGone = () => fail(new CloudRejection(400, 'CLIENT_ABORTED', 'client hung up before sending the whole body'));
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onErr);
      req.on('aborted', onGone);
      signal.addEventListener('abort', onAbort);
      if (expectContinue) res.writeContinue();
    });
  }

  /**
   * Reads the body, then (the body in) takes an inference slot and runs `run` under the request's deadline. The
   * slot stays taken until the model really stops working: a timed-out finish still burns CPU.
   */
  async function withSlot<T>(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, frame: boolean,
    entry: RequestLog, accept: (body: Uint8Array) => (signal: AbortSignal) => Promise<T>): Promise<T> {
    authorize(req);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      throw new CloudRejection(413, 'TOO_LARGE', `Content-Length ${declared} exceeds ${maxBodyBytes} bytes`);
    }
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { ac.abort(); reject(new CloudRejection(504, 'TIMEOUT', `no answer within ${requestTimeoutMs} ms`)); }, requestTimeoutMs);
    });
    timedOut.catch(() => undefined);
    // A client that hangs up cannot be answered: tell the model to stop.
    const onGone = () => { if (!res.writableEnded) ac.abort(); };
    res.once('close', onGone);
    let work: Promise<T> | undefined;
    try {
      const body = await Promise.race([readBody(req, res, expectContinue, ac.signal, frame), timedOut]);
      entry.bytes = body.length;
      if (emulator) await Promise.race([emulator.uplink(body.length), timedOut]);
      const start = accept(body);
      if (active >= maxConcurrent) throw new CloudRejection(503, 'BUSY', `${maxConcurrent} requests in flight`, { 'Retry-After': '1' });
      active++;
      work = Promise.resolve().then(() => start(ac.signal));
      work.then(release, release);
      return await Promise.race([work, timedOut]);
    } finally {
      clearTimeout(timer);
      res.off('close', onGone);
    }
  }

  async function inferV1(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, entry: RequestLog): Promise<void> {
    const answer = await withSlot<CloudAnswer>(req, res, expectContinue, true, entry, (body) => {
      const acc = acceptFrame(model, body, { limits, maxAbsActivation });
      entry.requestId = acc.requestId;
      entry.splitLayer = acc.splitLayer;
      return (signal) => acc.run(signal);
    });
    const text = encodeResponse(answer);
    if (emulator) await emulator.downlink(Buffer.byteLength(text));
    send(res, 200, text, { 'X-Request-Id': answer.requestId });
    entry.status = 200;
    answered++;
  }

  const v2Context = {
    model, limits, maxAbsActivation,
    ready: () => !closing,
    infer: (req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, entry: RequestLog,
      accept: (body: Uint8Array) => (signal: AbortSignal) => Promise<V2Reply>) => withSlot(req, res, expectContinue, false, entry, accept),
  };

  /**
   * An answer sent while the body is still arriving: tell the client to stop (Connection: close) and keep reading
   * and discarding for a bounded time and size, so that closing does not reset the connection under the answer
   * (a TCP close with unread data sends RST, which the client reports as a network error instead of our 413).
   */
  function lingerAfter(req: http.IncomingMessage, socket: Socket): void {
    let discarded = 0;
    const cut = () => { if (!socket.destroyed) socket.destroy(); };
    // Node destroys the socket right after a Connection: close answer; half-close it instead and cut it later.
    (socket as Socket & { destroySoon?: () => void }).destroySoon = () => { socket.end(); };
    const timer = setTimeout(cut, lingerMs);
    timer.unref?.();
    socket.once('close', () => clearTimeout(timer));
    req.on('data', (c: Buffer) => { discarded += c.length; if (discarded > maxBodyBytes) cut(); });
    req.on('end', () => { clearTimeout(timer); socket.end(); setTimeout(cut, 1000).unref?.(); });
    req.resume();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const entry: RequestLog = { time: new Date().toISOString(), method: req.method ?? '?', path, status: 0, ms: 0 };
    let bodyPending = false;
    const only = (...methods: string[]) => {
      if (!methods.includes(req.method ?? '')) throw new CloudRejection(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}`, { Allow: methods.join(', ') });
    };
    try {
      if (path === '/healthz') {
        only('GET', 'HEAD');
        // Liveness: the process answers. A draining replica is alive (do not restart it), just not ready.
        send(res, 200, { ok: true, model: model.name, digest: digestHex, numLayers: model.numLayers, draining: closing, pid: process.pid });
        entry.status = 200;
      } else if (path === '/readyz') {
        only('GET', 'HEAD');
        if (closing) send(res, 503, { ready: false, reason: 'draining' });
        else send(res, 200, { ready: true, model: model.name, digest: digestHex, pid: process.pid, inFlight: active, maxConcurrent, answered });
        entry.status = closing ? 503 : 200;
      } else if (path === '/v1/emulate' && emulator) {
        only('GET', 'PUT', 'POST');
        if (req.method !== 'GET') {
          authorize(req);
          const text = new TextDecoder().decode(await readBody(req, res, expectContinue, AbortSignal.timeout(requestTimeoutMs), false));
          try { emulator.set(text.trim()); } catch (e) {
            if (e instanceof EmulateError) throw new CloudRejection(400, e.code, e.message);
            throw e;
          }
        }
        send(res, 200, emulator.describe());
        entry.status = 200;
      } else if (path === '/v1/infer') {
        only('POST');
        if (closing) throw new CloudRejection(503, 'SHUTTING_DOWN', 'server is shutting down');
        bodyPending = true;
        await inferV1(req, res, expectContinue, entry);
      } else if (v2 && (path === V2_PREFIX || path.startsWith(V2_PREFIX + '/'))) {
        bodyPending = req.method === 'POST';
        const reply = await handleV2(req, path, entry, v2Context, expectContinue, res);
        if (emulator && req.method === 'POST') await emulator.downlink(typeof reply.body === 'string' || reply.body instanceof Uint8Array ? reply.body.length : JSON.stringify(reply.body).length);
        send(res, reply.status, reply.body, reply.headers);
        entry.status = reply.status;
        if (reply.status === 200 && req.method === 'POST') answered++;
      } else {
        throw new CloudRejection(404, 'NOT_FOUND', `no route ${path}`);
      }
    } catch (e) {
      const err = e instanceof CloudRejection ? e : new CloudRejection(500, 'INTERNAL', (e as Error)?.message ?? String(e));
      entry.status = err.status;
      entry.code = err.code;
      // A body that was not read stays on the connection. A small declared one is discarded by node (keep-alive
      // goes on); a huge, unbounded (chunked) or stalled one is not worth reading: answer, linger, drop.
      const headers = { ...err.headers };
      let linger = false;
      if (bodyPending && !req.complete) {
        const declared = req.headers['content-length'];
        if (err.status === 413 || err.status === 504 || declared === undefined || !(Number(declared) <= maxBodyBytes)) {
          headers['Connection'] = 'close';
          linger = true;
        }
      }
      // The v2 protocol's error object is {"error": message}; ours adds the code. /v1 keeps {error: CODE, message}.
      const isV2 = v2 && (path === V2_PREFIX || path.startsWith(V2_PREFIX + '/'));
      send(res, err.status, isV2 ? { error: err.message, code: err.code } : { error: err.code, message: err.message }, headers);
      if (linger) lingerAfter(req, req.socket);
    } finally {
      entry.ms = performance.now() - t0;
      if (opts.log) { try { opts.log(entry); } catch { /* a logger must not take the server down */ } }
    }
  }

  const server = http.createServer({
    requestTimeout: requestTimeoutMs + 5_000, // backstop under our own per-request timer (which answers 504 first)
    headersTimeout: headersTimeoutMs,
    // How often node looks for connections past headersTimeout / requestTimeout (its default is 30 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
  });
  server.maxConnections = maxConnections;
  // No bytes either way for this long (an idle keep-alive is cut sooner, by keepAliveTimeout): destroy the socket.
  server.setTimeout(idleTimeoutMs);
  server.on('request', (req, res) => { void handle(req, res, false); });
  server.on('checkContinue', (req, res) => { void handle(req, res, true); });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Past the headers timeout node answers 408 itself if we do not; a socket that cannot be written is dropped.
    if (socket.writable && err.code !== 'ECONNRESET') {
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      setTimeout(() => socket.destroy(), 1000).unref?.();
    } else socket.destroy();
  });

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
    ready: () => !closing,
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
