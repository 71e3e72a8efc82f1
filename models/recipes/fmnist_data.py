"""Fashion-MNIST on the Python side: finding the files, reading idx, and the seeded distortions.

The distortions here and in src/data/distort.ts + src/data/random.ts are the same specification written twice, so
that the recipe's eval.json and `splitee eval` score the very same images:

  clean pixel      p = float32(byte / 255)                       (division in float64, then rounded to float32)
  per-sample PRNG  mulberry32 seeded with sample_seed(stream_seed, index)  (order-independent: sample i never
                   depends on which other samples were drawn)
  uniform          u = (next_u32() + 0.5) / 2**32                (open interval, so log(u) is finite)
  normal pair      r = sqrt(-2 ln u1); z0 = r cos(2 pi u2); z1 = r sin(2 pi u2)  (Box-Muller, float64), pixels
                   0,1 get z0,z1 of the first pair, 2,3 of the second, … in row-major order
  noise            float32(clip(p + NOISE_SIGMA * z, 0, 1))     (float64 arithmetic, clip, then float32)
  blur             separable binomial kernel BLUR_KERNEL (dyadic weights, so exact in binary): horizontal pass then
                   vertical pass, zero padding, each output accumulated from tap -r to tap +r starting at 0.0, all
                   in float64, then float32

Integer arithmetic is explicit uint32 (masked) so both languages agree bit for bit; the blur uses only + and * on
exactly representable weights, so it is bit-identical too. The noise uses log/cos/sin, whose last bit may differ
between libm implementations (glibc here, fdlibm in V8); after rounding to float32 such a difference survives in
almost no pixel, and never by more than one float32 ulp (the recipe checks this against the TypeScript output).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Distortion constants: keep in sync with src/data/distort.ts (the tests there pin values computed here).
NOISE_SIGMA = 0.4
NOISE_SEED = 0x5EED0001
BLUR_TAPS = (1, 12, 66, 220, 495, 792, 924, 792, 495, 220, 66, 12, 1)  # binomial(12): variance 3, sigma ~1.73 px
BLUR_DIVISOR = 4096
BLUR_KERNEL = [w / BLUR_DIVISOR for w in BLUR_TAPS]

STREAMS = ("fmnist:test", "fmnist:test:noise", "fmnist:test:blur")

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

M32 = 0xFFFFFFFF


class DatasetNotFoundError(FileNotFoundError):
    pass


def _candidates(data_dir: str | None) -> list[Path]:
    if data_dir:
        return [Path(data_dir)]
    out = []
    if os.environ.get("SPLITEE_DATA"):
        out.append(Path(os.environ["SPLITEE_DATA"]))
    out.append(Path.cwd() / ".." / "shared" / "datasets")
    package_root = Path(__file__).resolve().parents[2]
    out.append(package_root / ".." / "shared" / "datasets")
    out.append(Path("/usr/share/datasets"))
    return out


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_fmnist_dir(data_dir: str | None = None) -> Path:
    """The folder holding the four Fashion-MNIST idx files (the root may be given, or the folder itself)."""
    looked = []
    for root in _candidates(data_dir):
        for folder in (root / "fashion-mnist", root):
            looked.append(str(folder.resolve()) if folder.exists() else str(folder))
            if all(_find_file(folder, s) for pair in _FILES.values() for s in pair):
                return folder
    raise DatasetNotFoundError(
        "Fashion-MNIST not found; looked in: " + ", ".join(looked)
        + ". Get it with `apt-get install dataset-fashion-mnist` (Debian) or point --data-dir / SPLITEE_DATA at a "
        "folder containing fashion-mnist/")


def read_idx(path: Path | str) -> np.ndarray:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4:
        raise ValueError(f"{path}: idx file too short")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: bad idx magic {raw[:4].hex()}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    n = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != n:
        raise ValueError(f"{path}: idx body is {len(body)} bytes, dims {dims} need {n}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_split(split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N])."""
    folder = find_fmnist_dir(data_dir)
    img_stem, lab_stem = _FILES[split]
    images = read_idx(_find_file(folder, img_stem))
    labels = read_idx(_find_file(folder, lab_stem)).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise ValueError(f"Fashion-MNIST {split}: unexpected shapes {images.shape} / {labels.shape}")
    return images, labels


def to_unit(images_u8: np.ndarray) -> np.ndarray:
    return (images_u8.astype(np.float64) / 255.0).astype(np.float32)


# ---- PRNG -------------------------------------------------------------------------------------------------------

def sample_seed(stream_seed: int, index: int) -> int:
    """Hash (stream seed, sample index) to the sample's mulberry32 state (murmur3 finalizer)."""
    h = (stream_seed ^ (((index + 1) * 0x9E3779B1) & M32)) & M32
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & M32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & M32
    return (h ^ (h >> 16)) & M32


