// `splitee serve`: the cloud half of a split as an HTTP server (src/cloud/server.ts) running one model file.
import { closeOnSignals, createCloudServer, type RequestLog } from '../cloud/server.js';
import { cloudModelFrom } from '../cloud/cloud-model.js';
import { helpText, numberOption, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { backendOption, openModel, requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', help: 'zoo model name (fmnist-cnn, sst2-transformer) or path to a .spx file (required)' },
  port: { type: 'string', default: '8787', help: 'TCP port; 0 picks a free one (the URL printed says which)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0 or :: to accept other machines)' },
  token: { type: 'string', help: 'require Authorization: Bearer <token> on /v1/infer (else $SPLITEE_TOKEN; none: open)' },
  'max-concurrent': { type: 'string', default: '4', help: 'inference requests at once; one more gets 503 BUSY' },
  'timeout-ms': { type: 'string', default: '10000', help: 'per-request deadline (504 TIMEOUT past it)' },
  'max-body-bytes': { type: 'string', default: String(8 << 20), help: 'largest frame accepted (413 past it)' },
  backend: { type: 'string', default: 'wasm', help: 'wasm | webgpu | auto' },
  quiet: { type: 'boolean', help: 'no per-request log lines on stderr' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee serve --model <m> [--port P] [--host 127.0.0.1] [--token T] [--max-concurrent N] [--timeout-ms T] [--max-body-bytes B]\n\n'
  + 'Serves POST /v1/infer (body: a split frame, docs/TRANSPORT.md) and GET /healthz until SIGTERM / SIGINT, then\n'
  + 'finishes the requests in flight and exits 0. Prints "listening on <url>" on stdout once it accepts connections.';

function logLine(e: RequestLog): string {
  const extra = [e.code, e.requestId && `req ${e.requestId.slice(0, 8)}`, e.splitLayer !== undefined && `k=${e.splitLayer}`, e.bytes !== undefined && `${e.bytes} B`]
    .filter(Boolean).join(' ');
  return `${e.time} ${e.method} ${e.path} ${e.status} ${e.ms.toFixed(1)} ms${extra ? ' ' + extra : ''}`;
}

export const command: Command = {
  summary: 'serve the cloud half of a split model over HTTP (POST /v1/infer, GET /healthz)',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    const modelName = requireString(p, 'model');
    const port = numberOption(p, 'port', { integer: true, min: 0, max: 65535 })!;
    const host = String(p.options.host);
    if (host === '') throw new UsageError('--host must not be empty');
    const maxConcurrent = numberOption(p, 'max-concurrent', { integer: true, min: 1 })!;
    const requestTimeoutMs = numberOption(p, 'timeout-ms', { integer: true, min: 1 })!;
    const maxBodyBytes = numberOption(p, 'max-body-bytes', { integer: true, min: 64 })!;
    const tokenOpt = p.options.token;
    if (tokenOpt === '') throw new UsageError('--token must not be empty');
    const token = typeof tokenOpt === 'string' ? tokenOpt : process.env.SPLITEE_TOKEN || undefined;
    const backend = backendOption(p);
    const quiet = Boolean(p.options.quiet);

    const model = await openModel(modelName, backend);
    try {
      const server = await createCloudServer({
        model: cloudModelFrom(model), port, host, token, maxConcurrent, requestTimeoutMs, maxBodyBytes,
        log: quiet ? undefined : (e) => process.stderr.write(logLine(e) + '\n'),
      });
      // Handlers first: whoever reads the URL below may send SIGTERM at once.
      const closed = closeOnSignals(server, { log: (m) => process.stderr.write(`splitee serve: ${m}\n`) });
      // One line on stdout that scripts (and the end-to-end test) parse for the URL, port 0 included.
      console.log(`splitee serve: ${model.name} (${model.numLayers} layers, sha256 ${model.digestHex.slice(0, 16)}…, ${model.backendName}) `
        + `listening on ${server.url}${token ? ' (token required)' : ''}`);
      const sig = await closed;
      process.stderr.write(`splitee serve: closed after ${sig}\n`);
      return 0;
    } finally {
      model.dispose();
    }
  },
};
