"""Writer (and a small reader) of the `.spx` model file, docs/FORMAT.md, for the training recipes.

Byte-for-byte the same layout as src/format/writer.ts for the same input (test/format.test.ts checks it):
  - tensors are laid out in dict order, each at the next multiple of 64 bytes, zero gaps; dataLength ends at the
    last tensor's last byte;
  - the header is compact JSON with numbers and strings formatted exactly as JavaScript's JSON.stringify does
    (so 1.0 -> "1", 1e-05 -> "0.00001"), known fields first in the order of docs/FORMAT.md, then the rest;
    a tensor entry is {dtype, shape, offset, length, quant?}.

Import needs only the standard library; torch is imported lazily by the helpers that take torch tensors.

    write_spx(path, header, tensors)    tensors: name -> torch float tensor (f32) | Int8Tensor | Int8AffineTensor
                                        | F32Tensor
    quantize_per_channel(t) -> Int8Tensor  symmetric per output channel, scale = max|w[c]| / 127, round half even
    read_spx(path) -> (header, {name: [float, ...]})   int8 dequantized; for the recipes' own round-trip checks

Command line (used by the tests, no torch needed):
    python3 spx.py --write-json SPEC.json OUT.spx   SPEC = {"header": {...}, "tensors": {name: {"dtype": "f32",
                                                     "shape": [...], "data": [...], "quantize": false} |
                                                     {"dtype": "i8", "shape", "data", "quant": {"axis": 0, "scales"}}}}
    python3 spx.py --dump IN.spx OUT.json           {"header": {...}, "tensors": {name: [floats]}}
    python3 spx.py --selftest                       round trips; torch vs pure-Python quantization when torch exists
"""
import array
import json
import math
import struct
import sys
import zlib

MAGIC = b"SPX\x00"
VERSION = (1, 0)
ALIGN = 64
MAX_HEADER = 16 * 1024 * 1024
MAX_FILE = 1024 * 1024 * 1024
MAX_ELEMENTS = 2 ** 28
KNOWN_ORDER = ["format", "name", "task", "classes", "input", "preprocess", "layers", "exits", "tensors",
               "dataLength", "provenance"]


