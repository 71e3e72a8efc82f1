"""Recipe: the small multi-exit ONNX models the importer's tests read (test/fixtures/onnx/*.onnx).

    /usr/bin/python3 models/recipes/onnx_fixtures.py            # writes every fixture (a few seconds, no data needed)

Each model is untrained (seeded random weights, batch-norm statistics randomised so folding matters) and returns a
tuple of exit logits, shallowest first, which is the convention `splitee import` reads. The tests compute the
expected probabilities themselves with ONNX Runtime, so nothing else is written here.

    mbv2.onnx          MobileNetV2-style CNN (BatchNormalization kept as nodes): Conv+BatchNorm+ReLU6 stem, inverted residual blocks (1x1 expand,
                       3x3 depthwise, 1x1 project, residual add), exits GlobalAveragePool / ReduceMean + Linear
    lenet.onnx         LeNet-style: conv, ReLU, MaxPool, AveragePool (count_include_pad both ways), exits Flatten + Gemm
    bert_post_ln.onnx  post-LN BERT-style encoder written out by hand (separate Q/K/V, Reshape/Transpose/MatMul/Div/
                       Softmax), embedding LayerNorm, GELU (erf), pooler exits on the first token (Linear + ReLU),
                       opset 14 (LayerNorm decomposed), a Hugging Face-style attention_mask input (1 = token,
                       0 = padding)
    bert_tanh.onnx     the same with BERT's real Tanh pooler
    pre_ln.onnx        pre-LN encoder (fused QKV projection, Split), mean-pool exits, opset 17 (LayerNormalization)
    torch_encoder.onnx nn.TransformerEncoderLayer (batch_first) blocks with a key-padding mask input (True =
                       padding), first-token exits, exits end in Softmax
    seq_first.onnx     nn.TransformerEncoderLayer (pre-LN) in the default sequence-first layout, mean / first-token exits
    gelu_tanh.onnx     GELU's tanh approximation, as the exporter writes it out (Mul/Add/Tanh)
    handmade.onnx      written with onnx.helper: Pad before Conv, SAME padding, BatchNormalization, Clip with tensor
                       bounds, MatMul + Add and Gemm with alpha, beta and transB=0
    lstm.onnx          an LSTM: refused by name
    downsample.onnx    a ResNet block with a 1x1 downsample shortcut: refused (computed shortcut)
    causal.onnx        attention under a causal mask (masked_fill of triu with -inf)
    hardswish.onnx     Hardswish (the HardSwish node of opset 14)
    activations.onnx   opset 13: Hardswish as HardSigmoid + Mul, Sigmoid, Hardsigmoid (alpha 1/6), Clip with any bounds
                       (both, min only), Tanh; exits on pooled maps
    se_silu.onnx       opset 13: SiLU (x * Sigmoid(x)), squeeze-and-excitation (pool, 1x1 convs, Hardsigmoid gate, x * gate),
                       a standalone BatchNorm after a pool, a per-channel layer scale (x * gamma + beta), scalar Mul/Sub
    pad_concat.onnx    opset 13: DenseNet-style channel concatenation (both orders), asymmetric zero Pad before a Conv and
                       before a MaxPool, a Conv with different height and width padding, an AvgPool2d with padding
                       and count_include_pad=False
    dilated.onnx       opset 13: dilated convolutions (2x2 dilation of a 3x3 kernel, a depthwise one, unequal dilations and
                       paddings per axis)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "onnx"


def randomize_norms(m: nn.Module, g: torch.Generator) -> None:
    """Batch-norm statistics and layer-norm affine parameters away from their identity defaults, so that a test
    of the import sees it if a scale and a shift are swapped or dropped."""
    for mod in m.modules():
        if isinstance(mod, nn.LayerNorm) and mod.elementwise_affine:
            d = mod.normalized_shape[0]
            mod.weight.data.copy_(torch.rand(d, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(d, generator=g) * 0.2)
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=g) * 0.3)
            mod.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.3)
            mod.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(c, generator=g) * 0.2)


# ---------------------------------------------------------------------------------------------- CNNs
def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride, groups=mid),
                                  conv_bn(mid, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetLike(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2)
        self.stage1 = nn.Sequential(InvertedResidual(8, 8, 1, 3), InvertedResidual(8, 12, 2, 3))
        self.stage2 = nn.Sequential(InvertedResidual(12, 12, 1, 3), InvertedResidual(12, 12, 1, 2))
        self.stage3 = nn.Sequential(InvertedResidual(12, 16, 2, 2), conv_bn(16, 24, 1))
        self.head1 = nn.Linear(8, classes)
        self.head2 = nn.Linear(12, classes)
        self.head3 = nn.Sequential(nn.Dropout(0.2), nn.Linear(24, classes))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.stem(x)
        e1 = self.head1(torch.flatten(self.pool(x), 1))   # GlobalAveragePool + Flatten + Gemm
        x = self.stage2(self.stage1(x))
        e2 = self.head2(x.mean(dim=(2, 3)))                # ReduceMean + Gemm
        x = self.stage3(x)
        e3 = self.head3(torch.flatten(self.pool(x), 1))
        return e1, e2, e3


class LeNetLike(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.p1 = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(6, 8, 3, stride=1, padding=1, dilation=1)
        self.p2 = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True)
        self.c3 = nn.Conv2d(8, 8, 3)
        self.p3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.fc1a = nn.Linear(6 * 10 * 10, 16)
        self.fc1b = nn.Linear(16, classes)
        self.fc2 = nn.Linear(8 * 5 * 5, classes)
        self.fc3 = nn.Linear(8 * 2 * 2, classes)

    def forward(self, x):
        x = self.p1(F.relu(self.c1(x)))                    # [6, 10, 10]
        e1 = self.fc1b(F.relu(self.fc1a(x.flatten(1))))
        x = self.p2(F.relu(self.c2(x)))                    # [8, 5, 5]
        e2 = self.fc2(x.reshape(x.shape[0], -1))           # Shape/Gather/Unsqueeze/Concat/Reshape on constants
        x = self.p3(F.relu(self.c3(x)))                    # [8, 2, 2]
        e3 = self.fc3(torch.flatten(x, 1))
        return e1, e2, e3


# ---------------------------------------------------------------------------------------------- encoders
class BertSelfAttention(nn.Module):
    """As BERT-style code writes it: separate q/k/v, reshape to heads, matmul, divide by sqrt(dh), softmax."""

    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q, self.k, self.v, self.o = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.dh).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + ext_mask
        a = torch.matmul(torch.softmax(s, dim=-1), v)
        a = a.permute(0, 2, 1, 3).contiguous()
        return self.o(a.view(a.shape[0], a.shape[1], self.h * self.dh))


class PostLnBlock(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.attn = BertSelfAttention(d, heads)
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x, ext_mask):
        x = self.ln1(x + self.attn(x, ext_mask))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class BertLike(nn.Module):
    def __init__(self, vocab=60, max_len=16, d=32, heads=4, ffn=64, layers=3, classes=3, tanh_pooler=False):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.blocks = nn.ModuleList(PostLnBlock(d, heads, ffn) for _ in range(layers))
        self.pool = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        self.cls = nn.ModuleList(nn.Linear(d, classes) for _ in range(layers))
        self.tanh_pooler = tanh_pooler

    def forward(self, ids, attention_mask):
        t = ids.shape[1]
        pos = torch.arange(t).unsqueeze(0)
        x = self.ln(self.tok(ids) + self.pos(pos))
        # Hugging Face's convention: attention_mask 1 for real tokens, 0 for padding, added to the scores as -10000.
        ext = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        out = []
        for blk, pool, cls in zip(self.blocks, self.pool, self.cls):
            x = blk(x, ext)
            p = pool(x[:, 0])
            out.append(cls(torch.tanh(p) if self.tanh_pooler else F.relu(p)))
        return tuple(out)


class PreLnBlock(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.h = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q = q.reshape(b, t, self.h, d // self.h).transpose(1, 2) * (1.0 / math.sqrt(d // self.h))
        k = k.reshape(b, t, self.h, d // self.h).transpose(1, 2)
        v = v.reshape(b, t, self.h, d // self.h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class PreLnEncoder(nn.Module):
    def __init__(self, vocab=50, max_len=12, d=24, heads=3, ffn=48, layers=3, classes=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(max_len, d) * 0.5)
        self.blocks = nn.ModuleList(PreLnBlock(d, heads, ffn) for _ in range(layers))
        self.heads = nn.ModuleList(nn.Sequential(nn.LayerNorm(d), nn.Linear(d, classes)) for _ in range(layers))

    def forward(self, ids):
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        out = []
        for blk, head in zip(self.blocks, self.heads):
            x = blk(x)
            out.append(head(x.mean(dim=1)))
        return tuple(out)


class TorchEncoder(nn.Module):
    def __init__(self, vocab=40, max_len=10, d=16, heads=2, ffn=32, layers=2, classes=3):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(max_len, d) * 0.5)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.1, activation="gelu", batch_first=True)
            for _ in range(layers))
        self.heads = nn.ModuleList(nn.Linear(d, classes) for _ in range(layers))

    def forward(self, ids, pad):
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        out = []
        for blk, head in zip(self.blocks, self.heads):
            x = blk(x, src_key_padding_mask=pad)   # PyTorch's convention: True marks padding
            out.append(torch.softmax(head(x[:, 0]), dim=-1))
        return tuple(out)


class GeluTanhNet(nn.Module):
    """GELU's tanh approximation (approximate="tanh")."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)
        self.h1, self.h2 = nn.Linear(4, 2), nn.Linear(4, 2)
        # Large pre-activations and logits: GELU's erf form differs from the tanh form by < 1e-3, which the exit's
        # probabilities must show (a test within 1e-4 tells the two apart).
        with torch.no_grad():
            self.c2.weight.mul_(4.0)
            self.h2.weight.mul_(40.0)

    def forward(self, x):
        x = F.relu(self.c1(x))
        e1 = self.h1(x.mean(dim=(2, 3)))
        x = F.gelu(self.c2(x), approximate="tanh")
        return e1, self.h2(x.mean(dim=(2, 3)))


