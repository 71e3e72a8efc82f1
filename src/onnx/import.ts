// importOnnx: a multi-exit ONNX model (graph outputs = exit logits, shallowest first) → the bytes of a .spx file.
// Core code: no Node imports, runs in browsers too.
import { parseSpx } from '../format/reader.js';
import type { Op, Preprocess, SpxExit, SpxHeader, SpxInput, SpxLayer } from '../format/types.js';
import { quantizeWeightPerChannel, writeSpx, type WriterTensor } from '../format/writer.js';
import { OnnxImportError } from './errors.js';
import { inferShapes } from './fold.js';
import { buildGraph, where, type GNode, type Graph } from './graph.js';
import { Lowerer, NEEDS } from './lower.js';
import { decodeModel, type OnnxModel } from './onnx-proto.js';
import { sha256Hex } from './sha256.js';

export interface ImportOptions {
  /** Model name in the header (default: the graph's name, else "imported"). */
  name?: string;
  /** Class labels; their number must match the exits' width (default "0", "1", …). */
  classes?: string[];
  /** Store conv, linear, attention and embedding weights as int8, symmetric per output channel. */
  quantize?: 'int8';
  /** What the input is; inferred from its element type when absent (float → image, integer → tokens). */
  inputKind?: 'image' | 'tokens';
  /** Longest token sequence, for token models whose length is dynamic (default: the position table's length). */
  maxLen?: number;
  /** The header's preprocess (default for images: pixels / 255, mean 0, std 1; for tokens: {kind: "tokenizer"}). */
  preprocess?: Preprocess;
  /** Free-form provenance fields to add (e.g. the source file's name). */
  provenance?: Record<string, unknown>;
}

export interface ImportReport {
  bytes: Uint8Array;
  header: SpxHeader;
  /** Whether the ONNX outputs were probabilities (a final Softmax, dropped: the engine applies its own). */
  outputs: ('logits' | 'probabilities' | 'log-probabilities')[];
}

const NEEDS_TEXT = (op: string) => (NEEDS[op] ? `needs ${NEEDS[op]}` : 'the importer does not support');
const HEAD_STARTS = new Set(['gap', 'seqfirst', 'seqmean', 'flatten']);

/** importOnnx with what the CLI's --check needs besides the bytes. */
export function importOnnxDetailed(bytes: Uint8Array, opts: ImportOptions = {}): ImportReport {
  checkOptions(opts);
  const model = decodeModel(bytes);
  const probe = buildGraph(model);
  if (!probe.mask) return importModel(bytes, model, opts);
  // A separate key-padding mask: the engine takes unpadded sequences and masks by length, so the mask is pinned to
  // "nothing is padding". Which value says that depends on the convention (PyTorch's key_padding_mask: true =
  // padding; Hugging Face's attention_mask: 1 = a real token): the one under which every attention mask hides
  // nothing is the one that imports.
  const errors: OnnxImportError[] = [];
  for (const value of [0, 1]) {
    try {
      return importModel(bytes, model, opts, value);
    } catch (e) {
      if (!(e instanceof OnnxImportError)) throw e;
      errors.push(e);
    }
  }
  // Under the wrong value every key is hidden; report what stopped the import under the other one.
  throw errors.find((e) => !/attention mask/.test(e.message)) ?? errors[0];
}

