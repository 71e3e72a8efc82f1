// The tiled GEMM shared by linear and conv2d (implicit im2col): C[M, N] = A[M, K] · B[K, N] per batch index z.
// A 32×32 output tile per 8×8 workgroup, each thread owning a 4×4 block spread 8 apart (so neighbouring threads touch
// neighbouring addresses on loads and stores); A and B stream through workgroup memory in K-steps of 16.
// The op supplies the addressing: loadA/loadB (called only in range) and storeC (which adds bias and activation).

export interface GemmSpec {
  /** WGSL declarations: the Params struct at @binding(0) and the buffers. */
  decls: string;
  /** WGSL expressions (may use P) for the sizes. */
  M: string; N: string; K: string;
  /** `fn loadA(z: u32, m: u32, k: u32) -> f32` */
  loadA: string;
  /** `fn loadB(z: u32, k: u32, n: u32) -> f32` */
  loadB: string;
  /** `fn storeC(z: u32, m: u32, n: u32, v: f32)` */
  storeC: string;
  /** true when consecutive n are adjacent in memory for B (im2col rows), false when consecutive k are (a [N, K] weight). */
  bNContiguous: boolean;
  /** Extra WGSL (helper functions). */
  extra?: string;
}

export const GEMM_TILE = { M: 32, N: 32, K: 16 } as const;

export function gemmWgsl(s: GemmSpec): string {
  const aLoads: string[] = [];
  const bLoads: string[] = [];
  for (let i = 0; i < 4; i++) {
    aLoads.push(`let a${i} = As[kk * TM + lid.y + ${8 * i}u];`);
    bLoads.push(`let b${i} = Bs[kk * TN + lid.x + ${8 * i}u];`);
  }
  const fmas: string[] = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) fmas.push(`acc[${i * 4 + j}] = fma(a${i}, b${j}, acc[${i * 4 + j}]);`);
  const bIndex = s.bNContiguous ? 'let nn = i % TN; let kk = i / TN;' : 'let nn = i / TK; let kk = i % TK;';
  return /* wgsl */ `
${s.decls}
${s.extra ?? ''}
${s.loadA}
${s.loadB}
${s.storeC}
const TM = ${GEMM_TILE.M}u;
const TN = ${GEMM_TILE.N}u;
const TK = ${GEMM_TILE.K}u;
var<workgroup> As: array<f32, ${GEMM_TILE.M * GEMM_TILE.K}>;
var<workgroup> Bs: array<f32, ${GEMM_TILE.N * GEMM_TILE.K}>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let M = ${s.M};
  let N = ${s.N};
  let K = ${s.K};
  let z = wid.z;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var i = li; i < TM * TK; i += 64u) {
      let mm = i / TK; let kk = i % TK;
      var v = 0.0;
      if (m0 + mm < M && k0 + kk < K) { v = loadA(z, m0 + mm, k0 + kk); }
      As[kk * TM + mm] = v;
    }
    for (var i = li; i < TN * TK; i += 64u) {
      ${bIndex}
      var v = 0.0;
      if (n0 + nn < N && k0 + kk < K) { v = loadB(z, k0 + kk, n0 + nn); }
      Bs[kk * TN + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      ${aLoads.join('\n      ')}
      ${bLoads.join('\n      ')}
      ${fmas.join('\n      ')}
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 8u * i;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 8u * j;
      if (n < N) { storeC(z, m, n, acc[i * 4u + j]); }
    }
  }
}
`;
}

/** Workgroups of a gemmWgsl kernel: [ceil(N/32), ceil(M/32), batches]. */
export function gemmGroups(M: number, N: number, batches = 1): [number, number, number] {
  return [Math.ceil(N / GEMM_TILE.N), Math.ceil(M / GEMM_TILE.M), batches];
}
