#!/usr/bin/python3
"""Writes the seed corpus of sentencepiece_model_fuzz.

Run from the repository root: /usr/bin/python3 tests/fuzz/make_sentencepiece_seeds.py
(needs Debian's sentencepiece package for spm_train). Each seed is a tiny
tokenizer.model trained on a few lines (UNIGRAM, BPE, BPE with byte
fallback and user-defined symbols, identity normalization), and truncated
copies of one; the fuzzer mutates from them.
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
}


def main():
    os.makedirs(ROOT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train = os.path.join(tmp, "train.txt")
        with open(train, "w", encoding="utf-8") as f:
            f.write(TEXT)
        for name, flags in MODELS.items():
            prefix = os.path.join(tmp, name)
            subprocess.run(["spm_train", "--input=" + train,
                            "--model_prefix=" + prefix, "--num_threads=1",
                            "--random_seed=17", "--minloglevel=2",
                            "--normalization_rule_name=identity",
                            "--hard_vocab_limit=false",
                            "--character_coverage=1.0"] + flags,
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            with open(prefix + ".model", "rb") as f:
                data = f.read()
            with open(os.path.join(ROOT, name + ".model"), "wb") as f:
                f.write(data)
            if name == "bpe":
                for cut in (1, 7, len(data) // 2, len(data) - 1):
                    with open(os.path.join(ROOT, "bpe_cut%d.model" % cut),
                              "wb") as f:
                        f.write(data[:cut])


if __name__ == "__main__":
    main()
