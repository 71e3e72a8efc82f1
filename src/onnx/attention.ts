// Self-attention, recognised by what it computes rather than by one exporter's node order. From the sequence x
// ([1, T, D] or any layout of it), every value of the candidate region is tracked symbolically: a projection of x
// (x·Wᵀ + b) together with an index map that says, for each element, which (token, column) of the projection it
// is. Movement ops (Reshape, Transpose, Split, Slice, Gather…) move the index maps exactly as they would move data,
// so however an exporter splits heads (BERT's view/permute, nn.MultiheadAttention's [T, B·H, dh] layout, a fused
// QKV projection cut by Split or Slice), the matcher only has to check at the two MatMuls that the maps are the
// canonical per-head layouts. Scalar Mul/Div anywhere on the query/key path fold into the query weights; a constant
// additive or Where mask must be a local window (|i − j| > w hidden) or hide nothing.
import { OnnxImportError } from './errors.js';
import { moveArr, broadcastTo, type Arr } from './fold.js';
import { attrInt, where, type GNode, type Graph } from './graph.js';
import { numel, type Const } from './tensor.js';

interface Proj { w: Float64Array; b: Float64Array | null; n: number; k: number }

type Sym =
  | { kind: 'x'; shape: number[]; map: Float64Array }
  | { kind: 'proj'; id: number; shape: number[]; map: Float64Array; scale: number }
  | { kind: 'scores' | 'probs'; q: Slot; k: Slot; heads: number; dh: number; shape: number[]; scale: number; hide?: Uint8Array }
  | { kind: 'ctx'; shape: number[]; map: Float64Array; att: Att }
  | { kind: 'out'; shape: number[]; map: Float64Array; att: Att; wo: Float64Array; bo: Float64Array | null };

interface Slot { id: number; off: number; scale: number }
interface Att { q: Slot; k: Slot; v: Slot; heads: number; dh: number; scale: number; hide?: Uint8Array }

export interface AttentionMatch {
  nodes: Set<GNode>;
  out: string;
  heads: number;
  window: number;
  /** Query i sees only keys j ≤ i (a causal mask; with `window`, also j ≥ i − window). */
  causal: boolean;
  wqkv: Float32Array;
  bqkv: Float32Array;
  wo: Float32Array;
  bo: Float32Array;
}

const identity = (n: number) => Float64Array.from({ length: n }, (_, i) => i);
const isIdentity = (m: Float64Array) => m.every((v, i) => v === i);
const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Weight [N, K] (PyTorch layout) and bias of a projection node on a value whose last dim is K, or undefined. */
function projWeights(g: Graph, n: GNode, k: number): Proj | undefined {
  if (n.opType === 'MatMul') {
    const b = g.constOf(n.inputs[1]);
    if (!b || b.shape.length !== 2 || b.shape[0] !== k) return undefined;
    const N = b.shape[1];
    const w = new Float64Array(N * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < N; j++) w[j * k + i] = b.data[i * N + j];
    return { w, b: null, n: N, k };
  }
  if (n.opType === 'Gemm') {
    if (attrInt(n, 'transA', 0) !== 0) return undefined;
    const b = g.constOf(n.inputs[1]);
    if (!b || b.shape.length !== 2) return undefined;
    const tb = attrInt(n, 'transB', 0) === 1;
    const N = tb ? b.shape[0] : b.shape[1];
    if ((tb ? b.shape[1] : b.shape[0]) !== k) return undefined;
    const alpha = n.attrs.get('alpha')?.f ?? 1, beta = n.attrs.get('beta')?.f ?? 1;
    const w = new Float64Array(N * k);
    for (let j = 0; j < N; j++) for (let i = 0; i < k; i++) w[j * k + i] = alpha * (tb ? b.data[j * k + i] : b.data[i * N + j]);
    let bias: Float64Array | null = null;
    if (n.inputs[2]) {
      const c = g.constOf(n.inputs[2]);
      if (!c) return undefined;
      const e = biasVector(c, N);
      if (!e) return undefined;
      bias = e.map((v) => v * beta);
    }
    return { w, b: bias, n: N, k };
  }
  return undefined;
}

