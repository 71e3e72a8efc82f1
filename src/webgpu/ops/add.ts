// add: out = a + b elementwise (the residual connection: x + saved[name]); out may be a or b. The kernel is built by
// `binaryOp`, which mul.ts shares: two same-length f32 tensors, one commutative operator.
import type { GpuContext } from '../context.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';

function source(operator: '+' | '*', inPlace: boolean): string {
  const io = inPlace
    ? '@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n@group(0) @binding(2) var<storage, read> b: array<f32>;'
    : '@group(0) @binding(1) var<storage, read> a: array<f32>;\n@group(0) @binding(2) var<storage, read> b: array<f32>;\n@group(0) @binding(3) var<storage, read_write> y: array<f32>;';
  return /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${io}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  y[i] = ${inPlace ? 'y' : 'a'}[i] ${operator} b[i];
}
`;
}

/** The op `name` computing out = a ⊙ b with a commutative `operator`; out may be a or b. */
export function binaryOp(name: string, operator: '+' | '*') {
  const wgsl = { outOfPlace: source(operator, false), inPlace: source(operator, true) };
  return function run(ctx: GpuContext, args: { a: GPUBuffer; b: GPUBuffer; out: GPUBuffer; n: number }): void {
    const { n } = args;
    positiveInts(name, { n });
    need(args.a, n * 4, `${name} a`);
    need(args.b, n * 4, `${name} b`);
    need(args.out, n * 4, `${name} out`);
    // IEEE addition and multiplication commute exactly, so out = b is handled as b ⊙= a.
    let { a, b } = args;
    if (args.out === b && args.out !== a) [a, b] = [b, a];
    const inPlace = args.out === a;
    const p = ctx.pipelines.get(`${name}:${inPlace ? 'inplace' : 'copy'}`, () => (inPlace ? wgsl.inPlace : wgsl.outOfPlace));
    ctx.dispatch(p, packParams(n), inPlace ? [a, b] : [a, b, args.out], ...grid1d(Math.ceil(n / 256)));
  };
}

export const add = binaryOp('add', '+');
