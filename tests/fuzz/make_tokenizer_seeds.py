#!/usr/bin/env python3
"""Writes the seed corpus of tokenizer_json_fuzz.

Run from the repository root: python3 tests/fuzz/make_tokenizer_seeds.py
Each seed is a small tokenizer.json, valid or broken in one way; the fuzzer
mutates from them.
"""
import copy
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                    "tokenizer_json_fuzz")


def byte_level_char(b):
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    if b in printable:
        return chr(b)
    return chr(256 + sorted(set(range(256)) - set(printable)).index(b))


def tiny():
    vocab = {byte_level_char(b): b for b in range(256)}
    vocab.update({"he": 256, "ll": 257, "hell": 258, "hello": 259,
                  "\u0120w": 260})
    return {
        "version": "1.0",
        "added_tokens": [{"id": 261, "content": "<|end|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                          "use_regex": True},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab,
                  "merges": ["h e", "l l", "he ll", "hell o", "\u0120 w"]},
    }


def write(name, value):
    os.makedirs(ROOT, exist_ok=True)
    text = value if isinstance(value, str) else json.dumps(value)
    with open(os.path.join(ROOT, name), "w", encoding="utf-8") as f:
        f.write(text)


def main():
    write("tiny", tiny())
    llama = tiny()
    llama["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": (
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
            r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    llama["model"]["ignore_merges"] = True
    write("llama3_style", llama)
    nfc = tiny()
    nfc["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}]}
    nfc["model"]["merges"] = [["h", "e"], ["l", "l"]]
    write("nfc_list_merges", nfc)
    split = tiny()
    split["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "-"},
         "behavior": "MergedWithNext", "invert": True},
        {"type": "ByteLevel", "add_prefix_space": True}]}
    write("split_string", split)
    bad = tiny()
    bad["model"]["merges"].append("he zz")
    write("bad_merge", bad)
    regex = copy.deepcopy(llama)
    regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a+)+$"
    write("backtracking_regex", regex)
    wordpiece = tiny()
    wordpiece["model"]["type"] = "WordPiece"
    write("wordpiece", wordpiece)
    write("not_json", '{"model": {"vocab": ')


if __name__ == "__main__":
    main()
