"""llama_ref.py — an independent float64 NumPy reference for rmscore.

Written from the Hugging Face semantics of `LlamaForSequenceClassification` (transformers'
modeling_llama.py and modeling_rope_utils.py), sharing no code with the C implementation:

  * a safetensors reader (single `model.safetensors` or shards listed by
    `model.safetensors.index.json`), dtypes F32 / F16 / BF16 -> float64;
  * a checkpoint writer that produces a random-weight LlamaForSequenceClassification checkpoint in
    the HF layout (config.json + safetensors, single file or shards, bf16 / f16 / f32), so the C
    reader is also tested on files it did not write;
  * the float64 forward: embedding, N x [RMSNorm, q/k/v, RoPE "rotate half" with optional llama3
    frequency scaling, causal GQA attention, o_proj, residual, RMSNorm, SwiGLU MLP, residual],
    final RMSNorm, score = score.weight . h[last token].  Positions restart at 0 for every
    sequence; there is no padding (rmscore packs sequences), so the score is taken at the last
    token of each sequence.

Only the Python standard library and NumPy are used.
"""

import json
import math
import os
import struct

import numpy as np

# --------------------------------------------------------------------------------------------
# safetensors reading

_ELEM_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def read_safetensors_header(path):
    """Returns (header dict without __metadata__, metadata dict or None, data section offset)."""
    with open(path, "rb") as fp:
        raw = fp.read(8)
        if len(raw) != 8:
            raise ValueError("%s: shorter than 8 bytes" % path)
        (n,) = struct.unpack("<Q", raw)
        hdr_bytes = fp.read(n)
        if len(hdr_bytes) != n:
            raise ValueError("%s: header truncated" % path)
    header = json.loads(hdr_bytes.decode("utf-8"))
    meta = header.pop("__metadata__", None)
    return header, meta, 8 + n


