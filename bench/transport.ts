// Transport throughput: codec encode / decode, and the whole wire path (codec + frame + CRC-32), for every dtype on
// a conv activation (64×14×14) and a token activation (64×128). Throughput is in GB/s of float32 input (4 bytes per
// element), so dtypes compare on the same footing. Run alone: `node dist/bench/transport.js [--cpu]`; `--cpu` (or
// `clock: 'cpu'`) times with this process's CPU time instead of the wall clock, which stays meaningful on a machine
// shared with other jobs.
import { Bench } from 'tinybench';
import { pathToFileURL } from 'node:url';
import { DTYPES, decode, encode, type Dtype } from '../src/transport/codec.js';
import { decodeFrame, encodeFrame, frameBytes } from '../src/transport/frame.js';

export interface TransportBenchRow {
  shape: string;
  dtype: Dtype;
  /** Bytes of one frame on the wire (what an offload costs). */
  frameBytes: number;
  encodeGBps: number;
  decodeGBps: number;
  /** encode + encodeFrame, and decodeFrame + decode: the device's and the cloud's full per-offload work. */
  frameEncodeGBps: number;
  frameDecodeGBps: number;
}

export async function benchTransport(opts: { time?: number; log?: boolean; clock?: 'wall' | 'cpu' } = {}): Promise<TransportBenchRow[]> {
  const time = opts.time ?? 200;
  const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const shapes = [[64, 14, 14], [64, 128]];
  const rows: TransportBenchRow[] = [];
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const digest = new Uint8Array(32).fill(1);
  let sink = 0; // keeps results alive so nothing is optimised away
  // Warm every path on every shape first, so the first rows are not timed against a half-compiled codec.
  for (const shape of shapes) {
    const x = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rand() - 0.3);
    for (let rep = 0; rep < 300; rep++) for (const dtype of DTYPES) sink += decode(decodeFrame(encodeFrame({ digest, splitLayer: 1, tensor: encode(x, shape, dtype) })).tensor)[0];
  }
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    // ReLU-like activation: half exact zeros, the rest spread over a few units.
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) { const v = (rand() - 0.5) * 6; x[i] = v > 0 ? v : 0; }
    for (const dtype of DTYPES) {
      const enc = encode(x, shape, dtype);
      const frame = encodeFrame({ digest, splitLayer: 1, tensor: enc });
      const out = new Float32Array(n);
      const bench = new Bench({ time, warmupTime: 50, ...(opts.clock === 'cpu' ? { now: cpuNow } : {}) });
      bench
        .add('encode', () => { sink += encode(x, shape, dtype).payload[0]; })
        .add('decode', () => { sink += decode(enc, out)[0]; })
        .add('frameEncode', () => { sink += encodeFrame({ digest, splitLayer: 1, tensor: encode(x, shape, dtype) })[0]; })
        .add('frameDecode', () => { sink += decode(decodeFrame(frame).tensor, out)[0]; });
      await bench.run();
      const gbps = (name: string) => {
        const r = bench.tasks.find((t) => t.name === name)!.result;
        if (r.state !== 'completed') throw new Error(`bench ${name} ${r.state}`);
        return (4 * n) / (r.period / 1000) / 1e9;
      };
      rows.push({
        shape: shape.join('×'), dtype, frameBytes: frameBytes(dtype, shape),
        encodeGBps: gbps('encode'), decodeGBps: gbps('decode'), frameEncodeGBps: gbps('frameEncode'), frameDecodeGBps: gbps('frameDecode'),
      });
    }
  }
  if (sink === 0.5) console.log(''); // never true; reads sink
  if (opts.log) {
    console.log(`transport throughput, GB/s of float32 input (frame = codec + header + CRC-32; ${opts.clock ?? 'wall'} clock)`);
    console.log(['shape', 'dtype', 'frame B', 'encode', 'decode', 'frame enc', 'frame dec'].map((s, i) => (i < 2 ? s.padEnd(10) : s.padStart(10))).join(''));
    for (const r of rows) {
      console.log([r.shape.padEnd(10), r.dtype.padEnd(10), String(r.frameBytes).padStart(10),
        ...[r.encodeGBps, r.decodeGBps, r.frameEncodeGBps, r.frameDecodeGBps].map((v) => v.toFixed(2).padStart(10))].join(''));
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchTransport({ log: true, clock: process.argv.includes('--cpu') ? 'cpu' : 'wall' });
}
