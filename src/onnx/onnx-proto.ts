// Decoding of the ONNX messages the importer reads (onnx.proto3 field numbers). Fields it has no use for are
// skipped; tensors keep a view of their raw bytes (no copy) until they are converted.
import { OnnxImportError } from './errors.js';
import { ProtoReader, WIRE_I32, WIRE_LEN, WIRE_VARINT } from './protobuf.js';

export interface OnnxTensorProto {
  name: string;
  dims: number[];
  dataType: number;
  raw?: Uint8Array;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  uint64Data: number[];
  /** data_location == EXTERNAL or external_data entries present. */
  external: boolean;
  /** Set when the file uses a field the importer refuses (segments, string data). */
  refused?: string;
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensorProto;
  hasGraph: boolean;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

export interface OnnxDim { value?: number; param?: string }
export interface OnnxValueInfo {
  name: string;
  elemType?: number;
  /** Undefined when the type has no shape; a dim with neither value nor param is unknown. */
  shape?: OnnxDim[];
  notTensor?: boolean;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensorProto[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  hasSparseInitializers: boolean;
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  opsets: { domain: string; version: number }[];
  graph?: OnnxGraph;
  hasFunctions: boolean;
}

/** ONNX TensorProto.DataType values the importer names. */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13 } as const;


function decodeTensor(r: ProtoReader): OnnxTensorProto {
  const t: OnnxTensorProto = { name: '', dims: [], dataType: 0, floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [], external: false };
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: r.varints(w, t.dims); break;
      case 2: r.expect(w, WIRE_VARINT, 'TensorProto.data_type'); t.dataType = r.varint(); break;
      case 3: r.skip(w); t.refused = 'segmented tensors'; break;
      case 4: r.floats(w, t.floatData); break;
      case 5: r.varints(w, t.int32Data); break;
      case 6: r.skip(w); t.refused = 'string tensors'; break;
      case 7: r.varints(w, t.int64Data); break;
      case 8: r.expect(w, WIRE_LEN, 'TensorProto.name'); t.name = r.string(); break;
      case 9: r.expect(w, WIRE_LEN, 'TensorProto.raw_data'); t.raw = r.bytes(); break;
      case 10: r.doubles(w, t.doubleData); break;
      case 11: r.varints(w, t.uint64Data); break;
      case 13: r.skip(w); t.external = true; break;
      case 14: r.expect(w, WIRE_VARINT, 'TensorProto.data_location'); if (r.varint() === 1) t.external = true; break;
      default: r.skip(w);
    }
  }
  return t;
}

function decodeAttribute(r: ProtoReader): OnnxAttribute {
  const a: OnnxAttribute = { name: '', type: 0, hasGraph: false, floats: [], ints: [], strings: [] };
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: r.expect(w, WIRE_LEN, 'AttributeProto.name'); a.name = r.string(); break;
      case 20: r.expect(w, WIRE_VARINT, 'AttributeProto.type'); a.type = r.varint(); break;
      case 2: r.expect(w, WIRE_I32, 'AttributeProto.f'); a.f = r.float32(); break;
      case 3: r.expect(w, WIRE_VARINT, 'AttributeProto.i'); a.i = r.varint(); break;
      case 4: r.expect(w, WIRE_LEN, 'AttributeProto.s'); a.s = r.bytes(); break;
      case 5: r.expect(w, WIRE_LEN, 'AttributeProto.t'); a.t = decodeTensor(r.sub()); break;
      case 6: case 11: r.skip(w); a.hasGraph = true; break; // subgraphs (If, Loop, Scan): refused by op type later
      case 7: r.floats(w, a.floats); break;
      case 8: r.varints(w, a.ints); break;
      case 9: r.expect(w, WIRE_LEN, 'AttributeProto.strings'); a.strings.push(r.bytes()); break;
      default: r.skip(w);
    }
  }
  return a;
}

function decodeNode(r: ProtoReader): OnnxNode {
  const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [] };
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: r.expect(w, WIRE_LEN, 'NodeProto.input'); n.inputs.push(r.string()); break;
      case 2: r.expect(w, WIRE_LEN, 'NodeProto.output'); n.outputs.push(r.string()); break;
      case 3: r.expect(w, WIRE_LEN, 'NodeProto.name'); n.name = r.string(); break;
      case 4: r.expect(w, WIRE_LEN, 'NodeProto.op_type'); n.opType = r.string(); break;
      case 7: r.expect(w, WIRE_LEN, 'NodeProto.domain'); n.domain = r.string(); break;
      case 5: r.expect(w, WIRE_LEN, 'NodeProto.attribute'); n.attributes.push(decodeAttribute(r.sub())); break;
      default: r.skip(w);
    }
  }
  return n;
}

