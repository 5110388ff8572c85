#!/usr/bin/python3
"""torch_baseline.py — optional PyTorch baselines for the benchmarks (never required).

A plain PyTorch re-implementation of the LlamaForSequenceClassification forward (HF semantics, the
same as tests/reference/llama_ref.py) on the same checkpoint. Two input modes:

  --ids FILE (benchmarks/bench-score-ids.sh): JSON id lists, one sequence a line; sequences packed
      along the token axis for the linear layers (as rmscore does), attention per sequence. Prints the
      scores, then `torch: best of R: S s, T tokens, X tok/s` as its last line (R default 3, after one
      warm-up pass).

        python3 benchmarks/torch_baseline.py --model DIR --ids ids.txt [--threads 2] [--repeats 3]
            [--dtype fp32|bf16] [--check]   (--check: compare with the float64 NumPy reference, small
                                             models only)

  --pairs PAIRS.h5 (benchmarks/bench-score-pairs.sh): a dataset of `rmscore prepare`; every chosen and
      rejected sequence of the rows with /pairs/status 0 (ok; 3 is bad input), scored the way
      transformers users batch them: all sequences sorted by length (longest first), cut into batches
      of --batch sequences, each batch right-padded (pad id 0) to its longest sequence and run as one
      (B, T) forward with a causal + padding attention mask (padded positions are computed, as in
      transformers; positions 0..T-1 per row, as transformers without position_ids), the score read
      at each sequence's last real token (as LlamaForSequenceClassification with a pad token).

        python3 benchmarks/torch_baseline.py --model DIR --pairs pairs.h5 [--batch 8] [--threads 2]
            [--dtype fp32|bf16] [--max-tokens N] [--repeats 1] [--scores-out FILE]
            [--check-against scores.h5]

      --max-tokens N   skip the pairs with a sequence longer than N tokens (as `rmscore score
                       --max-tokens N`, whose default --overlong skip marks them status 2)
      --repeats R      timed scoring passes over the whole set (default 1); the reported time is the
                       best. Before the first one, the shortest batch is run once untimed (warm-up of
                       the thread pool, allocator and kernels, negligible next to a pass); a full
                       warm-up pass is not made (with a 1B model one pass takes many minutes).
                       Weight loading is never timed.
      --scores-out F   one line per scored row, in row order: `row chosen rejected`
      --check-against S  compare with the /scores of `rmscore score` (rows scored by both): prints
                       `check vs S: N pairs, max rel diff X (...), max abs diff Y, max per-score rel
                       diff Z`, X = max |torch - rmscore| / max |rmscore score| (relative to the
                       scores' scale: a score near 0 would inflate a per-score ratio; Z is that one)
      The last line is `torch: best of R: S s, P pairs, T tokens (real), X pairs/s, Y tok/s`
      (T: the sequences' own tokens, padding not counted; the line before it gives the padded count).

--dtype fp32 (default): weights and activations fp32. --dtype bf16: as transformers users run
`model.to(torch.bfloat16)`: weights (a bf16 checkpoint's as they are, others rounded to nearest even)
and activations bf16, with HF's upcasts: RMSNorm statistics in fp32 (LlamaRMSNorm upcasts, normalizes,
casts back, then multiplies by the bf16 weight), RoPE cos/sin computed in fp32 then cast to bf16,
attention softmax in fp32 then cast to bf16. The score head is computed in fp32 from the bf16 final
hidden state (transformers would also round the logit to bf16; not doing it keeps the score's own
precision, and the cost is nil). In --pairs mode the attention of a batch is computed in blocks of
query rows so that a (B, H, rows, T) block stays under 16 MiB: the same products, masked (with the
dtype's min, as transformers' additive mask) and normalized per row as transformers' eager (B, H, T, T)
attention, without its memory use.
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

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ATT_BLOCK_ELEMS = 1 << 22  # elements of one attention score block in --pairs mode (16 MiB fp32: below
                           # glibc's largest mmap threshold, so the blocks' memory is reused, not re-faulted)


def load_tensors(model_dir, dtype=torch.float32):
    """{name: torch tensor of dtype}. fp32: BF16 via uint16 -> uint32 << 16 -> float32. bf16: BF16
    tensors kept bit for bit (no fp32 copy of the whole model), F32/F16 rounded by torch."""
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
            if dtype == torch.bfloat16 and dt == "BF16":
                a = np.array(raw.view("<i2"))  # a writable copy, then the same bits as bfloat16
                out[name] = torch.from_numpy(a).view(torch.bfloat16).reshape(info["shape"])
                continue
            if dt == "F32":
                a = raw.view("<f4").astype(np.float32)
            elif dt == "F16":
                a = raw.view("<f2").astype(np.float32)
            elif dt == "BF16":
                a = (raw.view("<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
            else:
                raise ValueError("%s: unsupported dtype %s" % (name, dt))
            t = torch.from_numpy(np.ascontiguousarray(a).reshape(info["shape"]))
            out[name] = t if dtype == torch.float32 else t.to(dtype)
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
    def __init__(self, model_dir, dtype=torch.float32):
        with open(os.path.join(model_dir, "config.json")) as fp:
            c = json.load(fp)
        self.c = c
        self.dtype = dtype
        self.hidden = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv = c.get("num_key_value_heads") or self.heads
        self.hd = c.get("head_dim") or self.hidden // self.heads
        self.eps = float(c.get("rms_norm_eps", 1e-6))
        self.t = load_tensors(model_dir, dtype)
        self.inv_freq = inv_freq_of(c, self.hd)
        self.score_w = self.t["score.weight"][0].float()

    def norm(self, x, w):
        if x.dtype == torch.float32:
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w
        xf = x.float()  # LlamaRMSNorm: statistics and scaling in fp32, back to the input dtype
        return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    def softmax(self, s):
        if s.dtype == torch.float32:
            return s.softmax(-1)
        return s.softmax(-1, dtype=torch.float32).to(s.dtype)  # as HF eager attention

    def cos_sin(self, pos):
        """pos: float32 positions -> (cos, sin) of shape (len(pos), head_dim), in the model dtype."""
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def head(self, hl):
        """hl: (n, hidden) final hidden states (before the final norm) -> list of fp32 scores."""
        hl = self.norm(hl, self.t["model.norm.weight"])
        return (hl.float() @ self.score_w).tolist()

    @staticmethod
    def rot(x, cos, sin):  # x (..., H, d), rotate half
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin

    @torch.inference_mode()
    def scores(self, seqs):
        """Packed: the sequences along the token axis, attention per sequence."""
        t, hd = self.t, self.hd
        lens = [len(s) for s in seqs]
        ids = torch.tensor([i for s in seqs for i in s], dtype=torch.long)
        pos = torch.cat([torch.arange(n, dtype=torch.float32) for n in lens])
        cos, sin = self.cos_sin(pos)
        cos, sin = cos[:, None, :], sin[:, None, :]                        # (N, 1, d)
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
                s = self.softmax(s.masked_fill(mask, float("-inf")))
                outs.append(torch.matmul(s, vs).transpose(0, 1).reshape(n, self.heads * hd))
                o0 += n
            x = x + F.linear(torch.cat(outs, 0), t[p + "self_attn.o_proj.weight"])
            h = self.norm(x, t[p + "post_attention_layernorm.weight"])
            g = F.linear(h, t[p + "mlp.gate_proj.weight"])
            u = F.linear(h, t[p + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(g) * u, t[p + "mlp.down_proj.weight"])
        last = torch.tensor([sum(lens[:j + 1]) - 1 for j in range(len(lens))])
        return self.head(x[last])

    @torch.inference_mode()
    def scores_padded(self, seqs):
        """transformers-style batch: right-padded (B, T), causal + padding mask, padded positions
        computed, each score at the sequence's last real token."""
        t, hd, H = self.t, self.hd, self.heads
        B, T = len(seqs), max(len(s) for s in seqs)
        ids = torch.zeros(B, T, dtype=torch.long)                           # pad id 0
        for b, s in enumerate(seqs):
            ids[b, :len(s)] = torch.tensor(s, dtype=torch.long)
        lens = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        cos, sin = self.cos_sin(torch.arange(T, dtype=torch.float32))
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]            # (1, T, 1, d)
        x = t["model.embed_tokens.weight"][ids]                             # (B, T, hidden)
        rep = H // self.kv
        scale = 1.0 / math.sqrt(hd)
        neg = torch.finfo(self.dtype).min
        key = torch.arange(T)
        pad = key[None, :] >= lens[:, None]                                 # (B, T) padded keys
        rows = max(1, ATT_BLOCK_ELEMS // (B * H * T))                       # query rows per block
        F = torch.nn.functional
        for i in range(self.layers):
            p = "model.layers.%d." % i
            h = self.norm(x, t[p + "input_layernorm.weight"])
            q = self.rot(F.linear(h, t[p + "self_attn.q_proj.weight"]).view(B, T, H, hd), cos, sin)
            k = self.rot(F.linear(h, t[p + "self_attn.k_proj.weight"]).view(B, T, self.kv, hd), cos, sin)
            v = F.linear(h, t[p + "self_attn.v_proj.weight"]).view(B, T, self.kv, hd)
            q = q.transpose(1, 2).contiguous()                                       # (B, H, T, d)
            k = k.transpose(1, 2).repeat_interleave(rep, dim=1)                      # repeat_kv
            v = v.transpose(1, 2).repeat_interleave(rep, dim=1)
            kt = k.transpose(2, 3)
            att = torch.empty(B, H, T, hd, dtype=self.dtype)
            for r0 in range(0, T, rows):
                r1 = min(T, r0 + rows)
                s = torch.matmul(q[:, :, r0:r1], kt).mul_(scale)                     # (B, H, r, T)
                causal = key[None, :] > torch.arange(r0, r1)[:, None]                 # (r, T)
                mask = causal[None, None] | pad[:, None, None, :]                     # (B, 1, r, T)
                s = self.softmax(s.masked_fill_(mask, neg))
                att[:, :, r0:r1] = torch.matmul(s, v)
            x = x + F.linear(att.transpose(1, 2).reshape(B, T, H * hd), t[p + "self_attn.o_proj.weight"])
            h = self.norm(x, t[p + "post_attention_layernorm.weight"])
            g = F.linear(h, t[p + "mlp.gate_proj.weight"])
            u = F.linear(h, t[p + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(g) * u, t[p + "mlp.down_proj.weight"])
        return self.head(x[torch.arange(B), lens - 1])


def read_pairs(path, max_tokens):
    """-> (valid rows, chosen id lists, rejected id lists, counts dict)."""
    import h5py
    with h5py.File(path, "r") as f:
        g = f["pairs"]
        status = g["status"][:]
        ch, rj = g["chosen_ids"][:], g["rejected_ids"][:]
    rows, cs, rs, too_long = [], [], [], 0
    for r in range(len(status)):
        if status[r] != 0:  # 3: bad input
            continue
        c, j = [int(v) for v in ch[r]], [int(v) for v in rj[r]]
        if not c or not j:
            continue
        if max_tokens is not None and max(len(c), len(j)) > max_tokens:
            too_long += 1
            continue
        rows.append(r)
        cs.append(c)
        rs.append(j)
    return rows, cs, rs, {"rows": len(status), "bad": int((status != 0).sum()), "too_long": too_long}


def main_pairs(a, m):
    rows, cs, rs, cnt = read_pairs(a.pairs, a.max_tokens)
    if not rows:
        sys.exit("torch_baseline: no pair to score in %s" % a.pairs)
    seqs = cs + rs  # sequence k: chosen of rows[k] for k < P, rejected of rows[k - P] after
    order = sorted(range(len(seqs)), key=lambda k: (-len(seqs[k]), k))
    batches = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
    real = sum(len(s) for s in seqs)
    padded = sum(len(b) * len(seqs[b[0]]) for b in batches)

    def run_pass():
        out = [0.0] * len(seqs)
        for b in batches:
            for k, s in zip(b, m.scores_padded([seqs[k] for k in b])):
                out[k] = s
        return out

    m.scores_padded([seqs[k] for k in batches[-1]])  # warm-up: the shortest batch, untimed
    best, sc = float("inf"), None
    for _ in range(a.repeats):
        t0 = time.time()
        sc = run_pass()
        best = min(best, time.time() - t0)
    P = len(rows)
    if a.scores_out:
        with open(a.scores_out, "w") as fp:
            for i, r in enumerate(rows):
                fp.write("%d %.9g %.9g\n" % (r, sc[i], sc[P + i]))
    if a.check_against:
        import h5py
        with h5py.File(a.check_against, "r") as f:
            g = f["scores"]
            st, rc, rr = g["status"][:], g["chosen"][:], g["rejected"][:]
        n, each, ab, scale = 0, 0.0, 0.0, 0.0
        for i, r in enumerate(rows):
            if r >= len(st) or st[r] != 1:  # 1: scored
                continue
            n += 1
            for x, y in ((sc[i], float(rc[r])), (sc[P + i], float(rr[r]))):
                ab = max(ab, abs(x - y))
                scale = max(scale, abs(y))
                each = max(each, abs(x - y) / max(abs(y), 1e-30))
        print("check vs %s: %d pairs, max rel diff %.3g (max |diff| / max |score|), max abs diff %.3g, "
              "max per-score rel diff %.3g" % (a.check_against, n, ab / scale if scale > 0 else 0.0, ab, each))
    print("torch %s: %d rows, %d bad input, %d skipped (longer than --max-tokens); %d sequences in %d "
          "batches of <= %d, %d tokens padded (%.1f%% padding)"
          % (a.dtype, cnt["rows"], cnt["bad"], cnt["too_long"], len(seqs), len(batches), a.batch, padded,
             100.0 * (padded - real) / padded))
    print("torch: best of %d: %.3f s, %d pairs, %d tokens (real), %.3f pairs/s, %.1f tok/s"
          % (a.repeats, best, P, real, P / best, real / best))


def main():
    ap = argparse.ArgumentParser(description="PyTorch baseline of the reward-model forward "
                                 "(see the module docstring)")
    ap.add_argument("--model", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ids", help="JSON id lists, one a line (packed mode)")
    src.add_argument("--pairs", help="pairs.h5 of rmscore prepare (padded batches)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=None, help="timed passes (default: 3 --ids, 1 --pairs)")
    ap.add_argument("--check", action="store_true", help="--ids: compare with the float64 reference")
    ap.add_argument("--batch", type=int, default=8, help="--pairs: sequences per padded batch")
    ap.add_argument("--max-tokens", type=int, default=None, help="--pairs: skip pairs with a longer sequence")
    ap.add_argument("--scores-out", help="--pairs: write `row chosen rejected` lines here")
    ap.add_argument("--check-against", help="--pairs: /scores of rmscore score to compare with")
    a = ap.parse_args()
    if a.repeats is None:
        a.repeats = 3 if a.ids else 1
    if a.repeats < 1 or a.batch < 1 or a.threads < 1:
        ap.error("--repeats, --batch and --threads must be >= 1")
    if a.ids and (a.scores_out or a.check_against or a.max_tokens is not None):
        ap.error("--scores-out, --check-against and --max-tokens need --pairs")
    if a.pairs and a.check:
        ap.error("--check needs --ids (use --check-against with --pairs)")
    torch.set_num_threads(a.threads)
    t0 = time.time()
    m = TorchLlamaRM(a.model, DTYPES[a.dtype])
    print("torch %s: loaded in %.1fs, %d threads, %s" % (torch.__version__, time.time() - t0,
                                                         torch.get_num_threads(), a.dtype), file=sys.stderr)
    if a.pairs:
        main_pairs(a, m)
        return
    with open(a.ids) as fp:
        seqs = [json.loads(ln) for ln in fp if ln.strip()]
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
