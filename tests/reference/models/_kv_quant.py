"""The KV formats of the `kv_dtype` knob, written from the equations in
docs/kv_compression.md (not from the C++ code): a KV layer's rows as the
engine stores them, slot by slot, returned decoded.

  f32   the row as computed.
  f16   each element rounded to IEEE half (nearest, ties to even).
  int8  per block of T slots and per head (hd elements): scale =
        max|x| / 127 over every row written to that block and head so far
        (float32). A row whose max exceeds it raises the scale to its own,
        re-expressing the codes already there as rint((q * s_old) / s_new);
        a row is stored as q = clip(rint(x / s), -127, 127).
  int4  per row, per group of 32 elements: s = f16(max|x| / 7), then
        q = clip(rint(x / s), -7, 7) (0 when s = 0); decoded as s * q.
The external store of `memory` (store_row) keeps each row on its own:
  f16   as above;
  int8  per row and per head: s = max|x| / 127 over that head's elements of
        this row alone, q = clip(rint(x / s), -127, 127);
  int4  as above (already per row).
Arithmetic on scales and codes is float32 like the engine's, so codes agree
exactly except where float32 inputs differ by an ulp at a rounding edge.
"""
import numpy as np

F32 = np.float32


def _rint_clip(v, limit):
    return np.clip(np.rint(v), -limit, limit).astype(F32)


class KvRows:
    """One KV layer's keys or values, stored in `dtype`, by slot."""

    def __init__(self, dtype, kv_dim, head_dim, block_tokens):
        if dtype not in ("f32", "f16", "int8", "int4"):
            raise ValueError(f"kv_dtype {dtype!r} is not one of f32, f16, "
                             "int8, int4")
        self.dtype = dtype
        self.kv_dim = kv_dim
        self.hd = head_dim
        self.t = block_tokens
        self.rows = {}    # slot -> stored row (codes for int8/int4)
        self.scales = {}  # int8: (block, head) -> F32;  int4: slot -> array

    def write(self, slot, row):
        if self.dtype == "f32":
            self.rows[slot] = np.array(row, dtype=np.float64)
            return
        x = np.asarray(row, dtype=np.float64).astype(F32)
        if self.dtype == "f16":
            self.rows[slot] = x.astype(np.float16)
        elif self.dtype == "int8":
            self._write_int8(slot, x)
        else:
            self._write_int4(slot, x)

    def _write_int8(self, slot, x):
        block = slot // self.t
        codes = np.zeros(self.kv_dim, dtype=F32)
        for g in range(self.kv_dim // self.hd):
            sl = slice(g * self.hd, (g + 1) * self.hd)
            wanted = F32(np.abs(x[sl]).max()) / F32(127)
            s = self.scales.get((block, g), F32(0))
            if wanted > s:
                if s > 0:
                    for other, q in self.rows.items():
                        if other // self.t == block and other != slot:
                            q[sl] = _rint_clip((q[sl] * s) / wanted, 127)
                s = wanted
                self.scales[(block, g)] = s
            if s > 0:
                codes[sl] = _rint_clip(x[sl] / s, 127)
        self.rows[slot] = codes

    def _write_int4(self, slot, x):
        groups = (self.kv_dim + 31) // 32
        scales = np.zeros(groups, dtype=F32)
        codes = np.zeros(self.kv_dim, dtype=F32)
        for g in range(groups):
            sl = slice(32 * g, min(self.kv_dim, 32 * g + 32))
            s16 = np.float16(min(F32(np.abs(x[sl]).max()) / F32(7),
                                 F32(65504)))
            s = F32(s16)
            scales[g] = s
            if s > 0:
                codes[sl] = _rint_clip(x[sl] / s, 7)
        self.rows[slot] = codes
        self.scales[slot] = scales

    def read(self, slot):
        """The stored row of `slot`, decoded, float64."""
        row = self.rows[slot]
        if self.dtype in ("f32", "f16"):
            return row.astype(np.float64)
        if self.dtype == "int8":
            block = slot // self.t
            out = np.zeros(self.kv_dim)
            for g in range(self.kv_dim // self.hd):
                sl = slice(g * self.hd, (g + 1) * self.hd)
                out[sl] = np.float64(self.scales.get((block, g), F32(0))) * \
                    row[sl].astype(np.float64)
            return out
        scales = np.repeat(self.scales[slot], 32)[:self.kv_dim]
        return scales.astype(np.float64) * row.astype(np.float64)

    def read_all(self, slots):
        return np.array([self.read(s) for s in slots])


def store_row(dtype, row, head_dim):
    """A row as the external store keeps it (per-row scales), decoded,
    float64."""
    x = np.asarray(row, dtype=np.float64).astype(F32)
    if dtype == "f32":
        return np.asarray(row, dtype=np.float64)
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float64)
    out = np.zeros(len(x))
    if dtype == "int8":
        for g in range(len(x) // head_dim):
            sl = slice(g * head_dim, (g + 1) * head_dim)
            s = F32(np.abs(x[sl]).max()) / F32(127)
            if s > 0:
                out[sl] = np.float64(s) * _rint_clip(x[sl] / s, 127)
        return out
    if dtype != "int4":
        raise ValueError(f"kv_dtype {dtype!r} is not one of f32, f16, int8, "
                         "int4")
    for g in range((len(x) + 31) // 32):
        sl = slice(32 * g, min(len(x), 32 * g + 32))
        s = F32(np.float16(min(F32(np.abs(x[sl]).max()) / F32(7),
                               F32(65504))))
        if s > 0:
            out[sl] = np.float64(s) * _rint_clip(x[sl] / s, 7)
    return out
