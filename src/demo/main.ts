// `npm run demo:web`: serves the browser demo (web/demo.html). The page runs the device half of a zoo model in the
// browser (WebGPU when it has an adapter, else WASM) and offloads to the cloud half served here.
//
//   node dist/src/demo/main.js [--port 8080] [--host 127.0.0.1] [--model fmnist-cnn] [--dataset fmnist:test]
//                                    [--limit 2000] [--seed 1] [--policy splitee] [--alpha 0.9] [--lambda λ]
//                                    [--offload-cost o] [--backend auto|wasm|webgpu] [--data-dir DIR]
//                                    [--network "rtt=2ms,bw=100mbit"] [--costs measured] [--mu M] [--device-ms MS]
//                                    [--allow-host NAME]
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { helpText, numberOption, parseArgs, UsageError, type OptionSpec } from '../cli/args.js';
import { ModelNotFoundError, resolveModelPath } from '../node.js';
import { DTYPES, type Dtype } from '../transport/codec.js';
import { DEFAULT_STREAMS, DEMO_DEFAULTS, checkSamplesFit, type SamplesPayload } from './demo-core.js';
import { createWebServer } from './server.js';
import { parseConditions } from '../cloud/emulate.js';
import { DEFAULT_NETWORK_DEVICE_MS } from './network.js';

