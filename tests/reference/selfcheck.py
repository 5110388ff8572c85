"""selfcheck.py — checks the NumPy reference (llama_ref.py) against itself, before it judges rmscore.

  * the safetensors writer/reader round trip (single file and shards; bf16 / f16 / f32), with an
    element-by-element decoder built on `struct` instead of NumPy views;
  * RoPE llama3 inv_freq against values computed by hand;
  * the vectorised forward against a deliberately different formulation: explicit loops over
    query positions and heads, RoPE as a complex rotation of the pairs (x[j], x[j + d/2]),
    streaming (online) softmax, kv heads picked per query head by integer division;
  * a packed batch with a block-diagonal causal mask against each sequence alone;
  * run_layers split at every layer boundary against the whole stack.

Usage: python3 selfcheck.py [--workdir DIR]; also imported by test_forward.py (run(workdir)).
"""

import argparse
import cmath
import json
import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref as R  # noqa: E402


# ------------------------------------------------------------------ an independent formulation

def _rms(x, w, eps):
    return [xi * w[i] / math.sqrt(sum(v * v for v in x) / len(x) + eps) for i, xi in enumerate(x)]


def alt_score(m, ids):
    """The same model computed with loops: a check on the vectorised reference, not a speed path."""
    c, t = m.cfg, m.t
    d, half = c.head_dim, c.head_dim // 2
    inv = R.rope_inv_freq(c)
    T = len(ids)
    h = np.array([t["model.embed_tokens.weight"][i] for i in ids])  # (T, hidden)

    def rot(vec, pos):
        out = np.empty(d)
        for j in range(half):
            z = complex(vec[j], vec[j + half]) * cmath.exp(1j * pos * inv[j])
            out[j], out[j + half] = z.real, z.imag
        return out

    for L in range(c.layers):
        p = "model.layers.%d." % L
        Wq, Wk, Wv, Wo = (t[p + "self_attn.%s_proj.weight" % n] for n in "qkvo")
        xs = np.array([_rms(list(h[s]), t[p + "input_layernorm.weight"], c.eps) for s in range(T)])
        K = [[rot(Wk[g * d:(g + 1) * d] @ xs[s], s) for g in range(c.kv_heads)] for s in range(T)]
        V = [[Wv[g * d:(g + 1) * d] @ xs[s] for g in range(c.kv_heads)] for s in range(T)]
        new_h = h.copy()
        for s in range(T):
            heads_out = []
            for hh in range(c.heads):
                g = hh * c.kv_heads // c.heads
                q = rot(Wq[hh * d:(hh + 1) * d] @ xs[s], s)
                # online softmax over keys 0..s
                mx, den, acc = -math.inf, 0.0, np.zeros(d)
                for u in range(s + 1):
                    sc = float(q @ K[u][g]) / math.sqrt(d)
                    nm = max(mx, sc)
                    a = math.exp(mx - nm) if mx != -math.inf else 0.0
                    b = math.exp(sc - nm)
                    den = den * a + b
                    acc = acc * a + b * V[u][g]
                    mx = nm
                heads_out.append(acc / den)
            new_h[s] = h[s] + Wo @ np.concatenate(heads_out)
        h = new_h
        for s in range(T):
            x = np.array(_rms(list(h[s]), t[p + "post_attention_layernorm.weight"], c.eps))
            g = t[p + "mlp.gate_proj.weight"] @ x
            u = t[p + "mlp.up_proj.weight"] @ x
            act = np.array([gi / (1.0 + math.exp(-gi)) for gi in g]) * u
            h[s] = h[s] + t[p + "mlp.down_proj.weight"] @ act
    last = np.array(_rms(list(h[T - 1]), t["model.norm.weight"], c.eps))
    return float(sum(a * b for a, b in zip(last, t["score.weight"][0])))


def packed_scores(m, seqs):
    """All sequences in one (sum T) block with a block-diagonal causal mask; per-sequence positions."""
    c, t = m.cfg, m.t
    ids = np.concatenate([np.asarray(s) for s in seqs])
    seg = np.concatenate([np.full(len(s), k) for k, s in enumerate(seqs)])
    pos = np.concatenate([np.arange(len(s)) for s in seqs])
    N = len(ids)
    allowed = (seg[:, None] == seg[None, :]) & (pos[None, :] <= pos[:, None])
    h = t["model.embed_tokens.weight"][ids]
    cos, sin = R.rope_cos_sin(c, pos)
    rep = c.heads // c.kv_heads
    for L in range(c.layers):
        p = "model.layers.%d." % L
        x = R.rms_norm(h, t[p + "input_layernorm.weight"], c.eps)
        q = (x @ t[p + "self_attn.q_proj.weight"].T).reshape(N, c.heads, c.head_dim)
        k = (x @ t[p + "self_attn.k_proj.weight"].T).reshape(N, c.kv_heads, c.head_dim)
        v = (x @ t[p + "self_attn.v_proj.weight"].T).reshape(N, c.kv_heads, c.head_dim)
        q, k = R.apply_rope(q, cos, sin), R.apply_rope(k, cos, sin)
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)   # HF repeat_kv
        s = np.einsum("nhd,mhd->hnm", q, k) / math.sqrt(c.head_dim)
        s = np.where(allowed[None], s, -np.inf)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        o = np.einsum("hnm,mhd->nhd", w, v).reshape(N, -1)
        h = h + o @ t[p + "self_attn.o_proj.weight"].T
        h = h + m.mlp(L, R.rms_norm(h, t[p + "post_attention_layernorm.weight"], c.eps))
    ends = np.cumsum([len(s) for s in seqs]) - 1
    return [float(v) for v in m.head(h[ends])]


