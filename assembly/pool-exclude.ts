// avgpool2d_exclude (see docs/KERNELS.md): average pooling that divides by the number of window positions inside the
// image (PyTorch's count_include_pad=False). Only padded pools differ from avgpool2d, and only at the border, so
// this stays a plain loop over the clipped window.

export function avgpool2d_exclude(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, stride: i32, pad: i32): void {
  const OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
  for (let c = 0; c < C; c++) {
    const plane = x + (<usize>c * <usize>H * <usize>W << 2);
    for (let oh = 0; oh < OH; oh++) {
      const h0 = max(oh * stride - pad, 0), h1 = min(oh * stride - pad + k, H);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = max(ow * stride - pad, 0), w1 = min(ow * stride - pad + k, W);
        let s: f32 = 0;
        for (let h = h0; h < h1; h++) {
          const row = plane + (<usize>h * <usize>W << 2);
          for (let w = w0; w < w1; w++) s += load<f32>(row + (<usize>w << 2));
        }
        store<f32>(out + ((<usize>c * <usize>OH + <usize>oh) * <usize>OW + <usize>ow << 2), s / <f32>((h1 - h0) * (w1 - w0)));
      }
    }
  }
}
