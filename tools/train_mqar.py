#!/usr/bin/python3
"""Trains a small language model of each hosted architecture on MQAR.

Writes each as a Hugging Face model directory (config.json +
model.safetensors, F32) in the layout the server's checkpoint loaders read,
and models/mqar/manifest.json describing them (docs/trained-mqar.md):

  /usr/bin/python3 tools/train_mqar.py                    # every model
  /usr/bin/python3 tools/train_mqar.py --only=mamba2 --threads=2
  /usr/bin/python3 tools/train_mqar.py --only=attention --check=models/mqar

--check=DIR retrains into a scratch directory and compares the new
validation accuracy with the one DIR/manifest.json records (accuracy, not
bytes: float summation order differs between machines); exits 1 if they
differ by more than --check_tolerance.

The task is the one the client's recall probes score
(client/common/mqar_workload.h): N distinct keys from [0, V/2), N distinct
values from [V/2, V), the context `k1 v1 ... kN vN`, then a query section in
which each queried pair is restated `k_i v_i` (Zoology's convention, and what
the server's context holds after each query turn). The loss is cross-entropy
on the answer positions only (the token after each query key), as in the
published MQAR set-up. Departures from Zoology's: every pair is queried once
in random order (Zoology fills a fixed sequence length with queries, and its
keys and values may repeat across the vocabulary halves' draw; ours are
without replacement, as the client's are); the query section follows the
context directly (no gap tokens); training runs a curriculum of pair counts
4, 8, 16, ... up to the model's training count, moving on when validation
accuracy at the current count reaches --advance_at (the parameters are kept
then: a model that later loses that count, training on the next, ships them);
examples are drawn fresh
each step (no fixed training set); AdamW with weight decay 0.1 on matrices.

Each written checkpoint is read back with tests/checkpoints/torch_reference.py
(the float64 reference the engines are tested against) and its logits on a
validation sequence compared with this script's model; a mismatch is an
error, so what ships computes what the server computes.
"""
import argparse
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

# OpenBLAS's own threads spin on a busy machine and slow small matmuls
# several-fold; torch's intra-op threads (--threads) are what parallelise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mqar_models  # noqa: E402

VOCAB = 512
SEED = 1
VAL_SEQUENCES = 256
# name -> (architecture key in mqar_models.MODELS, circuit preset, family
# the server reports, training pair count, default steps, learning rate).
PLAN = {
    "attention": ("attention", "attention", "llama", 64, 3000, 3e-3),
    "sliding_window": ("sliding_window", "sliding_window", "llama", 16, 2000,
                       3e-3),
    "mamba2": ("mamba2", "mamba2", "mamba2", 32, 3000, 3e-3),
    "gated_deltanet": ("gated_deltanet", "gated_deltanet", "gated_deltanet",
                       32, 3000, 3e-3),
    "mamba": ("mamba", "mamba", "mamba", 16, 3000, 1e-3),
    "rwkv7": ("rwkv7", "rwkv7", "rwkv7", 32, 3000, 3e-3),
}


def mqar_batch(rng, batch, pairs, vocab, repeat_queries=False):
    """(tokens [B, 4N], targets [B, 4N] with -100 off the answer positions).
    With repeat_queries the N queries are drawn with replacement, so "the
    values not yet asked for" no longer predicts the answer."""
    half = vocab // 2
    keys = np.argsort(rng.random((batch, half)), 1)[:, :pairs]
    values = half + np.argsort(rng.random((batch, vocab - half)), 1)[:, :pairs]
    order = (rng.integers(0, pairs, (batch, pairs)) if repeat_queries else
             np.argsort(rng.random((batch, pairs)), 1))
    qk = np.take_along_axis(keys, order, 1)
    qv = np.take_along_axis(values, order, 1)
    context = np.stack([keys, values], -1).reshape(batch, 2 * pairs)
    queries = np.stack([qk, qv], -1).reshape(batch, 2 * pairs)
    tokens = np.concatenate([context, queries], 1)
    targets = np.full_like(tokens, -100)
    targets[:, 2 * pairs::2] = qv  # predicted at each query key
    return torch.from_numpy(tokens), torch.from_numpy(targets)


def answer_logits(model, tokens, mask):
    """Logits at the answer positions only (the head is the costly part)."""
    return model.hidden(tokens)[mask] @ model.params[model.readout].T


def accuracy(model, tokens, targets, chunk=64):
    right = total = 0
    with torch.no_grad():
        for s in range(0, tokens.shape[0], chunk):
            t = targets[s:s + chunk]
            mask = t != -100
            logits = answer_logits(model, tokens[s:s + chunk], mask)
            right += (logits.argmax(-1) == t[mask]).sum().item()
            total += mask.sum().item()
    return right / total


def curriculum(train_pairs):
    stages, n = [], 4
    while n < train_pairs:
        stages.append(n)
        n *= 2
    return stages + [train_pairs]


