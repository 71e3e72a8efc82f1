// A decoded image: 8-bit samples, row-major, channels interleaved (the layout of a canvas's ImageData when
// channels = 4). Core module: no Node imports.

export interface RawImage {
  width: number;
  height: number;
  /** 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA. Omitted: data.length / (width · height) (ImageData: 4). */
  channels?: 1 | 2 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

export class ImageError extends Error {
  constructor(readonly code: 'BAD_IMAGE' | 'UNSUPPORTED_IMAGE' | 'IMAGE_TOO_LARGE' | 'JPEG_DECODER_MISSING', message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** Images larger than this many pixels are refused before decoding (a 16k × 16k image is 1 GiB as RGBA). */
export const MAX_IMAGE_PIXELS = 1 << 26;