def _mulberry32_next(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One mulberry32 step on a uint64 array of uint32 states: (new state, output uint32), vectorised over samples."""
    s = (state + 0x6D2B79F5) & M32
    t = s
    t = ((t ^ (t >> 15)) * (t | 1)) & M32
    t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32)) & M32
    return s, (t ^ (t >> 14)) & M32


def gaussian_noise_z(indices: np.ndarray, n: int, seed: int = NOISE_SEED) -> np.ndarray:
    """Standard normal draws [len(indices), n], float64, per the spec in the module docstring (odd n: the last
    pair's sine draw is dropped)."""
    pairs = (n + 1) // 2
    state = np.array([sample_seed(seed, int(i)) for i in indices], dtype=np.uint64)
    u1 = np.empty((len(indices), pairs), dtype=np.float64)
    u2 = np.empty_like(u1)
    for j in range(pairs):
        state, a = _mulberry32_next(state)
        state, b = _mulberry32_next(state)
        u1[:, j] = (a.astype(np.float64) + 0.5) / 4294967296.0
        u2[:, j] = (b.astype(np.float64) + 0.5) / 4294967296.0
    # Transcendentals through Python's math (the C library), not numpy's vectorised versions, whose SIMD paths may
    # be less accurate than libm.
    two_pi = 2.0 * math.pi
    r = [math.sqrt(-2.0 * math.log(u)) for u in u1.ravel().tolist()]
    th = [two_pi * u for u in u2.ravel().tolist()]
    z = np.empty((len(indices), 2 * pairs), dtype=np.float64)
    z[:, 0::2] = np.array([ri * math.cos(t) for ri, t in zip(r, th)]).reshape(u1.shape)
    z[:, 1::2] = np.array([ri * math.sin(t) for ri, t in zip(r, th)]).reshape(u1.shape)
    return z[:, :n]


def add_noise(pixels: np.ndarray, indices: np.ndarray, sigma: float = NOISE_SIGMA, seed: int = NOISE_SEED) -> np.ndarray:
    """pixels float32 [N, H, W] in [0, 1] → noisy float32, sample k seeded by indices[k]."""
    n_img, h, w = pixels.shape
    z = gaussian_noise_z(indices, h * w, seed).reshape(n_img, h, w)
    v = pixels.astype(np.float64) + sigma * z
    return np.minimum(np.maximum(v, 0.0), 1.0).astype(np.float32)


def blur(pixels: np.ndarray, kernel: list[float] = BLUR_KERNEL) -> np.ndarray:
    """pixels float32 [N, H, W] → blurred float32 (separable, zero padding, float64 accumulation in tap order)."""
    r = len(kernel) // 2
    x = pixels.astype(np.float64)
    n_img, h, w = x.shape
    xp = np.zeros((n_img, h, w + 2 * r))
    xp[:, :, r:r + w] = x
    t = np.zeros((n_img, h, w))
    for k, wk in enumerate(kernel):
        t = t + wk * xp[:, :, k:k + w]
    tp = np.zeros((n_img, h + 2 * r, w))
    tp[:, r:r + h, :] = t
    y = np.zeros((n_img, h, w))
    for k, wk in enumerate(kernel):
        y = y + wk * tp[:, k:k + h, :]
    return y.astype(np.float32)


def load_stream(name: str, data_dir: str | None = None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A named image stream: (pixels float32 [N, 1, 28, 28] in [0, 1], labels int64 [N])."""
    if name not in STREAMS:
        raise KeyError(f"unknown stream {name!r}; valid: {', '.join(STREAMS)}")
    images, labels = load_split("test", data_dir)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = to_unit(images)
    if name == "fmnist:test:noise":
        x = add_noise(x, np.arange(len(x)))
    elif name == "fmnist:test:blur":
        x = blur(x)
    return x[:, None, :, :], labels


if __name__ == "__main__":
    # Reference values for the TypeScript tests (hand-checkable: print the first draws and a small case).
    import json
    import sys
    print("sample_seed(NOISE_SEED, 0..2):", [sample_seed(NOISE_SEED, i) for i in range(3)])
    st = np.array([12345], dtype=np.uint64)
    outs = []
    for _ in range(4):
        st, o = _mulberry32_next(st)
        outs.append(int(o[0]))
    print("mulberry32(12345) first 4:", outs)
    print("z(index 7, 6 draws):", gaussian_noise_z(np.array([7]), 6)[0].tolist())
    img = (np.arange(9, dtype=np.float64).reshape(1, 3, 3) / 8).astype(np.float32)
    print("noise 3x3 idx 7:", json.dumps(add_noise(img, np.array([7]))[0].ravel().tolist()))
    img4 = (np.arange(16, dtype=np.float64).reshape(1, 4, 4) / 16).astype(np.float32)
    print("noise 4x4 idx 3:", json.dumps(add_noise(img4, np.array([3]))[0].ravel().tolist()))
    print("blur 4x4:", json.dumps(blur(img4)[0].ravel().tolist()))
    sys.exit(0)
