"""Recipe: fmnist-cnn, a 7-block multi-exit CNN on Fashion-MNIST (train, fold batch norm, evaluate, export).

    nice -n 10 /usr/bin/python3 models/recipes/fmnist_cnn.py            # train + export everything
    nice -n 10 /usr/bin/python3 models/recipes/fmnist_cnn.py --export-only   # re-export from the saved checkpoint

Writes models/fmnist-cnn/{fmnist-cnn.spx, fmnist-cnn.onnx, parity.json, eval.json} and keeps the trained PyTorch
weights in models/recipes/work/fmnist_cnn.pt (ignored by git). See models/fmnist-cnn/README.md for the results.

Design. Blocks 1-2 are plain conv+BN+ReLU and deliberately narrow (8 and 16 channels), blocks 3-7 are MobileNetV2
inverted residuals (1x1 expand, 3x3 depthwise, 1x1 project, residual when shapes match). Every block is followed
by an exit that is only global-average-pool + linear, so an exit's accuracy measures how linearly separable the
block's features are: a shallow block with a tiny head really is weaker, which is the depth gradient SplitEE needs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fmnist_data as data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "models" / "fmnist-cnn"
WORK_DIR = ROOT / "models" / "recipes" / "work"
CKPT = WORK_DIR / "fmnist_cnn.pt"

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel mean / std in [0, 1] units

# (kind, out channels, stride, expansion). Widths stay small so training fits in ~20 min on one CPU core.
ARCH = [
    ("conv", 8, 1, 0),
    ("conv", 16, 2, 0),
    ("mb", 16, 1, 4),
    ("mb", 32, 2, 4),
    ("mb", 32, 1, 4),
    ("mb", 64, 1, 4),
    ("mb", 64, 1, 4),
]


# ---- model --------------------------------------------------------------------------------------------------------

class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.act else x

    def folded(self):
        """(weight, bias) of the equivalent conv with batch norm folded in (eval statistics)."""
        bn = self.bn
        s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w = self.conv.weight.detach() * s[:, None, None, None]
        b = bn.bias.detach() - bn.running_mean * s
        return w.float().contiguous(), b.float().contiguous()

    def op(self, name, tensors):
        w, b = self.folded()
        tensors[name + ".w"], tensors[name + ".b"] = w, b
        op = {"op": "conv2d", "w": name + ".w", "b": name + ".b"}
        if self.conv.stride[0] != 1:
            op["stride"] = self.conv.stride[0]
        if self.conv.padding[0] != 0:
            op["pad"] = self.conv.padding[0]
        if self.conv.groups != 1:
            op["groups"] = self.conv.groups
        if self.act:
            op["act"] = "relu"
        return op


class PlainBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c = ConvBN(cin, cout, 3, stride)

    def forward(self, x):
        return self.c(x)

    def ops(self, name, tensors):
        return [self.c.op(name + ".conv", tensors)]


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1)
        self.dw = ConvBN(mid, mid, 3, stride, groups=mid)
        self.project = ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.residual else y

    def ops(self, name, tensors):
        ops = [{"op": "save", "name": "in"}] if self.residual else []
        ops += [self.expand.op(name + ".expand", tensors), self.dw.op(name + ".dw", tensors),
                self.project.op(name + ".project", tensors)]
        if self.residual:
            ops.append({"op": "add", "name": "in"})
        return ops


class MultiExitCNN(nn.Module):
    def __init__(self, arch=ARCH, classes=10):
        super().__init__()
        blocks, heads, cin = [], [], 1
        for kind, cout, stride, expand in arch:
            blocks.append(PlainBlock(cin, cout, stride) if kind == "conv" else InvertedResidual(cin, cout, stride, expand))
            heads.append(nn.Linear(cout, classes))
            cin = cout
        self.blocks, self.heads = nn.ModuleList(blocks), nn.ModuleList(heads)

    def forward(self, x):
        """List of logits, one per exit."""
        out = []
        for block, head in zip(self.blocks, self.heads):
            x = block(x)
            out.append(head(x.mean(dim=(2, 3))))
        return out

    def export_graph(self):
        """(layers, exits, tensors) in the op set of docs/FORMAT.md, batch norm folded."""
        tensors, layers, exits = {}, [], []
        for i, (block, head) in enumerate(zip(self.blocks, self.heads), start=1):
            layers.append({"name": f"block{i}", "ops": block.ops(f"block{i}", tensors)})
            tensors[f"exit{i}.w"] = head.weight.detach().float().contiguous()
            tensors[f"exit{i}.b"] = head.bias.detach().float().contiguous()
            exits.append({"layer": i, "ops": [{"op": "gap"}, {"op": "linear", "w": f"exit{i}.w", "b": f"exit{i}.b"}]})
        return layers, exits, tensors


# ---- the exported graph, interpreted (what the engine runs) ----------------------------------------------------

def _act(x, name):
    return {"none": lambda v: v, "relu": F.relu, "relu6": lambda v: F.hardtanh(v, 0.0, 6.0),
            "gelu": F.gelu}[name or "none"](x)


def run_ops(ops, x, tensors):
    """Apply one layer's or exit's ops to a batched activation x ([B, C, H, W] or [B, N]), like the engine does."""
    saved = {}
    for op in ops:
        k = op["op"]
        if k == "conv2d":
            x = F.conv2d(x, tensors[op["w"]], tensors.get(op.get("b")), op.get("stride", 1), op.get("pad", 0),
                         1, op.get("groups", 1))
            x = _act(x, op.get("act"))
        elif k == "linear":
            x = _act(F.linear(x, tensors[op["w"]], tensors.get(op.get("b"))), op.get("act"))
        elif k == "gap":
            x = x.mean(dim=(2, 3))
        elif k == "relu":
            x = F.relu(x)
        elif k == "save":
            saved[op["name"]] = x
        elif k == "add":
            x = x + saved[op["name"]]
        else:
            raise ValueError(f"run_ops: op {k} not used by this model")
    return x


class GraphModule(nn.Module):
    """The folded, exported graph as a module: input preprocessed [B, 1, 28, 28] → softmax probabilities per exit."""

    def __init__(self, layers, exits, tensors):
        super().__init__()
        self.layers, self.exits = layers, exits
        self.names = list(tensors)
        for i, n in enumerate(self.names):
            self.register_buffer(f"t{i}", tensors[n].clone())

    def forward(self, x):
        t = {n: getattr(self, f"t{i}") for i, n in enumerate(self.names)}
        probs = []
        for layer, ex in zip(self.layers, self.exits):
            x = run_ops(layer["ops"], x, t)
            probs.append(F.softmax(run_ops(ex["ops"], x, t), dim=-1))
        return tuple(probs)


# ---- data + training ------------------------------------------------------------------------------------------

def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] float32 pixels → model input, computed as the engine does: float64 (x - mean) / std, then float32."""
    return ((pixels.double() - MEAN) / STD).float()


