// Types of the `.spx` model file (docs/FORMAT.md). The reader returns headers whose ops have every default filled in
// (stride, pad, groups, act, eps, window), so consumers may rely on those fields; writers accept them omitted.

export const SPX_MAGIC = [0x53, 0x50, 0x58, 0x00] as const; // "SPX\0"
export const SPX_VERSION_MAJOR = 1;
export const SPX_VERSION_MINOR = 0;
export const SPX_PREAMBLE_BYTES = 16;
export const SPX_ALIGN = 64;
/** Limits of docs/FORMAT.md; past any of them the reader throws TOO_LARGE. */
export const SPX_LIMITS = {
  headerBytes: 16 * 1024 * 1024,
  fileBytes: 1024 * 1024 * 1024,
  elements: 2 ** 28,
  layers: 64,
  opsPerBlock: 4096,
} as const;

export type Activation = 'none' | 'relu' | 'relu6' | 'gelu';
export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'relu6', 'gelu'];

export interface Conv2dOp { op: 'conv2d'; w: string; b?: string; stride?: number; pad?: number; groups?: number; act?: Activation }
export interface LinearOp { op: 'linear'; w: string; b?: string; act?: Activation }
export interface MaxPool2dOp { op: 'maxpool2d'; k: number; stride?: number; pad?: number }
/** `excludePad`: divide by the window positions inside the image (PyTorch's count_include_pad=False), not k·k. */
export interface AvgPool2dOp { op: 'avgpool2d'; k: number; stride?: number; pad?: number; excludePad?: boolean }
export interface GapOp { op: 'gap' }
export interface FlattenOp { op: 'flatten' }
export interface ReluOp { op: 'relu' }
export interface Relu6Op { op: 'relu6' }
export interface GeluOp { op: 'gelu' }
export interface SaveOp { op: 'save'; name: string }
export interface AddOp { op: 'add'; name: string }
export interface LayerNormOp { op: 'layernorm'; g: string; b: string; eps?: number }
export interface EmbedOp { op: 'embed'; tok: string; pos: string }
/** `window` > 0: query i sees only keys j with |i − j| ≤ window (local attention); 0 or absent: every key. */
export interface AttentionOp {
  op: 'attention'; heads: number; wqkv: string; bqkv: string; wo: string; bo: string; window?: number;
  /** true: query i sees only keys j ≤ i (with `window`, also j ≥ i − window); absent or false: both sides. */
  causal?: boolean;
}
export interface SeqMeanOp { op: 'seqmean' }
export interface SeqFirstOp { op: 'seqfirst' }
export interface SigmoidOp { op: 'sigmoid' }
export interface TanhOp { op: 'tanh' }
/** GELU's tanh approximation ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export interface GeluTanhOp { op: 'gelu_tanh' }
/** max(0, min(1, alpha·x + beta)); the reader fills ONNX's defaults alpha = 0.2, beta = 0.5. */
export interface HardSigmoidOp { op: 'hardsigmoid'; alpha?: number; beta?: number }
/** x·max(0, min(1, x/6 + ½)). */
export interface HardSwishOp { op: 'hardswish' }
/** min(max(x, min), max); a bound left out is no bound. */
export interface ClipOp { op: 'clip'; min?: number; max?: number }
/**
 * x·w + b, `w` and `b` (at least one) of length 1 or the channel count: per channel on [C, H, W], per feature (the last
 * dim) on [T, D] and [N].
 */
export interface AffineOp { op: 'affine'; w?: string; b?: string }
/** x ⊙ saved[name]: the same shape, or one of the two per channel / per feature of the other (the result is the larger). */
export interface MulOp { op: 'mul'; name: string }
/** Zero padding of a [C, H, W] image, any amount on each side (defaults 0). */
export interface PadOp { op: 'pad'; top?: number; bottom?: number; left?: number; right?: number }
/** concat(saved[name], x) along dim 0 (channels of [C, H, W], or vectors); `xFirst`: concat(x, saved[name]). */
export interface ConcatOp { op: 'concat'; name: string; xFirst?: boolean }

export type Op =
  | Conv2dOp | LinearOp | MaxPool2dOp | AvgPool2dOp | GapOp | FlattenOp | ReluOp | Relu6Op | GeluOp
  | SaveOp | AddOp | LayerNormOp | EmbedOp | AttentionOp | SeqMeanOp | SeqFirstOp
  | SigmoidOp | TanhOp | GeluTanhOp | HardSigmoidOp | HardSwishOp | ClipOp | AffineOp | MulOp | PadOp | ConcatOp;
export type OpName = Op['op'];
export const OP_NAMES: readonly OpName[] = [
  'conv2d', 'linear', 'maxpool2d', 'avgpool2d', 'gap', 'flatten', 'relu', 'relu6', 'gelu',
  'save', 'add', 'layernorm', 'embed', 'attention', 'seqmean', 'seqfirst',
  'sigmoid', 'tanh', 'gelu_tanh', 'hardsigmoid', 'hardswish', 'clip', 'affine', 'mul', 'pad', 'concat',
];

export type ImageInput = { kind: 'image'; shape: [number, number, number] };
export type TokensInput = { kind: 'tokens'; maxLen: number; vocabSize: number };
export type SpxInput = ImageInput | TokensInput;

/** Preprocessing is described, not executed, by the format: typed loosely, `kind` always present. */
export interface ImagePreprocess { kind: 'image'; scale: number; mean: number[]; std: number[]; [key: string]: unknown }
export interface Preprocess { kind: string; [key: string]: unknown }

export interface SpxLayer { name: string; ops: Op[] }
export interface SpxExit { layer: number; ops: Op[] }

export type TensorDtype = 'f32' | 'i8';
export type QuantPerChannel = { axis: 0; scales: number[] };
export type QuantPerTensor = { scale: number; zeroPoint: number };
export type Quant = QuantPerChannel | QuantPerTensor;

export interface TensorEntry {
  dtype: TensorDtype;
  shape: number[];
  /** Byte offset from the start of the data region, a multiple of 64. */
  offset: number;
  /** Byte length = product(shape) × bytes per element. */
  length: number;
  /** Present exactly when dtype is 'i8'. */
  quant?: Quant;
}

export interface SpxHeader {
  format: 'splitee-model';
  name: string;
  task: 'image-classification' | 'text-classification';
  classes: string[];
  input: SpxInput;
  preprocess: Preprocess;
  layers: SpxLayer[];
  exits: SpxExit[];
  tensors: Record<string, TensorEntry>;
  dataLength: number;
  /** Free-form: recipe, dataset, training date, metrics. */
  provenance?: Record<string, unknown>;
  // Later minor versions may add optional fields: the reader keeps unknown top-level fields on the object it returns
  // and the writers copy them through (after the known fields, in their order). Not typed here so that
  // `Omit<SpxHeader, …>` keeps the named fields.
}

export const BYTES_PER_ELEMENT: Record<TensorDtype, number> = { f32: 4, i8: 1 };
