#!/usr/bin/python3
"""`trilemma generate --text` against a server hosting the llama_text test
checkpoint (a tiny byte-level BPE tokenizer.json, tests/checkpoints).

  check_generate_text.py --server_bin B --client_bin C --checkpoint DIR

Encodes the prompt here with an independent few-line BPE over the same
tokenizer.json, generates once from those ids (--prompt) and once from the
text (--text), and requires the printed text to be the byte-level decoding of
the ids; an engine without a tokenizer must refuse --text naming the field.
"""
import argparse
import json
import os
import re
import subprocess
import sys

GPT2_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[a-zA-Z]+| ?[0-9]+|"
                        r" ?[^\sa-zA-Z0-9]+|\s+(?!\S)|\s+")


def byte_chars():
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    extra = sorted(set(range(256)) - set(printable))
    return {b: chr(b) if b in printable else chr(256 + extra.index(b))
            for b in range(256)}


def encode(tok, text):
    """BPE as the tokenizers library does it, for ASCII text."""
    chars = byte_chars()
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(tok["model"]["merges"])}
    vocab = tok["model"]["vocab"]
    ids = []
    for word in GPT2_SPLIT.findall(text):
        symbols = [chars[b] for b in word.encode()]
        while len(symbols) > 1:
            pairs = [(ranks.get((a, b), 1 << 30), i)
                     for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        ids += [vocab[s] for s in symbols]
    return ids


def decode(tok, ids):
    to_byte = {c: b for b, c in byte_chars().items()}
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    data = bytes(to_byte[c] for i in ids for c in by_id[i])
    return data.decode("utf-8", errors="replace")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_bin", required=True)
    parser.add_argument("--client_bin", required=True)
    parser.add_argument("--checkpoint", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.checkpoint, "tokenizer.json"),
              encoding="utf-8") as f:
        tok = json.load(f)
    server = subprocess.Popen(
        [args.server_bin, "--listen=127.0.0.1:0", "--metrics_listen=",
         "--engines=attention,text", f"--checkpoint=text={args.checkpoint}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failures = []
    try:
        line = server.stdout.readline()
        m = re.search(r"grpc=(\S+)", line)
        if not m:
            server.kill()
            print("server did not start:", line, server.communicate()[1])
            return 1

        def client(*argv):
            return subprocess.run([args.client_bin, f"--target={m.group(1)}",
                                   "generate", *argv], capture_output=True,
                                  text=True, timeout=120)

        prompt = "the cat sat on the mat and then it ate the rest"
        ids = encode(tok, prompt)
        by_ids = client("--engine=text", "--prompt=" + " ".join(map(str, ids)),
                        "--max_new_tokens=10")
        by_text = client("--engine=text", "--text=" + prompt,
                         "--max_new_tokens=10")
        for r in (by_ids, by_text):
            if r.returncode != 0:
                failures.append(f"generate failed: {r.stderr}")
        if not failures:
            generated = [int(t) for t in by_ids.stdout.splitlines()[0].split()]
            expected = decode(tok, generated)
            printed = by_text.stdout.split("\nfinish ")[0]
            if printed != expected:
                failures.append(f"--text printed {printed!r}, the ids decode "
                                f"to {expected!r}")
            if f"tokens   {len(ids)} prompt + 10 generated" not in by_text.stdout:
                failures.append(f"prompt tokens differ: {by_text.stdout}")
            print(f"prompt {len(ids)} tokens; generated {generated} -> "
                  f"{printed!r}")
        refused = client("--engine=attention", "--text=hello")
        if refused.returncode == 0 or \
                "text: this engine has no tokenizer" not in refused.stderr:
            failures.append(f"text to an engine without a tokenizer: "
                            f"{refused.returncode} {refused.stderr!r}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
