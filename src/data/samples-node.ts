// Node side of the embedded demo samples: reads samples/*.bin.gz from the installed package.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from './paths.js';
import { demoSampleFile, demoSamples, SampleError } from './samples.js';
import type { DataStream } from './stream-types.js';

/** Absolute path of the sample file of a stream or zoo model in this package. */
export function demoSamplePath(modelOrStream: string): string {
  const root = packageRoot();
  if (!root) throw new SampleError('BAD_SAMPLE', 'cannot find the splitee package root holding samples/');
  return join(root, demoSampleFile(modelOrStream));
}

/** The embedded sample of a stream (or of a zoo model's demo stream), decoded: `readDemoSamples('fmnist-cnn')`. */
export async function readDemoSamples(modelOrStream: string, opts: { limit?: number } = {}): Promise<DataStream> {
  const path = demoSamplePath(modelOrStream);
  let bytes: Uint8Array;
  try { bytes = new Uint8Array(await readFile(path)); } catch (e) {
    throw new SampleError('BAD_SAMPLE', `${path}: ${(e as Error).message} (the package's samples/ folder is missing)`);
  }
  const s = await demoSamples(modelOrStream, bytes, opts);
  s.dir = path;
  return s;
}
