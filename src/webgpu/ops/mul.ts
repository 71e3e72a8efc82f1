// mul: out = a ⊙ b elementwise (two tensors of one shape); out may be a or b. Same kernel as add, another operator.
import { binaryOp } from './add.js';

export const mul = binaryOp('mul', '*');