function importModel(bytes: Uint8Array, model: OnnxModel, opts: ImportOptions, maskValue?: number): ImportReport {
  const onnxOpset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
  if (onnxOpset === undefined) throw new OnnxImportError('CORRUPT', 'the model imports no ai.onnx opset');
  if (onnxOpset < 7) throw new OnnxImportError('UNSUPPORTED', `opset ${onnxOpset}: re-export with opset 13 or newer`);
  const g = buildGraph(model);
  for (const n of g.nodes) {
    if (n.attrs.size && [...n.attrs.values()].some((a) => a.hasGraph)) throw new OnnxImportError('UNSUPPORTED_OP', 'control flow (subgraphs) is not supported', where(n));
  }

  // Pin the input shape: batch 1, and for token models the longest sequence.
  const kind = opts.inputKind ?? (g.input.dtype === 'float' ? 'image' : 'tokens');
  const dims = g.input.shape;
  let input: SpxInput;
  let pinned: number[];
  if (kind === 'image') {
    if (g.input.dtype !== 'float') throw new OnnxImportError('UNSUPPORTED', `input '${g.input.name}' is integer but --input-kind is image`);
    if (dims.length !== 4) throw new OnnxImportError('UNSUPPORTED', `input '${g.input.name}' has rank ${dims.length}: an image input is [batch, C, H, W]`);
    const chw = dims.slice(1);
    if (!chw.every((d) => typeof d === 'number' && d > 0)) throw new OnnxImportError('DYNAMIC_SHAPE', `input '${g.input.name}' has shape [${dims.join(', ')}]: C, H and W must be fixed (export without dynamic_axes on them)`);
    if (typeof dims[0] === 'number' && dims[0] !== 1) throw new OnnxImportError('DYNAMIC_SHAPE', `input '${g.input.name}' has a fixed batch of ${dims[0]}: export with batch 1 or a dynamic batch`);
    pinned = [1, ...(chw as number[])];
    input = { kind: 'image', shape: chw as [number, number, number] };
  } else {
    if (g.input.dtype !== 'int') throw new OnnxImportError('UNSUPPORTED', `input '${g.input.name}' is float but --input-kind is tokens (token ids are int64 or int32)`);
    if (dims.length !== 2) throw new OnnxImportError('UNSUPPORTED', `input '${g.input.name}' has rank ${dims.length}: token ids are [batch, T]`);
    if (typeof dims[0] === 'number' && dims[0] !== 1) throw new OnnxImportError('DYNAMIC_SHAPE', `input '${g.input.name}' has a fixed batch of ${dims[0]}: export with batch 1`);
    const T = typeof dims[1] === 'number' && dims[1] > 0 ? dims[1] : opts.maxLen ?? guessMaxLen(g);
    if (opts.maxLen !== undefined && typeof dims[1] === 'number' && dims[1] !== opts.maxLen) {
      throw new OnnxImportError('BAD_OPTION', `maxLen ${opts.maxLen}, but the model's sequence length is fixed at ${dims[1]}`);
    }
    if (T === undefined) throw new OnnxImportError('DYNAMIC_SHAPE', `input '${g.input.name}' has a dynamic length and the model has no position table to read the longest length from: pass maxLen`);
    pinned = [1, T];
    input = { kind: 'tokens', maxLen: T, vocabSize: 0 };
  }
  if (g.mask) {
    if (kind !== 'tokens') throw new OnnxImportError('UNSUPPORTED', `input '${g.mask.name}': only token models may have a second (mask) input`);
    const mv = g.value(g.mask.name);
    mv.const = { dtype: g.mask.dtype, shape: pinned.slice(), data: new Float64Array(pinned[1]).fill(maskValue ?? 0) };
    mv.shape = pinned.slice();
    mv.dtype = g.mask.dtype;
  }
  inferShapes(g, pinned, g.input.dtype);
  // The file's own declared shapes must agree with what the importer inferred at the pinned input shape (a symbolic
  // dim may be anything; the batch is 1).
  for (const [name, want] of g.declared) {
    const got = g.shapeOf(name);
    if (!got || want.length === 0) continue;
    if (got.length !== want.length || want.some((d, i) => d >= 0 && d !== got[i] && !(i === 0 && d === 0))) {
      const p = g.values.get(name)?.producer;
      throw new OnnxImportError('CORRUPT', `the file declares '${name}' as [${want.map((d) => (d < 0 ? '?' : d)).join(', ')}] but it computes [${got.join(', ')}]`, p ? where(p) : undefined);
    }
  }

  // Exits: a final Softmax / LogSoftmax is dropped (the engine applies softmax itself).
  const L = g.outputs.length;
  if (L > 64) throw new OnnxImportError('NOT_MULTI_EXIT', `${L} outputs: at most 64 exits`);
  const kinds: ImportReport['outputs'] = [];
  const targets = g.outputs.map((o, k) => {
    const p = g.values.get(o)?.producer;
    const shape = g.shapeOf(o);
    if (!p) throw new OnnxImportError('NOT_MULTI_EXIT', `output '${o}' is not computed by a node`);
    if (!shape) {
      const bad = firstUnknown(g, o);
      throw new OnnxImportError('UNSUPPORTED_OP', bad ? `exit ${k + 1} ('${o}') goes through this node, which ${NEEDS_TEXT(bad.opType)}` : `exit ${k + 1} ('${o}') goes through a node the importer does not support`, bad ? where(bad) : undefined);
    }
    if (shape.length !== 2 || shape[0] !== 1) throw new OnnxImportError('NOT_MULTI_EXIT', `output '${o}' has shape [${shape.join(', ')}]: an exit's logits are [batch, classes]`);
    if ((p.opType === 'Softmax' || p.opType === 'LogSoftmax') && [-1, 1].includes(p.attrs.get('axis')?.i ?? -1)) {
      kinds.push(p.opType === 'Softmax' ? 'probabilities' : 'log-probabilities');
      return p.inputs[0];
    }
    kinds.push('logits');
    return o;
  });
  const C = g.shapeOf(g.outputs[0])![1];
  for (const [k, o] of g.outputs.entries()) {
    if (g.shapeOf(o)![1] !== C) throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1} has ${g.shapeOf(o)![1]} classes, exit 1 has ${C}`);
  }
  const classes = opts.classes ?? Array.from({ length: C }, (_, i) => String(i));
  if (classes.length !== C) throw new OnnxImportError('BAD_OPTION', `${classes.length} class names for exits of ${C} classes`);

  const low = new Lowerer(g);
  const anc = targets.map((t) => low.ancestors(t));
  const trunkLive = anc[L - 1];
  const startShape = kind === 'image' ? pinned.slice(1) : [pinned[1]];
  // Where each earlier head leaves the trunk: the one trunk value its own nodes read.
  const heads = targets.slice(0, -1).map((t, k) => {
    const own = new Set([...anc[k]].filter((n) => !trunkLive.has(n)));
    if (own.size === 0) throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1} ('${g.outputs[k]}') is computed entirely by the last exit's trunk: it has no head of its own`);
    for (let j = 0; j < L - 1; j++) {
      if (j === k) continue;
      const shared = [...own].find((n) => anc[j].has(n));
      if (shared) throw new OnnxImportError('NOT_MULTI_EXIT', `exits ${Math.min(j, k) + 1} and ${Math.max(j, k) + 1} share the node outside the trunk: each exit's head must be its own`, where(shared));
    }
    const entries = new Set<string>();
    for (const n of own) {
      for (const i of n.inputs) {
        if (i === '' || g.constOf(i)) continue;
        const p = g.values.get(i)?.producer;
        if (!p || !own.has(p)) entries.add(i);
      }
    }
    if (entries.size !== 1) {
      throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1}'s head reads ${entries.size} values of the trunk (${[...entries].join(', ')}): a head must branch off at one point`);
    }
    return { entry: [...entries][0], own };
  });

  const trunk = low.walk(g.input.name, startShape, targets[L - 1], trunkLive);
  const cuts: number[] = [];
  heads.forEach((h, k) => {
    const at = trunk.boundaries.findIndex((b) => b !== null && b.includes(h.entry));
    if (at < 0) {
      const p = g.values.get(h.entry)?.producer;
      throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1} leaves the trunk at '${h.entry}', inside a block (a residual branch or a fused pattern): exits must branch off between blocks`, p ? where(p) : undefined);
    }
    if (at === 0 && kind === 'tokens') throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1} reads the token ids themselves: the first layer must embed them`);
    if (at <= (cuts[k - 1] ?? 0)) throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1} leaves the trunk ${at === cuts[k - 1] ? 'at the same point as' : 'before'} exit ${k}: list the outputs shallowest first, one exit per block`);
    cuts.push(at);
  });
  const exitOps: Op[][] = heads.map((h, k) => {
    const at = cuts[k];
    return low.walk(h.entry, trunk.shapes[at], targets[k], h.own).ops;
  });
  // The last exit's head: the same op sequence as the exit before it, else from the last pooling/first-token op,
  // else its final linear alone.
  const prev = cuts[L - 2] ?? 0;
  const valid = (i: number) => i > prev && trunk.boundaries[i] !== null;
  let lastCut = -1;
  if (L >= 2) {
    const want = exitOps[L - 2].map((o) => o.op).join();
    const i = trunk.ops.length - exitOps[L - 2].length;
    if (valid(i) && trunk.ops.slice(i).map((o) => o.op).join() === want) lastCut = i;
  }
  if (lastCut < 0) {
    for (let i = trunk.ops.length - 1; i > prev; i--) if (valid(i) && HEAD_STARTS.has(trunk.ops[i].op)) { lastCut = i; break; }
  }
  if (lastCut < 0) {
    for (let i = trunk.ops.length - 1; i > prev; i--) if (valid(i)) { lastCut = i; break; }
  }
  if (lastCut < 0) throw new OnnxImportError('NOT_MULTI_EXIT', `the last exit has no layer of its own after exit ${L - 1}`);
  cuts.push(lastCut);
  exitOps.push(trunk.ops.slice(lastCut));

  // Every node the exits need was lowered (nothing silently skipped).
  for (const set of anc) for (const n of set) {
    if (!low.used.has(n)) throw new OnnxImportError('UNSUPPORTED_OP', `${n.opType} was not lowered: it computes a side value the importer's walk does not follow`, where(n));
  }

  const layers: SpxLayer[] = cuts.map((c, k) => ({ name: `block${k + 1}`, ops: trunk.ops.slice(k === 0 ? 0 : cuts[k - 1], c) }));
  const exits: SpxExit[] = exitOps.map((ops, k) => {
    const last = ops[ops.length - 1];
    if (!last || last.op !== 'linear') throw new OnnxImportError('NOT_MULTI_EXIT', `exit ${k + 1} does not end in a linear layer (it ends in ${last ? last.op : 'nothing'}): the op set's exits end in one`);
    return { layer: k + 1, ops };
  });

  // Tensors, in the order ops use them; int8 for weight matrices when asked.
  const quantized = new Set<string>();
  const isWeight = (o: Op): string[] => {
    if (o.op === 'conv2d' || o.op === 'linear') return [o.w];
    if (o.op === 'attention') return [o.wqkv, o.wo];
    if (o.op === 'embed') return [o.tok];
    return [];
  };
  if (opts.quantize === 'int8') for (const b of [...layers, ...exits]) for (const o of b.ops) for (const t of isWeight(o)) quantized.add(t);
  if (input.kind === 'tokens') {
    const e = layers[0].ops[0];
    if (!e || e.op !== 'embed') throw new OnnxImportError('UNSUPPORTED_OP', 'a token model whose first step is not an embedding lookup');
    input.vocabSize = low.tensors.get(e.tok)!.shape[0];
  }
  const producer = [model.producerName, model.producerVersion].filter(Boolean).join(' ');
  const header = {
    format: 'splitee-model' as const,
    name: opts.name ?? (model.graph!.name && model.graph!.name !== 'torch_jit' && model.graph!.name !== 'main_graph' ? model.graph!.name : 'imported'),
    task: input.kind === 'image' ? 'image-classification' as const : 'text-classification' as const,
    classes,
    input,
    preprocess: opts.preprocess ?? (input.kind === 'image' ? { kind: 'image', scale: 1 / 255, mean: [0], std: [1] } : { kind: 'tokenizer' }),
    layers,
    exits,
    provenance: {
      importer: 'splitee import (ONNX)',
      source: { sha256: sha256Hex(bytes), bytes: bytes.length, producer: producer || 'unknown', irVersion: model.irVersion, opset: onnxOpset },
      outputs: kinds.every((x) => x === kinds[0]) ? kinds[0] : kinds,
      weights: opts.quantize === 'int8' ? 'int8 per-channel' : 'f32',
      ...(g.mask ? { maskInput: { name: g.mask.name, type: g.mask.type, pinnedTo: maskValue ?? 0, meaning: 'no padding: sequences are unpadded, keys past the end are masked by length' } } : {}),
      ...(opts.provenance ?? {}),
    },
  };
  try {
    const tensors: Record<string, WriterTensor> = {};
    for (const b of [...layers, ...exits]) {
      for (const o of b.ops) {
        for (const [key, v] of Object.entries(o)) {
          if (key === 'op' || key === 'name' || typeof v !== 'string' || !low.tensors.has(v) || v in tensors) continue;
          const t = low.tensors.get(v)!;
          tensors[v] = quantized.has(v) ? quantizeWeightPerChannel(t.shape, t.data) : { dtype: 'f32', shape: t.shape, data: t.data };
        }
      }
    }
    const out = writeSpx(header, tensors);
    const parsed = parseSpx(out);
    // The ONNX file's own shapes at every split point must be what the .spx reader infers there (unit dims aside).
    const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1).join(',');
    cuts.forEach((c, k) => {
      const v = trunk.boundaries[c]![0];
      const onnxShape = g.shapeOf(v)!;
      const spxShape = parsed.shapes.layerOutputs[k];
      if (squeeze(onnxShape) !== squeeze(spxShape)) {
        throw new OnnxImportError('UNSUPPORTED_OP', `after layer ${k + 1} the ONNX value '${v}' has shape [${onnxShape.join(', ')}] but the lowered model computes [${spxShape.join(', ')}]`);
      }
    });
    return { bytes: out, header: parsed.header, outputs: kinds };
  } catch (e) {
    if (e instanceof OnnxImportError) throw e;
    throw new OnnxImportError('UNSUPPORTED_OP', `the lowered model is not a valid .spx file: ${(e as Error).message}`);
  }
}