class DownsampleNet(nn.Module):
    """A ResNet basic block with a 1x1 downsample shortcut: refused (the op set's add takes the saved input as is)."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 4, 3, padding=1)
        self.c1, self.c2 = nn.Conv2d(4, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 1, 1)
        self.down = nn.Conv2d(4, 8, 1, 2)
        self.h1, self.h2 = nn.Linear(4, 2), nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.c0(x))
        e1 = self.h1(x.mean(dim=(2, 3)))
        x = F.relu(self.c2(F.relu(self.c1(x))) + self.down(x))
        return e1, self.h2(x.mean(dim=(2, 3)))


class CausalNet(nn.Module):
    """Self-attention under a causal mask."""

    def __init__(self, d=8):
        super().__init__()
        self.tok = nn.Embedding(10, d)
        self.pos = nn.Parameter(torch.randn(6, d))
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.h1, self.h2 = nn.Linear(d, 2), nn.Linear(d, 2)

    def forward(self, ids):
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        e1 = self.h1(x.mean(dim=1))
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        t = ids.shape[1]
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        s = s.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        x = x + self.o(torch.softmax(s, dim=-1) @ v)
        return e1, self.h2(x.mean(dim=1))


class HardSwishNet(nn.Module):
    """MobileNetV3's Hardswish."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)
        self.h1, self.h2 = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x):
        x = F.relu(self.c1(x))
        e1 = self.h1(x.mean(dim=(2, 3)))
        x = F.hardswish(self.c2(x))
        return e1, self.h2(x.mean(dim=(2, 3)))