function decodeShape(r: ProtoReader): OnnxDim[] {
  const dims: OnnxDim[] = [];
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1 && w === WIRE_LEN) {
      const d = r.sub();
      const dim: OnnxDim = {};
      while (!d.done) {
        const [g, v] = d.tag();
        if (g === 1 && v === WIRE_VARINT) dim.value = d.varint();
        else if (g === 2 && v === WIRE_LEN) dim.param = d.string();
        else d.skip(v);
      }
      dims.push(dim);
    } else r.skip(w);
  }
  return dims;
}

function decodeValueInfo(r: ProtoReader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '' };
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) { r.expect(w, WIRE_LEN, 'ValueInfoProto.name'); v.name = r.string(); }
    else if (f === 2) {
      r.expect(w, WIRE_LEN, 'ValueInfoProto.type');
      const tp = r.sub();
      while (!tp.done) {
        const [g, x] = tp.tag();
        if (g === 1) {
          tp.expect(x, WIRE_LEN, 'TypeProto.tensor_type');
          const tt = tp.sub();
          while (!tt.done) {
            const [h, y] = tt.tag();
            if (h === 1) { tt.expect(y, WIRE_VARINT, 'TypeProto.Tensor.elem_type'); v.elemType = tt.varint(); }
            else if (h === 2) { tt.expect(y, WIRE_LEN, 'TypeProto.Tensor.shape'); v.shape = decodeShape(tt.sub()); }
            else tt.skip(y);
          }
        } else if (g === 4 || g === 5 || g === 8 || g === 9) { tp.skip(x); v.notTensor = true; }
        else tp.skip(x);
      }
    } else r.skip(w);
  }
  return v;
}

function decodeGraph(r: ProtoReader): OnnxGraph {
  const g: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], hasSparseInitializers: false };
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: r.expect(w, WIRE_LEN, 'GraphProto.node'); g.nodes.push(decodeNode(r.sub())); break;
      case 2: r.expect(w, WIRE_LEN, 'GraphProto.name'); g.name = r.string(); break;
      case 5: r.expect(w, WIRE_LEN, 'GraphProto.initializer'); g.initializers.push(decodeTensor(r.sub())); break;
      case 11: r.expect(w, WIRE_LEN, 'GraphProto.input'); g.inputs.push(decodeValueInfo(r.sub())); break;
      case 12: r.expect(w, WIRE_LEN, 'GraphProto.output'); g.outputs.push(decodeValueInfo(r.sub())); break;
      case 13: r.expect(w, WIRE_LEN, 'GraphProto.value_info'); g.valueInfo.push(decodeValueInfo(r.sub())); break;
      case 15: r.skip(w); g.hasSparseInitializers = true; break;
      default: r.skip(w);
    }
  }
  return g;
}

/** Decodes an ONNX ModelProto. Throws OnnxImportError('CORRUPT') for anything that is not well-formed protobuf. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) throw new OnnxImportError('BAD_OPTION', 'importOnnx takes the file as a Uint8Array');
  const r = new ProtoReader(bytes);
  const m: OnnxModel = { irVersion: 0, producerName: '', producerVersion: '', domain: '', modelVersion: 0, opsets: [], hasFunctions: false };
  let sawIr = false;
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: r.expect(w, WIRE_VARINT, 'ModelProto.ir_version'); m.irVersion = r.varint(); sawIr = true; break;
      case 2: r.expect(w, WIRE_LEN, 'ModelProto.producer_name'); m.producerName = r.string(); break;
      case 3: r.expect(w, WIRE_LEN, 'ModelProto.producer_version'); m.producerVersion = r.string(); break;
      case 4: r.expect(w, WIRE_LEN, 'ModelProto.domain'); m.domain = r.string(); break;
      case 5: r.expect(w, WIRE_VARINT, 'ModelProto.model_version'); m.modelVersion = r.varint(); break;
      case 7: r.expect(w, WIRE_LEN, 'ModelProto.graph'); m.graph = decodeGraph(r.sub()); break;
      case 8: {
        r.expect(w, WIRE_LEN, 'ModelProto.opset_import');
        const o = r.sub();
        const op = { domain: '', version: 0 };
        while (!o.done) {
          const [g, x] = o.tag();
          if (g === 1) { o.expect(x, WIRE_LEN, 'OperatorSetIdProto.domain'); op.domain = o.string(); }
          else if (g === 2) { o.expect(x, WIRE_VARINT, 'OperatorSetIdProto.version'); op.version = o.varint(); }
          else o.skip(x);
        }
        m.opsets.push(op);
        break;
      }
      case 25: r.skip(w); m.hasFunctions = true; break;
      default: r.skip(w);
    }
  }
  if (!sawIr || !m.graph) throw new OnnxImportError('CORRUPT', `not an ONNX model (${sawIr ? 'no graph' : 'no ir_version'})`);
  return m;
}
