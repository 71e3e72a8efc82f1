// A float64 interpreter of the op set built only from the plain reference kernels: the oracle for whole models.
import type { Op, SpxModelFile } from '../../src/format/index.js';
import { refAvgpool2d, refConv2d, refGap, refLinear, refMaxpool2d } from './gemm-conv-pool.js';
import { refAdd, refAttention, refEmbed, refGelu, refLayernorm, refRelu, refRelu6, refSeqmean, refSoftmax } from './ops.js';
import { refAffine, refMul } from './broadcast.js';
import { refConcat, refPad } from './pad-concat.js';
import { refAvgpool2dExclude } from './pool-exclude.js';
import { refAttentionCausal } from './attention-causal.js';
import { refClip, refGeluTanh, refHardsigmoid, refHardswish, refSigmoid, refTanh } from './activations.js';

export interface RefTensor { shape: number[]; data: Float64Array }

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

export function refOps(file: SpxModelFile, ops: Op[], x: RefTensor, ids?: ArrayLike<number>): RefTensor {
  const t = (name: string) => file.tensor(name);
  const shapeOf = (name: string) => file.header.tensors[name].shape;
  const saved = new Map<string, RefTensor>();
  let { shape, data } = x;
  for (const op of ops) {
    switch (op.op) {
      case 'conv2d': {
        const [OC, , KH, KW] = shapeOf(op.w);
        const stride = op.stride ?? 1, pad = op.pad ?? 0;
        data = refConv2d(data, t(op.w), op.b ? t(op.b) : null, shape[0], shape[1], shape[2], OC, KH, KW, stride, pad, op.groups ?? 1, op.act ?? 'none');
        shape = [OC, Math.floor((shape[1] + 2 * pad - KH) / stride) + 1, Math.floor((shape[2] + 2 * pad - KW) / stride) + 1];
        break;
      }
      case 'linear': {
        const [N, K] = shapeOf(op.w);
        data = refLinear(data, t(op.w), op.b ? t(op.b) : null, numel(shape) / K, K, N, op.act ?? 'none');
        shape = [...shape.slice(0, -1), N];
        break;
      }
      case 'maxpool2d': case 'avgpool2d': {
        const stride = op.stride ?? op.k, pad = op.pad ?? 0;
        data = (op.op === 'maxpool2d' ? refMaxpool2d : op.excludePad ? refAvgpool2dExclude : refAvgpool2d)(data, shape[0], shape[1], shape[2], op.k, stride, pad);
        shape = [shape[0], Math.floor((shape[1] + 2 * pad - op.k) / stride) + 1, Math.floor((shape[2] + 2 * pad - op.k) / stride) + 1];
        break;
      }
      case 'gap': data = refGap(data, shape[0], shape[1] * shape[2]); shape = [shape[0]]; break;
      case 'flatten': shape = [numel(shape)]; break;
      case 'relu': data = refRelu(data); break;
      case 'relu6': data = refRelu6(data); break;
      case 'gelu': data = refGelu(data); break;
      case 'save': saved.set(op.name, { shape, data }); break;
      case 'add': data = refAdd(data, saved.get(op.name)!.data); break;
      case 'layernorm': {
        const D = shape[shape.length - 1];
        data = refLayernorm(data, t(op.g), t(op.b), numel(shape) / D, D, op.eps ?? 1e-5);
        break;
      }
      case 'embed': {
        const D = shapeOf(op.tok)[1];
        data = refEmbed(ids!, t(op.tok), t(op.pos), D);
        shape = [ids!.length, D];
        break;
      }
      case 'attention':
        if (op.causal) { data = refAttentionCausal(data, shape[0], shape[1], op.heads, t(op.wqkv), t(op.bqkv), t(op.wo), t(op.bo), op.window ?? 0); break; }
        data = refAttention(data, shape[0], shape[1], op.heads, t(op.wqkv), t(op.bqkv), t(op.wo), t(op.bo), null, op.window ?? 0);
        break;
      case 'seqmean': data = refSeqmean(data, shape[0], shape[1]); shape = [shape[1]]; break;
      case 'seqfirst': data = data.slice(0, shape[1]); shape = [shape[1]]; break;
      case 'sigmoid': data = refSigmoid(data); break;
      case 'tanh': data = refTanh(data); break;
      case 'gelu_tanh': data = refGeluTanh(data); break;
      case 'hardsigmoid': data = refHardsigmoid(data, op.alpha ?? 0.2, op.beta ?? 0.5); break;
      case 'hardswish': data = refHardswish(data); break;
      case 'clip': data = refClip(data, op.min, op.max); break;
      case 'affine': data = refAffine(data, op.w ? t(op.w) : null, op.b ? t(op.b) : null, shape); break;
      case 'pad': {
        const [top, bottom, left, right] = [op.top ?? 0, op.bottom ?? 0, op.left ?? 0, op.right ?? 0];
        data = refPad(data, shape[0], shape[1], shape[2], top, bottom, left, right);
        shape = [shape[0], top + shape[1] + bottom, left + shape[2] + right];
        break;
      }
      case 'concat': {
        const sv = saved.get(op.name)!;
        data = op.xFirst ? refConcat(data, sv.data) : refConcat(sv.data, data);
        shape = [sv.shape[0] + shape[0], ...shape.slice(1)];
        break;
      }
      case 'mul': {
        const sv = saved.get(op.name)!;
        // the result has the shape of the operand with more dims (the other is per channel / per feature of it)
        if (sv.shape.length > shape.length) { data = refMul(sv.data, sv.shape, data); shape = sv.shape; } else data = refMul(data, shape, sv.data);
        break;
      }
      default: throw new Error(`reference: unknown op ${(op as { op: string }).op}`);
    }
  }
  return { shape, data };
}

/** Float64 forward pass: every exit's probabilities. */
export function refForward(file: SpxModelFile, input: Float32Array | Int32Array): Float64Array[] {
  const h = file.header;
  let x: RefTensor = input instanceof Int32Array
    ? { shape: [input.length], data: new Float64Array(0) }
    : { shape: (h.input as { shape: number[] }).shape, data: Float64Array.from(input) };
  const probs: Float64Array[] = [];
  h.layers.forEach((layer, i) => {
    x = refOps(file, layer.ops, x, input instanceof Int32Array ? input : undefined);
    const logits = refOps(file, h.exits[i].ops, x);
    probs.push(refSoftmax(logits.data, 1, logits.data.length));
  });
  return probs;
}
