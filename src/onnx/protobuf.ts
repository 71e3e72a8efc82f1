// A minimal protocol-buffers wire-format reader: just what decoding ONNX needs. Every length and offset is checked
// against the bytes actually present before it is used, so a corrupt or hostile file gives OnnxImportError
// ('CORRUPT'), never an out-of-range read, a huge allocation or a hang (each step consumes at least one byte).
import { OnnxImportError } from './errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const corrupt = (what: string): never => { throw new OnnxImportError('CORRUPT', what); };

export class ProtoReader {
  pos: number;
  readonly end: number;
  private readonly view: DataView;

  constructor(readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean { return this.pos >= this.end; }

  /**
   * A varint as a JavaScript number. Values past 2^53 lose precision (they only occur as int64 sentinels such as
   * INT64_MAX for "to the end" in Slice, where a huge approximate value means the same); negative int64 values
   * (ten-byte two's complement) come back negative and exact when they are ≥ −2^53.
   */
  varint(): number {
    let lo = 0, hi = 0, shift = 0, i = 0;
    for (;;) {
      if (this.pos >= this.end) corrupt('truncated varint');
      const b = this.buf[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << shift;
      else if (i === 4) { lo |= (b & 0x0f) << 28; hi |= (b & 0x70) >> 4; }
      else hi |= (b & 0x7f) << (3 + (i - 5) * 7);
      i++;
      shift += 7;
      if ((b & 0x80) === 0) break;
      if (i >= 10) corrupt('varint longer than 10 bytes');
    }
    lo >>>= 0;
    if (hi & 0x80000000) {
      // Negative two's complement 64-bit value.
      const nlo = (~lo + 1) >>> 0;
      const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
      return -(nhi * 4294967296 + nlo);
    }
    return (hi >>> 0) * 4294967296 + lo;
  }

  /** A tag: [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8), wire = t % 8;
    if (field < 1 || field > 536870911) corrupt(`field number ${field}`);
    return [field, wire];
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) corrupt('truncated fixed32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  float32(): number {
    if (this.pos + 4 > this.end) corrupt('truncated float');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  float64(): number {
    if (this.pos + 8 > this.end) corrupt('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** The [start, end) of a length-delimited field's payload, checked against the enclosing message. */
  span(): [number, number] {
    const n = this.varint();
    if (n > this.end - this.pos) corrupt(`length ${n} runs past the end of its message (${this.end - this.pos} bytes left)`);
    const s = this.pos;
    this.pos += n;
    return [s, s + n];
  }

  bytes(): Uint8Array {
    const [s, e] = this.span();
    return this.buf.subarray(s, e);
  }

  string(): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes());
    } catch (e) {
      if (e instanceof OnnxImportError) throw e;
      return corrupt('string is not UTF-8');
    }
  }

  sub(): ProtoReader {
    const [s, e] = this.span();
    return new ProtoReader(this.buf, s, e);
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT: this.varint(); return;
      case WIRE_I64: if (this.pos + 8 > this.end) corrupt('truncated fixed64'); this.pos += 8; return;
      case WIRE_LEN: this.span(); return;
      case WIRE_I32: if (this.pos + 4 > this.end) corrupt('truncated fixed32'); this.pos += 4; return;
      default: corrupt(`wire type ${wire}`); // groups (3, 4) are not used by ONNX
    }
  }

  /** A repeated integer field, packed (LEN) or one value per tag (VARINT): appends to `out`. */
  varints(wire: number, out: number[]): void {
    if (wire === WIRE_VARINT) { out.push(this.varint()); return; }
    if (wire !== WIRE_LEN) corrupt(`wire type ${wire} for a repeated integer`);
    const r = this.sub();
    while (!r.done) out.push(r.varint());
  }

  /** A repeated float field, packed or not. */
  floats(wire: number, out: number[]): void {
    if (wire === WIRE_I32) { out.push(this.float32()); return; }
    if (wire !== WIRE_LEN) corrupt(`wire type ${wire} for a repeated float`);
    const r = this.sub();
    if ((r.end - r.pos) % 4 !== 0) corrupt('packed floats not a multiple of 4 bytes');
    while (!r.done) out.push(r.float32());
  }

  doubles(wire: number, out: number[]): void {
    if (wire === WIRE_I64) { out.push(this.float64()); return; }
    if (wire !== WIRE_LEN) corrupt(`wire type ${wire} for a repeated double`);
    const r = this.sub();
    if ((r.end - r.pos) % 8 !== 0) corrupt('packed doubles not a multiple of 8 bytes');
    while (!r.done) out.push(r.float64());
  }

  expect(wire: number, want: number, what: string): void {
    if (wire !== want) corrupt(`${what}: wire type ${wire}, expected ${want}`);
  }
}