class ActivationsNet(nn.Module):
    """The standalone activations, three exits."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(2, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1), nn.Conv2d(6, 5, 3)
        self.h1, self.h2, self.h3 = nn.Linear(6, 3), nn.Linear(6, 3), nn.Linear(5, 3)

    def forward(self, x):
        # bounds inside the ranges the values take, so that every clip changes some of them
        x = torch.sigmoid(F.hardswish(self.c1(x)))
        e1 = self.h1(torch.clamp(x, min=0.5).mean(dim=(2, 3)))
        x = torch.clamp(F.hardsigmoid(self.c2(x)), 0.45, 0.55)
        e2 = self.h2(torch.tanh(x.mean(dim=(2, 3))))
        x = torch.clamp(torch.tanh(self.c3(x)), max=0.2)
        return e1, e2, self.h3(x.mean(dim=(2, 3)))


class SqueezeExcite(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1)

    def forward(self, x):
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))


class SeSiluNet(nn.Module):
    """Products with computed values and per-channel constants, three exits."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 6, 3)
        self.se = SqueezeExcite(8, 4)
        self.bn = nn.BatchNorm2d(8)
        self.gamma = nn.Parameter(torch.rand(6) + 0.5)
        self.beta = nn.Parameter(torch.randn(6) * 0.3)
        self.h1, self.h2, self.h3 = nn.Linear(8, 3), nn.Linear(8, 3), nn.Linear(6, 3)
        with torch.no_grad():   # gates away from ½ everywhere, so a wrong product shows in the probabilities
            self.se.fc2.weight.mul_(3.0)

    def forward(self, x):
        x = F.silu(self.c1(x))
        e1 = self.h1(x.mean(dim=(2, 3)) * 2.0 - 0.1)
        x = self.bn(F.max_pool2d(self.se(self.c2(x)), 2))
        e2 = self.h2(x.mean(dim=(2, 3)))
        x = self.c3(x) * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)
        return e1, e2, self.h3(F.silu(x).mean(dim=(2, 3)))


class PadConcatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0, self.c1 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)
        self.c2, self.c3 = nn.Conv2d(7, 5, 2), nn.Conv2d(5, 4, (3, 5), padding=(1, 2))
        self.h1, self.h2, self.h3 = nn.Linear(7, 3), nn.Linear(9, 3), nn.Linear(9, 3)

    def forward(self, x):
        x = F.relu(self.c0(x))
        x = torch.cat([x, F.relu(self.c1(x))], 1)
        e1 = self.h1(x.mean(dim=(2, 3)))
        x = F.relu(self.c2(F.pad(x, (0, 1, 0, 1))))         # TensorFlow-style SAME for a 2x2 kernel
        x = torch.cat([F.relu(self.c3(x)), x], 1)
        e2 = self.h2(x.mean(dim=(2, 3)))
        x = F.max_pool2d(F.pad(x, (1, 0, 2, 1)), 2)
        x = F.avg_pool2d(x * 3.0 + 1.0, 3, 2, 1, count_include_pad=False)
        return e1, e2, self.h3(x.mean(dim=(2, 3)))


class DilatedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 6, 3, padding=2, dilation=2)
        self.c2 = nn.Conv2d(6, 6, 3, padding=3, dilation=3, groups=6)
        self.c3 = nn.Conv2d(6, 4, (3, 2), padding=(2, 3), dilation=(2, 3))
        self.h1, self.h2 = nn.Linear(6, 3), nn.Linear(4, 3)

    def forward(self, x):
        x = F.relu(self.c2(F.relu(self.c1(x))))
        e1 = self.h1(x.mean(dim=(2, 3)))
        return e1, self.h2(self.c3(x).mean(dim=(2, 3)))


class SeqFirstEncoder(nn.Module):
    """nn.TransformerEncoder in its default sequence-first layout ([T, batch, D]), mean and first-token exits."""

    def __init__(self, vocab=30, max_len=8, d=16, heads=4, ffn=24, layers=2, classes=3):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(max_len, d) * 0.5)
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.0, norm_first=True)
                                    for _ in range(layers))
        self.heads = nn.ModuleList(nn.Linear(d, classes) for _ in range(layers))

    def forward(self, ids):
        x = (self.tok(ids) + self.pos[: ids.shape[1]]).transpose(0, 1)   # [T, 1, D]
        out = []
        for k, (blk, head) in enumerate(zip(self.blocks, self.heads)):
            x = blk(x)
            out.append(head(x.mean(dim=0) if k == 0 else x[0]))
        return tuple(out)


class LstmNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.h1, self.h2 = nn.Linear(8, 2), nn.Linear(8, 2)

    def forward(self, ids):
        x = self.tok(ids)
        e1 = self.h1(x.mean(dim=1))
        y, _ = self.lstm(x)
        return e1, self.h2(y[:, -1])