def blur_kernel_2d(kernel):
    k = torch.tensor(kernel, dtype=torch.float32)
    return (k[:, None] * k[None, :])[None, None]


AUG_BLUR = blur_kernel_2d([w / 16.0 for w in (1, 4, 6, 4, 1)])  # sigma 1 px, milder than the eval blur


def augment(x: torch.Tensor, gen: torch.Generator, args) -> torch.Tensor:
    """x [B, 1, 28, 28] in [0, 1]: random shift (pad 2 + crop), horizontal flip, sometimes mild blur or noise."""
    b = x.shape[0]
    xp = F.pad(x, (2, 2, 2, 2))
    off = torch.randint(0, 5, (b, 2), generator=gen)
    x = torch.stack([xp[i, :, off[i, 0]:off[i, 0] + 28, off[i, 1]:off[i, 1] + 28] for i in range(b)])
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    r = torch.rand(b, generator=gen)
    blur_m = (r < args.aug_blur)[:, None, None, None]
    x = torch.where(blur_m, F.conv2d(x, AUG_BLUR, padding=2), x)
    noise_m = ((r >= args.aug_blur) & (r < args.aug_blur + args.aug_noise))[:, None, None, None]
    sigma = torch.rand(b, 1, 1, 1, generator=gen) * args.aug_sigma
    x = torch.where(noise_m, (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1), x)
    return x


def exit_weights(n):
    # Linearly increasing with depth: the tiny early heads would otherwise pull the shared early blocks toward
    # features that are linearly separable at once, at the expense of the last exit; the deep exits carry most of
    # the accuracy, so they get most of the weight while every head still trains.
    w = torch.arange(1, n + 1, dtype=torch.float32)
    return w / w.sum()


CONF_BINS = 10  # calibration bins of width 0.1 over the confidence max(probs)