class SpxError(ValueError):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def _align64(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _is_torch(v):
    return hasattr(v, "detach") and hasattr(v, "shape") and hasattr(v, "dtype")


class F32Tensor:
    """A float32 tensor without torch: shape and flat row-major values."""

    def __init__(self, shape, values):
        self.shape = [int(d) for d in shape]
        self.values = values


class Int8Tensor:
    """Symmetric per-channel int8 tensor: value = q * scales[c], c the index along axis 0.

    q: a torch int8 tensor, or a flat sequence of ints in -128..127 together with `shape`.
    """

    def __init__(self, q, scales, shape=None):
        self.q = q
        self.scales = [float(s) for s in scales]
        self.shape = [int(d) for d in (q.shape if shape is None else shape)]
        if len(self.scales) != self.shape[0]:
            raise SpxError("BAD_TENSOR", f"{len(self.scales)} scales for {self.shape[0]} channels")

    def q_list(self):
        if _is_torch(self.q):
            return [int(v) for v in self.q.detach().cpu().reshape(-1).tolist()]
        return [int(v) for v in self.q]

    def dequantize(self):
        """A torch float32 tensor with the values a reader sees: q * scale in float64, rounded once to float32."""
        import torch
        q = self.q if _is_torch(self.q) else torch.tensor(self.q_list(), dtype=torch.int8)
        q = q.detach().cpu().to(torch.float64).reshape(self.shape[0], -1)
        s = torch.tensor(self.scales, dtype=torch.float64).reshape(-1, 1)
        return (q * s).to(torch.float32).reshape(self.shape)

    def dequantize_list(self):
        """Flat list of float32 values (as Python floats) without torch."""
        inner = _product(self.shape) // self.shape[0]
        vals = [q * self.scales[i // inner] for i, q in enumerate(self.q_list())]
        return array.array("f", vals).tolist()


class Int8AffineTensor:
    """Per-tensor affine int8 tensor: value = (q - zero_point) * scale. q as in Int8Tensor."""

    def __init__(self, q, scale, zero_point, shape=None):
        self.q = q
        self.scale = float(scale)
        self.zero_point = int(zero_point)
        self.shape = [int(d) for d in (q.shape if shape is None else shape)]
        if not -128 <= self.zero_point <= 127:
            raise SpxError("BAD_TENSOR", f"zero point {self.zero_point} outside -128..127")

    q_list = Int8Tensor.q_list

    def dequantize(self):
        import torch
        q = self.q if _is_torch(self.q) else torch.tensor(self.q_list(), dtype=torch.int8)
        return ((q.detach().cpu().to(torch.float64) - self.zero_point) * self.scale).to(torch.float32).reshape(self.shape)

    def dequantize_list(self):
        return array.array("f", [(q - self.zero_point) * self.scale for q in self.q_list()]).tolist()


def dequantize(qt):
    return qt.dequantize()


def _product(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# --------------------------------------------------------------------------------------- quantization
def _quantize_flat(shape, values):
    """Pure-Python per-channel quantization, bit-identical to quantizeWeightPerChannel in src/format/writer.ts."""
    shape = [int(d) for d in shape]
    vals = array.array("f", values).tolist()  # the float32 values, exactly, as float64
    channels = shape[0]
    if channels < 1 or len(vals) % channels:
        raise SpxError("BAD_TENSOR", f"shape {shape} does not match {len(vals)} values")
    inner = len(vals) // channels
    q, scales = [0] * len(vals), []
    for c in range(channels):
        chunk = vals[c * inner:(c + 1) * inner]
        if not all(math.isfinite(v) for v in chunk):
            raise SpxError("BAD_TENSOR", "quantize: non-finite value")
        scale = max((abs(v) for v in chunk), default=0.0) / 127
        scales.append(scale)
        if scale == 0:
            continue
        for i, v in enumerate(chunk):
            q[c * inner + i] = max(-127, min(127, round(v / scale)))  # round(): half to even
    return Int8Tensor(q, scales, shape)


def quantize_per_channel(t):
    """Symmetric per-output-channel int8 quantization of a torch tensor (or an F32Tensor)."""
    if isinstance(t, F32Tensor):
        return _quantize_flat(t.shape, t.values)
    import torch
    shape = list(t.shape)
    # Quantize the float32 values (as the TypeScript writer does), with float64 arithmetic.
    w = t.detach().cpu().to(torch.float32).to(torch.float64).reshape(shape[0], -1)
    if not bool(torch.isfinite(w).all()):
        raise SpxError("BAD_TENSOR", "quantize: non-finite value")
    scales = w.abs().amax(dim=1) / 127
    safe = torch.where(scales == 0, torch.ones_like(scales), scales)
    q = torch.round(w / safe.reshape(-1, 1)).clamp(-127, 127)  # torch.round: half to even
    q[scales == 0] = 0
    return Int8Tensor(q.to(torch.int8).reshape(shape), scales.tolist())


# --------------------------------------------------------------------------------------- JSON like JavaScript
def _js_number(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        if abs(x) <= 2 ** 53:
            return str(x)
        x = float(x)
    if not math.isfinite(x):
        raise SpxError("BAD_HEADER", f"{x} cannot be written to JSON")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))  # shortest round-trip digits, like ECMAScript Number::toString
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    n = len(ip) + (int(exp) if exp else 0)  # value = 0.digits * 10**n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        s = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + es
    return sign + s


_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def _js_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < 0x20 or 0xD800 <= c <= 0xDFFF:  # control characters; lone surrogates (JSON.stringify, ES2019)
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _js_json(v):
    if v is None:
        return "null"
    if isinstance(v, (bool, int, float)):
        return _js_number(v)
    if isinstance(v, str):
        return _js_string(v)
    if isinstance(v, dict):
        return "{" + ",".join(_js_string(str(k)) + ":" + _js_json(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_js_json(x) for x in v) + "]"
    if hasattr(v, "tolist"):  # numpy scalars and arrays, torch tensors (e.g. a mean computed with numpy)
        return _js_json(v.tolist())
    raise SpxError("BAD_HEADER", f"cannot write {type(v).__name__} to the JSON header")


# --------------------------------------------------------------------------------------- writing
def _tensor_payload(name, v):
    """(entry without offset, bytes) for one tensor value."""
    if isinstance(v, (Int8Tensor, Int8AffineTensor)):
        shape, q = v.shape, v.q
        if _is_torch(q):
            import torch
            raw = q.detach().cpu().to(torch.int8).contiguous().reshape(-1)
            try:
                data = raw.numpy().tobytes()
            except Exception:  # torch without numpy
                data = array.array("b", raw.tolist()).tobytes()
        else:
            data = array.array("b", v.q_list()).tobytes()
        quant = {"axis": 0, "scales": v.scales} if isinstance(v, Int8Tensor) else \
            {"scale": v.scale, "zeroPoint": v.zero_point}
        entry = {"dtype": "i8", "shape": shape, "length": len(data), "quant": quant}
    elif isinstance(v, F32Tensor) or _is_torch(v):
        if isinstance(v, F32Tensor):
            shape, a = v.shape, array.array("f", v.values)
            if sys.byteorder == "big":
                a.byteswap()
            data = a.tobytes()
        else:
            import torch
            shape = [int(d) for d in v.shape]
            t = v.detach().cpu().to(torch.float32).contiguous().reshape(-1)
            try:
                data = t.numpy().astype("<f4", copy=False).tobytes()
            except Exception:
                a = array.array("f", t.tolist())
                if sys.byteorder == "big":
                    a.byteswap()
                data = a.tobytes()
        entry = {"dtype": "f32", "shape": shape, "length": len(data)}
    else:
        raise SpxError("BAD_TENSOR", f"tensor '{name}': expected a torch tensor, Int8Tensor, Int8AffineTensor or "
                                    f"F32Tensor, got {type(v).__name__}")
    if len(shape) < 1 or any(d < 1 for d in shape):
        raise SpxError("BAD_TENSOR", f"tensor '{name}': shape {shape} must have positive dims")
    count = _product(shape)
    if count > MAX_ELEMENTS:
        raise SpxError("TOO_LARGE", f"tensor '{name}': more than 2^28 elements")
    if entry["length"] != count * (4 if entry["dtype"] == "f32" else 1):
        raise SpxError("BAD_TENSOR", f"tensor '{name}': shape {shape} does not match its {len(data)} bytes")
    return entry, data


def encode_spx(header, data):
    """The file for a complete header dict (tensors and dataLength filled in) and its data region."""
    text = _js_json(header).encode("utf-8")
    if len(text) > MAX_HEADER:
        raise SpxError("TOO_LARGE", f"header is {len(text)} bytes, past the 16 MiB limit")
    data_offset = _align64(16 + len(text))
    total = data_offset + len(data)
    if total > MAX_FILE:
        raise SpxError("TOO_LARGE", f"file would be {total} bytes, past the 1 GiB limit")
    body = text + bytes(data_offset - 16 - len(text)) + bytes(data)
    crc = zlib.crc32(body) & 0xFFFFFFFF
    return MAGIC + struct.pack("<HHII", VERSION[0], VERSION[1], len(text), crc) + body


def build_spx(header, tensors):
    """The bytes of a model file: header without tensors/dataLength, tensors in the order to lay them out."""
    table, chunks, end = {}, [], 0
    for name, v in tensors.items():
        entry, data = _tensor_payload(name, v)
        offset = _align64(end)
        table[name] = {"dtype": entry["dtype"], "shape": entry["shape"], "offset": offset, "length": entry["length"]}
        if "quant" in entry:
            table[name]["quant"] = entry["quant"]
        chunks.append(bytes(offset - end))
        chunks.append(data)
        end = offset + len(data)
    full = {}
    for k in KNOWN_ORDER:
        if k == "tensors":
            full[k] = table
        elif k == "dataLength":
            full[k] = end
        elif k in header:
            full[k] = header[k]
    for k, v in header.items():
        if k not in KNOWN_ORDER:
            full[k] = v
    return encode_spx(full, b"".join(chunks))


def write_spx(path, header, tensors):
    blob = build_spx(header, tensors)
    with open(path, "wb") as f:
        f.write(blob)
    return len(blob)


# --------------------------------------------------------------------------------------- reading
def parse_spx(blob):
    """(header, {name: [float32 values as floats]}); checks the container, not the ops (the TypeScript reader does)."""
    n = len(blob)
    if blob[:4] != MAGIC[:min(4, n)]:
        raise SpxError("BAD_MAGIC", "not a .spx file")
    if n < 16:
        raise SpxError("TRUNCATED", f"file has {n} bytes")
    major, minor, hlen, crc = struct.unpack_from("<HHII", blob, 4)
    if major != VERSION[0]:
        raise SpxError("BAD_VERSION", f"version {major}.{minor}")
    if hlen < 2 or hlen > MAX_HEADER:
        raise SpxError("BAD_HEADER" if hlen < 2 else "TOO_LARGE", f"header length {hlen}")
    if 16 + hlen > n:
        raise SpxError("TRUNCATED", f"file has {n} bytes, header needs {16 + hlen}")
    try:
        header = json.loads(blob[16:16 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SpxError("BAD_HEADER", f"header is not JSON: {e}")
    data_offset = _align64(16 + hlen)
    end = data_offset + int(header.get("dataLength", -1))
    if n < end:
        raise SpxError("TRUNCATED", f"file has {n} bytes, header says {end}")
    if n != end:
        raise SpxError("BAD_HEADER", f"file has {n} bytes, header says {end}")
    if zlib.crc32(blob[16:]) & 0xFFFFFFFF != crc:
        raise SpxError("CHECKSUM", "checksum mismatch")
    out = {}
    for name, t in header["tensors"].items():
        count = _product(t["shape"])
        at, length = data_offset + t["offset"], t["length"]
        if t["offset"] % ALIGN or at + length > n or length != count * (4 if t["dtype"] == "f32" else 1):
            raise SpxError("BAD_TENSOR", f"tensor '{name}'")
        raw = blob[at:at + length]
        if t["dtype"] == "f32":
            a = array.array("f")
            a.frombytes(raw)
            if sys.byteorder == "big":
                a.byteswap()
            out[name] = a.tolist()
        elif t["dtype"] == "i8":
            q = array.array("b")
            q.frombytes(raw)
            quant = t["quant"]
            if "scales" in quant:
                out[name] = Int8Tensor(q.tolist(), quant["scales"], t["shape"]).dequantize_list()
            else:
                out[name] = Int8AffineTensor(q.tolist(), quant["scale"], quant["zeroPoint"], t["shape"]).dequantize_list()
        else:
            raise SpxError("BAD_TENSOR", f"tensor '{name}': dtype {t['dtype']}")
    return header, out


def read_spx(path):
    with open(path, "rb") as f:
        return parse_spx(f.read())


# --------------------------------------------------------------------------------------- command line
def _from_spec(spec):
    tensors = {}
    for name, t in spec["tensors"].items():
        if t["dtype"] == "f32":
            v = F32Tensor(t["shape"], t["data"])
            tensors[name] = _quantize_flat(v.shape, v.values) if t.get("quantize") else v
        elif "scales" in t["quant"]:
            tensors[name] = Int8Tensor(t["data"], t["quant"]["scales"], t["shape"])
        else:
            tensors[name] = Int8AffineTensor(t["data"], t["quant"]["scale"], t["quant"]["zeroPoint"], t["shape"])
    return spec["header"], tensors


def _selftest():
    import random
    rnd = random.Random(7)
    header = {"format": "splitee-model", "name": "selftest", "task": "image-classification", "classes": ["a", "b"],
              "input": {"kind": "image", "shape": [2, 4, 4]},
              "preprocess": {"kind": "image", "scale": 1 / 255, "mean": [0.5], "std": [0.25]},
              "layers": [{"name": "l1", "ops": [{"op": "gap"}]}],
              "exits": [{"layer": 1, "ops": [{"op": "linear", "w": "w", "b": "b"}]}]}
    w = F32Tensor([2, 2], [rnd.gauss(0, 1) for _ in range(4)])
    tensors = {"w": _quantize_flat(w.shape, w.values), "b": F32Tensor([2], [0.25, -1.5])}
    hdr, vals = parse_spx(build_spx(header, tensors))
    assert vals["b"] == [0.25, -1.5], vals
    assert vals["w"] == tensors["w"].dequantize_list()
    assert _js_number(1e-05) == "0.00001" and _js_number(1.5e-07) == "1.5e-7" and _js_number(1.0) == "1"
    assert _js_json({"a": (1, 2.0), "b": [None, True]}) == '{"a":[1,2],"b":[null,true]}'
    assert _js_number(1e21) == "1e+21" and _js_number(123.456) == "123.456" and _js_number(-2.5e-300) == "-2.5e-300"
    try:
        import torch
    except ImportError:
        print("selftest: ok (torch not installed: torch paths skipped)")
        return
    assert _js_json([torch.tensor(0.5), torch.tensor([1.0, 2.5])]) == "[0.5,[1,2.5]]"
    try:
        import numpy as np
        assert _js_json([np.float32(0.1), np.int64(3), np.arange(2)]) == "[0.10000000149011612,3,[0,1]]"
    except ImportError:
        pass
    g = torch.Generator().manual_seed(3)
    for shape in ([8, 3, 3, 3], [5, 7], [1, 1], [3, 1, 1, 1]):
        t = torch.randn(*shape, generator=g)
        t[0].zero_()  # an all-zero channel: scale 0
        a = quantize_per_channel(t)
        b = _quantize_flat(shape, t.reshape(-1).tolist())
        assert a.scales == b.scales and a.q_list() == b.q_list(), shape
        assert a.dequantize().reshape(-1).tolist() == b.dequantize_list()
        assert build_spx(header | {"tensors": None}, {"w": a}) == build_spx(header, {"w": b})
        f = build_spx(header, {"x": t})
        assert parse_spx(f)[1]["x"] == t.reshape(-1).tolist()
        assert f == build_spx(header, {"x": F32Tensor(shape, t.reshape(-1).tolist())})
    print("selftest: ok (torch paths included)")


def main(argv):
    if len(argv) == 3 and argv[0] == "--write-json":
        with open(argv[1], encoding="utf-8") as f:
            spec = json.load(f)
        header, tensors = _from_spec(spec)
        write_spx(argv[2], header, tensors)
        return 0
    if len(argv) == 3 and argv[0] == "--dump":
        header, vals = read_spx(argv[1])
        with open(argv[2], "w", encoding="utf-8") as f:
            f.write(_js_json({"header": header, "tensors": vals}))
        return 0
    if argv == ["--selftest"]:
        _selftest()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