def train(name, args, log):
    arch, _, _, train_pairs, default_steps, lr = PLAN[name]
    steps = args.steps or default_steps
    train_pairs = args.pairs or train_pairs
    if arch == "mamba":
        log(f"mamba: training scan matches the loop to "
            f"{mqar_models.self_check():.1e} (float64)")
    torch.manual_seed(SEED)
    model = mqar_models.MODELS[arch](VOCAB, SEED)
    if args.init:
        load_params(os.path.join(args.init, "model.safetensors"), model)
        log(f"{name}: starting from {args.init}")
    decay = [t for n, t in model.params.items() if not model.no_decay(n)]
    rest = [t for n, t in model.params.items() if model.no_decay(n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=lr,
                            betas=(0.9, 0.98))
    rng = np.random.default_rng(SEED)
    val_rng = np.random.default_rng(SEED + 1000)
    stages = curriculum(train_pairs)
    val = {n: mqar_batch(val_rng, 64 if n < train_pairs else VAL_SEQUENCES,
                         n, VOCAB) for n in stages}
    stage, start, curve = 0, time.time(), []
    passed = {}  # pair count -> parameters when that count was passed
    stop = []  # SIGTERM or --max_seconds: finish with the model as it is
    signal.signal(signal.SIGTERM, lambda *_: stop.append("SIGTERM"))
    for step in range(1, steps + 1):
        if args.max_seconds and time.time() - start > args.max_seconds:
            stop.append(f"--max_seconds={args.max_seconds}")
        if stop:
            log(f"{name}: stopping at step {step} ({stop[0]})")
            break
        pairs = stages[stage]
        # Mix in shorter examples so earlier stages are not forgotten.
        if stage > 0 and step % 4 == 0:
            pairs = stages[int(rng.integers(0, stage))]
        # About the same number of tokens per step at every pair count.
        batch = max(args.batch, args.batch_tokens // (4 * pairs))
        tokens, targets = mqar_batch(rng, batch, pairs, VOCAB,
                                     args.repeat_queries)
        scale = min(1.0, step / 100)  # warm-up
        if step > 0.8 * steps:  # linear decay over the last fifth
            scale *= max(0.05, (steps - step) / (0.2 * steps))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        mask = targets != -100
        loss = F.cross_entropy(answer_logits(model, tokens, mask),
                               targets[mask])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.eval_every == 0 or step == steps:
            n = stages[stage]
            acc = accuracy(model, *val[n]) if n < train_pairs else accuracy(
                model, val[n][0][:64], val[n][1][:64])
            curve.append((step, float(loss), n, acc))
            log(f"{name} step {step:5d} loss {loss.item():.4f} pairs {n:3d} "
                f"val_acc {acc:.3f} ({time.time() - start:.0f} s)")
            if acc >= args.advance_at and stage + 1 < len(stages):
                # Kept in case the next stage costs this count its accuracy.
                passed[n] = {k: t.detach().clone()
                             for k, t in model.params.items()}
                stage += 1
            elif acc >= args.stop_at and stages[stage] == train_pairs:
                break
    seconds = time.time() - start
    # The training count is the largest count of the curriculum reached with
    # >= 0.90 on 256 fresh sequences (the target unless the budget ran out).
    for n in reversed(stages[:stage + 1]):
        if n not in val or val[n][0].shape[0] < VAL_SEQUENCES:
            val[n] = mqar_batch(np.random.default_rng(SEED + 2000 + n),
                                VAL_SEQUENCES, n, VOCAB)
        final = accuracy(model, *val[n])
        if final < 0.90 and n in passed:
            log(f"{name}: val_acc {final:.4f} at {n} pairs; back to the "
                f"parameters that passed {n} pairs")
            with torch.no_grad():
                for k, t in model.params.items():
                    t.copy_(passed[n][k])
            final = accuracy(model, *val[n])
        if final >= 0.90 or n == stages[0]:
            break
        log(f"{name}: val_acc {final:.4f} at {n} pairs; trying fewer")
    train_pairs = n
    log(f"{name}: val_acc {final:.4f} at {train_pairs} pairs "
        f"({VAL_SEQUENCES} sequences), {seconds:.0f} s on {args.threads} "
        f"thread(s)")
    return model, train_pairs, final, seconds, val[train_pairs][0][0]


def load_params(path, model):
    """Sets the model's parameters from a model.safetensors this script wrote
    (F32, the same names and shapes)."""
    with open(path, "rb") as f:
        blob = f.read()
    size = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + size])
    header.pop("__metadata__", None)
    if set(header) != set(model.params):
        raise RuntimeError(f"{path}: tensors {sorted(header)} are not the "
                           f"model's {sorted(model.params)}")
    with torch.no_grad():
        for name, info in header.items():
            begin, end = info["data_offsets"]
            data = np.frombuffer(blob, "<f4", (end - begin) // 4,
                                 8 + size + begin)
            t = model.params[name]
            if info["dtype"] != "F32" or list(t.shape) != info["shape"]:
                raise RuntimeError(f"{path}: {name} is {info['dtype']} "
                                   f"{info['shape']}, want F32 "
                                   f"{list(t.shape)}")
            t.copy_(torch.from_numpy(data.copy()).reshape(t.shape))