@torch.no_grad()
def evaluate(fn, x_unit: np.ndarray, labels: np.ndarray, batch=1000, bins=False):
    """Per-exit accuracy (%) and mean confidence; with bins, also per-exit [count, correct] per confidence decile."""
    n = len(labels)
    correct, conf = None, None
    hist = None
    for s in range(0, n, batch):
        xb = normalize(torch.from_numpy(x_unit[s:s + batch]))
        probs = fn(xb)
        yb = torch.from_numpy(labels[s:s + batch])
        c = torch.stack([(p.argmax(1) == yb).double().sum() for p in probs])
        m = torch.stack([p.max(1).values.double().sum() for p in probs])
        correct = c if correct is None else correct + c
        conf = m if conf is None else conf + m
        if bins:
            if hist is None:
                hist = np.zeros((len(probs), CONF_BINS, 2), dtype=np.int64)
            for e, p in enumerate(probs):
                mx, am = p.max(1)
                b = torch.clamp((mx.double() * CONF_BINS).floor().long(), max=CONF_BINS - 1)
                ok = (am == yb).long()
                hist[e, :, 0] += np.bincount(b.numpy(), minlength=CONF_BINS)
                hist[e, :, 1] += np.bincount(b.numpy(), weights=ok.numpy(), minlength=CONF_BINS).astype(np.int64)
    acc, mc = [float(v) * 100 / n for v in correct], [float(v) / n for v in conf]
    return (acc, mc, hist) if bins else (acc, mc)


def train(args):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images, labels = data.load_split("train", args.data_dir)
    x_all = torch.from_numpy(data.to_unit(images))[:, None]
    y_all = torch.from_numpy(labels)
    test_x, test_y = data.load_stream("fmnist:test", args.data_dir)

    model = MultiExitCNN()
    steps_per_epoch = math.ceil(len(y_all) / args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.25)
    weights = exit_weights(len(model.blocks))
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y_all), generator=gen)
        tot = 0.0
        for s in range(0, len(perm), args.batch):
            idx = perm[s:s + args.batch]
            xb = normalize(augment(x_all[idx], gen, args))
            logits = model(xb)
            loss = sum(w * F.cross_entropy(l, y_all[idx], label_smoothing=args.smooth) for w, l in zip(weights, logits))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
        model.eval()
        acc, _ = evaluate(lambda v: [F.softmax(l, 1) for l in model(v)], test_x, test_y)
        print(f"epoch {epoch + 1}/{args.epochs} loss {tot / len(y_all):.4f} test acc per exit "
              f"{' '.join(f'{a:.1f}' for a in acc)}  ({time.time() - t0:.0f}s)", flush=True)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "args": vars(args), "train_seconds": time.time() - t0,
                "date": datetime.date.today().isoformat()}, CKPT)
    return model


# ---- analysis + export --------------------------------------------------------------------------------------------

def layer_stats(layers, exits, tensors):
    """Per layer: MACs of the layer, MACs of its exit, output shape (what crosses a split after it)."""
    out, shape = [], (1, 28, 28)
    for layer, ex in zip(layers, exits):
        macs = 0
        for op in layer["ops"]:
            if op["op"] == "conv2d":
                w = tensors[op["w"]]
                c, h, wd = shape
                st, pd = op.get("stride", 1), op.get("pad", 0)
                oh, ow = (h + 2 * pd - w.shape[2]) // st + 1, (wd + 2 * pd - w.shape[3]) // st + 1
                macs += w.numel() * oh * ow
                shape = (w.shape[0], oh, ow)
        exit_macs = shape[0] * shape[1] * shape[2] + sum(tensors[o["w"]].numel() for o in ex["ops"] if o["op"] == "linear")
        params = sum(tensors[o[k]].numel() for o in layer["ops"] for k in ("w", "b") if k in o)
        exit_params = sum(tensors[o[k]].numel() for o in ex["ops"] for k in ("w", "b") if k in o)
        out.append({"layer": layer["name"], "macs": macs, "exitMacs": exit_macs, "params": params,
                    "exitParams": exit_params, "outShape": list(shape), "outElements": int(np.prod(shape))})
    return out


