#!/usr/bin/python3
"""Checkpoint engines served end to end, and bad model directories refused.

  check_serving.py --server_bin build/bin/trilemma-server \
                   --client_bin build/bin/trilemma --workdir DIR

Serving: writes the neox, llama_gqa and mamba checkpoints, starts
`trilemma-server --checkpoint=NAME=DIR ...` on loopback beside one built-in
preset, and requires that
  - `trilemma engines` lists each with its family (gpt_neox, llama, mamba);
  - `trilemma generate` streams exactly the 32 greedy tokens the PyTorch
    reference (torch_reference.py) continues the prompt with;
  - /metrics counts the generated tokens under each engine's label;
  - the server drains and exits 0 on SIGTERM.
Bad directories: for each broken variant of a good checkpoint the server must
exit non-zero before serving, with a message naming the engine and the file
(and the tensor or key when there is one): missing directory, unknown
architecture, missing / extra / mis-shaped tensor, unsupported dtype,
truncated file, header length beyond the file, JSON that does not parse,
offsets out of range, byte length that does not match the shape, a missing
shard, a bad config value.
Prints "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_checkpoints  # noqa: E402  (the test's own checkpoint writer)

# case -> family; hosted as "ck_<case>" (the built-in presets own "mamba").
SERVED = {"neox": "gpt_neox", "llama_gqa": "llama", "mamba": "mamba"}
GREEDY = 32


class Results:
    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, ok, what):
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def write_case(workdir, case):
    subprocess.run([sys.executable, os.path.join(HERE, "make_checkpoints.py"),
                    "--out", workdir, "--case", case], check=True)
    return os.path.join(workdir, case)


def reference_greedy(ckpt, prompt, out):
    subprocess.run([sys.executable, os.path.join(HERE, "torch_reference.py"),
                    "--checkpoint", ckpt, "--tokens",
                    ",".join(map(str, prompt)), "--greedy", str(GREEDY),
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    import numpy as np
    return [int(t) for t in np.load(os.path.join(out, "greedy.npy"))]


def start_server(args, checkpoints, engines):
    cmd = [args.server_bin, "--listen=127.0.0.1:0",
           "--metrics_listen=127.0.0.1:0", "--engines=" + ",".join(engines)]
    cmd += [f"--checkpoint={name}={path}" for name, path in checkpoints]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"grpc=(\S+) metrics=(\S+)", line)
    if not m:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise RuntimeError(f"server did not start: {line!r} {err}")
    return proc, m.group(1), m.group(2)


def client(args, target, *argv):
    return subprocess.run([args.client_bin, f"--target={target}", *argv],
                          capture_output=True, text=True, timeout=120)


def check_serving(args, res):
    ckdir = os.path.join(args.workdir, "serve")
    shutil.rmtree(ckdir, ignore_errors=True)
    paths, expected, prompts = {}, {}, {}
    for case in SERVED:
        paths[case] = write_case(ckdir, case)
        with open(os.path.join(paths[case], "prompt.json")) as f:
            prompts[case] = json.load(f)["tokens"]
        expected[case] = reference_greedy(
            paths[case], prompts[case], os.path.join(args.workdir, "ref", case))
    # A checkpoint may not take a hosted name.
    clash = subprocess.run([args.server_bin, "--listen=127.0.0.1:0",
                            "--metrics_listen=", f"--checkpoint=mamba={paths['mamba']}"],
                           capture_output=True, text=True, timeout=60)
    res.check(clash.returncode != 0 and "'mamba' is already hosted" in clash.stderr,
              "--checkpoint=mamba=... refused: the name is a built-in preset's")
    hosted = {f"ck_{case}": path for case, path in paths.items()}
    proc, target, metrics = start_server(
        args, sorted(hosted.items()), list(hosted) + ["attention"])
    try:
        listed = client(args, target, "engines", "--format=json")
        res.check(listed.returncode == 0, "trilemma engines exits 0")
        engines = {e["name"]: e for e in json.loads(listed.stdout)["engines"]}
        for case, family in SERVED.items():
            info = engines.get(f"ck_{case}", {})
            res.check(info.get("family") == family,
                      f"engines lists {case} as family {family} "
                      f"(got {info.get('family')})")
            res.check(info.get("checkpoint") == paths[case],
                      f"engines reports {case}'s checkpoint directory")
        res.check("attention" in engines, "built-in preset hosted beside them")
        for case in SERVED:
            out = client(args, target, "generate", f"--engine=ck_{case}",
                         "--prompt=" + " ".join(map(str, prompts[case])),
                         f"--max_new_tokens={GREEDY}")
            first = out.stdout.splitlines()[0] if out.stdout else ""
            got = [int(t) for t in first.split()] if out.returncode == 0 else []
            res.check(got == expected[case],
                      f"generate on {case} streams the reference's {GREEDY} "
                      f"greedy tokens (got {got[:6]}..., want "
                      f"{expected[case][:6]}...)")
        text = urllib.request.urlopen(f"http://{metrics}/metrics",
                                      timeout=30).read().decode()
        for case in SERVED:
            m = re.search(r'trilemma_generated_tokens_total\{engine="ck_%s"\} (\S+)'
                          % case, text)
            res.check(m is not None and float(m.group(1)) >= GREEDY,
                      f"/metrics counts {case}'s generated tokens "
                      f"({m.group(1) if m else 'absent'})")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
    res.check(code == 0, f"server exits 0 on SIGTERM (got {code})")


def rewrite_header(path, edit):
    """Rewrites a safetensors file's JSON header through `edit(dict)`."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data[8 + n:])