def write_safetensors(path, params):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in params.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype(
            "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_model(directory, model):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write(json.dumps(model.config, indent=2, sort_keys=True) + "\n")
    write_safetensors(os.path.join(directory, "model.safetensors"),
                      model.params)


def verify_against_reference(directory, model, tokens):
    """The written directory, read by torch_reference.py in float64, gives
    this model's logits (relative error per row, max over rows)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "checkpoints"))
    import torch_reference  # sets float64 as the default dtype
    try:
        config, tensors = torch_reference.load_checkpoint(directory)
        ref = torch_reference.build_model(config, tensors)
        expected = ref.forward(tokens.long())
    finally:
        torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        got = model.forward(tokens[None])[0].double()
    err = ((got - expected).abs().max(1).values /
           expected.abs().max(1).values).max().item()
    if not err < 1e-3:
        raise RuntimeError(f"{directory}: training model and reference "
                           f"differ by {err:.2e} relative")
    return err


def update_manifest(out, entry):
    path = os.path.join(out, "manifest.json")
    manifest = {"models": []}
    if os.path.exists(path):
        with open(path) as f:
            manifest = json.load(f)
    models = [m for m in manifest["models"] if m["name"] != entry["name"]]
    models.append(entry)
    order = list(PLAN)
    models.sort(key=lambda m: order.index(m["dir"]) if m["dir"] in order
                else len(order))
    with open(path, "w") as f:
        f.write(json.dumps({"models": models}, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated names: " +
                        ",".join(PLAN))
    parser.add_argument("--out", default=os.path.join(ROOT, "models", "mqar"))
    parser.add_argument("--steps", type=int, help="maximum training steps")
    parser.add_argument("--max_seconds", type=float,
                        help="stop training after this wall time (then the "
                        "largest curriculum count reached >= 0.90 is kept)")
    parser.add_argument("--pairs", type=int, help="override training pairs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8,
                        help="minimum sequences per step")
    parser.add_argument("--batch_tokens", type=int, default=1024,
                        help="tokens per step (more sequences when short)")
    parser.add_argument("--eval_every", type=int, default=25)
    parser.add_argument("--advance_at", type=float, default=0.95)
    parser.add_argument("--stop_at", type=float, default=0.99)
    parser.add_argument("--repeat_queries", action="store_true",
                        help="training queries drawn with replacement "
                        "(validation still asks each pair once)")
    parser.add_argument("--init", metavar="DIR",
                        help="start from the model.safetensors in DIR (one "
                        "written by this script for the same architecture) "
                        "instead of a fresh initialisation")
    parser.add_argument("--check", metavar="DIR",
                        help="retrain and compare accuracy with DIR's manifest")
    parser.add_argument("--check_tolerance", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only.split(",") if args.only else list(PLAN)
    unknown = [n for n in names if n not in PLAN]
    if unknown:
        parser.error(f"--only: unknown {unknown}; known: {list(PLAN)}")
    recorded = {}
    if args.check:
        with open(os.path.join(args.check, "manifest.json")) as f:
            recorded = {m["dir"]: m for m in json.load(f)["models"]}
        args.out = tempfile.mkdtemp(prefix="train_mqar_check_")
    failed = []
    for name in names:
        model, pairs, acc, seconds, sample = train(
            name, args, lambda line: print(line, flush=True))
        if acc < 0.90 and not args.check:
            print(f"{name}: below 0.90 at every count; not written",
                  flush=True)
            failed.append(name)
            continue
        directory = os.path.join(args.out, name)
        write_model(directory, model)
        err = verify_against_reference(directory, model, sample)
        size = os.path.getsize(os.path.join(directory, "model.safetensors"))
        print(f"{name}: wrote {directory} ({size / 1024:.0f} KiB), matches "
              f"torch_reference.py to {err:.1e}", flush=True)
        _, circuit, family, _, _, _ = PLAN[name]
        entry = {"name": f"{name}_mqar", "dir": name, "circuit": circuit,
                 "family": family, "train_pairs": pairs, "vocab": VOCAB,
                 "val_accuracy": round(acc, 4),
                 "train_seconds": round(seconds, 1), "threads": args.threads,
                 "seed": SEED}
        if args.check:
            want = recorded.get(name, {}).get("val_accuracy")
            ok = want is not None and abs(acc - want) <= args.check_tolerance
            print(f"check {name}: retrained {acc:.4f}, recorded {want} -> "
                  f"{'ok' if ok else 'DIFFERENT'}", flush=True)
            if not ok:
                failed.append(name)
        else:
            update_manifest(args.out, entry)
    if args.check:
        shutil.rmtree(args.out, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