def export(model, args, train_seconds, trained_on):
    model.eval()
    layers, exits, tensors = model.export_graph()
    graph = GraphModule(layers, exits, tensors).eval()
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    # Evaluate the folded graph on every stream (the same distortion code the TypeScript side implements).
    streams = {}
    for name in data.STREAMS:
        x, y = data.load_stream(name, args.data_dir)
        acc, conf, hist = evaluate(graph, x, y, bins=True)
        streams[name] = {
            "n": len(y),
            "exits": [{"layer": i + 1, "accuracy": round(a / 100, 6), "meanConfidence": round(c, 6),
                       "calibration": {"count": hist[i, :, 0].tolist(), "correct": hist[i, :, 1].tolist()}}
                      for i, (a, c) in enumerate(zip(acc, conf))]}
        print(name, " ".join(f"{a:.2f}/{c:.3f}" for a, c in zip(acc, conf)), flush=True)
    # Folding must not change the function: compare with the unfolded eval-mode network on the clean stream.
    x, y = data.load_stream("fmnist:test", args.data_dir, limit=2000)
    with torch.no_grad():
        xb = normalize(torch.from_numpy(x))
        ref = [F.softmax(l, 1) for l in model(xb)]
        got = graph(xb)
    fold_diff = max(float((a - b).abs().max()) for a, b in zip(ref, got))
    print(f"max |probs(folded) - probs(unfolded)| on 2000 test images: {fold_diff:.2e}")
    assert fold_diff < 1e-4, fold_diff

    clean = streams["fmnist:test"]["exits"]
    stats = layer_stats(layers, exits, tensors)
    header = {
        "format": "splitee-model",
        "name": "fmnist-cnn",
        "task": "image-classification",
        "classes": data.CLASSES,
        "input": {"kind": "image", "shape": [1, 28, 28]},
        "preprocess": {"kind": "image", "scale": 1 / 255, "mean": [MEAN], "std": [STD]},
        "layers": layers,
        "exits": exits,
        "provenance": {
            "recipe": "models/recipes/fmnist_cnn.py",
            "dataset": "Fashion-MNIST (Zalando, MIT), 60000 train / 10000 test",
            "trained": trained_on,
            "framework": f"PyTorch {torch.__version__} CPU",
            "epochs": args.epochs,
            "seed": args.seed,
            "trainSeconds": round(train_seconds),  # wall clock, one thread, on a shared 2-core machine
            "batchNormFolded": True,
            "testAccuracy": [e["accuracy"] for e in clean],  # fractions, clean Fashion-MNIST test set, per exit
        },
    }

    import spx  # models/recipes/spx.py (the shared writer)
    spx_path = OUT_DIR / "fmnist-cnn.spx"
    spx.write_spx(str(spx_path), header, tensors)
    print(f"wrote {spx_path} ({spx_path.stat().st_size} bytes)")
    # Read the file back and run the ops from it: the file, not the in-memory graph, is what the engine gets.
    hdr, vals = spx.read_spx(str(spx_path))
    back = GraphModule(hdr["layers"], hdr["exits"],
                       {k: torch.tensor(v, dtype=torch.float32).reshape(hdr["tensors"][k]["shape"]) for k, v in vals.items()})
    with torch.no_grad():
        xb = normalize(torch.from_numpy(data.load_stream("fmnist:test", args.data_dir, limit=64)[0]))
        assert all(torch.equal(a, b) for a, b in zip(graph(xb), back(xb))), "spx round trip changed the outputs"

    onnx_path = OUT_DIR / "fmnist-cnn.onnx"
    names = [f"exit{i + 1}" for i in range(len(layers))]
    torch.onnx.export(graph, torch.zeros(1, 1, 28, 28), str(onnx_path), input_names=["input"], output_names=names,
                      dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}}, opset_version=13,
                      do_constant_folding=True)
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes)")

    # Parity: 32 inputs, from both the clean and the distorted streams, with the exported graph's probabilities.
    picks = [("fmnist:test", i) for i in range(0, 16)] + [("fmnist:test:noise", i) for i in range(16, 24)] \
        + [("fmnist:test:blur", i) for i in range(24, 32)]
    cache = {n: data.load_stream(n, args.data_dir, limit=32) for n in data.STREAMS}
    samples = []
    with torch.no_grad():
        for name, i in picks:
            px, lab = cache[name][0][i:i + 1], int(cache[name][1][i])
            xin = normalize(torch.from_numpy(px))
            probs = graph(xin)
            samples.append({"stream": name, "index": i, "label": lab,
                            "input": [float(v) for v in xin.flatten()],
                            "probs": [[float(v) for v in p[0]] for p in probs]})
    parity = {"model": "fmnist-cnn", "inputShape": [1, 28, 28], "preprocessed": True,
              "note": "input = preprocessImage(stream pixels) as float32; probs = softmax per exit from the folded "
                      "PyTorch graph (eval mode), float32", "samples": samples}
    (OUT_DIR / "parity.json").write_text(dumps_f32(parity) + "\n")

    ev = {"model": "fmnist-cnn", "source": "PyTorch, folded graph, models/recipes/fmnist_cnn.py",
          "units": "accuracy is a fraction in [0, 1] (as `splitee eval --json`); meanConfidence = mean of max(probs); "
                   "calibration = per confidence decile [0, 0.1), …, [0.9, 1], samples and correct ones",
          "distortions": {"noise": {"sigma": data.NOISE_SIGMA, "seed": data.NOISE_SEED},
                          "blur": {"taps": list(data.BLUR_TAPS), "divisor": data.BLUR_DIVISOR}},
          "streams": streams, "layers": stats}
    (OUT_DIR / "eval.json").write_text(json.dumps(ev, indent=1) + "\n")
    print("wrote parity.json, eval.json")
    card = card_tables(ev, header, spx_path.stat().st_size, onnx_path.stat().st_size)
    (WORK_DIR / "card_tables.md").write_text(card)
    print(card)