# ------------------------------------------------------------------ checks

def struct_decode(path, name):
    """Element-by-element decoding with struct (no NumPy views)."""
    with open(path, "rb") as fp:
        n = struct.unpack("<Q", fp.read(8))[0]
        hdr = json.loads(fp.read(n))
        info = hdr[name]
        b, e = info["data_offsets"]
        fp.seek(8 + n + b)
        raw = fp.read(e - b)
    dt = info["dtype"]
    if dt == "F32":
        vals = [struct.unpack("<f", raw[i:i + 4])[0] for i in range(0, len(raw), 4)]
    elif dt == "F16":
        vals = [struct.unpack("<e", raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
    else:  # BF16: the two bytes are the high half of a float32
        vals = [struct.unpack("<f", b"\x00\x00" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
    return np.array(vals).reshape(info["shape"])


def run(workdir):
    results = []

    def check(name, ok, msg=""):
        results.append((name, bool(ok), msg))

    os.makedirs(workdir, exist_ok=True)
    rng = np.random.default_rng(7)

    # --- round trips
    for dtype, shards, tol in (("bf16", 3, 2 ** -8), ("f16", 1, 2 ** -10), ("f32", 2, 2 ** -23)):
        d = os.path.join(workdir, "self-rt-%s-%d" % (dtype, shards))
        m = R.write_checkpoint(d, dtype=dtype, shards=shards, seed=3, tensor_order="shuffled")
        back = R.Model(d)
        same = all(np.array_equal(back.t[k], m.t[k]) for k in m.t)
        orig = dict(R.random_tensors(m.cfg, 3))
        rel = max(float(np.max(np.abs(m.t[k] - orig[k]) / np.maximum(np.abs(orig[k]), 1e-30)))
                  for k in orig if np.all(np.abs(orig[k]) > 1e-4))
        files, wm = R.checkpoint_files(d)
        check("selfcheck roundtrip %s shards=%d" % (dtype, shards),
              same and rel <= tol and len(files) == shards and back.cfg.head_dim == 12,
              "exact=%s max_rel=%.3g files=%d" % (same, rel, len(files)))
        f0 = files[0]
        names = list(R.read_safetensors_header(os.path.join(d, f0))[0])
        nm = names[0]
        sd = struct_decode(os.path.join(d, f0), nm)
        check("selfcheck struct decode %s %s" % (dtype, nm), np.array_equal(sd, back.t[nm]))
        with open(os.path.join(d, f0), "rb") as fp:
            hl = struct.unpack("<Q", fp.read(8))[0]
        check("selfcheck header padded to 8 (%s)" % dtype, hl % 8 == 0, "len=%d" % hl)

    # --- RoPE llama3 inv_freq by hand (theta 500000, head_dim 16, Tulu scaling)
    c = R.Config({"hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1,
                  "num_attention_heads": 4, "head_dim": 16, "vocab_size": 8,
                  "rope_theta": 500000.0, "rope_scaling": R.TULU_ROPE_SCALING})
    inv = R.rope_inv_freq(c)
    # base frequencies 500000^(-j/8); wavelengths 2*pi*500000^(j/8):
    # j: 0 6.28 | 1 32.4 | 2 167 | 3 862  (< 2048: kept)  | 4 4442.9 (2048..8192: smoothed)
    #    5 22921 | 6 118264 | 7 610206 (> 8192: divided by 8)
    base = [500000.0 ** (-j / 8.0) for j in range(8)]
    hand = list(base[:4])
    sm = (8192.0 / (2 * math.pi / base[4]) - 1.0) / 3.0          # 0.28128...
    hand.append((1 - sm) * base[4] / 8.0 + sm * base[4])
    hand += [b / 8.0 for b in base[5:]]
    check("selfcheck rope llama3 inv_freq (d=16) by hand", np.allclose(inv, hand, rtol=1e-13, atol=0),
          "got %s want %s" % (inv, hand))
    # literal values (30-digit decimal arithmetic): 500000^-0.5 = 1.41421356237e-3, wavelen 4442.88294,
    # smooth = (8192/4442.88294 - 1)/3 = 0.281282605, inv[4] = 5.24846160993e-4,
    # inv[7] = 500000^-0.875 / 8 = 1.28917317215e-6
    check("selfcheck rope llama3 literal values",
          abs(inv[0] - 1.0) < 1e-15 and abs(inv[4] / 5.24846160993e-4 - 1) < 1e-11
          and abs(inv[7] / 1.28917317215e-6 - 1) < 1e-11,
          "inv[4]=%.12g inv[7]=%.12g" % (inv[4], inv[7]))
    # Llama 3.1 8B geometry: head_dim 128 -> 29 kept, 6 smoothed, 29 divided by 8
    c128 = R.Config({"hidden_size": 4096, "intermediate_size": 8, "num_hidden_layers": 1,
                     "num_attention_heads": 32, "vocab_size": 8, "rope_theta": 500000.0,
                     "rope_scaling": R.TULU_ROPE_SCALING})
    i128 = R.rope_inv_freq(c128)
    b128 = 1.0 / 500000.0 ** (np.arange(0, 128, 2) / 128.0)
    r = i128 / b128
    kept, div8 = int(np.sum(np.isclose(r, 1.0))), int(np.sum(np.isclose(r, 0.125)))
    check("selfcheck rope llama3 d=128 regions 29/6/29", kept == 29 and div8 == 29
          and np.all(np.diff(i128) < 0), "kept=%d div8=%d" % (kept, div8))
    c0 = R.Config(dict(c.raw, rope_scaling=None))
    check("selfcheck rope none = plain inv_freq",
          np.allclose(R.rope_inv_freq(c0), base, rtol=1e-14))
    # rotate-half: position 0 is the identity, rotation keeps pair norms
    x = rng.standard_normal((5, 3, 16))
    cos, sin = R.rope_cos_sin(c, np.arange(5) * 300)
    y = R.apply_rope(x, cos, sin)
    pn = lambda a: a[..., :8] ** 2 + a[..., 8:] ** 2  # noqa: E731
    check("selfcheck rope identity at 0 and norm-preserving",
          np.allclose(y[0], x[0]) and np.allclose(pn(x), pn(y)))

    # --- forward vs the loop formulation, several geometries
    geos = [dict(hidden=48, intermediate=96, layers=2, heads=4, kv_heads=2, head_dim=16),
            dict(hidden=32, intermediate=64, layers=2, heads=4, kv_heads=4),
            dict(hidden=32, intermediate=48, layers=3, heads=4, kv_heads=1, rope_scaling=None),
            dict(hidden=40, intermediate=64, layers=2, heads=2, kv_heads=1, head_dim=24,
                 rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16})]
    for gi, g in enumerate(geos):
        d = os.path.join(workdir, "self-fw-%d" % gi)
        m = R.write_checkpoint(d, vocab=300, seed=10 + gi, dtype="f32", **g)
        m = R.Model(d)
        seqs = [list(rng.integers(0, 300, size=n)) for n in (1, 2, 7, 23)]
        a = m.scores(seqs)
        b = [alt_score(m, s) for s in seqs]
        err = max(abs(x - y) for x, y in zip(a, b))
        check("selfcheck forward vs loops geo%d %s" % (gi, g), err < 1e-9,
              "max|d|=%.3g ref=%s loops=%s" % (err, a, b))
        seqs = [list(rng.integers(0, 300, size=n)) for n in (5, 1, 40, 13, 64)]
        a = m.scores(seqs)
        b = packed_scores(m, seqs)
        err = max(abs(x - y) for x, y in zip(a, b))
        check("selfcheck packed batch vs alone geo%d" % gi, err < 1e-10, "max|d|=%.3g" % err)
        s = seqs[2]
        full = m.hidden_states(s)
        ok = True
        for cut in range(m.cfg.layers + 1):
            h = m.run_layers(m.embed(s), 0, cut)
            h = m.run_layers(h, cut, m.cfg.layers)
            ok = ok and np.allclose(h, full, rtol=0, atol=1e-12)
        check("selfcheck run_layers split geo%d" % gi, ok)
        # a permutation of a prefix must change the score (causality and positions matter)
        check("selfcheck scores sensitive to order geo%d" % gi,
              abs(m.score(s) - m.score(s[::-1])) > 1e-6)
        # causality: appending tokens does not change earlier hidden states
        hp = m.hidden_states(s[:10])
        check("selfcheck causal prefix geo%d" % gi, np.allclose(hp, full[:10], atol=1e-12))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="/tmp/rmscore-ref-selfcheck")
    a = ap.parse_args()
    res = run(a.workdir)
    nf = 0
    for name, ok, msg in res:
        print("%s: %s %s" % ("PASS" if ok else "FAIL", name, msg if not ok else ""))
        nf += not ok
    print("%d passed, %d failed" % (len(res) - nf, nf))
    return 1 if nf else 0


if __name__ == "__main__":
    sys.exit(main())
