// The shape of a dataset stream, shared by the Node readers (./streams.ts) and the embedded samples (./samples.ts).
// Types and constants only: safe everywhere.

export const FMNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const SENTIMENT_CLASSES: readonly string[] = ['negative', 'positive'];

export const STREAMS = {
  'fmnist:test': { kind: 'image', about: 'Fashion-MNIST test set, 10,000 images' },
  'fmnist:test:noise': { kind: 'image', about: 'Fashion-MNIST test set + seeded Gaussian noise (σ 0.4, clipped)' },
  'fmnist:test:blur': { kind: 'image', about: 'Fashion-MNIST test set, Gaussian-blurred (binomial 13-tap, σ ≈ 1.73 px)' },
  'sst2:dev': { kind: 'text', about: 'SST-2 (GLUE) dev set, 872 sentences' },
  'kotzias:imdb': { kind: 'text', about: 'IMDb sentences (Kotzias et al.), 1,000, out of domain for SST-2' },
  'kotzias:yelp': { kind: 'text', about: 'Yelp sentences (Kotzias et al.), 1,000, out of domain for SST-2' },
  'kotzias:amazon': { kind: 'text', about: 'Amazon sentences (Kotzias et al.), 1,000, out of domain for SST-2' },
} as const;

export type StreamName = keyof typeof STREAMS;
export const STREAM_NAMES = Object.keys(STREAMS) as StreamName[];

export interface ImageSample { index: number; label: number; input: Float32Array }
export interface TextSample { index: number; label: number; input: string }

interface StreamBase {
  name: StreamName;
  size: number;
  /** Samples in the whole source (the full dataset, or the embedded sample). */
  total: number;
  classes: readonly string[];
  /** Where the samples came from: the dataset folder, or the embedded sample file. */
  dir: string;
  /** 'full': the dataset found on disk; 'sample': the small sample shipped in the package. */
  source: 'full' | 'sample';
}
export interface ImageStream extends StreamBase { kind: 'image'; shape: [number, number, number]; samples: ImageSample[] }
export interface TextStream extends StreamBase { kind: 'text'; samples: TextSample[] }
export type DataStream = ImageStream | TextStream;