/** A constant that broadcasts along the last dim only ([N], [1, N], [1, 1, N], or a scalar) as a length-N vector. */
export function biasVector(c: Const, n: number): Float64Array | undefined {
  if (c.data.length === 1) return new Float64Array(n).fill(c.data[0]);
  if (c.data.length !== n || c.shape[c.shape.length - 1] !== n) return undefined;
  return Float64Array.from(c.data);
}

/**
 * Tries to read one self-attention block starting at `x` (shape [1, T, D]). Returns undefined when the values
 * downstream of x do not reach a Softmax (not attention); throws when they look like attention the op cannot
 * express (a mask that is not a window, a head layout that mixes tokens…).
 */
export function matchAttention(g: Graph, x: string, live: Set<GNode>, used: Set<GNode>): AttentionMatch | undefined {
  const xs = g.shapeOf(x)!;
  // A sequence [T, D] in any layout with unit dims around it ([1, T, D] batch-first, [T, 1, D] sequence-first).
  if (xs.length < 2) return undefined;
  const D = xs[xs.length - 1], T = numel(xs) / D;
  if (xs.slice(0, -1).filter((d) => d !== 1).length > 1) return undefined;
  // Quick test: a Softmax within the nodes reachable from x before anything else that is not a movement.
  const sym = new Map<string, Sym>();
  sym.set(x, { kind: 'x', shape: xs, map: identity(T * D) });
  const projs: Proj[] = [];
  const nodes = new Set<GNode>();
  let sawSoftmax = false;
  const start = Math.min(...g.consumers(x).filter((c) => live.has(c) && !used.has(c)).map((c) => c.index));
  if (!Number.isFinite(start)) return undefined;
  const bad = (n: GNode, msg: string): never => { throw new OnnxImportError('UNSUPPORTED_OP', `self-attention: ${msg}`, where(n)); };

  if (!reachesSoftmax(g, x, live, used)) return undefined;
  for (const n of g.nodes.slice(start)) {
    if (!live.has(n) || used.has(n) || n.outputs.every((o) => g.constOf(o))) continue;
    const si = n.inputs.map((i) => sym.get(i));
    if (!si.some((s) => s)) continue;
    const r = step(n, si);
    if (r === 'skip') continue;
    nodes.add(n);
    r.forEach((s, k) => sym.set(n.outputs[k], s));
  }
  if (!sawSoftmax) return undefined;

  // The block's output: an 'out' value in x's own layout, read by something outside the block.
  let result: { name: string; s: Extract<Sym, { kind: 'out' }> } | undefined;
  for (const [name, s] of sym) {
    if (s.kind === 'out' && same(s.shape, xs) && isIdentity(s.map) && g.usedOutside(name, nodes)) result = { name, s };
  }
  if (!result) return undefined;
  // Everything else the block computed must stay inside it.
  for (const [name, s] of sym) {
    if (name !== x && name !== result.name && s && g.usedOutside(name, nodes, live)) {
      const reader = g.consumers(name).find((c) => !nodes.has(c) && !g.folded(c) && live.has(c));
      throw new OnnxImportError('UNSUPPORTED_OP', `self-attention: the intermediate '${name}' is also read outside the attention block`, reader ? where(reader) : undefined);
    }
  }
  const att = result.s.att;
  const qp = projs[att.q.id], kp = projs[att.k.id], vp = projs[att.v.id];
  const wqkv = new Float32Array(3 * D * D), bqkv = new Float32Array(3 * D);
  // Scores must be scaled by 1/√dh; whatever the graph used instead is folded into the query rows.
  const qFactor = att.scale * att.q.scale * att.k.scale * Math.sqrt(att.dh);
  [[att.q, qp, qFactor], [att.k, kp, 1], [att.v, vp, att.v.scale]].forEach(([slot, p, f], part) => {
    const s = slot as Slot, pr = p as Proj, fac = f as number;
    for (let r = 0; r < D; r++) {
      for (let c = 0; c < D; c++) wqkv[(part * D + r) * D + c] = pr.w[(s.off + r) * D + c] * fac;
      bqkv[part * D + r] = (pr.b ? pr.b[s.off + r] : 0) * fac;
    }
  });
  let window = 0, causal = false;
  if (att.hide) {
    const softmax = [...nodes].find((n) => n.opType === 'Softmax')!;
    const c = causalOf(att.hide, T, softmax);
    if (c !== undefined) { causal = true; window = c; } else window = windowOf(att.hide, T, softmax);
  }
  return {
    nodes, out: result.name, heads: att.heads, window, causal, wqkv, bqkv,
    wo: Float32Array.from(result.s.wo), bo: result.s.bo ? Float32Array.from(result.s.bo) : new Float32Array(D),
  };

  // ---- one node, symbolically
  function step(n: GNode, si: (Sym | undefined)[]): Sym[] | 'skip' | 'skip' {
    const s0 = si[0];
    const onlyFirst = si.every((s, i) => i === 0 || !s);
    if (s0 && onlyFirst && s0.kind !== 'scores' && s0.kind !== 'probs' && 'map' in s0) {
      // Constant side inputs of a movement op must be constants: moveArr reads them.
      const moved = (() => { try { return moveArr(g, n, { shape: s0.shape, data: s0.map }); } catch { return undefined; } })();
      if (moved) return moved.map((m: Arr) => ({ ...s0, shape: m.shape, map: m.data }) as Sym);
    }
    if ((n.opType === 'Identity' || n.opType === 'Dropout') && s0 && (s0.kind === 'scores' || s0.kind === 'probs')) return [s0];
    switch (n.opType) {
      case 'MatMul': case 'Gemm': {
        if (s0 && onlyFirst && (s0.kind === 'x' || s0.kind === 'ctx')) {
          const K = s0.shape[s0.shape.length - 1];
          const p = projWeights(g, n, K);
          if (!p) return s0.kind === 'x' ? 'skip' : bad(n, 'the output projection is not a constant matrix');
          if (s0.kind === 'x') {
            if (K !== D || !isIdentity(s0.map)) bad(n, 'a projection of the sequence in a layout other than token-major');
            projs.push(p);
            return [{ kind: 'proj', id: projs.length - 1, shape: [...s0.shape.slice(0, -1), p.n], map: identity(T * p.n), scale: 1 }];
          }
          // Merging heads: element (t, j) must be head j / dh, token t, feature j % dh of the context.
          const att = s0.att;
          if (K !== att.heads * att.dh || p.n !== D) bad(n, `the output projection maps ${K} to ${p.n} features, expected ${D} to ${D}`);
          for (let i = 0; i < s0.map.length; i++) {
            const t = Math.floor(i / K), j = i % K;
            const want = Math.floor(j / att.dh) * T * att.dh + t * att.dh + (j % att.dh);
            if (s0.map[i] !== want) bad(n, 'the heads are merged in an order other than head-major features');
          }
          return [{ kind: 'out', shape: [...s0.shape.slice(0, -1), p.n], map: identity(T * p.n), att, wo: p.w, bo: p.b }];
        }
        if (n.opType === 'MatMul' && si[0] && si[1]) return [twoSided(n, si[0], si[1])];
        return bad(n, 'an operand the matcher cannot place');
      }
      case 'Add': {
        const [a, b] = si;
        const s = a ?? b!;
        const other = g.constOf(n.inputs[a ? 1 : 0]);
        if ((a && b) || !other) return s.kind === 'out' || s.kind === 'x' ? 'skip' : bad(n, 'adds two computed values inside attention');
        if (s.kind === 'proj' || s.kind === 'out') {
          const N = s.shape[s.shape.length - 1];
          const v = biasVector(other, N);
          if (!v || !isIdentity(s.map)) return s.kind === 'out' ? 'skip' : bad(n, 'a bias that is not per feature');
          if (s.kind === 'proj') {
            const p = projs[s.id];
            if (p.b) p.b = p.b.map((x, i) => x + v[i]); else p.b = v;
            return [s];
          }
          return [{ ...s, bo: s.bo ? s.bo.map((x, i) => x + v[i]) : v }];
        }
        if (s.kind === 'scores') {
          const hide = maskOf(n, other, s.shape, (v) => v <= -1e4, (v) => v === 0);
          return [{ ...s, hide: mergeHide(s.hide, hide) }];
        }
        return s.kind === 'x' ? 'skip' : bad(n, 'an addition the attention op cannot express');
      }
      case 'Mul': case 'Div': {
        const [a, b] = si;
        if (a && b) return bad(n, 'multiplies two computed values');
        const s = a ?? b!;
        const c = g.constOf(n.inputs[a ? 1 : 0]);
        if (!c || c.data.length !== 1 || (n.opType === 'Div' && !a)) return s.kind === 'out' || s.kind === 'x' ? 'skip' : bad(n, 'a scaling by something other than one constant');
        const f = n.opType === 'Div' ? 1 / c.data[0] : c.data[0];
        if (s.kind === 'proj' || s.kind === 'scores') return [{ ...s, scale: s.scale * f }];
        return s.kind === 'out' || s.kind === 'x' ? 'skip' : bad(n, 'a scaling at a place the attention op cannot absorb');
      }
      case 'Where': {
        const [c, a, b] = si;
        if (c || a || !b || b.kind !== 'scores') return bad(n, 'a Where other than masking the scores');
        const cond = g.constOf(n.inputs[0]), fill = g.constOf(n.inputs[1]);
        if (!cond || !fill || fill.data.length !== 1 || !(fill.data[0] <= -1e4)) bad(n, 'the scores are masked by something other than a constant -inf');
        return [{ ...b, hide: mergeHide(b.hide, maskOf(n, cond!, b.shape, (v) => v !== 0, (v) => v === 0)) }];
      }
      case 'Softmax': {
        if (!s0 || s0.kind !== 'scores') return bad(n, 'a Softmax over something other than the scores');
        const ax = attrInt(n, 'axis', -1);
        if (ax !== -1 && ax !== s0.shape.length - 1) bad(n, `a Softmax over axis ${ax} of the scores, not the keys`);
        sawSoftmax = true;
        return [{ ...s0, kind: 'probs' }];
      }
      default:
        if (s0 && (s0.kind === 'out' || s0.kind === 'x') && onlyFirst) return 'skip';
        if (si.some((s) => s && s.kind === 'out') || si.every((s) => !s || s.kind === 'x')) return 'skip';
        return bad(n, `${n.opType} inside an attention block is not supported`);
    }
  }

  /** q·kᵀ → scores, or probs·v → context. */
  function twoSided(n: GNode, a: Sym, b: Sym): Sym {
    if (a.kind === 'proj' && b.kind === 'proj') {
      const q = heads(n, a, false), k = heads(n, b, true);
      if (q.heads !== k.heads || q.dh !== k.dh) bad(n, 'queries and keys split into different heads');
      return { kind: 'scores', q: { id: a.id, off: q.off, scale: a.scale }, k: { id: b.id, off: k.off, scale: b.scale }, heads: q.heads, dh: q.dh, shape: [...a.shape.slice(0, -1), T], scale: 1 };
    }
    if (a.kind === 'probs' && b.kind === 'proj') {
      const v = heads(n, b, false);
      if (v.heads !== a.heads || v.dh !== a.dh) bad(n, 'values split into different heads from the queries');
      const att: Att = { q: a.q, k: a.k, v: { id: b.id, off: v.off, scale: b.scale }, heads: a.heads, dh: a.dh, scale: a.scale, hide: a.hide };
      return { kind: 'ctx', shape: [...a.shape.slice(0, -1), v.dh], map: identity(a.heads * T * a.dh), att };
    }
    return bad(n, 'a product the matcher cannot place (expected queries·keysᵀ or probabilities·values)');
  }

  /** The head layout of a projection view: [..., T, dh] (or [..., dh, T] for keys), head-major leading dims. */
  function heads(n: GNode, s: Extract<Sym, { kind: 'proj' }>, transposed: boolean): { heads: number; dh: number; off: number } {
    const r = s.shape.length;
    if (r < 2) bad(n, 'a head view of rank < 2');
    const dh = transposed ? s.shape[r - 2] : s.shape[r - 1];
    if ((transposed ? s.shape[r - 1] : s.shape[r - 2]) !== T) bad(n, 'a head view whose token axis is not the sequence');
    const H = numel(s.shape.slice(0, -2));
    if (H * dh !== D) bad(n, `${H} heads of ${dh} features do not make the model width ${D}`);
    const N = projs[s.id].n;
    const off = s.map[0] % N;
    for (let i = 0; i < s.map.length; i++) {
      const h = Math.floor(i / (T * dh)), rem = i % (T * dh);
      const t = transposed ? rem % T : Math.floor(rem / dh), e = transposed ? Math.floor(rem / T) : rem % dh;
      const m = s.map[i];
      if (Math.floor(m / N) !== t || m % N !== off + h * dh + e) bad(n, 'a head layout other than contiguous per-head feature blocks');
    }
    if (off + D > N) bad(n, 'a projection slice out of range');
    return { heads: H, dh, off };
  }

  function maskOf(n: GNode, c: Const, shape: number[], hidden: (v: number) => boolean, shown: (v: number) => boolean): Uint8Array {
    const full = broadcastTo({ shape: c.shape, data: c.data }, shape).data;
    const hide = new Uint8Array(T * T);
    for (let i = 0; i < full.length; i++) {
      const v = full[i];
      const h = hidden(v) ? 1 : shown(v) ? 0 : bad(n, `an attention mask value ${v} that neither hides (≤ −1e4) nor shows (0) a key`);
      const at = i % (T * T);
      if (i >= T * T && hide[at] !== h) bad(n, 'an attention mask that differs between heads');
      hide[at] = h;
    }
    return hide;
  }
}

