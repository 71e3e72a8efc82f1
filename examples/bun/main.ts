// The device half in Bun, unchanged: the package's core entry classifies the embedded demo samples.
// From npm: `import * as splitee from 'splitee/core'`.
//
//   bun examples/bun/main.ts [--model fmnist-cnn|sst2-transformer] [--limit N] [--json]
import { readFileSync } from 'node:fs';
import * as splitee from '../../dist/src/index.js';
import { classifyDemoSamples, exampleArgs, peakRss, report } from '../shared/classify.js';

const opts = exampleArgs(process.argv.slice(2));
const root = new URL('../../', import.meta.url);
const read = async (url: URL | string) => new Uint8Array(await Bun.file(url instanceof URL ? url.pathname : url).arrayBuffer());
const modelBytes = await read(opts.model.endsWith('.spx') ? opts.model : new URL(`models/${opts.model}/${opts.model}.spx`, root));
const out = await classifyDemoSamples(splitee, modelBytes, (file) => read(new URL(file, root)), { limit: opts.limit });

const memory = { peakRss: peakRss(() => readFileSync('/proc/self/status', 'utf8')), ...process.memoryUsage() };
const runtime = `bun ${Bun.version}`;
console.log(opts.json ? JSON.stringify({ runtime, ...out, memory }) : report(out, memory, runtime));