def write_variant(base, name, workdir, build, mutate):
    """A copy of checkpoint `base` under workdir/bad/name, mutated."""
    dst = os.path.join(workdir, "bad", name)
    shutil.rmtree(dst, ignore_errors=True)
    if build is not None:
        config, tensors, seed = build()
        make_checkpoints.write_checkpoint(dst, config, tensors, seed)
    else:
        shutil.copytree(base, dst)
    mutate(dst)
    return dst


def edit_config(key, value):
    def mutate(d):
        path = os.path.join(d, "config.json")
        with open(path) as f:
            config = json.load(f)
        config[key] = value
        with open(path, "w") as f:
            json.dump(config, f)
    return mutate


def neox_with(change):
    """neox() with its tensor list passed through `change`."""
    def build():
        config, tensors = make_checkpoints.neox()
        return config, change(tensors), 5
    return build


def drop(name):
    return lambda ts: [t for t in ts if t.name != name]


def check_bad(args, res):
    good = write_case(os.path.join(args.workdir, "good"), "neox")
    sharded = write_case(os.path.join(args.workdir, "good"), "llama_sharded")
    st = "model.safetensors"
    qkv = "gpt_neox.layers.1.attention.query_key_value.weight"

    def reshape(ts):
        for t in ts:
            if t.name == qkv:
                t.shape = [t.shape[0], t.shape[1] // 2]
        return ts

    def truncate(d):
        with open(os.path.join(d, st), "r+b") as f:
            f.truncate(6)

    def huge_header(d):
        with open(os.path.join(d, st), "r+b") as f:
            f.write(struct.pack("<Q", 1 << 40))

    def bad_json(d):
        with open(os.path.join(d, st), "r+b") as f:
            f.seek(8)
            f.write(b"{not json")

    def offsets(header):
        header[qkv]["data_offsets"][1] += 1 << 30

    def dtype_i64(header):
        # I64 is twice F32's size: halving the last dim keeps the byte
        # length valid, so the loader's dtype check is what must refuse it.
        header[qkv]["dtype"] = "I64"
        header[qkv]["shape"] = [header[qkv]["shape"][0],
                                header[qkv]["shape"][1] // 2]

    def length(header):
        header[qkv]["shape"] = [header[qkv]["shape"][0] + 1,
                                header[qkv]["shape"][1]]

    extra = lambda ts: ts + [make_checkpoints.Tensor(  # noqa: E731
        "gpt_neox.layers.0.attention.surprise.weight", [4, 4],
        make_checkpoints.normal(0.1))]
    cases = [
        # name, directory, words the message must contain
        ("missing_dir", os.path.join(args.workdir, "no_such_dir"),
         ["no_such_dir"]),
        ("architecture", write_variant(
            good, "architecture", args.workdir, None,
            edit_config("architectures", ["FooForCausalLM"])),
         ["config.json", "FooForCausalLM", "GPTNeoXForCausalLM",
          "LlamaForCausalLM", "MambaForCausalLM"]),
        ("config_value", write_variant(
            good, "config_value", args.workdir, None,
            edit_config("hidden_size", "wide")), ["config.json", "hidden_size"]),
        ("missing_tensor", write_variant(
            good, "missing_tensor", args.workdir,
            neox_with(drop("embed_out.weight")), lambda d: None),
         ["embed_out.weight"]),
        ("extra_tensor", write_variant(
            good, "extra_tensor", args.workdir, neox_with(extra),
            lambda d: None), ["surprise", st]),
        ("misshaped_tensor", write_variant(
            good, "misshaped_tensor", args.workdir, neox_with(reshape),
            lambda d: None), [qkv, st]),
        ("unsupported_dtype", write_variant(
            good, "unsupported_dtype", args.workdir, None,
            lambda d: rewrite_header(os.path.join(d, st), dtype_i64)),
         [qkv, "I64"]),
        ("truncated", write_variant(good, "truncated", args.workdir, None,
                                    truncate), [st]),
        ("header_beyond_file", write_variant(
            good, "header_beyond_file", args.workdir, None, huge_header),
         [st]),
        ("header_not_json", write_variant(
            good, "header_not_json", args.workdir, None, bad_json), [st]),
        ("offsets_out_of_range", write_variant(
            good, "offsets_out_of_range", args.workdir, None,
            lambda d: rewrite_header(os.path.join(d, st), offsets)), [st]),
        ("byte_length", write_variant(
            good, "byte_length", args.workdir, None,
            lambda d: rewrite_header(os.path.join(d, st), length)), [st]),
        ("missing_shard", write_variant(
            sharded, "missing_shard", args.workdir, None,
            lambda d: os.remove(os.path.join(
                d, "model-00002-of-00002.safetensors"))),
         ["model-00002-of-00002.safetensors"]),
    ]
    for name, path, words in cases:
        engine = f"bad_{name}"
        proc = subprocess.run(
            [args.server_bin, "--listen=127.0.0.1:0", "--metrics_listen=",
             f"--engines={engine}", f"--checkpoint={engine}={path}"],
            capture_output=True, text=True, timeout=60)
        message = proc.stderr.strip().splitlines()[-1] if proc.stderr else ""
        missing = [w for w in [engine] + words if w not in message]
        res.check(proc.returncode != 0 and "ready" not in proc.stdout
                  and not missing,
                  f"bad checkpoint {name}: refused naming {missing or 'all'} "
                  f"-> exit {proc.returncode}: {message[:160]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server_bin", required=True)
    parser.add_argument("--client_bin", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    res = Results()
    check_serving(args, res)
    check_bad(args, res)
    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