# ---------------------------------------------------------------------------------------------- written with onnx.helper
def handmade(name, opset, g):
    """Graphs PyTorch does not write but other exporters do: Pad before Conv, SAME padding, BatchNormalization
    and Clip with tensor bounds, MatMul + Add and Gemm with alpha/beta/transB=0, LayerNormalization without bias."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rnd = np.random.default_rng(int(torch.randint(0, 2 ** 31, (1,), generator=g)))
    inits = []

    def const(n, a):
        inits.append(numpy_helper.from_array(np.asarray(a), n))
        return n

    f32 = lambda *s: rnd.standard_normal(s).astype(np.float32) * 0.5  # noqa: E731
    nodes = [
        helper.make_node("Pad", ["input", const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], ["p"], mode="constant"),
        helper.make_node("Conv", ["p", const("w1", f32(6, 2, 3, 3))], ["c1"], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c1", const("s", (rnd.random(6) + 0.5).astype(np.float32)),
                                                const("b", f32(6)), const("m", f32(6)),
                                                const("v", (rnd.random(6) + 0.5).astype(np.float32))], ["bn"], epsilon=1e-3),
        helper.make_node("Clip", ["bn", const("lo", np.array(0, np.float32)), const("hi", np.array(6, np.float32))], ["a1"]),
        helper.make_node("GlobalAveragePool", ["a1"], ["g1"]),
        helper.make_node("Flatten", ["g1"], ["f1"]),
        helper.make_node("MatMul", ["f1", const("wm", f32(6, 3))], ["mm"]),
        helper.make_node("Add", [const("bm", f32(3)), "mm"], ["exit1"]),
        helper.make_node("Conv", ["a1", const("w2", f32(4, 6, 3, 3)), const("b2", f32(4))], ["c2"], auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["m2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("ReduceMean", ["m2"], ["g2"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["g2", const("wg", f32(4, 3)), const("bg", f32(1, 3))], ["exit2"], alpha=0.5, beta=2.0),
    ]
    graph = helper.make_graph(nodes, "handmade", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 9, 9])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 3]) for o in ("exit1", "exit2")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnx.helper")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = OUT / f"{name}.onnx"
    onnx.save(model, str(path))
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes, opset {opset})")


# ---------------------------------------------------------------------------------------------- export
def export(model, example, name, opset, dynamic_len=False, keep_batchnorm=False, mask=None):
    """mask: (input name, example tensor) of a second, attention-mask input."""
    model.eval()
    args = (example,) if mask is None else (example, mask[1])
    with torch.no_grad():
        outs = model(*args)
    names = [f"exit{i + 1}" for i in range(len(outs))]
    in_names = ["ids" if example.dtype == torch.int64 else "input"] + ([mask[0]] if mask else [])
    axes = {n: {1: "T"} for n in in_names} if dynamic_len else None
    path = OUT / f"{name}.onnx"
    torch.onnx.export(model, args, str(path), input_names=in_names, output_names=names,
                      dynamic_axes=axes, opset_version=opset, do_constant_folding=True,
                      # PRESERVE keeps BatchNormalization nodes (the exporter folds them into Conv in EVAL mode), so
                      # the importer's own folding is what the test checks.
                      training=torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL)
    size = path.stat().st_size
    print(f"wrote {path.relative_to(ROOT)} ({size} bytes, opset {opset})")
    if size > 200_000:
        raise SystemExit(f"{name}.onnx is {size} bytes: keep fixtures under 200 KB")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(14)
    torch.manual_seed(14)
    def make(cls, **kw):
        m = cls(**kw)
        randomize_norms(m, g)
        return m.eval()

    export(make(MobileNetLike), torch.randn(1, 3, 16, 16), "mbv2", 13, keep_batchnorm=True)
    export(LeNetLike(), torch.randn(1, 1, 20, 20), "lenet", 16)
    ids = torch.randint(0, 60, (1, 16))
    ones = torch.ones(1, 16, dtype=torch.int64)
    export(make(BertLike), ids, "bert_post_ln", 14, dynamic_len=True, mask=("attention_mask", ones))
    export(make(BertLike, tanh_pooler=True, d=16, ffn=16, layers=2), ids, "bert_tanh", 14, dynamic_len=True,
           mask=("attention_mask", ones))
    export(make(PreLnEncoder), torch.randint(0, 50, (1, 12)), "pre_ln", 17, dynamic_len=True)
    export(make(TorchEncoder), torch.randint(0, 40, (1, 10)), "torch_encoder", 15, dynamic_len=True,
           mask=("pad", torch.zeros(1, 10, dtype=torch.bool)))
    export(make(SeqFirstEncoder), torch.randint(0, 30, (1, 8)), "seq_first", 16, dynamic_len=True)
    export(make(GeluTanhNet), torch.randn(1, 1, 8, 8), "gelu_tanh", 13)
    handmade("handmade", 13, g)
    export(LstmNet(), torch.randint(0, 20, (1, 6)), "lstm", 13)
    export(DownsampleNet(), torch.randn(1, 1, 8, 8), "downsample", 13)
    export(CausalNet(), torch.randint(0, 10, (1, 6)), "causal", 14, dynamic_len=True)
    export(HardSwishNet(), torch.randn(1, 1, 8, 8), "hardswish", 14)
    export(ActivationsNet(), torch.randn(1, 2, 9, 9), "activations", 13)
    export(make(SeSiluNet), torch.randn(1, 3, 10, 10), "se_silu", 13)
    export(PadConcatNet(), torch.randn(1, 2, 7, 6), "pad_concat", 13)
    export(DilatedNet(), torch.randn(1, 2, 11, 9), "dilated", 13)
    return 0


if __name__ == "__main__":
    sys.exit(main())
