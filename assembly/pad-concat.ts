// Data-movement kernels (see docs/KERNELS.md): pad2d (zero padding of an image, any amount on each side) and concat
// (two tensors one after the other: channels of [C, H, W] maps, or vectors). `out` never equals an input.

/** x[C, H, W] → out[C, top + H + bottom, left + W + right], the border zeros. */
export function pad2d(x: usize, out: usize, C: i32, H: i32, W: i32, top: i32, bottom: i32, left: i32, right: i32): void {
  const OW = left + W + right, OH = top + H + bottom;
  const rowBytes = <usize>OW << 2;
  for (let c = 0; c < C; c++) {
    const plane = out + (<usize>c * <usize>OH * <usize>OW << 2);
    memory.fill(plane, 0, <usize>top * rowBytes);
    for (let h = 0; h < H; h++) {
      const row = plane + <usize>(top + h) * rowBytes;
      memory.fill(row, 0, <usize>left << 2);
      memory.copy(row + (<usize>left << 2), x + ((<usize>c * <usize>H + <usize>h) * <usize>W << 2), <usize>W << 2);
      memory.fill(row + (<usize>(left + W) << 2), 0, <usize>right << 2);
    }
    memory.fill(plane + <usize>(top + H) * rowBytes, 0, <usize>bottom * rowBytes);
  }
}

/** out = [a (na values), b (nb values)]. */
export function concat(a: usize, na: i32, b: usize, nb: i32, out: usize): void {
  memory.copy(out, a, <usize>na << 2);
  memory.copy(out + (<usize>na << 2), b, <usize>nb << 2);
}