def _f32(v: float) -> str:
    # The shortest decimal that reads back as the same float32 (half the bytes of float64 repr, and exact).
    return np.format_float_positional(np.float32(v), unique=True, trim="-")


def dumps_f32(obj) -> str:
    """Compact JSON where every float is written as its shortest float32 decimal."""
    if isinstance(obj, float):
        return _f32(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dumps_f32(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps_f32(v) for v in obj) + "]"
    return json.dumps(obj)


def card_tables(ev, header, spx_bytes, onnx_bytes):
    """Markdown tables for the model card (models/fmnist-cnn/README.md), from eval.json's numbers."""
    lines = [f"spx {spx_bytes} bytes, onnx {onnx_bytes} bytes", "",
             "| layer | ops | params (layer + exit) | MACs layer | MACs exit | cumulative MACs to exit | split output | f32 bytes | int8 bytes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    cum = 0
    for st, layer in zip(ev["layers"], header["layers"]):
        cum += st["macs"]
        ops = " ".join(o["op"] + ("(dw)" if o.get("groups", 1) > 1 else "") for o in layer["ops"])
        lines.append(f"| {st['layer']} | {ops} | {st['params']:,} + {st['exitParams']:,} | {st['macs']:,} | "
                     f"{st['exitMacs']:,} | {cum + st['exitMacs']:,} | {'×'.join(map(str, st['outShape']))} | "
                     f"{st['outElements'] * 4:,} | {st['outElements']:,} |")
    tot_p = sum(s["params"] + s["exitParams"] for s in ev["layers"])
    lines += ["", f"total parameters {tot_p:,}; MACs of the backbone {cum:,} (FLOPs ≈ 2 × MACs)", ""]
    names = list(ev["streams"])
    lines.append("| exit | " + " | ".join(f"{n} acc % | conf" for n in names) + " |")
    lines.append("| --- | " + " | ".join("--- | ---" for _ in names) + " |")
    for i in range(len(ev["layers"])):
        row = [f"{100 * ev['streams'][n]['exits'][i]['accuracy']:.2f} | {ev['streams'][n]['exits'][i]['meanConfidence']:.3f}" for n in names]
        lines.append(f"| {i + 1} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--smooth", type=float, default=0.05, help="label smoothing")
    p.add_argument("--aug-noise", type=float, default=0.2, help="fraction of training images with added noise")
    p.add_argument("--aug-sigma", type=float, default=0.25, help="noise sigma is drawn uniformly in [0, this]")
    p.add_argument("--aug-blur", type=float, default=0.1, help="fraction of training images blurred (sigma 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--export-only", action="store_true", help="skip training, export the saved checkpoint")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    if args.export_only:
        ck = torch.load(CKPT)
        model = MultiExitCNN()
        model.load_state_dict(ck["state"])
        for k in ("epochs", "seed"):
            setattr(args, k, ck["args"][k])
        # Checkpoints from before the date was stored: the file's modification date is the training date.
        trained_on = ck.get("date") or datetime.date.fromtimestamp(CKPT.stat().st_mtime).isoformat()
        export(model, args, ck["train_seconds"], trained_on)
    else:
        t0 = time.time()
        model = train(args)
        export(model, args, time.time() - t0, datetime.date.today().isoformat())


if __name__ == "__main__":
    main()
