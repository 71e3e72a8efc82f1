// Short f32 row fills and copies shared by im2col (conv.ts) and the depthwise padded copies (depthwise.ts).
//
// Plain v128 loops for the short rows of im2col and the padded copies: V8 turns memory.fill / memory.copy into
// runtime calls, which cost more than the copy itself at these sizes.
// @ts-ignore: decorator
@inline export function zeroF32(p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(p + (<usize>i << 2), f32x4.splat(0.0));
  for (; i < n; i++) store<f32>(p + (<usize>i << 2), 0);
}

// @ts-ignore: decorator
@inline export function copyF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}
