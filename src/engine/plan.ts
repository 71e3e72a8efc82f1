// The buffer plan: where every op of every layer and exit reads and writes, decided once at load from the reader's
// inferred shapes (src/format/shapes.ts) and the op table's placement rules. Every backend executes the same plan:
// it allocates one buffer per slot (WASM: in its arena; WebGPU: a storage buffer) and runs each step's kernel from
// `src` into `dst`; nothing is allocated or decided on the hot path.
//
// Rules (the format's, docs/FORMAT.md): an op writes in place when its placement allows it and its input's slot is
// not pinned; `save` pins the current slot until the block ends (or the name is saved again); an exit's input (the
// layer output) is pinned for the whole exit, so it stays the current activation afterwards. Views (flatten,
// seqfirst) reuse their input's slot. Everything else writes a free slot, or a new one when none is free; a slot's
// capacity is the largest value ever placed in it (at T = maxLen for token models).
import type { InferredShapes, Op, SpxModelFile } from '../format/index.js';
import { OP_RULES } from '../format/shapes.js';
import { numel } from './types.js';

/** The slot of the token ids (layer 1's input in token models): not an f32 slot. */
export const TOKENS = -1;

export interface PlanStep {
  op: Op;
  /** Slot read (the op's input). */
  src: number;
  /** Slot written: src for in-place ops and views, another slot otherwise. */
  dst: number;
  /** add: the slot the operand saved under op.name lives in; −2 otherwise. */
  other: number;
  /** Shapes at the planned size; dim 0 of a shape flagged variable is the token count T (maxLen in the plan). */
  inShape: number[];
  outShape: number[];
  inVariable: boolean;
  outVariable: boolean;
}

export interface BlockPlan {
  /** The slot the block reads first, and the one its result ends in. */
  input: number;
  output: number;
  steps: PlanStep[];
}

export interface BufferPlan {
  /** f32 element capacity of each slot. */
  slots: number[];
  layers: BlockPlan[];
  exits: BlockPlan[];
  /** layerSlot[l]: the slot holding the output of layer l (l = 0: the model input; TOKENS for token ids). */
  layerSlot: number[];
  /** Sum of the slots' capacities, in bytes: the activation memory every backend allocates for the plan. */
  activationBytes: number;
  /** The largest output of any layer, in elements (what can be read back at a split). */
  maxLayerOutput: number;
}

/** `shape` at token count T when it is flagged variable (its dim 0 is T); otherwise `shape` itself. */
export function shapeAt(shape: number[], variable: boolean, T: number): number[] {
  return variable ? [T, ...shape.slice(1)] : shape;
}

export function planBuffers(file: SpxModelFile): BufferPlan {
  const h = file.header;
  const shapes: InferredShapes = file.shapes;
  const slots: number[] = [];
  const tokens = h.input.kind === 'tokens';

  /** A slot not in `busy` with room for n elements (growing the largest free one if none has room), or a new one. */
  const pick = (n: number, busy: Set<number>): number => {
    let best = -1;
    for (let s = 0; s < slots.length; s++) {
      if (busy.has(s)) continue;
      if (best < 0) { best = s; continue; }
      const fits = slots[s] >= n, bestFits = slots[best] >= n;
      // Prefer the smallest slot that fits; if none fits, the largest (it grows least).
      if (fits && (!bestFits || slots[s] < slots[best])) best = s;
      else if (!fits && !bestFits && slots[s] > slots[best]) best = s;
    }
    if (best < 0) { slots.push(0); best = slots.length - 1; }
    slots[best] = Math.max(slots[best], n);
    return best;
  };

  const planBlock = (ops: Op[], info: InferredShapes['layers'][number], input: number, keepInput: boolean): BlockPlan => {
    const saves = new Map<string, number>();
    const pinned = (s: number) => (keepInput && s === input) || s === TOKENS || [...saves.values()].includes(s);
    let cur = input;
    const steps: PlanStep[] = [];
    ops.forEach((op, i) => {
      const os = info.ops[i];
      const inVariable = i === 0 ? info.inputVariable : info.ops[i - 1].variable;
      const n = numel(os.output);
      const placement = OP_RULES[op.op].placement;
      let dst: number;
      let other = -2;
      if (placement === 'view' || placement === 'pin') dst = cur;
      else if (placement === 'inplace' && !pinned(cur)) dst = cur;
      else dst = pick(n, new Set([cur, ...saves.values(), ...(keepInput ? [input] : [])]));
      if (dst >= 0) slots[dst] = Math.max(slots[dst], n);
      if (op.op === 'save') saves.set(op.name, cur);
      if (op.op === 'add') other = saves.get(op.name)!;
      if (op.op === 'mul' || op.op === 'concat') other = saves.get(op.name)!;
      steps.push({ op, src: cur, dst, other, inShape: os.input, outShape: os.output, inVariable, outVariable: os.variable });
      cur = dst;
    });
    return { input, output: cur, steps };
  };

  const layerSlot: number[] = [];
  let cur: number;
  if (tokens) cur = TOKENS;
  else { cur = pick(numel(shapes.layerInput), new Set()); }
  layerSlot.push(cur);
  const layers: BlockPlan[] = [];
  const exits: BlockPlan[] = [];
  h.layers.forEach((layer, l) => {
    const bp = planBlock(layer.ops, shapes.layers[l], cur, false);
    layers.push(bp);
    cur = bp.output;
    layerSlot.push(cur);
    exits.push(planBlock(h.exits[l].ops, shapes.exits[l], cur, true));
  });
  // A later block may have grown a slot that an earlier layer output lives in; capacities are final only now.
  const activationBytes = slots.reduce((a, n) => a + n * 4, 0);
  const maxLayerOutput = Math.max(...shapes.layerOutputs.map((s) => numel(s)));
  return { slots, layers, exits, layerSlot, activationBytes, maxLayerOutput };
}