const ATTENTION_VOCABULARY = new Set(['MatMul', 'Gemm', 'Add', 'Mul', 'Div', 'Reshape', 'Transpose', 'Split', 'Slice',
  'Squeeze', 'Unsqueeze', 'Gather', 'Identity', 'Dropout', 'Flatten', 'Where', 'Softmax']);

/**
 * Whether a Softmax is reachable from x through the ops attention is made of, never through a node that combines
 * two computed values other than a MatMul (a residual Add, GELU's Mul): the cheap test before the full match.
 */
function reachesSoftmax(g: Graph, x: string, live: Set<GNode>, used: Set<GNode>): boolean {
  const seen = new Set<GNode>();
  const todo = [x];
  while (todo.length) {
    const v = todo.pop()!;
    for (const c of g.consumers(v)) {
      if (seen.has(c) || !live.has(c) || used.has(c) || !ATTENTION_VOCABULARY.has(c.opType)) continue;
      if (c.opType !== 'MatMul' && c.opType !== 'Where' && c.inputs.filter((i) => i !== '' && !g.constOf(i)).length > 1) continue;
      seen.add(c);
      if (c.opType === 'Softmax') return true;
      todo.push(...c.outputs);
    }
  }
  return false;
}

function mergeHide(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  return a ? a.map((v, i) => v | b[i]) : b;
}

