// Shapes at run time, read off the reader's inferred shapes (src/format/shapes.ts, the one shape source): the
// activation handed in at a split point is checked against them.
import type { SpxModelFile } from '../format/index.js';
import { shapeAt } from './plan.js';
import { EngineError } from './types.js';

/**
 * The shape the output of layer `after` must have (after = 0: the model input). For token models the sequence
 * length T is free (1..maxLen) and taken from `given`; everything else is fixed by the model.
 */
export function activationShapeAfter(file: SpxModelFile, after: number, given: number[]): number[] {
  const sh = file.shapes;
  let T = 0;
  if (sh.variableLength) {
    T = given[0];
    if (!Number.isInteger(T) || T < 1 || T > sh.layerInput[0]) {
      throw new EngineError('BAD_ACTIVATION', `sequence length ${T} is outside 1..${sh.layerInput[0]}`);
    }
  }
  const s = after === 0 ? shapeAt(sh.layerInput, sh.variableLength, T) : shapeAt(sh.layerOutputs[after - 1], sh.layerOutputVariable[after - 1], T);
  if (given.length !== s.length || given.some((d, i) => d !== s[i])) {
    throw new EngineError('BAD_ACTIVATION', `the output of layer ${after} has shape [${s}], got [${given}]`);
  }
  return s.slice();
}

/** The fixed shape of the output of layer k (k = 0: the model input), or null when it depends on the token count. */
export function fixedShapeAfter(file: SpxModelFile, k: number): number[] | null {
  const sh = file.shapes;
  if (!Number.isInteger(k) || k < 0 || k > sh.layerOutputs.length) return null;
  if (k === 0) return sh.variableLength ? null : sh.layerInput.slice();
  return sh.layerOutputVariable[k - 1] ? null : sh.layerOutputs[k - 1].slice();
}
