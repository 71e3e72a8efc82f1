"""sst2-transformer: a multi-exit pre-LN transformer encoder for SST-2, trained from scratch on CPU.

    nice -n 10 /usr/bin/python3 models/recipes/sst2_transformer.py all        # tokenizer + train + export
    ... sst2_transformer.py tokenizer | train [--resume] | export               # the steps one by one

Writes checkpoints to models/recipes/work/ (git-ignored) and the deliverables to models/sst2-transformer/.
Every layer is expressed with the engine's ops (docs/FORMAT.md):
    layer k:  [embed]  save r · layernorm · attention(window w_k) · add r · save r · layernorm · linear(gelu) · linear · add r
    exit k:   seqfirst · layernorm · linear(gelu) · linear → 2
The exits read only the [CLS] token that the tokenizer prepends, and layers 1-4 attend locally (w = 2, 4, 8, 16; 5-6
are global), so an early exit has seen only the start of the sentence: that is what makes depth matter. Training
has two stages (every phrase, then the long phrases only); see models/sst2-transformer/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from text_data import DEFAULT_DATA_DIR, STREAMS, read_kotzias, read_sst2  # noqa: E402
from tokenizer import MASK, PAD, Tokenizer, train_bpe  # noqa: E402

WORK = os.path.join(HERE, 'work')
OUT_DIR = os.path.normpath(os.path.join(HERE, '..', 'sst2-transformer'))
NAME = 'sst2-transformer'
CLASSES = ['negative', 'positive']

# The shipped configuration (runs "X2" then "F2" of the model card); the alternatives tried are flags.
# windows: local attention (±2, ±4, ±8, ±16 positions) in layers 1-4, global in 5-6, so [CLS] sees more with depth.
# Stage 2 (finetune_*): continue on the training phrases of ≥ finetune_min_len tokens (dev holds whole sentences).
DEFAULTS = dict(vocab=2048, max_len=64, d=64, heads=4, ffn=256, layers=6, head_hidden=64, dropout=0.15,
                epochs=2, batch=64, lr=2e-3, wd=0.05, warmup=300, exit_weighting='ones', distill=0.0,
                mlm_epochs=0, seed=1, log_every=0, detach_exits=1, run='sst2_transformer', tok_drop=0.2,
                windows='2,4,8,16,0,0', ema=0.0, init='', min_len=0,
                finetune_min_len=15, finetune_epochs=1, finetune_lr=5e-4, finetune_warmup=50)


# ----------------------------------------------------------------------------------------------- model
class Attention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter layout (in_proj [3D, D], out_proj)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.d, self.heads = d, heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None, window: int = 0) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.split(d, dim=-1)
        q = q.reshape(b, t, h, d // h).transpose(1, 2) * (1.0 / math.sqrt(d // h))
        k = k.reshape(b, t, h, d // h).transpose(1, 2)
        v = v.reshape(b, t, h, d // h).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        hide = None
        if key_mask is not None:  # [b, t] True where the key is padding
            hide = key_mask[:, None, None, :]
        if window > 0:
            band = band_outside(t, window)[None, None]
            if hide is None:
                hide = band
            else:
                # A padding query row may see only padding keys inside its window: let every row see itself, so no
                # row is all -inf (NaN would reach real rows through 0·NaN in the next layer). Real rows unaffected.
                hide = (hide | band) & ~torch.eye(t, dtype=torch.bool)[None, None]
        if hide is not None:
            s = s.masked_fill(hide, float('-inf'))
        a = torch.softmax(s, dim=-1) @ v
        return self.out_proj(a.transpose(1, 2).reshape(b, t, d))


def band_outside(t: int, window: int) -> torch.Tensor:
    """[t, t] True where key j is farther than `window` positions from query i."""
    idx = torch.arange(t)
    return (idx[None, :] - idx[:, None]).abs() > window


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int, dropout: float, window: int = 0):
        super().__init__()
        self.window = window
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask):
        x = x + self.drop(self.attn(self.ln1(x), key_mask, self.window))
        return x + self.drop(self.fc2(self.drop(F.gelu(self.fc1(self.ln2(x))))))


class Exit(nn.Module):
    """layernorm on the [CLS] row, then linear(gelu) + linear (hidden > 0) or a single linear (hidden == 0)."""

    def __init__(self, d: int, hidden: int, classes: int):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden) if hidden > 0 else None
        self.fc2 = nn.Linear(hidden if hidden > 0 else d, classes)

    def forward(self, x):  # x: [b, t, d]; reads the [CLS] row only (op seqfirst)
        return self.cls_logits(x[:, 0])

    def cls_logits(self, c):
        c = self.ln(c)
        return self.fc2(F.gelu(self.fc1(c)) if self.fc1 is not None else c)


def layer_windows(cfg) -> List[int]:
    """Per-layer attention window (0 = global) from cfg['windows'] = "w1,w2,…" (empty: all global)."""
    ws = [int(v) for v in cfg.get('windows', '').split(',') if v.strip() != '']
    return (ws + [0] * cfg['layers'])[:cfg['layers']]


class MultiExitEncoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d = cfg['d']
        self.cfg = cfg
        self.tok = nn.Embedding(cfg['vocab'], d)
        self.pos = nn.Parameter(torch.zeros(cfg['max_len'], d))
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)
        self.drop = nn.Dropout(cfg['dropout'])
        windows = layer_windows(cfg)
        self.blocks = nn.ModuleList(Block(d, cfg['heads'], cfg['ffn'], cfg['dropout'], windows[k])
                                    for k in range(cfg['layers']))
        early = cfg.get('early_head_hidden', -1)
        self.exits = nn.ModuleList(
            Exit(d, cfg['head_hidden'] if early < 0 or k == cfg['layers'] - 1 else early, len(CLASSES))
            for k in range(cfg['layers']))
        self.mlm_ln = nn.LayerNorm(d)  # masked-LM pretraining head (tied to tok), not exported

    def hidden(self, ids: torch.Tensor, key_mask):
        t = ids.shape[1]
        x = self.drop(self.tok(ids) + self.pos[:t])
        states = []
        for blk in self.blocks:
            x = blk(x, key_mask)
            states.append(x)
        return states

    def forward(self, ids: torch.Tensor, key_mask: torch.Tensor | None = None) -> List[torch.Tensor]:
        hs = self.hidden(ids, key_mask)
        if self.training and self.cfg['detach_exits']:
            # DeeBERT-style: only the last exit trains the backbone; earlier exits are heads on its states.
            hs = [h.detach() for h in hs[:-1]] + [hs[-1]]
        return [ex(h) for ex, h in zip(self.exits, hs)]

    def mlm_logits(self, h):
        return F.linear(self.mlm_ln(h), self.tok.weight)


class OnnxWrapper(nn.Module):
    """ids int64 [1, T] (dynamic T, no padding) → softmax probabilities at every exit."""

    def __init__(self, m: MultiExitEncoder):
        super().__init__()
        self.m = m

    def forward(self, ids):
        return tuple(torch.softmax(z, dim=-1) for z in self.m(ids, None))


# ----------------------------------------------------------------------------------------------- data
def load_tokenizer(vocab: int, max_len: int) -> Tokenizer:
    path = os.path.join(WORK, 'tokenizer.json')
    if os.path.exists(path):
        spec = json.load(open(path))
        if len(spec['vocab']) == vocab and spec['maxLen'] == max_len:
            return Tokenizer(spec)
    spec = train_bpe([s.text for s in read_sst2(DEFAULT_DATA_DIR, 'train')], vocab, max_len)
    os.makedirs(WORK, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(spec, f)
    return Tokenizer(spec)


def batches(seqs: List[List[int]], labels: List[int] | None, batch: int, rng: random.Random | None):
    """Length-bucketed batches (little padding); shuffled when rng is given."""
    order = list(range(len(seqs)))
    if rng is not None:
        rng.shuffle(order)
        chunk = batch * 50
        order = [i for c in range(0, len(order), chunk) for i in sorted(order[c:c + chunk], key=lambda j: len(seqs[j]))]
    else:
        order.sort(key=lambda j: len(seqs[j]))
    groups = [order[i:i + batch] for i in range(0, len(order), batch)]
    if rng is not None:
        rng.shuffle(groups)
    for g in groups:
        t = max(len(seqs[j]) for j in g)
        ids = torch.full((len(g), t), PAD, dtype=torch.long)
        for r, j in enumerate(g):
            ids[r, :len(seqs[j])] = torch.tensor(seqs[j])
        y = torch.tensor([labels[j] for j in g]) if labels is not None else None
        yield g, ids, ids == PAD, y


@torch.no_grad()
def evaluate(model, seqs, labels, batch=128):
    """Per-exit accuracy and mean confidence. Padding is masked out of attention and exits read [CLS] only,
    so this equals batch-1 evaluation at true lengths (up to float rounding)."""
    model.eval()
    n_exit = model.cfg['layers']
    correct = [0] * n_exit
    conf = [0.0] * n_exit
    for g, ids, mask, y in batches(seqs, labels, batch, None):
        for k, z in enumerate(model(ids, mask)):
            p = torch.softmax(z, -1)
            c, pred = p.max(-1)
            correct[k] += int((pred == y).sum())
            conf[k] += float(c.sum())
    n = len(seqs)
    return [{'layer': k + 1, 'accuracy': correct[k] / n, 'meanConfidence': conf[k] / n} for k in range(n_exit)]


# ----------------------------------------------------------------------------------------------- training
def exit_weights(cfg) -> List[float]:
    L = cfg['layers']
    if cfg['exit_weighting'] == 'ones':  # unnormalized: every exit's loss at full weight
        return [1.0] * L
    w = [float(k + 1) for k in range(L)] if cfg['exit_weighting'] == 'linear' else [1.0] * L
    s = sum(w)
    return [x / s for x in w]


def lr_at(step, total, cfg):
    if step < cfg['warmup']:
        return cfg['lr'] * (step + 1) / cfg['warmup']
    return cfg['lr'] * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg['warmup']) / max(1, total - cfg['warmup']))))


def make_opt(model, cfg):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or n.endswith('pos') else decay).append(p)
    return torch.optim.AdamW([{'params': decay, 'weight_decay': cfg['wd']}, {'params': no_decay, 'weight_decay': 0.0}],
                             lr=cfg['lr'], betas=(0.9, 0.98))


def mlm_pretrain(model, texts_ids: List[List[int]], cfg, log):
    """BERT-style masked-LM on SST-2 train + Kotzias text (labels unused): 15% of non-CLS tokens."""
    rng = random.Random(cfg['seed'] + 7)
    opt = make_opt(model, cfg)
    seqs = [s for s in texts_ids if len(s) > 2]
    total = cfg['mlm_epochs'] * math.ceil(len(seqs) / cfg['batch'])
    step = 0
    V = cfg['vocab']
    for ep in range(cfg['mlm_epochs']):
        model.train()
        t0, tot = time.time(), 0.0
        for g, ids, pad, _ in batches(seqs, None, cfg['batch'], rng):
            inp = ids.clone()
            sel = (torch.rand(ids.shape) < 0.15) & ~pad
            sel[:, 0] = False
            r = torch.rand(ids.shape)
            inp[sel & (r < 0.8)] = MASK
            rnd = sel & (r >= 0.8) & (r < 0.9)
            inp[rnd] = torch.randint(4, V, (int(rnd.sum()),))
            for grp in opt.param_groups:
                grp['lr'] = lr_at(step, total, cfg)
            h = model.hidden(inp, pad)[-1]
            loss = F.cross_entropy(model.mlm_logits(h[sel]), ids[sel]) if sel.any() else h.sum() * 0
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tot += float(loss)
        log(f'mlm epoch {ep + 1}: loss {tot / max(1, step - ep * (total // cfg["mlm_epochs"])):.3f} ({time.time() - t0:.0f}s)')


def swapped(model, state):
    """A copy of model with the given weights (for evaluating the EMA without disturbing training)."""
    m = MultiExitEncoder(model.cfg)
    m.load_state_dict(state)
    return m


def train(cfg, resume=False, log=print):
    torch.manual_seed(cfg['seed'])
    rng = random.Random(cfg['seed'])
    tok = load_tokenizer(cfg['vocab'], cfg['max_len'])
    tr = read_sst2(DEFAULT_DATA_DIR, 'train')
    dev = read_sst2(DEFAULT_DATA_DIR, 'dev')
    tr_ids = [tok.encode(s.text) for s in tr]
    tr_y = [s.label for s in tr]
    if cfg['min_len'] > 0:  # train on the longer phrases only (closer to dev's whole sentences)
        keep = [i for i, x in enumerate(tr_ids) if len(x) >= cfg['min_len']]
        tr_ids, tr_y = [tr_ids[i] for i in keep], [tr_y[i] for i in keep]
        log(f'{len(tr_ids):,} training phrases of ≥ {cfg["min_len"]} tokens')
    dev_ids = [tok.encode(s.text) for s in dev]
    dev_y = [s.label for s in dev]
    model = MultiExitEncoder(cfg)
    log(f'params: {sum(p.numel() for n, p in model.named_parameters() if not n.startswith("mlm")):,}')
    ckpt = os.path.join(WORK, cfg['run'] + '.pt')
    start_ep, history = 0, []
    opt = make_opt(model, cfg)
    t_start = time.time()
    if resume and os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st['model'])
        opt.load_state_dict(st['opt'])
        start_ep, history = st['epoch'], st['history']
        log(f'resumed after epoch {start_ep}')
    elif cfg['init']:  # fine-tune: start from another run's weights (fresh optimizer and schedule)
        model.load_state_dict(torch.load(os.path.join(WORK, cfg['init'] + '.pt'))['model'])
        log(f'initialized from {cfg["init"]}')
    elif cfg['mlm_epochs'] > 0:
        extra = [tok.encode(s.text) for w in ('imdb', 'yelp', 'amazon') for s in read_kotzias(DEFAULT_DATA_DIR, w)]
        mlm_pretrain(model, tr_ids + extra, cfg, log)
        opt = make_opt(model, cfg)
    w = exit_weights(cfg)
    # Exponential moving average of the weights (0 = off): evaluated and saved in place of the raw weights, which
    # keep training (the checkpoint's 'raw' entry, used by --resume).
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if cfg['ema'] > 0 else None
    if ema is not None and resume and os.path.exists(ckpt) and 'raw' in st:
        ema = {k: v.clone() for k, v in st['model'].items()}
        model.load_state_dict(st['raw'])
    steps_per_ep = math.ceil(len(tr_ids) / cfg['batch'])
    total = cfg['epochs'] * steps_per_ep
    for ep in range(start_ep, cfg['epochs']):
        model.train()
        t0, tot, step = time.time(), 0.0, ep * steps_per_ep
        for g, ids, mask, y in batches(tr_ids, tr_y, cfg['batch'], rng):
            for grp in opt.param_groups:
                grp['lr'] = lr_at(step, total, cfg)
            if cfg['tok_drop'] > 0:
                # Token dropout: hide random pieces behind [MASK] so no single word decides (not [CLS], not padding).
                hide = (torch.rand(ids.shape) < cfg['tok_drop']) & ~mask
                hide[:, 0] = False
                ids = ids.masked_fill(hide, MASK)
            logits = model(ids, mask)
            loss = sum(wk * F.cross_entropy(z, y) for wk, z in zip(w, logits))
            if cfg['distill'] > 0:
                # Self-distillation: earlier exits also match the (detached) last exit's distribution.
                tgt = torch.softmax(logits[-1].detach(), -1)
                kd = sum(F.kl_div(F.log_softmax(z, -1), tgt, reduction='batchmean') for z in logits[:-1])
                loss = loss + cfg['distill'] * kd / (len(logits) - 1)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    for k, v in model.state_dict().items():
                        if v.dtype.is_floating_point:
                            ema[k].mul_(cfg['ema']).add_(v, alpha=1 - cfg['ema'])
            tot += float(loss)
            step += 1
            if cfg['log_every'] and step % cfg['log_every'] == 0:
                mid = evaluate(model, dev_ids, dev_y)
                if ema is not None:
                    mid_e = evaluate(swapped(model, ema), dev_ids, dev_y)
                    log('  ema ' + ' '.join(f'{r["accuracy"] * 100:.1f}' for r in mid_e))
                model.train()
                log(f'  step {step}: dev ' + ' '.join(f'{r["accuracy"] * 100:.1f}' for r in mid)
                    + f' ({time.time() - t0:.0f}s)')
        raw = None
        if ema is not None:
            raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.load_state_dict(ema)
        res = evaluate(model, dev_ids, dev_y)
        history.append({'epoch': ep + 1, 'loss': tot / steps_per_ep, 'dev': [round(r['accuracy'], 4) for r in res],
                        'seconds': round(time.time() - t0, 1)})
        accs = ' '.join(f'{r["accuracy"] * 100:.1f}' for r in res)
        log(f'epoch {ep + 1}: loss {tot / steps_per_ep:.4f} dev {accs} ({time.time() - t0:.0f}s)')
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'epoch': ep + 1, 'history': history,
                    'cfg': cfg, **({'raw': raw} if raw is not None else {})}, ckpt)
        if raw is not None:
            model.load_state_dict(raw)
    log(f'training time {time.time() - t_start:.0f}s')
    return model, tok, history


@torch.no_grad()
def cls_features(model, seqs, batch=256) -> torch.Tensor:
    """[N, L, D] [CLS] states after every layer (eval mode, padding masked: equal to batch-1 states)."""
    model.eval()
    out = torch.empty(len(seqs), model.cfg['layers'], model.cfg['d'])
    for g, ids, mask, _ in batches(seqs, None, batch, None):
        hs = model.hidden(ids, mask)
        out[g] = torch.stack([h[:, 0] for h in hs], 1)
    return out


def refit_heads(cfg_hidden: int, run: str, epochs: int = 8, log=print):
    """Stage 2 (DeeBERT-style): keep the backbone and the last exit, retrain exits 1..L-1 on frozen [CLS] states
    of the SST-2 training phrases with `cfg_hidden` hidden units (0 = a single linear layer)."""
    ckpt = os.path.join(WORK, run + '.pt')
    stage1 = os.path.join(WORK, run + '.stage1.pt')  # as trained, kept so the refit can be redone
    if not os.path.exists(stage1) or torch.load(ckpt).get('stages') is None:
        import shutil
        shutil.copyfile(ckpt, stage1)
    st = torch.load(stage1)
    cfg = dict(st['cfg'])
    old = MultiExitEncoder(cfg)
    old.load_state_dict(st['model'])
    tok = load_tokenizer(cfg['vocab'], cfg['max_len'])
    tr = read_sst2(DEFAULT_DATA_DIR, 'train')
    dev = read_sst2(DEFAULT_DATA_DIR, 'dev')
    t0 = time.time()
    feats_path = os.path.join(WORK, run + '.cls_features.pt')
    if os.path.exists(feats_path) and torch.load(feats_path)['epoch'] == st['epoch']:
        feats = torch.load(feats_path)['feats']
    else:
        feats = cls_features(old, [tok.encode(s.text) for s in tr])
        torch.save({'epoch': st['epoch'], 'feats': feats}, feats_path)
    dev_feats = cls_features(old, [tok.encode(s.text) for s in dev])
    y, dev_y = torch.tensor([s.label for s in tr]), torch.tensor([s.label for s in dev])
    log(f'features: {tuple(feats.shape)} ({time.time() - t0:.0f}s)')
    cfg['early_head_hidden'] = cfg_hidden
    new = MultiExitEncoder(cfg)
    sd = {k: v for k, v in st['model'].items() if not any(k.startswith(f'exits.{i}.') for i in range(cfg['layers'] - 1))}
    missing = new.load_state_dict(sd, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    g = torch.Generator().manual_seed(cfg['seed'])
    for k in range(cfg['layers'] - 1):
        head = new.exits[k]
        opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=0.01)
        steps = epochs * math.ceil(len(y) / 256)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        for ep in range(epochs):
            perm = torch.randperm(len(y), generator=g)
            for i in range(0, len(y), 256):
                idx = perm[i:i + 256]
                loss = F.cross_entropy(head.cls_logits(feats[idx, k]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        with torch.no_grad():
            acc = float((head.cls_logits(dev_feats[:, k]).argmax(-1) == dev_y).float().mean())
        log(f'exit {k + 1}: hidden {cfg_hidden}, dev {acc * 100:.2f}')
    st['model'] = new.state_dict()
    st['cfg'] = cfg
    st['opt'] = None
    st.setdefault('stages', []).append({'refitHeads': cfg_hidden, 'epochs': epochs})
    torch.save(st, ckpt)
    return new


# ----------------------------------------------------------------------------------------------- export
def spx_graph(cfg, hidden: List[int]) -> tuple[list, list]:
    layers, exits = [], []
    windows = layer_windows(cfg)
    for k in range(cfg['layers']):
        p = f'block{k + 1}.'
        ops = [{'op': 'embed', 'tok': 'embed.tok', 'pos': 'embed.pos'}] if k == 0 else []
        attn = {'op': 'attention', 'heads': cfg['heads'], 'wqkv': p + 'attn.wqkv', 'bqkv': p + 'attn.bqkv',
                'wo': p + 'attn.wo', 'bo': p + 'attn.bo'}
        if windows[k] > 0:
            attn['window'] = windows[k]
        ops += [
            {'op': 'save', 'name': 'r'},
            {'op': 'layernorm', 'g': p + 'ln1.g', 'b': p + 'ln1.b', 'eps': 1e-5},
            attn,
            {'op': 'add', 'name': 'r'},
            {'op': 'save', 'name': 'r'},
            {'op': 'layernorm', 'g': p + 'ln2.g', 'b': p + 'ln2.b', 'eps': 1e-5},
            {'op': 'linear', 'w': p + 'fc1.w', 'b': p + 'fc1.b', 'act': 'gelu'},
            {'op': 'linear', 'w': p + 'fc2.w', 'b': p + 'fc2.b'},
            {'op': 'add', 'name': 'r'},
        ]
        layers.append({'name': f'block{k + 1}', 'ops': ops})
        e = f'exit{k + 1}.'
        head = [{'op': 'linear', 'w': e + 'fc1.w', 'b': e + 'fc1.b', 'act': 'gelu'}] if hidden[k] > 0 else []
        exits.append({'layer': k + 1, 'ops': [
            {'op': 'seqfirst'},
            {'op': 'layernorm', 'g': e + 'ln.g', 'b': e + 'ln.b', 'eps': 1e-5},
            *head,
            {'op': 'linear', 'w': e + 'fc2.w', 'b': e + 'fc2.b'},
        ]})
    return layers, exits


def spx_tensors(model) -> Dict[str, torch.Tensor]:
    """Engine tensor name → (torch parameter, quantizable)."""
    t = {'embed.tok': (model.tok.weight, True), 'embed.pos': (model.pos, False)}
    for k, b in enumerate(model.blocks):
        p = f'block{k + 1}.'
        t.update({p + 'ln1.g': (b.ln1.weight, False), p + 'ln1.b': (b.ln1.bias, False),
                  p + 'attn.wqkv': (b.attn.in_proj_weight, True), p + 'attn.bqkv': (b.attn.in_proj_bias, False),
                  p + 'attn.wo': (b.attn.out_proj.weight, True), p + 'attn.bo': (b.attn.out_proj.bias, False),
                  p + 'ln2.g': (b.ln2.weight, False), p + 'ln2.b': (b.ln2.bias, False),
                  p + 'fc1.w': (b.fc1.weight, True), p + 'fc1.b': (b.fc1.bias, False),
                  p + 'fc2.w': (b.fc2.weight, True), p + 'fc2.b': (b.fc2.bias, False)})
    for k, ex in enumerate(model.exits):
        e = f'exit{k + 1}.'
        t.update({e + 'ln.g': (ex.ln.weight, False), e + 'ln.b': (ex.ln.bias, False)})
        if ex.fc1 is not None:
            t.update({e + 'fc1.w': (ex.fc1.weight, True), e + 'fc1.b': (ex.fc1.bias, False)})
        t.update({e + 'fc2.w': (ex.fc2.weight, True), e + 'fc2.b': (ex.fc2.bias, False)})
    return t


@torch.no_grad()
def eval_batch1(model, tok, texts_labels):
    """Per-exit accuracy / mean confidence computed one sentence at a time at its true length."""
    model.eval()
    L = model.cfg['layers']
    correct, conf = [0] * L, [0.0] * L
    for s in texts_labels:
        ids = torch.tensor([tok.encode(s.text)])
        for k, z in enumerate(model(ids, None)):
            p = torch.softmax(z[0].double(), -1)
            c, pred = float(p.max()), int(p.argmax())
            correct[k] += int(pred == s.label)
            conf[k] += c
    n = len(texts_labels)
    return [{'layer': k + 1, 'accuracy': round(correct[k] / n, 6), 'meanConfidence': round(conf[k] / n, 6)}
            for k in range(L)]


def attended_pairs(T: int, window: int) -> int:
    """Number of (query, key) pairs attention scores at length T: T² when global, fewer inside a window."""
    if window <= 0 or window >= T - 1:
        return T * T
    return sum(min(T - 1, i + window) - max(0, i - window) + 1 for i in range(T))


def card_stats(cfg, lens: List[int]) -> dict:
    """FLOPs (a multiply-add = 2) of every layer and exit, averaged over the given sequence lengths (windowed layers
    score fewer pairs), and activation bytes at each split point at the mean length."""
    D, H, Fh, E = cfg['d'], cfg['heads'], cfg['ffn'], cfg['head_hidden']
    T = sum(lens) / len(lens)
    ln = 8 * T * D
    proj = 2 * T * D * 3 * D + 2 * T * D * D
    mlp = 2 * T * D * Fh * 2 + 8 * T * Fh
    attn = []
    for w in layer_windows(cfg):
        pairs = sum(attended_pairs(t, w) for t in lens) / len(lens)
        attn.append(proj + 2 * pairs * D * 2 + 5 * H * pairs)  # q·k and p·v over dh per head, softmax
    blocks = [2 * ln + a + mlp + 2 * T * D for a in attn]
    exit_ = 8 * D + 2 * D * E + 8 * E + 2 * E * 2 + 5 * 2
    return {'T': T, 'embedFlops': T * D, 'blockFlops': blocks, 'exitFlops': exit_,
            'attentionFlops': attn, 'mlpFlops': mlp, 'windows': layer_windows(cfg),
            'splitBytesPerToken': {'f32': 4 * D, 'int8': D},  # + 4 bytes of scale per token row for int8
            'splitBytesAtMean': {'f32': 4 * D * T, 'int8': D * T + 4 * T},
            'inputBytesPerToken': 4}


def export(run: str, log=print, quantize=True):
    import datetime
    import spx  # models/recipes/spx.py (writer shared by the recipes)
    st = torch.load(os.path.join(WORK, run + '.pt'))
    cfg = st['cfg']
    model = MultiExitEncoder(cfg)
    model.load_state_dict(st['model'])
    model.eval()
    tok = load_tokenizer(cfg['vocab'], cfg['max_len'])
    dev = read_sst2(DEFAULT_DATA_DIR, 'dev')
    dev_ids = [tok.encode(s.text) for s in dev]
    dev_y = [s.label for s in dev]
    f32_res = evaluate(model, dev_ids, dev_y)
    tensors = {}
    for name, (p, q) in spx_tensors(model).items():
        if quantize and q:
            qt = spx.quantize_per_channel(p.detach().float())
            tensors[name] = qt
            p.data.copy_(qt.dequantize() if hasattr(qt, 'dequantize') else spx.dequantize(qt))
        else:
            tensors[name] = p.detach().float().clone()
    q_res = evaluate(model, dev_ids, dev_y)
    log('dev f32 : ' + ' '.join(f'{r["accuracy"]*100:.2f}' for r in f32_res))
    log('dev int8: ' + ' '.join(f'{r["accuracy"]*100:.2f}' for r in q_res))
    layers, exits = spx_graph(cfg, [0 if ex.fc1 is None else ex.fc1.out_features for ex in model.exits])
    header = {
        'format': 'splitee-model', 'name': NAME, 'task': 'text-classification', 'classes': CLASSES,
        'input': {'kind': 'tokens', 'maxLen': cfg['max_len'], 'vocabSize': cfg['vocab']},
        'preprocess': tok.spec, 'layers': layers, 'exits': exits,
        'provenance': {'recipe': 'models/recipes/sst2_transformer.py', 'dataset': 'SST-2 (GLUE) train.tsv',
                       'trained': datetime.date.today().isoformat(), 'config': cfg,
                       'history': st['history'], 'weights': 'int8 per-channel' if quantize else 'f32',
                       'devAccuracyF32': [round(r['accuracy'], 4) for r in f32_res]},
    }
    os.makedirs(OUT_DIR, exist_ok=True)
    spx_path = os.path.join(OUT_DIR, f'{NAME}.spx')
    spx.write_spx(spx_path, header, tensors)
    log(f'wrote {spx_path} ({os.path.getsize(spx_path):,} bytes)')

    # ONNX: the same (dequantized) weights, dynamic sequence length, batch 1, no padding.
    onnx_path = os.path.join(OUT_DIR, f'{NAME}.onnx')
    wrapper = OnnxWrapper(model).eval()
    names = [f'exit{k + 1}' for k in range(cfg['layers'])]
    torch.onnx.export(wrapper, (torch.tensor([dev_ids[0]]),), onnx_path, input_names=['ids'], output_names=names,
                      dynamic_axes={'ids': {1: 'T'}}, opset_version=14, do_constant_folding=True)
    log(f'wrote {onnx_path} ({os.path.getsize(onnx_path):,} bytes)')

    # parity.json: 32 dev sentences, probabilities at every exit at true length, batch 1.
    rng = random.Random(32)
    pick = sorted(rng.sample(range(len(dev)), 32))
    cases = []
    with torch.no_grad():
        for i in pick:
            ids = dev_ids[i]
            outs = wrapper(torch.tensor([ids]))
            cases.append({'text': dev[i].text, 'label': dev[i].label, 'ids': ids,
                          'probs': [[float(v) for v in o[0]] for o in outs]})
    with open(os.path.join(OUT_DIR, 'parity.json'), 'w') as f:
        json.dump({'model': NAME, 'stream': 'sst2:dev', 'note': 'softmax probabilities per exit, PyTorch f32, '
                   'int8-dequantized weights, batch 1 at true length', 'cases': cases}, f)
        f.write('\n')

    ev = {'model': NAME, 'source': 'PyTorch, exported weights (int8 dequantized), batch 1 at true length, '
          'models/recipes/sst2_transformer.py',
          'units': 'accuracy is a fraction in [0, 1] (as `splitee eval --json`); meanConfidence = mean of max(probs)',
          'weights': header['provenance']['weights'], 'streams': {}}
    for sname, fn in STREAMS.items():
        samples = fn(DEFAULT_DATA_DIR)
        ev['streams'][sname] = {'n': len(samples), 'exits': eval_batch1(model, tok, samples)}
        log(f'{sname:15s} ' + ' '.join(f'{r["accuracy"]*100:.1f}/{r["meanConfidence"]:.2f}'
                                       for r in ev['streams'][sname]['exits']))
    with open(os.path.join(OUT_DIR, 'eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)
        f.write('\n')
    write_card_tables(model, tok, ev, f32_res, q_res, os.path.join(WORK, run + '.card.md'))
    with open(os.path.join(OUT_DIR, 'eval.json'), 'w') as f:  # again, now with the per-layer costs
        json.dump(ev, f, indent=1)
        f.write('\n')
    return model, tok


def write_card_tables(model, tok, ev, f32_res, q_res, path):
    """Markdown tables for the model card (numbers straight from the exported model)."""
    cfg = model.cfg
    L = cfg['layers']
    dev = read_sst2(DEFAULT_DATA_DIR, 'dev')
    lens = [len(tok.encode(s.text)) for s in dev]
    T = sum(lens) / len(lens)
    st = card_stats(cfg, lens)
    ev['costs'] = {'meanDevTokens': T, 'flopsPerLayer': st['blockFlops'], 'flopsPerExit': st['exitFlops'],
                   'flopsEmbed': st['embedFlops'], 'splitBytesPerToken': st['splitBytesPerToken'],
                   'attentionWindows': st['windows'],
                   'note': 'FLOPs averaged over the sst2:dev lengths (a multiply-add = 2); every split point carries [T, D]'}
    lines = [f'Mean dev length T = {T:.2f} tokens ([CLS] included), max {max(lens)}, '
             f'{sum(l == cfg["max_len"] for l in lens)} of {len(lens)} truncated to {cfg["max_len"]}.', '',
             '| split after | attention window | layer FLOPs | cumulative device FLOPs incl. exits | exit FLOPs '
             '| bytes sent f32 / token | int8 / token | f32 at mean T | int8 at mean T |',
             '|---|---|---|---|---|---|---|---|---|']
    cum = st['embedFlops']
    lines.append(f'| 0 (input ids) | – | – | 0 | – | 4 | 4 | {4 * T:.0f} | {4 * T:.0f} |')
    for k in range(L):
        cum += st['blockFlops'][k] + st['exitFlops']
        w = st['windows'][k]
        lines.append(f'| {k + 1} | {f"±{w}" if w > 0 else "global"} | {st["blockFlops"][k] / 1e6:.3f} M '
                     f'| {cum / 1e6:.3f} M | {st["exitFlops"] / 1e3:.1f} k '
                     f'| {st["splitBytesPerToken"]["f32"]} | {st["splitBytesPerToken"]["int8"]} (+4 scale) '
                     f'| {st["splitBytesAtMean"]["f32"]:.0f} | {st["splitBytesAtMean"]["int8"]:.0f} |')
    lines += ['', '| stream | n | ' + ' | '.join(f'exit {k + 1}' for k in range(L)) + ' |',
              '|---|---|' + '---|' * L]
    for sname, r in ev['streams'].items():
        lines.append(f'| {sname} | {r["n"]} | ' + ' | '.join(
            f'{e["accuracy"] * 100:.2f}% / {e["meanConfidence"]:.3f}' for e in r['exits']) + ' |')
    lines += ['', 'sst2:dev f32 weights: ' + ' '.join(f'{r["accuracy"] * 100:.2f}' for r in f32_res),
              'sst2:dev int8 weights: ' + ' '.join(f'{r["accuracy"] * 100:.2f}' for r in q_res),
              f'parameters (exported): {sum(p.numel() for n, p in model.named_parameters() if not n.startswith("mlm")):,}',
              f'stats: {json.dumps(st)}']
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def training_stages(cfg) -> List[dict]:
    """Stage 1 trains cfg['run'] + '-base' on every phrase; stage 2 fine-tunes it into cfg['run'] on the long phrases.
    With finetune_epochs 0, or when starting from another run (--init), there is one stage: cfg itself."""
    if cfg['finetune_epochs'] <= 0 or cfg['init']:
        return [cfg]
    base = dict(cfg, run=cfg['run'] + '-base')
    tune = dict(cfg, init=base['run'], min_len=cfg['finetune_min_len'], epochs=cfg['finetune_epochs'],
                lr=cfg['finetune_lr'], warmup=cfg['finetune_warmup'])
    return [base, tune]


def main(argv: Sequence[str]):
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument('step', choices=['tokenizer', 'train', 'heads', 'export', 'all'])
    ap.add_argument('--early-head-hidden', type=int, default=0,
                    help='heads step: hidden units of the refitted exits 1..L-1 (0 = linear)')
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--f32', action='store_true', help='export f32 weights instead of int8')
    for k, v in DEFAULTS.items():
        ap.add_argument('--' + k.replace('_', '-'), type=type(v), default=v)
    a = ap.parse_args(argv)
    cfg = {k: getattr(a, k) for k in DEFAULTS}
    if a.step == 'tokenizer':
        load_tokenizer(cfg['vocab'], cfg['max_len'])
    if a.step in ('train', 'all'):
        for stage in training_stages(cfg):
            train(stage, resume=a.resume)
    if a.step == 'heads':  # optional stage 2 (kept for the record: it did not widen the depth gradient)
        refit_heads(a.early_head_hidden, cfg['run'])
    if a.step in ('export', 'all'):
        export(cfg['run'], quantize=not a.f32)


if __name__ == '__main__':
    main(sys.argv[1:])
