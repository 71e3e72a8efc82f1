// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of zlib, PNG and gzip: shared by the model
// file and the transport frame so a Python writer can use zlib.crc32 and agree bit for bit.
//
// Slice-by-8: eight 256-entry tables let one step fold 8 input bytes with 8 independent lookups instead of 8
// dependent ones (table j maps a byte to its CRC contribution after j further zero bytes). Same results as the
// byte-at-a-time loop, about twice as fast in V8 on frames and model files of a few MB.

const TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let j = 1; j < 8; j++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(j - 1) * 256 + n];
      t[j * 256 + n] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
})();

/** CRC-32 of `bytes`; pass the previous result as `crc` to continue over several chunks. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const T = TABLES;
  let c = (crc ^ 0xffffffff) >>> 0;
  const n = bytes.length;
  let i = 0;
  for (const end = n - 8; i <= end; i += 8) {
    const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c = T[1792 + (lo & 0xff)] ^ T[1536 + ((lo >>> 8) & 0xff)] ^ T[1280 + ((lo >>> 16) & 0xff)] ^ T[1024 + (lo >>> 24)] ^
        T[768 + bytes[i + 4]] ^ T[512 + bytes[i + 5]] ^ T[256 + bytes[i + 6]] ^ T[bytes[i + 7]];
  }
  for (; i < n; i++) c = T[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