/**
 * A causal mask: hide[i][j] = j > i, or with a window w also i − j > w. Returns w (0: every earlier key), or
 * undefined when the mask is not causal. A mask that lets each token see only itself is refused (no window says it).
 */
function causalOf(hide: Uint8Array, T: number, n: GNode): number | undefined {
  if (T < 2 || !hide[1]) return undefined; // query 0 must not see key 1
  let lo = 0;
  while (lo < T - 1 && hide[(T - 1) * T + lo]) lo++;
  const w = lo === 0 ? 0 : T - 1 - lo;
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
    if (!!hide[i * T + j] !== (j > i || (w > 0 && i - j > w))) return undefined;
  }
  if (lo > 0 && w === 0) throw new OnnxImportError('UNSUPPORTED_OP', 'the attention mask lets each token see only itself', where(n));
  return w;
}

/** The window w with hide[i][j] = |i − j| > w (0 when nothing is hidden), or an error naming the Softmax. */
function windowOf(hide: Uint8Array, T: number, n: GNode): number {
  if (hide.every((v) => v === 0)) return 0;
  let w = -1;
  for (let j = 0; j < T; j++) if (!hide[j]) w = Math.max(w, j);
  if (w < 0 || w >= T - 1) throw new OnnxImportError('UNSUPPORTED_OP', 'the attention mask hides keys in a pattern other than a local window |i − j| > w', where(n));
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
    if (!!hide[i * T + j] !== Math.abs(i - j) > w) {
      throw new OnnxImportError('UNSUPPORTED_OP', 'the attention mask hides keys in a pattern other than a local window |i − j| > w or a causal one j > i (a padding mask is not supported)', where(n));
    }
  }
  if (w === 0) throw new OnnxImportError('UNSUPPORTED_OP', 'the attention mask lets each token see only itself (window 0 means global attention in the op set)', where(n));
  return w;
}
