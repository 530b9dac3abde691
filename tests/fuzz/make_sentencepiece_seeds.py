#!/usr/bin/python3
"""Writes the seed corpus of sentencepiece_model_fuzz.

Run from the repository root: /usr/bin/python3 tests/fuzz/make_sentencepiece_seeds.py
(needs Debian's sentencepiece package for spm_train). Each seed is a tiny
tokenizer.model trained on a few lines (UNIGRAM, BPE, BPE with byte
fallback and user-defined symbols, identity normalization; UNIGRAM with the
default nmt_nfkc normalizer), truncated copies of one, the nmt_nfkc model's
precompiled_charsmap alone, and models whose charsmap is broken (cut short,
a trie size past the blob, a unit's offset out of range); the fuzzer
mutates from them.
"""
import os
import subprocess
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                    "sentencepiece_model_fuzz")
TEXT = """hello world, hello there
the quick brown fox jumps over the lazy dog
caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001F600
  two  spaces and\ttabs
<tag>x</tag>
"""
MODELS = {
    "unigram": ["--model_type=unigram", "--vocab_size=60"],
    "bpe": ["--model_type=bpe", "--vocab_size=60",
            "--remove_extra_whitespaces=false"],
    "bpe_bytes": ["--model_type=bpe", "--vocab_size=300",
                  "--byte_fallback=true", "--user_defined_symbols=<tag>"],
    "nmt_nfkc": ["--model_type=unigram", "--vocab_size=60"],
}


def varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def put_varint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(data):
    """(field number, wire type, raw bytes of the whole field) in order."""
    i, out = 0, []
    while i < len(data):
        start = i
        key, i = varint(data, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = varint(data, i)
            i += n
        out.append((key >> 3, wire, data[start:i]))
    return out


def payload(raw):
    _, i = varint(raw, 0)
    _, i = varint(raw, i)
    return raw[i:]


def with_charsmap(model, transform):
    """The model with normalizer_spec.precompiled_charsmap transformed, and
    the original charsmap."""
    out, original = bytearray(), None
    for number, wire, raw in fields(model):
        if number != 3:
            out += raw
            continue
        spec = bytearray()
        for n2, _, raw2 in fields(payload(raw)):
            if n2 == 2:
                original = payload(raw2)
                new = transform(original)
                spec += put_varint(2 << 3 | 2) + put_varint(len(new)) + new
            else:
                spec += raw2
        out += put_varint(3 << 3 | 2) + put_varint(len(spec)) + bytes(spec)
    return bytes(out), original


def bad_offset(blob):
    """The first unit with a label gets an offset far past the trie."""
    trie = int.from_bytes(blob[:4], "little")
    units = bytearray(blob)
    for at in range(4 + 4, 4 + trie, 4):
        unit = int.from_bytes(units[at:at + 4], "little")
        if unit & 0xFF:
            unit = (unit & 0x3FF) | (0x3FFFFF << 10)
            units[at:at + 4] = unit.to_bytes(4, "little")
            break
    return bytes(units)


def main():
    os.makedirs(ROOT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train = os.path.join(tmp, "train.txt")
        with open(train, "w", encoding="utf-8") as f:
            f.write(TEXT)
        for name, flags in MODELS.items():
            prefix = os.path.join(tmp, name)
            rule = [] if name == "nmt_nfkc" else [
                "--normalization_rule_name=identity"]
            subprocess.run(["spm_train", "--input=" + train,
                            "--model_prefix=" + prefix, "--num_threads=1",
                            "--random_seed=17", "--minloglevel=2",
                            "--hard_vocab_limit=false",
                            "--character_coverage=1.0"] + rule + flags,
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            with open(prefix + ".model", "rb") as f:
                data = f.read()
            with open(os.path.join(ROOT, name + ".model"), "wb") as f:
                f.write(data)
            if name == "nmt_nfkc":
                _, blob = with_charsmap(data, lambda b: b)
                seeds = {
                    "charsmap.bin": blob,
                    "nmt_nfkc_charsmap_cut.model":
                        with_charsmap(data, lambda b: b[:len(b) // 3])[0],
                    "nmt_nfkc_charsmap_size.model": with_charsmap(
                        data, lambda b: (len(b) * 2).to_bytes(4, "little") +
                        b[4:])[0],
                    "nmt_nfkc_charsmap_offset.model":
                        with_charsmap(data, bad_offset)[0],
                }
                for seed, content in seeds.items():
                    with open(os.path.join(ROOT, seed), "wb") as f:
                        f.write(content)
            if name == "bpe":
                for cut in (1, 7, len(data) // 2, len(data) - 1):
                    with open(os.path.join(ROOT, "bpe_cut%d.model" % cut),
                              "wb") as f:
                        f.write(data[:cut])


if __name__ == "__main__":
    main()
