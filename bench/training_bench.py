"""No-code fine-tuning overhead: the text-classification recipe run as a hub job vs a plain hand-written
`transformers.Trainer` script, on the same model, data and hyperparameters.

Usage: flock /tmp/modelyard-bench.lock python bench/training_bench.py [--rows 2000] [--epochs 2] [--reps 3]
       [--hidden 128] [--layers 4] [--batch-size 32] [--json out.json]

Starts a real hub (jobs on) on a loopback port, pushes a small BERT (random weights, WordPiece vocabulary from the
data; hidden/layers configurable) and a generated sentiment dataset (parquet), then alternates, `--reps` times:

- plain: a standalone script (a subprocess, the same Python and thread settings) that loads the same snapshot and
  parquet file from disk, carves the same 10 % validation split, tokenizes, and trains with `Trainer`
  (evaluation once per epoch, no checkpoints: what one writes by hand);
- recipe: `POST /api/training/alice` with the same hyperparameters; the job's progress events are followed over
  `GET /api/jobs/alice/{id}/events` (SSE) and timed as they arrive.

Training throughput (samples/s) = train rows x epochs / the time from the Trainer's train begin to the end of
`trainer.train()` (per-epoch evaluation inside, final evaluation and push outside), for both. The recipe's
interval is from its `phase: train, step: 0` event to its first `phase: eval` event without metrics (emitted
right after `train()` returns). Also: the time from the submit to the first logged step (`step >= 1`), which
holds queueing, the job's sandbox start, imports, dataset download and tokenization.
Goal: recipe/plain >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

POSITIVE = ["good", "great", "fine", "lovely", "happy", "amazing", "superb", "nice"]
NEGATIVE = ["bad", "terrible", "awful", "boring", "sad", "slow", "poor", "dull"]
SUBJECTS = [
    "the cat",
    "a dog",
    "my friend",
    "the model",
    "this movie",
    "our team",
    "the weather",
    "that song",
]
VERBS = ["is", "was", "seems", "looks", "feels", "sounds", "became", "remains"]
TAILS = ["today", "again", "as usual", "for sure", "in the end", "to me", "at night", "this time"]

PLAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import datasets
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainerCallback,
                              TrainingArguments)

    model_dir, data_file, out_dir, epochs, lr, bs, max_len, seed = sys.argv[1:9]
    ds = datasets.load_dataset("parquet", data_files={"train": data_file})["train"]
    parts = ds.train_test_split(test_size=0.1, seed=int(seed), shuffle=True)
    names = sorted(set(ds["label"]))
    index = {v: i for i, v in enumerate(names)}
    tok = AutoTokenizer.from_pretrained(model_dir)

    def encode(b):
        enc = tok(b["text"], truncation=True, max_length=int(max_len))
        enc["labels"] = [index[v] for v in b["label"]]
        return enc

    train = parts["train"].map(encode, batched=True, remove_columns=["text", "label"])
    evals = parts["test"].map(encode, batched=True, remove_columns=["text", "label"])
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(names), id2label=dict(enumerate(names)), label2id=index,
        ignore_mismatched_sizes=True)

    class Clock(TrainerCallback):
        t0 = None
        def on_train_begin(self, args, state, control, **kw):
            Clock.t0 = time.monotonic()

    def metrics(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    args = TrainingArguments(output_dir=out_dir, num_train_epochs=float(epochs), learning_rate=float(lr),
                             per_device_train_batch_size=int(bs), per_device_eval_batch_size=int(bs),
                             eval_strategy="epoch", save_strategy="no", logging_steps=10, report_to="none",
                             disable_tqdm=True, seed=int(seed), data_seed=int(seed), dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tok,
                      compute_metrics=metrics, callbacks=[Clock()])
    trainer.train()
    seconds = time.monotonic() - Clock.t0
    final = trainer.evaluate()
    print(json.dumps({"seconds": seconds, "samples": len(train) * float(epochs), "steps": trainer.state.global_step,
                      "accuracy": final.get("eval_accuracy")}))
    """
)