const spec: Record<string, OptionSpec> = {
  port: { type: 'string', default: '8080', help: 'port to listen on (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on (WebGPU needs a secure context: 127.0.0.1/localhost or https)' },
  model: { type: 'string', default: 'fmnist-cnn', help: 'zoo model (fmnist-cnn, sst2-transformer) or a .spx path' },
  dataset: { type: 'string', help: 'stream (default: fmnist:test for fmnist-cnn, sst2:dev for sst2-transformer)' },
  limit: { type: 'string', default: String(DEMO_DEFAULTS.limit), help: 'samples to stream' },
  seed: { type: 'string', default: String(DEMO_DEFAULTS.seed), help: 'seed (random policy)' },
  policy: { type: 'string', help: `splitee | splitee-s | splitee-su | splitee-discounted | splitee-window | early-exit | final | fixed:k | random | splitee-costaware (default ${DEMO_DEFAULTS.policy}; splitee-costaware with --network)` },
  alpha: { type: 'string', default: String(DEMO_DEFAULTS.alpha), help: 'exit threshold α' },
  lambda: { type: 'string', help: 'device cost per layer λ (default 1/L)' },
  'offload-cost': { type: 'string', help: 'offload cost o (default 0.25·λ·L)' },
  dtype: { type: 'string', default: DEMO_DEFAULTS.dtype, help: `activation on the wire: ${DTYPES.join(' | ')}` },
  backend: { type: 'string', default: DEMO_DEFAULTS.backend, help: "the page's device backend: auto (WebGPU if the browser has an adapter) | wasm | webgpu" },
  'data-dir': { type: 'string', help: 'where the datasets are (else $SPLITEE_DATA, ../shared/datasets, /usr/share/datasets)' },
  network: { type: 'string', help: 'emulate the link to the cloud half ("rtt=2ms,bw=100mbit"); the page then has a control to change it while it runs (measured costs and splitee-costaware unless told otherwise)' },
  costs: { type: 'string', help: "'constant' (default) or 'measured' (ms on the page's device and link; the default with --network)" },
  mu: { type: 'string', help: 'with measured costs: reward per ms (default 1 / the calibrated whole-network device time)' },
  'device-ms': { type: 'string', help: 'run the page\'s device half as a device this many ms slower on the whole network (default 20 with --network, else 0)' },
  'allow-host': { type: 'string', help: 'another host name the pages may be opened by (a reverse proxy\'s), comma-separated; localhost, 127.0.0.1 and [::1] always are' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: npm run demo:web -- [--port P] [--model fmnist-cnn|sst2-transformer] [--dataset <stream>] [--limit N] [--seed S]';

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, spec);
  if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
  if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const port = numberOption(p, 'port', { min: 0, max: 65535, integer: true })!;
  const modelArg = String(p.options.model);
  let path: string;
  try {
    path = resolveModelPath(modelArg);
  } catch (e) {
    if (e instanceof ModelNotFoundError) throw new ModelNotFoundError(`${e.message}. The zoo models are trained by the recipes in models/recipes/ (python3); or pass a .spx path.`);
    throw e;
  }
  const name = modelArg in DEFAULT_STREAMS ? modelArg : (path.split(/[\\/]/).pop() ?? 'model').replace(/\.spx$/, '').replace(/[^\w.-]/g, '_');
  const dataset = (p.options.dataset as string | undefined) ?? DEFAULT_STREAMS[name];
  if (!dataset) throw new UsageError(`--dataset is required for model '${modelArg}'`);
  const dtype = String(p.options.dtype) as Dtype;
  if (!DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}`);
  const backend = String(p.options.backend);
  if (backend !== 'auto' && backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be auto, wasm or webgpu');
  const limit = numberOption(p, 'limit', { min: 1, max: 10_000, integer: true })!;
  const dataDir = p.options['data-dir'] as string | undefined;
  const network = p.options.network as string | undefined;
  if (network !== undefined) {
    try { parseConditions(network); } catch (e) { throw new UsageError(`--network: ${(e as Error).message}`); }
  }
  const costs = String(p.options.costs ?? (network !== undefined ? 'measured' : 'constant'));
  if (costs !== 'constant' && costs !== 'measured') throw new UsageError(`--costs must be 'constant' or 'measured', got '${costs}'`);
  const deviceMs = numberOption(p, 'device-ms', { min: 0 }) ?? (network !== undefined ? DEFAULT_NETWORK_DEVICE_MS : 0);

  const server = await createWebServer({
    port, host: String(p.options.host), dataDir, emulate: network,
    allowedHosts: typeof p.options['allow-host'] === 'string' ? String(p.options['allow-host']).split(',').map((h) => h.trim()).filter(Boolean) : [],
    model: { name, bytes: new Uint8Array(await readFile(path)) },
    demo: {
      dataset, limit, dtype, backend,
      seed: numberOption(p, 'seed', { integer: true }),
      policy: String(p.options.policy ?? (network !== undefined ? 'splitee-costaware' : DEMO_DEFAULTS.policy)),
      costs: costs === 'measured' ? 'measured' : undefined,
      mu: numberOption(p, 'mu', { min: Number.MIN_VALUE }),
      deviceMs: deviceMs || undefined,
      network,
      alpha: numberOption(p, 'alpha', { min: 0, max: 1 }),
      lambda: numberOption(p, 'lambda', { min: 0 }),
      offloadCost: numberOption(p, 'offload-cost', { min: 0 }),
    },
  });
  // Read the samples now: a missing dataset or a stream the model cannot take is reported here (with how to get
  // the data), not as a broken page.
  try {
    const res = await fetch(`${server.url}/api/samples`);
    const body = await res.json().catch(() => ({})) as SamplesPayload & { message?: string };
    if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
    checkSamplesFit(server.cloudModel!.header, body);
  } catch (e) {
    await server.close();
    throw e;
  }
  console.log(`splitee web demo: ${name} on ${dataset} (${limit} samples, seed ${server.config!.seed})`);
  console.log(`open ${server.url}/demo.html   (Ctrl-C to stop)`);
  const host = String(p.options.host);
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    // Browsers give WebGPU and crypto.subtle (the model digest) only to secure contexts: loopback or https.
    console.log(`note: pages opened over plain http from another machine are not a secure context: no WebGPU there, and the model digest needs crypto.subtle; put https in front or use an SSH tunnel to 127.0.0.1`);
    console.log(`note: requests must name this server in their Host header (localhost, 127.0.0.1, [::1], ${host}); add the names other machines use with --allow-host`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {
    console.error(`splitee demo:web: ${err instanceof UsageError ? `${err.message}\n\n${helpText(USAGE, spec)}` : (err as Error)?.message ?? err}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  });
}
