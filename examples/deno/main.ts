// The device half in Deno, unchanged: the package's core entry classifies the embedded demo samples.
// From npm: `import * as splitee from 'npm:splitee/core'`.
//
//   deno run --allow-read examples/deno/main.ts [--model fmnist-cnn|sst2-transformer] [--limit N] [--json] [--worker]
//
// --worker runs the model in a Web Worker (splitee/worker), as a page would.
import * as splitee from '../../dist/src/index.js';
import { createWorkerModel } from '../../dist/src/worker/index.js';
import { classifyDemoSamples, exampleArgs, peakRss, report } from '../shared/classify.js';

const opts = exampleArgs(Deno.args);
const root = new URL('../../', import.meta.url);
const modelPath = opts.model.endsWith('.spx') ? opts.model : new URL(`models/${opts.model}/${opts.model}.spx`, root);
const modelBytes = await Deno.readFile(modelPath);
const load = opts.worker ? (bytes: Uint8Array) => createWorkerModel(bytes) : undefined;
const out = await classifyDemoSamples(splitee, modelBytes, (file) => Deno.readFile(new URL(file, root)), { limit: opts.limit, load });

const memory = { peakRss: peakRss(() => Deno.readTextFileSync('/proc/self/status')), ...Deno.memoryUsage() };
const runtime = `deno ${Deno.version.deno}${opts.worker ? ' (model in a Web Worker)' : ''}`;
console.log(opts.json ? JSON.stringify({ runtime, ...out, memory }) : report(out, memory, runtime));
