// How the broadcast ops (affine, mul) lay their operands out for the kernels, shared by both backends.
import type { AffineOp, MulOp } from '../format/index.js';
import { shapeAt, type BufferPlan } from './plan.js';
import { numel } from './types.js';

/**
 * A tensor viewed as [outer, C, inner] for a per-channel (K = C of [C, H, W]) or per-feature (K = the last dim)
 * operand of K values; K = 1 applies one value to every element.
 */
export function channelLayout(shape: number[], K: number): [number, number, number] {
  const n = numel(shape);
  if (K === 1) return [1, 1, n];
  if (shape.length === 3) return [1, shape[0], shape[1] * shape[2]];
  const D = shape[shape.length - 1];
  return [n / D, D, 1];
}

/** The number of values of an affine op's scale and shift (the reader makes them equal when both are present). */
export function affineWidth(op: AffineOp, tensorShape: (name: string) => number[]): number {
  return tensorShape((op.w ?? op.b)!)[0];
}

const savedShapes = new WeakMap<MulOp, { shape: number[]; variable: boolean }>();

/** The shape (at token count T) of the tensor a mul op multiplies by: what the last save of its name held. */
export function savedShape(plan: BufferPlan, op: MulOp, T: number): number[] {
  let s = savedShapes.get(op);
  if (!s) {
    for (const block of [...plan.layers, ...plan.exits]) {
      const i = block.steps.findIndex((st) => st.op === op);
      if (i < 0) continue;
      for (let j = i - 1; j >= 0 && !s; j--) {
        const st = block.steps[j];
        if (st.op.op === 'save' && st.op.name === op.name) s = { shape: st.inShape, variable: st.inVariable };
      }
      break;
    }
    if (!s) throw new Error(`mul '${op.name}': no save of that name before it in the plan`);
    savedShapes.set(op, s);
  }
  return shapeAt(s.shape, s.variable, T);
}