/** Imports an ONNX model (the bytes of a .onnx file) and returns the bytes of the equivalent .spx file. */
export function importOnnx(bytes: Uint8Array, opts: ImportOptions = {}): Uint8Array {
  return importOnnxDetailed(bytes, opts).bytes;
}

function checkOptions(o: ImportOptions): void {
  if (o.quantize !== undefined && o.quantize !== 'int8') throw new OnnxImportError('BAD_OPTION', `quantize must be 'int8', got ${String(o.quantize)}`);
  if (o.inputKind !== undefined && o.inputKind !== 'image' && o.inputKind !== 'tokens') throw new OnnxImportError('BAD_OPTION', `inputKind must be 'image' or 'tokens', got ${String(o.inputKind)}`);
  if (o.maxLen !== undefined && (!Number.isInteger(o.maxLen) || o.maxLen < 1 || o.maxLen > 65536)) throw new OnnxImportError('BAD_OPTION', `maxLen must be an integer in 1..65536, got ${o.maxLen}`);
  if (o.classes !== undefined && (!Array.isArray(o.classes) || o.classes.length === 0 || !o.classes.every((c) => typeof c === 'string'))) throw new OnnxImportError('BAD_OPTION', 'classes must be a non-empty array of strings');
}

/** The longest sequence a dynamic-length token model supports: the rows of its smallest position table. */
function guessMaxLen(g: Graph): number | undefined {
  let best: number | undefined;
  for (const n of g.nodes) {
    if (n.opType !== 'Slice' && n.opType !== 'Gather') continue;
    const data = g.values.get(n.inputs[0]);
    if (!data?.const || data.const.shape.length !== 2 || data.const.dtype !== 'float') continue;
    // The token table is gathered by the ids themselves; position tables by a computed range or a slice.
    if (n.opType === 'Gather' && n.inputs[1] === g.input.name) continue;
    const rows = data.const.shape[0];
    best = best === undefined ? rows : Math.min(best, rows);
  }
  return best;
}

/** The first node on the way to `out` whose shape is unknown, for the error message. */
function firstUnknown(g: Graph, out: string): GNode | undefined {
  const seen = new Set<GNode>();
  let found: GNode | undefined;
  const visit = (v: string) => {
    const p = g.values.get(v)?.producer;
    if (!p || seen.has(p)) return;
    seen.add(p);
    for (const i of p.inputs) if (i !== '') visit(i);
    if (!found && p.outputs.some((o) => o !== '' && g.shapeOf(o) === undefined) && p.inputs.every((i) => i === '' || g.shapeOf(i) !== undefined)) found = p;
  };
  visit(out);
  return found;
}
