// Shape arithmetic the engine needs at run time. The reader (src/format/shapes.ts) has already validated every op
// against its tensors, so these functions only compute; they are reused for buffer planning and to check an
// activation handed in at a split point.
import type { Op, SpxHeader, SpxModelFile } from '../format/index.js';
import { EngineError, numel } from './types.js';

type ShapeOf = (tensor: string) => number[];

export function opOutputShape(op: Op, s: number[], shapeOf: ShapeOf): number[] {
  switch (op.op) {
    case 'conv2d': {
      const [OC, , KH, KW] = shapeOf(op.w);
      const stride = op.stride ?? 1, pad = op.pad ?? 0;
      return [OC, Math.floor((s[1] + 2 * pad - KH) / stride) + 1, Math.floor((s[2] + 2 * pad - KW) / stride) + 1];
    }
    case 'linear': return [...s.slice(0, -1), shapeOf(op.w)[0]];
    case 'maxpool2d': case 'avgpool2d': {
      const stride = op.stride ?? op.k, pad = op.pad ?? 0;
      return [s[0], Math.floor((s[1] + 2 * pad - op.k) / stride) + 1, Math.floor((s[2] + 2 * pad - op.k) / stride) + 1];
    }
    case 'gap': return [s[0]];
    case 'flatten': return [numel(s)];
    case 'embed': return [s[0], shapeOf(op.tok)[1]];
    case 'seqmean': case 'seqfirst': return [s[1]];
    default: return s; // elementwise, save, add, layernorm, attention keep the shape
  }
}

/** Shape of the model input: images as declared, token models as [T] (T = maxLen when planning). */
export function inputShape(h: SpxHeader, T?: number): number[] {
  return h.input.kind === 'image' ? h.input.shape.slice() : [T ?? h.input.maxLen];
}

function walk(ops: Op[], s: number[], shapeOf: ShapeOf, visit?: (op: Op, inShape: number[], outShape: number[]) => void): number[] {
  for (const op of ops) {
    const out = opOutputShape(op, s, shapeOf);
    visit?.(op, s, out);
    s = out;
  }
  return s;
}

/**
 * The largest element count any op reads or writes (layers and exits) and the largest kernel scratch, at the
 * largest input (maxLen tokens): every buffer of the pool gets this size once.
 */
export function planMaxElements(h: SpxHeader, shapeOf: ShapeOf, scratchBytes: (op: Op, inShape: number[]) => number) {
  let maxElements = numel(inputShape(h));
  let maxScratchBytes = 0;
  const visit = (op: Op, i: number[], o: number[]) => {
    maxElements = Math.max(maxElements, numel(i), numel(o));
    maxScratchBytes = Math.max(maxScratchBytes, scratchBytes(op, i));
  };
  let s = inputShape(h);
  h.layers.forEach((layer, idx) => {
    s = walk(layer.ops, s, shapeOf, visit);
    walk(h.exits[idx].ops, s, shapeOf, visit);
  });
  return { maxElements, maxScratchBytes };
}

/**
 * The shape the output of layer `after` must have (after = 0: the model input). For token models the sequence
 * length T is free (1..maxLen) and taken from `given`; everything else is fixed by the model.
 */
export function activationShapeAfter(file: SpxModelFile, after: number, given: number[]): number[] {
  const h = file.header;
  const shapeOf = (n: string) => h.tensors[n].shape;
  let T: number | undefined;
  if (h.input.kind === 'tokens') {
    T = given[0];
    if (!Number.isInteger(T) || T < 1 || T > h.input.maxLen) {
      throw new EngineError('BAD_ACTIVATION', `sequence length ${T} is outside 1..${h.input.maxLen}`);
    }
  }
  let s = inputShape(h, T);
  for (let l = 0; l < after; l++) s = walk(h.layers[l].ops, s, shapeOf);
  if (given.length !== s.length || given.some((d, i) => d !== s[i])) {
    throw new EngineError('BAD_ACTIVATION', `the output of layer ${after} has shape [${s}], got [${given}]`);
  }
  return s;
}