def _decode(buf, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(buf, dtype="<f4").astype(np.float64)
    elif dtype == "F16":
        a = np.frombuffer(buf, dtype="<f2").astype(np.float64)
    elif dtype == "BF16":
        u16 = np.frombuffer(buf, dtype="<u2")
        u32 = u16.astype(np.uint32) << np.uint32(16)
        a = u32.view(np.float32).astype(np.float64)
    else:
        raise ValueError("unsupported dtype %s" % dtype)
    return a.reshape(shape)


def read_safetensors_file(path):
    """Returns {name: float64 ndarray} for every tensor of one file, and {name: dtype string}."""
    header, _meta, data_off = read_safetensors_header(path)
    size = os.path.getsize(path)
    out, dtypes = {}, {}
    with open(path, "rb") as fp:
        for name, info in header.items():
            dt = info["dtype"]
            shape = tuple(int(s) for s in info["shape"])
            b, e = (int(x) for x in info["data_offsets"])
            if dt not in _ELEM_SIZE:
                raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
            if e - b != _ELEM_SIZE[dt] * int(np.prod(shape, dtype=np.int64)):
                raise ValueError("%s: tensor %s: byte size does not match shape" % (path, name))
            if data_off + e > size:
                raise ValueError("%s: tensor %s lies outside the file" % (path, name))
            fp.seek(data_off + b)
            buf = fp.read(e - b)
            out[name] = _decode(buf, dt, shape)
            dtypes[name] = dt
    return out, dtypes


def checkpoint_files(model_dir):
    """Returns the safetensors file names of a checkpoint directory (index first, then single)."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as fp:
            wm = json.load(fp)["weight_map"]
        return sorted(set(wm.values())), wm
    return ["model.safetensors"], None


def read_checkpoint(model_dir):
    """Returns {name: float64 ndarray} for the whole checkpoint (sharded or single)."""
    files, wm = checkpoint_files(model_dir)
    tensors = {}
    for f in files:
        t, _ = read_safetensors_file(os.path.join(model_dir, f))
        for k, v in t.items():
            if wm is not None and wm.get(k) != f:
                raise ValueError("tensor %s found in %s but the index says %s" % (k, f, wm.get(k)))
            if k in tensors:
                raise ValueError("tensor %s appears twice" % k)
            tensors[k] = v
    if wm is not None:
        missing = set(wm) - set(tensors)
        if missing:
            raise ValueError("tensors in the index but not in the shards: %s" % sorted(missing)[:5])
    return tensors


def tensor_location(model_dir, name):
    """(absolute file path, absolute byte offset of the tensor's data, dtype, shape)."""
    files, wm = checkpoint_files(model_dir)
    f = wm[name] if wm is not None else files[0]
    path = os.path.join(model_dir, f)
    header, _meta, data_off = read_safetensors_header(path)
    info = header[name]
    return path, data_off + int(info["data_offsets"][0]), info["dtype"], tuple(info["shape"])


# --------------------------------------------------------------------------------------------
# config

class Config:
    """The subset of a Llama config.json the forward needs, with transformers' defaults."""

    def __init__(self, d):
        self.hidden = int(d["hidden_size"])
        self.intermediate = int(d["intermediate_size"])
        self.layers = int(d["num_hidden_layers"])
        self.heads = int(d["num_attention_heads"])
        self.kv_heads = int(d.get("num_key_value_heads") or self.heads)
        hd = d.get("head_dim")
        self.head_dim = int(hd) if hd is not None else self.hidden // self.heads
        self.vocab = int(d["vocab_size"])
        self.eps = float(d.get("rms_norm_eps", 1e-6))
        self.theta = float(d.get("rope_theta", 10000.0))
        rs = d.get("rope_scaling")
        if rs is not None:
            rtype = rs.get("rope_type", rs.get("type"))
            if rtype == "default":
                rs = None
            elif rtype != "llama3":
                raise ValueError("reference supports rope_scaling llama3 only, got %r" % rtype)
        self.rope_scaling = rs
        self.pad_token_id = d.get("pad_token_id")
        self.raw = d

    @staticmethod
    def load(model_dir):
        with open(os.path.join(model_dir, "config.json")) as fp:
            return Config(json.load(fp))


# --------------------------------------------------------------------------------------------
# RoPE

def rope_inv_freq(cfg):
    """inv_freq (head_dim/2,) in float64, with transformers' llama3 scaling when configured."""
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    rs = cfg.rope_scaling
    if rs is None:
        return inv_freq
    factor = float(rs["factor"])
    low = float(rs["low_freq_factor"])
    high = float(rs["high_freq_factor"])
    old_ctx = float(rs["original_max_position_embeddings"])
    low_freq_wavelen = old_ctx / low
    high_freq_wavelen = old_ctx / high
    wavelen = 2.0 * math.pi / inv_freq
    # long wavelengths (low frequencies) are divided by factor
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # in between: interpolate smoothly between the scaled and the original frequency
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled
    medium = np.logical_and(~(wavelen < high_freq_wavelen), ~(wavelen > low_freq_wavelen))
    return np.where(medium, smoothed, scaled)


def rope_cos_sin(cfg, positions):
    """cos, sin of shape (T, head_dim) as HF builds them: emb = cat(freqs, freqs)."""
    inv = rope_inv_freq(cfg)
    freqs = np.outer(np.asarray(positions, dtype=np.float64), inv)  # (T, d/2)
    emb = np.concatenate([freqs, freqs], axis=-1)                    # (T, d)
    return np.cos(emb), np.sin(emb)


def apply_rope(x, cos, sin):
    """x (T, H, d); rotate-half (non-interleaved) rotation."""
    d = x.shape[-1]
    h = d // 2
    x1, x2 = x[..., :h], x[..., h:]
    rot = np.concatenate([-x2, x1], axis=-1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


# --------------------------------------------------------------------------------------------
# forward

def rms_norm(x, w, eps):
    return x * (1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


class Model:
    def __init__(self, model_dir=None, cfg=None, tensors=None):
        if model_dir is not None:
            cfg = Config.load(model_dir)
            tensors = read_checkpoint(model_dir)
        self.cfg = cfg
        self.t = tensors
        self.check_shapes()

    def check_shapes(self):
        c = self.cfg
        qd, kd = c.heads * c.head_dim, c.kv_heads * c.head_dim
        want = {"model.embed_tokens.weight": (c.vocab, c.hidden),
                "model.norm.weight": (c.hidden,),
                "score.weight": (1, c.hidden)}
        for i in range(c.layers):
            p = "model.layers.%d." % i
            want[p + "input_layernorm.weight"] = (c.hidden,)
            want[p + "post_attention_layernorm.weight"] = (c.hidden,)
            want[p + "self_attn.q_proj.weight"] = (qd, c.hidden)
            want[p + "self_attn.k_proj.weight"] = (kd, c.hidden)
            want[p + "self_attn.v_proj.weight"] = (kd, c.hidden)
            want[p + "self_attn.o_proj.weight"] = (c.hidden, qd)
            want[p + "mlp.gate_proj.weight"] = (c.intermediate, c.hidden)
            want[p + "mlp.up_proj.weight"] = (c.intermediate, c.hidden)
            want[p + "mlp.down_proj.weight"] = (c.hidden, c.intermediate)
        for k, s in want.items():
            if k not in self.t:
                raise ValueError("missing tensor %s" % k)
            if tuple(self.t[k].shape) != s:
                raise ValueError("tensor %s has shape %s, expected %s" % (k, self.t[k].shape, s))

    def embed(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.cfg.vocab):
            raise ValueError("token id out of range")
        return self.t["model.embed_tokens.weight"][ids]

    def attention(self, i, x, positions):
        """Causal self-attention of one sequence; x (T, hidden) already normed."""
        c = self.cfg
        p = "model.layers.%d.self_attn." % i
        T = x.shape[0]
        q = (x @ self.t[p + "q_proj.weight"].T).reshape(T, c.heads, c.head_dim)
        k = (x @ self.t[p + "k_proj.weight"].T).reshape(T, c.kv_heads, c.head_dim)
        v = (x @ self.t[p + "v_proj.weight"].T).reshape(T, c.kv_heads, c.head_dim)
        cos, sin = rope_cos_sin(c, positions)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        group = c.heads // c.kv_heads
        kv_of_head = np.arange(c.heads) // group          # query head h uses kv head h // group
        kh = k[:, kv_of_head, :]                          # (T, H, d)
        vh = v[:, kv_of_head, :]
        s = np.einsum("thd,uhd->htu", q, kh) / math.sqrt(c.head_dim)   # (H, T, T)
        mask = np.triu(np.ones((T, T), dtype=bool), k=1)  # key u > query t is masked
        s = np.where(mask[None], -np.inf, s)
        s = s - s.max(axis=-1, keepdims=True)
        w = np.exp(s)
        w = w / w.sum(axis=-1, keepdims=True)
        o = np.einsum("htu,uhd->thd", w, vh).reshape(T, c.heads * c.head_dim)
        return o @ self.t[p + "o_proj.weight"].T

    def mlp(self, i, x):
        p = "model.layers.%d.mlp." % i
        g = x @ self.t[p + "gate_proj.weight"].T
        u = x @ self.t[p + "up_proj.weight"].T
        return (silu(g) * u) @ self.t[p + "down_proj.weight"].T

    def layer(self, i, h, positions):
        c = self.cfg
        p = "model.layers.%d." % i
        h = h + self.attention(i, rms_norm(h, self.t[p + "input_layernorm.weight"], c.eps), positions)
        h = h + self.mlp(i, rms_norm(h, self.t[p + "post_attention_layernorm.weight"], c.eps))
        return h

    def run_layers(self, h, l0, l1, positions=None):
        """Runs decoder layers [l0, l1) on the hidden states h (T, hidden) of ONE sequence."""
        h = np.asarray(h, dtype=np.float64)
        if positions is None:
            positions = np.arange(h.shape[0])
        for i in range(l0, l1):
            h = self.layer(i, h, positions)
        return h

    def run_layers_packed(self, h, seq_lens, l0, l1):
        """Layers [l0, l1) on packed hidden states (sum(seq_lens), hidden); sequences independent."""
        out, o = [], 0
        for n in seq_lens:
            out.append(self.run_layers(h[o:o + n], l0, l1))
            o += n
        return np.concatenate(out, axis=0) if out else h[:0]

    def head(self, h_last):
        """Final norm + score head on the last token's hidden state(s) (..., hidden)."""
        hn = rms_norm(h_last, self.t["model.norm.weight"], self.cfg.eps)
        return hn @ self.t["score.weight"][0]

    def hidden_states(self, ids):
        return self.run_layers(self.embed(ids), 0, self.cfg.layers)

    def score(self, ids):
        if len(ids) == 0:
            raise ValueError("empty sequence")
        return float(self.head(self.hidden_states(ids)[-1]))

    def scores(self, seqs):
        return [self.score(s) for s in seqs]


# --------------------------------------------------------------------------------------------
# checkpoint writer

def _to_dtype_bytes(a, dtype):
    """float64 array -> (little-endian bytes in dtype, float64 values actually stored)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if dtype == "F32":
        q = a.astype("<f4")
        return q.tobytes(), q.astype(np.float64)
    if dtype == "F16":
        q = a.astype("<f2")
        return q.tobytes(), q.astype(np.float64)
    if dtype == "BF16":
        f = a.astype(np.float32)
        u = f.view(np.uint32).astype(np.uint64)
        # round to nearest even on the dropped 16 bits (values here are finite)
        lsb = (u >> np.uint64(16)) & np.uint64(1)
        u = (u + np.uint64(0x7FFF) + lsb) >> np.uint64(16)
        q = u.astype("<u2")
        back = (q.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
        return q.tobytes(), back
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype, metadata=None):
    """tensors: list of (name, float64 array). Writes in list order, header padded to 8 bytes."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, off = [], 0
    for name, arr in tensors:
        b, _ = _to_dtype_bytes(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(hj)))
        fp.write(hj)
        for b in blobs:
            fp.write(b)
    return off


DTYPE_NAMES = {"bf16": "BF16", "f16": "F16", "f32": "F32",
               "bfloat16": "BF16", "float16": "F16", "float32": "F32"}
TORCH_DTYPE = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}

TULU_ROPE_SCALING = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}


def random_tensors(cfg, seed):
    """Random weights (float64) whose activations stay O(1): std 1/sqrt(fan_in), norms 1 + noise."""
    rng = np.random.default_rng(seed)
    c = cfg
    qd, kd = c.heads * c.head_dim, c.kv_heads * c.head_dim

    def lin(out_f, in_f):
        return rng.standard_normal((out_f, in_f)) / math.sqrt(in_f)

    def norm(n):
        return 1.0 + 0.1 * rng.standard_normal(n)

    t = [("model.embed_tokens.weight", rng.standard_normal((c.vocab, c.hidden)))]
    for i in range(c.layers):
        p = "model.layers.%d." % i
        t += [(p + "input_layernorm.weight", norm(c.hidden)),
              (p + "self_attn.q_proj.weight", lin(qd, c.hidden) * 2.0),  # sharper attention
              (p + "self_attn.k_proj.weight", lin(kd, c.hidden) * 2.0),
              (p + "self_attn.v_proj.weight", lin(kd, c.hidden)),
              (p + "self_attn.o_proj.weight", lin(c.hidden, qd)),
              (p + "post_attention_layernorm.weight", norm(c.hidden)),
              (p + "mlp.gate_proj.weight", lin(c.intermediate, c.hidden)),
              (p + "mlp.up_proj.weight", lin(c.intermediate, c.hidden)),
              (p + "mlp.down_proj.weight", lin(c.hidden, c.intermediate))]
    t += [("model.norm.weight", norm(c.hidden)),
          ("score.weight", lin(1, c.hidden))]
    return t


def write_checkpoint(out_dir, hidden=48, intermediate=96, layers=2, heads=4, kv_heads=2,
                     head_dim=None, vocab=1000, shards=1, seed=0, dtype="bf16",
                     rope_scaling="tulu", rope_theta=500000.0, eps=1e-5, tensor_order="hf"):
    """Writes a random LlamaForSequenceClassification checkpoint; returns the Model it holds
    (weights as actually stored, i.e. after rounding to dtype).

    rope_scaling: "tulu" (the Tulu 3 / Llama 3.1 values), None (JSON null) or a dict.
    shards: 1 -> model.safetensors; n > 1 -> model-0000i-of-0000n.safetensors + index.
    tensor_order: "hf" (natural) or "shuffled" (header and data order differ from name order).
    """
    st_dtype = DTYPE_NAMES[dtype]
    if rope_scaling == "tulu":
        rope_scaling = dict(TULU_ROPE_SCALING)
    cfgd = {
        "architectures": ["LlamaForSequenceClassification"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 128000 if vocab > 128000 else 1,
        "eos_token_id": 128001 if vocab > 128001 else 2,
        "head_dim": head_dim if head_dim is not None else hidden // heads,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "id2label": {"0": "LABEL_0"},
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "label2id": {"LABEL_0": 0},
        "max_position_embeddings": 131072,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "pad_token_id": vocab - 8 if vocab > 8 else 0,
        "pretraining_tp": 1,
        "rms_norm_eps": eps,
        "rope_scaling": rope_scaling,
        "rope_theta": rope_theta,
        "tie_word_embeddings": False,
        "torch_dtype": TORCH_DTYPE[st_dtype],
        "transformers_version": "4.46.0",
        "use_cache": False,
        "vocab_size": vocab,
    }
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith(".safetensors") or f.endswith(".json"):
            os.remove(os.path.join(out_dir, f))
    with open(os.path.join(out_dir, "config.json"), "w") as fp:
        json.dump(cfgd, fp, indent=2)
        fp.write("\n")
    cfg = Config(cfgd)
    tl = random_tensors(cfg, seed)
    stored = {name: _to_dtype_bytes(a, st_dtype)[1].reshape(a.shape) for name, a in tl}
    if tensor_order == "shuffled":
        rng = np.random.default_rng(seed + 12345)
        tl = [tl[j] for j in rng.permutation(len(tl))]
    meta = {"format": "pt"}
    if shards <= 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), tl, st_dtype, meta)
    else:
        # contiguous groups of roughly equal byte size, as HF's sharding does; a tensor goes to the
        # shard its first byte falls in (by tensor count if that would leave a shard empty)
        sizes = [a.size for _, a in tl]
        total, acc, owner = sum(sizes), 0, []
        for s in sizes:
            owner.append(min(shards - 1, acc * shards // total))
            acc += s
        if len(set(owner)) != shards:
            owner = [j * shards // len(tl) for j in range(len(tl))]
        groups = [[tl[j] for j in range(len(tl)) if owner[j] == si] for si in range(shards)]
        weight_map, total_bytes = {}, 0
        for si, g in enumerate(groups):
            fname = "model-%05d-of-%05d.safetensors" % (si + 1, shards)
            total_bytes += write_safetensors(os.path.join(out_dir, fname), g, st_dtype, meta)
            for name, _ in g:
                weight_map[name] = fname
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as fp:
            json.dump({"metadata": {"total_size": total_bytes},
                       "weight_map": dict(sorted(weight_map.items()))}, fp, indent=2)
            fp.write("\n")
    return Model(cfg=cfg, tensors=stored)
