// Image decoding and conversion: the PNG decoder against an independent writer (test/image-png.ts) over every colour
// type, bit depth, filter and interlacing; damaged files; JPEG through jpeg-js; gray/alpha conversion and the box
// resize against float64 references computed another way (supersampling, block means, by hand).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImage, decodeJpeg, decodePng, ImageError, imageToPixels, resizePlane, type RawImage } from '../src/image/index.js';
import { encodePng, simplePng, type PngSpec } from './image-png.js';
import { rng } from './util.js';
// jpeg-js is a dev dependency (an optional peer for users); its encoder makes the JPEG fixtures.
import jpeg from 'jpeg-js';

async function expectImageError(p: Promise<unknown>, code: string, re?: RegExp) {
  try { await p; } catch (e) {
    assert.instance(e, ImageError, String(e));
    assert.is((e as ImageError).code, code, (e as Error).message);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ImageError ${code}`);
}

/** What the decoder must return for a spec: 8-bit samples with palette / tRNS expanded, by the PNG rules. */
function expected(s: PngSpec): { channels: number; data: number[] } {
  const ch = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[s.colorType];
  const max = 2 ** s.bitDepth - 1;
  const to8 = (v: number) => (s.bitDepth === 16 ? Math.round(v / 257) : Math.round((v * 255) / max));
  const n = s.width * s.height, out: number[] = [];
  let channels = ch;
  if (s.colorType === 3) channels = s.trns ? 4 : 3;
  else if (s.trns) channels = ch + 1;
  for (let i = 0; i < n; i++) {
    const px = s.samples.slice(i * ch, (i + 1) * ch);
    if (s.colorType === 3) {
      out.push(...s.palette!.slice(3 * px[0], 3 * px[0] + 3));
      if (s.trns) out.push(px[0] < s.trns.length ? s.trns[px[0]] : 255);
      continue;
    }
    out.push(...px.map(to8));
    if (s.trns) {
      const key = Array.from({ length: s.trns.length / 2 }, (_, k) => s.trns![2 * k] * 256 + s.trns![2 * k + 1]);
      out.push(px.every((v, k) => v === key[k]) ? 0 : 255);
    }
  }
  return { channels, data: out };
}

test('PNG: every colour type and bit depth, all five filters, plain and Adam7, odd sizes', async () => {
  const r = rng(7);
  const combos: [PngSpec['colorType'], PngSpec['bitDepth'][]][] = [[0, [1, 2, 4, 8, 16]], [2, [8, 16]], [3, [1, 2, 4, 8]], [4, [8, 16]], [6, [8, 16]]];
  let cases = 0;
  for (const [colorType, depths] of combos) {
    for (const bitDepth of depths) {
      for (const [width, height] of [[1, 1], [3, 5], [13, 9], [28, 28], [33, 17]]) {
        for (const interlace of [false, true]) {
          const ch = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
          const paletteSize = colorType === 3 ? Math.min(2 ** bitDepth, 1 + r.int(0, 256)) : 0;
          const max = colorType === 3 ? paletteSize - 1 : 2 ** bitDepth - 1;
          const samples = Array.from({ length: width * height * ch }, () => r.int(0, max + 1));
          const spec: PngSpec = { width, height, colorType, bitDepth, samples, interlace, filters: () => r.int(0, 5) };
          if (colorType === 3) {
            spec.palette = Array.from({ length: 3 * paletteSize }, () => r.int(0, 256));
            if (r.next() < 0.5) spec.trns = Array.from({ length: r.int(1, paletteSize + 1) }, () => r.int(0, 256));
          } else if ((colorType === 0 || colorType === 2) && r.next() < 0.5) {
            // A transparent colour key that some pixels have.
            const key = samples.slice(0, ch);
            spec.trns = key.flatMap((v) => [v >> 8, v & 0xff]);
          }
          const img = await decodePng(encodePng(spec));
          const want = expected(spec);
          assert.is(img.width, width);
          assert.is(img.height, height);
          assert.is(img.channels, want.channels, `channels, colour ${colorType} depth ${bitDepth}`);
          assert.equal(Array.from(img.data), want.data, `colour ${colorType} depth ${bitDepth} ${width}×${height} interlace ${interlace}`);
          cases++;
        }
      }
    }
  }
  assert.is(cases, 150);
});

test('PNG: damaged, truncated and unsupported files give typed errors', async () => {
  const good = simplePng(5, 4, 1, Uint8Array.from({ length: 20 }, (_, i) => i * 10));
  assert.equal(Array.from((await decodePng(good)).data), Array.from({ length: 20 }, (_, i) => i * 10));
  await expectImageError(decodePng(good.subarray(0, 7)), 'BAD_IMAGE', /signature/);
  await expectImageError(decodePng(good.subarray(0, good.length - 12)), 'BAD_IMAGE', /truncated/);
  const flipped = good.slice(); flipped[40] ^= 0xff; // inside IDAT
  await expectImageError(decodePng(flipped), 'BAD_IMAGE', /CRC/);
  await expectImageError(decodePng(encodePng({ width: 3, height: 2, colorType: 0, bitDepth: 8, samples: [1, 2, 3, 4, 5, 6], filters: () => 5 })),
    'BAD_IMAGE', /filter type 5/);
  await expectImageError(decodePng(encodePng({ width: 2, height: 1, colorType: 3, bitDepth: 8, samples: [0, 2], palette: [1, 2, 3, 4, 5, 6] })),
    'BAD_IMAGE', /palette index 2/);
  await expectImageError(decodePng(encodePng({ width: 2, height: 1, colorType: 3, bitDepth: 8, samples: [0, 1] })), 'BAD_IMAGE', /PLTE/);
  // Not a zlib stream inside IDAT (CRCs made valid): the inflate error is typed too.
  const junk = Buffer.from(good);
  const idat = junk.indexOf('IDAT');
  const len = junk.readUInt32BE(idat - 4);
  for (let i = 0; i < len; i++) junk[idat + 4 + i] = 0x55;
  const { crc32 } = await import('../src/util/crc32.js');
  junk.writeUInt32BE(crc32(junk.subarray(idat, idat + 4 + len)), idat + 4 + len);
  await expectImageError(decodePng(new Uint8Array(junk)), 'BAD_IMAGE', /damaged/);
  await expectImageError(decodeImage(new Uint8Array([1, 2, 3, 4, 5])), 'UNSUPPORTED_IMAGE', /not a PNG or JPEG/);
  await expectImageError(decodeImage(new Uint8Array(0)), 'UNSUPPORTED_IMAGE');
});

test('PNG: an image over the pixel limit is refused before decoding', async () => {
  // A valid header claiming 2^14 × 2^14 pixels, with a correct CRC.
  const png = encodePng({ width: 1, height: 1, colorType: 0, bitDepth: 8, samples: [0] });
  const buf = Buffer.from(png);
  buf.writeUInt32BE(1 << 14, 16); buf.writeUInt32BE(1 << 14, 20);
  const { crc32 } = await import('../src/util/crc32.js');
  buf.writeUInt32BE(crc32(buf.subarray(12, 29)), 29);
  await expectImageError(decodePng(new Uint8Array(buf)), 'IMAGE_TOO_LARGE');
});

test('JPEG: jpeg-js round trip (gray and colour content) within JPEG loss', async () => {
  const r = rng(3);
  for (const [w, h] of [[8, 8], [31, 17], [64, 48]]) {
    const rgba = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      rgba[i] = (x * 255) / w; rgba[i + 1] = (y * 255) / h; rgba[i + 2] = 128 + 20 * r.uniform(); rgba[i + 3] = 255;
    }
    const file = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
    const img = await decodeImage(file);
    assert.is(img.width, w);
    assert.is(img.height, h);
    assert.is(img.channels, 3);
    let err = 0;
    for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) err = Math.max(err, Math.abs(img.data[i * 3 + c] - rgba[i * 4 + c]));
    assert.ok(err < 40, `max JPEG error ${err}`);
  }
  await expectImageError(decodeJpeg(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2])), 'BAD_IMAGE', /JPEG/);
});

test('convert: gray from RGB is BT.601 luma, alpha composites over black, gray spreads to RGB', () => {
  const rgba: RawImage = { width: 2, height: 1, data: Uint8ClampedArray.from([200, 100, 50, 255, 255, 255, 255, 51]) };
  const g = imageToPixels(rgba, [1, 1, 2]);
  assert.ok(Math.abs(g[0] - (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255) < 1e-6);
  assert.ok(Math.abs(g[1] - 0.2) < 1e-6, `white at alpha 0.2 → 0.2, got ${g[1]}`);
  const rgb = imageToPixels({ width: 1, height: 1, channels: 2, data: Uint8Array.from([102, 255]) }, [3, 1, 1]);
  assert.equal(Array.from(rgb).map((v) => Math.round(v * 255)), [102, 102, 102]);
  for (const bad of [{ width: 2, height: 2, data: new Uint8Array(5) }, { width: 0, height: 2, data: new Uint8Array(0) },
    { width: 2, height: 2, data: [1, 2, 3, 4] as unknown as Uint8Array }, { width: 1, height: 1, channels: 3 as const, data: new Uint8Array(4) }]) {
    assert.throws(() => imageToPixels(bad, [1, 2, 2]), (e: unknown) => e instanceof ImageError && e.code === 'BAD_IMAGE');
  }
  assert.throws(() => imageToPixels(rgba, [2, 1, 2]), (e: unknown) => e instanceof ImageError && e.code === 'UNSUPPORTED_IMAGE');
});

/** The box resize by brute force: the mean of the source image over each output cell, by fine supersampling. */
function supersampled(src: Float64Array, w: number, h: number, W: number, H: number, n = 60): Float64Array {
  const out = new Float64Array(W * H);
  for (let Y = 0; Y < H; Y++) for (let X = 0; X < W; X++) {
    let acc = 0;
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      const x = ((X + (i + 0.5) / n) * w) / W, y = ((Y + (j + 0.5) / n) * h) / H;
      acc += src[Math.floor(y) * w + Math.floor(x)];
    }
    out[Y * W + X] = acc / (n * n);
  }
  return out;
}

test('resize: integer shrink is block means, integer growth repeats pixels, any ratio matches supersampling', () => {
  const r = rng(11);
  const src = Float64Array.from({ length: 12 * 8 }, () => r.next());
  const half = resizePlane(src, 12, 8, 6, 4);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 6; x++) {
    const m = (src[2 * y * 12 + 2 * x] + src[2 * y * 12 + 2 * x + 1] + src[(2 * y + 1) * 12 + 2 * x] + src[(2 * y + 1) * 12 + 2 * x + 1]) / 4;
    assert.ok(Math.abs(half[y * 6 + x] - m) < 1e-12);
  }
  const grown = resizePlane(src, 12, 8, 36, 24);
  for (let y = 0; y < 24; y++) for (let x = 0; x < 36; x++) assert.ok(Math.abs(grown[y * 36 + x] - src[Math.floor(y / 3) * 12 + Math.floor(x / 3)]) < 1e-12);
  for (const [w, h, W, H] of [[12, 8, 5, 7], [7, 3, 28, 28], [100, 37, 28, 28], [28, 28, 13, 29]]) {
    const s = Float64Array.from({ length: w * h }, () => r.next());
    const got = resizePlane(s, w, h, W, H), want = supersampled(s, w, h, W, H, 120);
    let worst = 0;
    for (let i = 0; i < W * H; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    // Supersampling with n samples per axis misplaces up to ~2/n of a cell's area.
    assert.ok(worst < 0.03, `${w}×${h} → ${W}×${H}: max diff ${worst}`);
    let mean = 0, meanSrc = 0;
    got.forEach((v) => { mean += v / (W * H); });
    s.forEach((v) => { meanSrc += v / (w * h); });
    assert.ok(Math.abs(mean - meanSrc) < 1e-9, 'the box filter keeps the mean');
  }
});

test.run();
