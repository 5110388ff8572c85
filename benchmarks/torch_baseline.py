#!/usr/bin/python3
"""torch_baseline.py — optional PyTorch baseline for benchmarks/bench-score-ids.sh (never required).

A plain PyTorch re-implementation of the LlamaForSequenceClassification forward (HF semantics, the
same as tests/reference/llama_ref.py) on the same checkpoint, fp32 weights and activations, sequences
packed along the token axis for the linear layers (as rmscore does), attention per sequence.

    python3 benchmarks/torch_baseline.py --model DIR --ids ids.txt [--threads 2] [--repeats 3]
        [--check]   also compare the scores with the float64 NumPy reference (small models only)

Prints the scores, then `torch: best of R: S s, T tokens, X tok/s` as its last line.
Works with PyTorch >= 1.13 (no scaled_dot_product_attention needed).
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch


def load_tensors(model_dir):
    """{name: fp32 torch tensor}; BF16 via uint16 -> uint32 << 16 -> float32."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as fp:
            files = sorted(set(json.load(fp)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for f in files:
        path = os.path.join(model_dir, f)
        with open(path, "rb") as fp:
            n = struct.unpack("<Q", fp.read(8))[0]
            header = json.loads(fp.read(n))
        header.pop("__metadata__", None)
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        base = 8 + n
        for name, info in header.items():
            b, e = info["data_offsets"]
            raw = mm[base + b:base + e]
            dt = info["dtype"]
            if dt == "F32":
                a = raw.view("<f4").astype(np.float32)
            elif dt == "F16":
                a = raw.view("<f2").astype(np.float32)
            elif dt == "BF16":
                a = (raw.view("<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
            else:
                raise ValueError("%s: unsupported dtype %s" % (name, dt))
            out[name] = torch.from_numpy(np.ascontiguousarray(a).reshape(info["shape"]))
    return out


def inv_freq_of(cfg, head_dim):
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        inv = np.where(medium, smoothed, scaled)
    return torch.from_numpy(inv.astype(np.float32))


class TorchLlamaRM:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as fp:
            c = json.load(fp)
        self.c = c
        self.hidden = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv = c.get("num_key_value_heads") or self.heads
        self.hd = c.get("head_dim") or self.hidden // self.heads
        self.eps = float(c.get("rms_norm_eps", 1e-6))
        self.t = load_tensors(model_dir)
        self.inv_freq = inv_freq_of(c, self.hd)

    def norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    @staticmethod
    def rot(x, cos, sin):  # x (T, H, d), rotate half
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin

    @torch.inference_mode()
    def scores(self, seqs):
        t, hd = self.t, self.hd
        lens = [len(s) for s in seqs]
        ids = torch.tensor([i for s in seqs for i in s], dtype=torch.long)
        pos = torch.cat([torch.arange(n, dtype=torch.float32) for n in lens])
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]          # (N, 1, d)
        x = t["model.embed_tokens.weight"][ids]                            # (N, hidden)
        N, rep = x.shape[0], self.heads // self.kv
        F = torch.nn.functional
        for i in range(self.layers):
            p = "model.layers.%d." % i
            h = self.norm(x, t[p + "input_layernorm.weight"])
            q = self.rot(F.linear(h, t[p + "self_attn.q_proj.weight"]).view(N, self.heads, hd), cos, sin)
            k = self.rot(F.linear(h, t[p + "self_attn.k_proj.weight"]).view(N, self.kv, hd), cos, sin)
            v = F.linear(h, t[p + "self_attn.v_proj.weight"]).view(N, self.kv, hd)
            outs, o0 = [], 0
            for n in lens:
                qs = q[o0:o0 + n].transpose(0, 1)                                   # (H, n, d)
                ks = k[o0:o0 + n].transpose(0, 1).repeat_interleave(rep, dim=0)     # (H, n, d)
                vs = v[o0:o0 + n].transpose(0, 1).repeat_interleave(rep, dim=0)
                s = torch.matmul(qs, ks.transpose(1, 2)) / math.sqrt(hd)
                mask = torch.ones(n, n, dtype=torch.bool).triu(1)
                s = s.masked_fill(mask, float("-inf")).softmax(-1)
                outs.append(torch.matmul(s, vs).transpose(0, 1).reshape(n, self.heads * hd))
                o0 += n
            x = x + F.linear(torch.cat(outs, 0), t[p + "self_attn.o_proj.weight"])
            h = self.norm(x, t[p + "post_attention_layernorm.weight"])
            g = F.linear(h, t[p + "mlp.gate_proj.weight"])
            u = F.linear(h, t[p + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(g) * u, t[p + "mlp.down_proj.weight"])
        last = torch.tensor([sum(lens[:j + 1]) - 1 for j in range(len(lens))])
        hl = self.norm(x[last], t["model.norm.weight"])
        return (hl @ t["score.weight"][0]).tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.ids) as fp:
        seqs = [json.loads(ln) for ln in fp if ln.strip()]
    t0 = time.time()
    m = TorchLlamaRM(a.model)
    print("torch %s: loaded in %.1fs, %d threads" % (torch.__version__, time.time() - t0,
                                                     torch.get_num_threads()), file=sys.stderr)
    m.scores(seqs)  # warm-up
    best, sc = float("inf"), None
    for _ in range(a.repeats):
        t0 = time.time()
        sc = m.scores(seqs)
        best = min(best, time.time() - t0)
    for s in sc:
        print("%.9g" % s)
    if a.check:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "tests", "reference"))
        import llama_ref
        ref = llama_ref.Model(a.model).scores(seqs)
        err = max(abs(x - y) / max(1.0, abs(y)) for x, y in zip(sc, ref))
        print("check vs float64 reference: max rel err %.3g" % err)
    ntok = sum(len(s) for s in seqs)
    print("torch: best of %d: %.3f s, %d tokens, %.1f tok/s" % (a.repeats, best, ntok, ntok / best))


if __name__ == "__main__":
    main()