def rows(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        adj = rng.choice(POSITIVE if positive else NEGATIVE)
        texts.append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {adj} {rng.choice(TAILS)}")
        labels.append("positive" if positive else "negative")
    return texts, labels


def build_model(dest: Path, texts: list[str], hidden: int, layers: int) -> None:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=512, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=hidden * 4,
        max_position_embeddings=128,
        num_labels=2,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(dest)
    fast.save_pretrained(dest)


class BenchHub:
    """A hub with jobs on, in this process (uvicorn in a thread), with user alice and her write token."""

    def __init__(self, data_dir: Path) -> None:
        import uvicorn

        from modelyard.config import Settings
        from modelyard.db import migrate
        from modelyard.server.app import create_app
        from modelyard.server.http_server import server_config
        from modelyard.server.listen import bind_hub
        from modelyard.server.services import Services

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = Settings(
            data_dir=str(data_dir),
            port=0,
            log_level="warning",
            jobs_enabled=True,
            jobs_max_running=1,
            spaces_enabled=False,
            disk_reserve_mb=64,
            jobs_memory_mb=8192,
        )
        svc = Services.build(settings)
        migrate.upgrade(svc.db)
        app = create_app(settings, services=svc, auto_migrate=True)
        bind_hub(app, ("127.0.0.1", port))

        class _Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:
                pass

        self.server = _Server(server_config(app, log_level="warning", lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the hub did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"
        svc.accounts.create("alice", "Alice")
        self.token = svc.accounts.create_token("alice", "bench", "write")
        self.headers = {"authorization": f"Bearer {self.token}"}

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def run_plain(model_dir: Path, data_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        script = Path(out) / "plain.py"
        script.write_text(PLAIN_SCRIPT)
        argv = [str(model_dir), str(data_file), str(Path(out) / "ckpt"), str(args.epochs), str(args.lr)]
        argv += [str(args.batch_size), str(args.max_length), "42"]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_OFFLINE": "1"}
        p = subprocess.run(
            [sys.executable, str(script), *argv], capture_output=True, text=True, env=env, timeout=3600
        )
        if p.returncode != 0:
            raise RuntimeError(f"plain script failed:\n{p.stderr[-4000:]}")
        last = [ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1]
        out_json: dict[str, Any] = json.loads(last)
    out_json["samples_per_s"] = out_json["samples"] / out_json["seconds"]
    return out_json


def run_recipe(hub: BenchHub, train_rows: int, args: argparse.Namespace, rep: int) -> dict[str, Any]:
    body = {
        "task": "text-classification",
        "base_model": "alice/bench-bert",
        "dataset": "alice/bench-sentiment",
        "output_repo": f"alice/bench-tuned-{rep}",
        "eval_fraction": 0.1,
        "seed": 42,
        "hyperparameters": {
            "epochs": args.epochs,
            "learning_rate": args.lr,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "logging_steps": 10,
        },
    }
    t_submit = time.monotonic()
    r = httpx.post(f"{hub.url}/api/training/alice", json=body, headers=hub.headers, timeout=120)
    if r.status_code != 200:
        raise RuntimeError(f"submit: {r.status_code} {r.text}")
    job_id = r.json()["id"]
    t_begin = t_first_step = t_end = None
    event = "message"
    url = f"{hub.url}/api/jobs/alice/{job_id}/events"
    with httpx.stream("GET", url, headers=hub.headers, timeout=httpx.Timeout(30, read=3600)) as s:
        for line in s.iter_lines():
            now = time.monotonic()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event != "progress":  # the hub ends the stream after the job ended
                    continue
                phase, step = data.get("phase"), data.get("step")
                if phase == "train" and step == 0 and t_begin is None:
                    t_begin = now
                if phase == "train" and isinstance(step, int) and step >= 1 and t_first_step is None:
                    t_first_step = now
                if phase == "eval" and "eval" not in data and t_end is None and t_begin is not None:
                    t_end = now
            elif not line:
                event = "message"
    info = httpx.get(f"{hub.url}/api/jobs/alice/{job_id}", headers=hub.headers, timeout=30).json()
    if info["status"]["stage"] != "COMPLETED" or None in (t_begin, t_first_step, t_end):
        raise RuntimeError(f"recipe job {job_id}: {info['status']}")
    assert t_begin is not None and t_end is not None and t_first_step is not None
    samples = train_rows * args.epochs
    seconds = t_end - t_begin
    return {
        "seconds": seconds,
        "samples": samples,
        "samples_per_s": samples / seconds,
        "submit_to_first_step_s": t_first_step - t_submit,
        "accuracy": (info.get("result") or {}).get("metrics", {}).get("accuracy"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    import datasets
    from huggingface_hub import HfApi

    texts, labels = rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        model_dir, data_dir = tmp / "model", tmp / "data"
        build_model(model_dir, texts, args.hidden, args.layers)
        (data_dir / "data").mkdir(parents=True)
        data_file = data_dir / "data" / "train-00000-of-00001.parquet"
        datasets.Dataset.from_dict({"text": texts, "label": labels}).to_parquet(str(data_file))
        hub = BenchHub(tmp / "hub")
        try:
            api = HfApi(endpoint=hub.url, token=hub.token)
            api.create_repo("alice/bench-bert")
            api.upload_folder(repo_id="alice/bench-bert", folder_path=str(model_dir))
            api.create_repo("alice/bench-sentiment", repo_type="dataset")
            api.upload_folder(repo_id="alice/bench-sentiment", repo_type="dataset", folder_path=str(data_dir))
            train_rows = args.rows - math.ceil(args.rows * 0.1)  # as train_test_split(test_size=0.1) carves
            plain: list[dict[str, Any]] = []
            recipe: list[dict[str, Any]] = []
            for rep in range(args.reps):  # alternate: this host's speed drifts over minutes
                plain.append(run_plain(model_dir, data_file, args))
                print(
                    f"plain  #{rep + 1}: {plain[-1]['samples_per_s']:7.1f} samples/s",
                    file=sys.stderr,
                    flush=True,
                )
                recipe.append(run_recipe(hub, train_rows, args, rep))
                print(
                    f"recipe #{rep + 1}: {recipe[-1]['samples_per_s']:7.1f} samples/s, "
                    f"submit→first step {recipe[-1]['submit_to_first_step_s']:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            hub.close()

    def med(xs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(x[key] for x in xs))

    p_rate, r_rate = med(plain, "samples_per_s"), med(recipe, "samples_per_s")
    print()
    print(
        f"# BERT hidden {args.hidden} x {args.layers} layers, {args.rows} rows ({train_rows} train), "
        f"{args.epochs:g} epochs, batch {args.batch_size}, max_length {args.max_length}, "
        f"{os.cpu_count()} CPUs, {args.reps} reps (median)"
    )
    print("| run | samples/s (median) | best | per rep | train seconds (median) | final accuracy |")
    print("|---|---:|---:|---|---:|---:|")
    for name, xs in (("plain Trainer script", plain), ("recipe (hub job)", recipe)):
        per = ", ".join(f"{x['samples_per_s']:.1f}" for x in xs)
        acc = med([x for x in xs if x.get("accuracy") is not None] or [{"accuracy": 0.0}], "accuracy")
        best = max(x["samples_per_s"] for x in xs)
        print(
            f"| {name} | {med(xs, 'samples_per_s'):.1f} | {best:.1f} | {per} | {med(xs, 'seconds'):.1f} | {acc:.3f} |"
        )
    firsts = [x["submit_to_first_step_s"] for x in recipe]
    best_p = max(x["samples_per_s"] for x in plain)
    best_r = max(x["samples_per_s"] for x in recipe)
    paired = [r["samples_per_s"] / q["samples_per_s"] for q, r in zip(plain, recipe, strict=True)]
    print()
    print(
        f"goal: recipe/plain samples/s (target >= 0.95): best of {args.reps} = {best_r / best_p:.3f}; "
        f"median of the paired reps = {statistics.median(paired):.3f} (per rep: "
        f"{', '.join(f'{x:.2f}' for x in paired)}); medians = {r_rate / p_rate:.3f}"
    )
    print(f"1-min load average now: {os.getloadavg()[0]:.2f} (other work on this host skews single reps)")
    print(
        f"submit → first step: median {statistics.median(firsts):.1f} s "
        f"(per rep: {', '.join(f'{f:.1f}' for f in firsts)})"
    )
    if args.json:
        args.json.write_text(json.dumps({"plain": plain, "recipe": recipe, "args": vars(args)}, default=str))


if __name__ == "__main__":
    main()
