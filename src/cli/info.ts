// `splitee info <model>`: what a model file holds — layers, exits, shapes, sizes, provenance.
import { statSync } from 'node:fs';
import { loadModel, resolveModelPath } from '../node.js';
import { numel } from '../engine/types.js';
import type { Op } from '../format/types.js';
import { formatRuntimeFeatures, runtimeFeatures } from '../runtime/features.js';
import { parseArgs, helpText, UsageError, type Command, type OptionSpec } from './args.js';

const spec: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'print JSON' },
  runtime: { type: 'boolean', help: 'describe this runtime instead: WASM SIMD, relaxed SIMD, threads, WebGPU, and the engine paths they allow' },
  help: { type: 'boolean', help: 'show this help' },
};

/** `splitee info --runtime`: what this Node offers the engine; WebGPU through the optional webgpu package, if installed. */
async function runtimeInfo(json: boolean): Promise<number> {
  let gpu: GPU | undefined, noGpuReason: string | undefined;
  try {
    gpu = (await (await import('../webgpu/node-gpu.js')).createNodeGpu()).gpu;
  } catch (e) {
    noGpuReason = `no WebGPU: the optional webgpu package is not usable here (${(e as Error).message.split('\n')[0]})`;
  }
  const f = await runtimeFeatures({ gpu, noGpuReason });
  console.log(json ? JSON.stringify(f, null, 2) : formatRuntimeFeatures(f));
  return 0;
}

/** An op's name, with the attention window when it is local (`attention(w4)`): it changes what a layer sees. */
function opLabel(o: Op): string {
  return o.op === 'attention' && (o.window ?? 0) > 0 ? `attention(w${o.window})` : o.op;
}

export const command: Command = {
  summary: 'describe a model: layers, exits, activation sizes at each split point, provenance',
  async run(argv) {
    const p = parseArgs(argv, spec, { positionals: ['model'] });
    if (p.options.help) { console.log(helpText('usage: splitee info <model (zoo name or .spx path)> [--json]\n       splitee info --runtime [--json]', spec)); return 0; }
    if (p.options.runtime) return runtimeInfo(Boolean(p.options.json));
    const name = p.positionals[0];
    if (!name) throw new UsageError('which model? (a zoo name such as fmnist-cnn, or a path to a .spx file)');
    const path = resolveModelPath(name);
    const m = await loadModel(path);
    const h = m.header;
    const tokens = h.input.kind === 'tokens';
    // Token models: sizes at the longest input; the per-token size is that divided by maxLen.
    const probe = tokens ? new Int32Array(h.input.kind === 'tokens' ? h.input.maxLen : 1) : new Float32Array(numel(h.input.kind === 'image' ? h.input.shape : [1]));
    const layers = [];
    let act = await m.run(probe, { to: 1 });
    for (let k = 1; k <= m.numLayers; k++) {
      if (k > 1) act = await m.run(act, { from: k, to: k });
      const n = numel(act.shape);
      layers.push({ layer: k, name: h.layers[k - 1].name, ops: h.layers[k - 1].ops.map(opLabel).join(' '), outputShape: act.shape, f32Bytes: n * 4, int8Bytes: n });
    }
    let params = 0;
    for (const t of Object.values(h.tensors)) params += numel(t.shape);
    const info = {
      name: h.name, path, bytes: statSync(path).size, digest: m.digestHex, task: h.task, classes: h.classes,
      input: h.input, numLayers: m.numLayers, parameters: params, layers, provenance: h.provenance ?? null,
    };
    if (p.options.json) { console.log(JSON.stringify(info, null, 2)); return 0; }
    console.log(`${h.name}  (${h.task}, ${h.classes.length} classes, ${m.numLayers} layers, ${params.toLocaleString('en-US')} parameters)`);
    console.log(`file     ${path} (${info.bytes.toLocaleString('en-US')} bytes)\nsha256   ${m.digestHex}`);
    console.log(`input    ${JSON.stringify(h.input)}`);
    console.log(`\nsplit point activations${tokens ? ` (at maxLen ${probe.length} tokens)` : ''}:`);
    console.log('  k  layer            output shape      f32 bytes  int8 bytes  ops');
    for (const l of layers) {
      console.log(`  ${String(l.layer).padStart(2)} ${l.name.padEnd(16)} ${JSON.stringify(l.outputShape).padEnd(16)} ${String(l.f32Bytes).padStart(10)} ${String(l.int8Bytes).padStart(11)}  ${l.ops}`);
    }
    if (h.provenance) console.log(`\nprovenance ${JSON.stringify(h.provenance)}`);
    return 0;
  },
};
