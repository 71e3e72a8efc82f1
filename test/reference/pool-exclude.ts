// Float64 reference of avgpool2d with excludePad (docs/FORMAT.md): each window's mean over its positions inside the image.

export function refAvgpool2dExclude(x: ArrayLike<number>, C: number, H: number, W: number, k: number, stride: number, pad: number): Float64Array {
  const OH = Math.floor((H + 2 * pad - k) / stride) + 1, OW = Math.floor((W + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(C * OH * OW);
  for (let c = 0; c < C; c++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = 0, n = 0;
        for (let kh = 0; kh < k; kh++) {
          for (let kw = 0; kw < k; kw++) {
            const ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            s += x[(c * H + ih) * W + iw];
            n++;
          }
        }
        out[(c * OH + oh) * OW + ow] = s / n;
      }
    }
  }
  return out;
}
