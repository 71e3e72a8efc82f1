// Cuts an ONNX model down to the part one output needs, so ONNX Runtime can be timed on exactly the device segment
// splitee runs (layers 1..k + exit k). ONNX Runtime executes every node of a session whatever outputs are fetched
// (measured: fetching only exit1 of a two-exit graph costs the whole graph), so the segment must be its own graph.
//
// This edits the protobuf wire format directly (no onnx package needed): ModelProto fields are copied byte for
// byte except `graph`, whose `node`, `initializer`, `input`, `output` and `value_info` entries are filtered to what
// the kept outputs reach backwards. Nodes of an ONNX graph are topologically sorted, so one reverse pass suffices.

// Field numbers from onnx.proto3.
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13, sparseInitializer: 15 } as const;
const NODE = { input: 1, output: 2, opType: 4 } as const;
const TENSOR_NAME = 8; // TensorProto.name
const VALUE_INFO_NAME = 1;
const SPARSE_VALUES = 1; // SparseTensorProto.values (a TensorProto whose name is the initializer's)

export class OnnxSegmentError extends Error {
  readonly code = 'ONNX_SEGMENT';
  constructor(message: string) { super(message); this.name = 'OnnxSegmentError'; }
}

interface Field { no: number; wire: number; start: number; end: number; body?: Uint8Array }

function readVarint(b: Uint8Array, pos: number): [number, number] {
  let v = 0, mul = 1;
  for (;;) {
    if (pos >= b.length) throw new OnnxSegmentError('truncated varint');
    const byte = b[pos++];
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return [v, pos];
    mul *= 128;
    if (mul > 2 ** 63) throw new OnnxSegmentError('varint too long');
  }
}

/** Splits a message into its top-level fields, each with its raw byte range (tag included). */
function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    const [tag, p1] = readVarint(b, pos);
    pos = p1;
    const no = Math.floor(tag / 8), wire = tag & 7;
    let body: Uint8Array | undefined;
    if (wire === 0) pos = readVarint(b, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, p2] = readVarint(b, pos);
      body = b.subarray(p2, p2 + len);
      pos = p2 + len;
    } else throw new OnnxSegmentError(`unsupported wire type ${wire}`);
    if (pos > b.length) throw new OnnxSegmentError('truncated field');
    out.push({ no, wire, start, end: pos, body });
  }
  return out;
}

const utf8 = new TextDecoder();
const strings = (body: Uint8Array, no: number) => fields(body).filter((f) => f.no === no && f.body).map((f) => utf8.decode(f.body));
const firstString = (body: Uint8Array, no: number) => strings(body, no)[0] ?? '';

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) { out.push((v % 128) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Control-flow ops carry subgraphs whose implicit inputs a flat pass would miss. */
const SUBGRAPH_OPS = new Set(['If', 'Loop', 'Scan']);

export interface OnnxSegment {
  bytes: Uint8Array;
  nodes: number;
  totalNodes: number;
}

/** A copy of `model` that computes only `keep` (a subset of its outputs). */
export function segmentOnnx(model: Uint8Array, keep: string[]): OnnxSegment {
  const top = fields(model);
  const g = top.find((f) => f.no === MODEL_GRAPH && f.body);
  if (!g?.body) throw new OnnxSegmentError('no graph in the model');
  const gf = fields(g.body);
  const outputs = gf.filter((f) => f.no === GRAPH.output).map((f) => firstString(f.body!, VALUE_INFO_NAME));
  for (const k of keep) if (!outputs.includes(k)) throw new OnnxSegmentError(`the model has no output '${k}' (outputs: ${outputs.join(', ')})`);
  const nodes = gf.filter((f) => f.no === GRAPH.node);
  const needed = new Set(keep);
  const keepNode = new Set<Field>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i].body!;
    const op = firstString(n, NODE.opType);
    if (SUBGRAPH_OPS.has(op)) throw new OnnxSegmentError(`op ${op} (subgraphs) is not supported by the segmenter`);
    if (strings(n, NODE.output).some((o) => needed.has(o))) {
      keepNode.add(nodes[i]);
      for (const inp of strings(n, NODE.input)) if (inp) needed.add(inp);
    }
  }
  const kept = gf.filter((f) => {
    switch (f.no) {
      case GRAPH.node: return keepNode.has(f);
      case GRAPH.initializer: return needed.has(firstString(f.body!, TENSOR_NAME));
      case GRAPH.sparseInitializer: {
        const values = fields(f.body!).find((x) => x.no === SPARSE_VALUES && x.body);
        return values ? needed.has(firstString(values.body!, TENSOR_NAME)) : true;
      }
      case GRAPH.input: case GRAPH.valueInfo: return needed.has(firstString(f.body!, VALUE_INFO_NAME));
      case GRAPH.output: return keep.includes(firstString(f.body!, VALUE_INFO_NAME));
      default: return true;
    }
  });
  const graphBody = concat(kept.map((f) => g.body!.subarray(f.start, f.end)));
  const graphField = concat([new Uint8Array(varint(MODEL_GRAPH * 8 + 2)), new Uint8Array(varint(graphBody.length)), graphBody]);
  const bytes = concat(top.map((f) => (f === g ? graphField : model.subarray(f.start, f.end))));
  return { bytes, nodes: keepNode.size, totalNodes: nodes.length };
}

/** Output names of an ONNX model, in graph order. */
export function onnxOutputs(model: Uint8Array): string[] {
  const g = fields(model).find((f) => f.no === MODEL_GRAPH && f.body);
  if (!g?.body) throw new OnnxSegmentError('no graph in the model');
  return fields(g.body).filter((f) => f.no === GRAPH.output).map((f) => firstString(f.body!, VALUE_INFO_NAME));
}
