// The device half on the package's embedded demo samples, written once for the runtime examples (Deno, Bun,
// browsers): it takes the splitee module itself (the package, its core entry or the one-file build), so the same
// code runs unchanged wherever that module loads.

/**
 * Loads the model, decodes the demo sample file (samples/*.bin.gz) and answers each sample with early exits: the
 * first exit whose confidence reaches `alpha` answers, else the last.
 * @param {typeof import('../../dist/src/index.js')} splitee
 * @param {Uint8Array} modelBytes  a .spx file
 * @param {(file: string) => Promise<Uint8Array>} readFile reads a file of the package by its path from the package root
 * @param {{limit?: number, alpha?: number, load?: (bytes: Uint8Array) => Promise<any>}} [opts] `load` replaces
 *   splitee.loadModel, e.g. with createWorkerModel (splitee/worker) to run the model in a Web Worker
 */
export async function classifyDemoSamples(splitee, modelBytes, readFile, opts = {}) {
  const model = await (opts.load ?? ((b) => splitee.loadModel(b, { backend: 'wasm' })))(modelBytes);
  try {
    const sampleBytes = await readFile(splitee.demoSampleFile(model.name));
    const stream = await splitee.demoSamples(model.name, sampleBytes, { limit: opts.limit });
    const encode = splitee.createInputEncoder(model.header);
    const answers = [];
    let correct = 0;
    for (const s of stream.samples) {
      const a = answer(model, await model.exits(encode(s.input)), opts.alpha ?? 0.9);
      if (a.label === s.label) correct++;
      answers.push(a);
    }
    return { model: model.name, digest: model.digestHex, stream: stream.name, n: answers.length, accuracy: correct / answers.length, answers };
  } finally {
    model.dispose();
  }
}

/** One sample's answer: the early exit that answers (1-based), its class, and every exit's [label, confidence]. */
export function answer(model, exits, alpha) {
  const k = exits.findIndex((e) => e.confidence >= alpha);
  const at = k >= 0 ? k : exits.length - 1;
  const e = exits[at];
  return { exit: at + 1, label: e.label, class: model.classes[e.label], confidence: e.confidence, exits: exits.map((x) => [x.label, x.confidence]) };
}

/**
 * This process's peak resident memory in bytes, or null. Linux's /proc/self/status VmHWM first: getrusage's maxRSS
 * (process.resourceUsage) survives exec, so a runtime started by a larger process would report its parent's peak.
 * `readProcStatus` reads that file with the runtime's own API (none in workerd or browsers).
 */
export function peakRss(readProcStatus) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readProcStatus?.() ?? '');
    if (m) return Number(m[1]) * 1024;
  } catch { /* no /proc, or no permission to read it: fall back */ }
  const usage = globalThis.process?.resourceUsage?.();
  return usage ? usage.maxRSS * 1024 : null;
}

/** Command-line arguments of the examples: [--model name|path.spx] [--limit N] [--json] [--worker]. */
export function exampleArgs(argv) {
  const opts = { model: 'fmnist-cnn', limit: 100, json: false, worker: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--worker') opts.worker = true;
    else if (a === '--model' && i + 1 < argv.length) opts.model = argv[++i];
    else if (a === '--limit' && /^[1-9]\d*$/.test(argv[i + 1] ?? '')) opts.limit = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}; usage: [--model fmnist-cnn|sst2-transformer] [--limit N] [--json] [--worker]`);
  }
  return opts;
}

/** What the examples print: one line per sample, then the accuracy and the peak memory. */
export function report(out, memory, runtime) {
  const lines = out.answers.map((a, i) => `${String(i).padStart(4)}  ${a.class.padEnd(12)} ${a.confidence.toFixed(4)}  exit ${a.exit}`);
  const mib = (b) => (b === null || b === undefined ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`);
  lines.push(`${runtime}: ${out.n} samples of ${out.stream} on ${out.model}, accuracy ${(100 * out.accuracy).toFixed(2)} %, peak RSS ${mib(memory.peakRss)}`);
  return lines.join('\n');
}
