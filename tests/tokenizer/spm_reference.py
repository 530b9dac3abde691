#!/usr/bin/python3
"""Trains small SentencePiece models with Debian's spm_train and writes the
reference library's encodings (python3-sentencepiece) of every text, for
sentencepiece_reference_compare (docs/tokenizers.md).

  spm_reference.py OUT_DIR FILE...

Texts: every non-empty line of every FILE; for the byte-fallback and
nmt_nfkc models also each whole file (newlines become <0x0A> pieces, or
spaces under nmt_nfkc). Models (--num_threads=1 and a fixed --random_seed
make spm_train deterministic):
  unigram        UNIGRAM, user-defined symbols, spaces kept as typed (tabs
                 are unknown: runs of unknowns are one unk id)
  bpe            BPE, spaces kept as typed (tabs unknown too)
  bpe_bytes      BPE with byte_fallback, character_coverage below 1 so that
                 rare characters fall back to bytes; decode == text checked
  unigram_trim   UNIGRAM with the default remove_extra_whitespaces (the
                 decode is compared with the reference's, not with the text)
  nmt_nfkc       UNIGRAM with spm_train's default normalizer (NFKC plus
                 the NMT whitespace and control-character rules, read from
                 the model's precompiled_charsmap)
  nfkc_bpe       BPE with --normalization_rule_name=nfkc
The others use --normalization_rule_name=identity.
Each model is OUT_DIR/<name>/tokenizer.model; OUT_DIR/reference.json lists
them with their texts, reference ids and reference decodes. Nothing is
fetched.
"""
import json
import os
import subprocess
import sys

import sentencepiece as spm

USER_DEFINED = "<tag>,</tag>,[SEP]"

MODELS = [
    # The trainers leave tabs out even at coverage 1.0, so lines with one
    # hold an unk: ids and the reference decode are still compared.
    ("unigram", False, False, [
        "--model_type=unigram", "--vocab_size=3000",
        "--character_coverage=1.0", "--remove_extra_whitespaces=false",
        "--user_defined_symbols=" + USER_DEFINED]),
    ("bpe", False, False, [
        "--model_type=bpe", "--vocab_size=3000", "--character_coverage=1.0",
        "--remove_extra_whitespaces=false"]),
    ("bpe_bytes", True, True, [
        "--model_type=bpe", "--vocab_size=2000", "--byte_fallback=true",
        "--character_coverage=0.995", "--remove_extra_whitespaces=false"]),
    ("unigram_trim", False, False, [
        "--model_type=unigram", "--vocab_size=3000",
        "--character_coverage=1.0"]),
    ("nmt_nfkc", False, True, [
        "--model_type=unigram", "--vocab_size=3000",
        "--character_coverage=1.0"]),
    ("nfkc_bpe", False, False, [
        "--model_type=bpe", "--vocab_size=2000", "--character_coverage=1.0",
        "--normalization_rule_name=nfkc"]),
]
# Models whose normalizer comes from spm_train's rule, not identity.
NFKC = ("nmt_nfkc", "nfkc_bpe")


def main():
    out_dir, files = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    lines, wholes = [], []
    for path in sorted(files):
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read()
        wholes.append((os.path.basename(path), text))
        for i, line in enumerate(text.split("\n")):
            if line.strip():
                lines.append(("%s:%d" % (os.path.basename(path), i + 1), line))
    train = os.path.join(out_dir, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        for _, line in lines:
            f.write(line + "\n")
        # The user-defined symbols appear in text too.
        f.write("a <tag>b</tag> [SEP] c\n")
    lines.append(("user_defined", "x <tag>y</tag>[SEP]  z <tag"))
    models = []
    for name, round_trip, with_wholes, flags in MODELS:
        model_dir = os.path.join(out_dir, name)
        os.makedirs(model_dir, exist_ok=True)
        prefix = os.path.join(model_dir, "tokenizer")
        identity = [] if name in NFKC else [
            "--normalization_rule_name=identity"]
        subprocess.run(["spm_train", "--input=" + train,
                        "--model_prefix=" + prefix, "--num_threads=1",
                        "--random_seed=17", "--minloglevel=2",
                        "--hard_vocab_limit=false"] + identity +
                       flags, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
        texts = []
        for text_name, text in lines + (wholes if with_wholes else []):
            ids = sp.encode(text)
            texts.append({"name": text_name, "text": text, "ids": ids,
                          "decoded": sp.decode(ids)})
        models.append({"name": name, "dir": model_dir,
                       "round_trip": round_trip, "texts": texts})
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({"models": models}, f)
    print("trained %d models, %d texts each" % (len(models), len(lines)))


if __name__ == "__main__":
    main()
