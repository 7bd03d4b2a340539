"""Tiny models and generated, learnable datasets pushed to a test hub (the recipes' tests, the end-to-end tests
and the bench use them). Every builder is deterministic for a given seed and returns the repo id.

Models: `push_tiny_bert` (BERT, WordPiece), `push_tiny_causal_lm` (Llama, byte-level BPE + a chat template),
`push_tiny_vit` (ViT for 32x32 images). Datasets (parquet, split `train`): `push_sentiment_dataset`
(text/label, labels "positive"/"negative"), `push_ner_dataset` (tokens/tags, BIO tags), `push_pairs_dataset`
(anchor/positive[/negative]), `push_scored_pairs_dataset` (sentence1/sentence2/score), `push_chat_dataset`
(messages), `push_image_dataset` (image/label, red vs blue).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from _tiny import (
    SUBJECTS,
    TAILS,
    VERBS,
    bert_config,
    bpe_tokenizer,
    llama_config,
    sentences,
    vit_config,
    wordpiece_tokenizer,
)

POSITIVE = ["good", "great", "fine", "lovely", "happy", "amazing"]
NEGATIVE = ["bad", "terrible", "awful", "boring", "sad", "slow"]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]
CITIES = ["paris", "berlin", "tokyo", "lima", "oslo", "cairo"]
COLORS = {"apple": "red", "sky": "blue", "grass": "green", "sun": "yellow", "snow": "white", "coal": "black"}

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _upload(hub: Any, repo_id: str, folder: Path, repo_type: str = "model", token: str | None = None) -> str:
    api = hub.api(token)
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=str(folder))
    return repo_id


def _push_rows(hub: Any, repo_id: str, rows: dict[str, list[Any]], features: Any = None, **kw: Any) -> str:
    import datasets

    ds = datasets.Dataset.from_dict(rows, features=features)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        ds.to_parquet(str(Path(tmp) / "data" / "train-00000-of-00001.parquet"))
        return _upload(hub, repo_id, Path(tmp), "dataset", **kw)


# --- models -------------------------------------------------------------------------------------------
def _push_model(hub: Any, repo_id: str, token: str | None, parts: list[Any], card: str | None = None) -> str:
    """Save the model and its tokenizer/processor (`parts`) with an optional README and upload them."""
    with tempfile.TemporaryDirectory() as tmp:
        for part in parts:
            part.save_pretrained(tmp)
        if card is not None:
            (Path(tmp) / "README.md").write_text(card)
        return _upload(hub, repo_id, Path(tmp), token=token)


def push_tiny_bert(hub: Any, repo_id: str, token: str | None = None, seed: int = 0) -> str:
    """A tiny BERT (hidden 32, 2 layers, the WordPiece tokenizer of tests/_tiny.py) with an apache-2.0 card.

    Unlike `_tiny.build_tiny_model` (large random init, for inference tests), it is initialised to train well."""
    import torch
    from transformers import BertForSequenceClassification

    fast = wordpiece_tokenizer(sentences(seed=seed) + [" ".join(NAMES + CITIES)] * 3)
    config = bert_config(len(fast), num_labels=2)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    card = "---\nlicense: apache-2.0\nlanguage: en\n---\n# tiny bert\n"
    return _push_model(hub, repo_id, token, [model, fast], card)


def _chat_corpus() -> list[str]:
    lines = []
    for thing, color in COLORS.items():
        lines += [f"what color is the {thing}?", f"the {thing} is {color}."]
    return lines * 4 + ["user assistant system hello"]


def push_tiny_causal_lm(hub: Any, repo_id: str, token: str | None = None, seed: int = 0) -> str:
    """A random Llama (hidden 32, 2 layers) with a byte-level BPE tokenizer and a chat template."""
    import torch
    from transformers import LlamaForCausalLM

    specials = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    fast = bpe_tokenizer(
        _chat_corpus(), specials, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=256
    )
    fast.chat_template = CHAT_TEMPLATE
    config = llama_config(
        len(fast),
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    return _push_model(hub, repo_id, token, [model, fast], "---\nlicense: mit\n---\n# tiny llama\n")


def push_tiny_vit(hub: Any, repo_id: str, token: str | None = None, seed: int = 0) -> str:
    """A random ViT for 32x32 RGB images (patch 8, hidden 32, 2 layers) with its image processor."""
    import torch
    from transformers import ViTForImageClassification, ViTImageProcessor

    config = vit_config(num_labels=2)
    torch.manual_seed(seed)
    model = ViTForImageClassification(config)
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, do_resize=True, do_normalize=True)
    return _push_model(hub, repo_id, token, [model, processor])


# --- datasets -----------------------------------------------------------------------------------------
def sentiment_rows(n: int = 300, seed: int = 0) -> tuple[list[str], list[str]]:
    """Sentences whose label is given by one adjective (positive or negative word list)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        adj = rng.choice(POSITIVE if positive else NEGATIVE)
        texts.append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {adj} {rng.choice(TAILS)}")
        labels.append("positive" if positive else "negative")
    return texts, labels


def push_sentiment_dataset(
    hub: Any,
    repo_id: str,
    n: int = 300,
    seed: int = 0,
    text_column: str = "text",
    label_column: str = "label",
    token: str | None = None,
) -> str:
    texts, labels = sentiment_rows(n, seed)
    return _push_rows(hub, repo_id, {text_column: texts, label_column: labels}, token=token)


def push_ner_dataset(hub: Any, repo_id: str, n: int = 200, seed: int = 0, token: str | None = None) -> str:
    """tokens/tags: '<name> lives in <city> today' with B-PER / B-LOC / O tags."""
    rng = random.Random(seed)
    tokens, tags = [], []
    for _ in range(n):
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        if rng.random() < 0.5:
            words, t = [name, "lives", "in", city], ["B-PER", "O", "O", "B-LOC"]
        else:
            words, t = ["in", city, "we", "met", name], ["O", "B-LOC", "O", "O", "B-PER"]
        tokens.append(words)
        tags.append(t)
    return _push_rows(hub, repo_id, {"tokens": tokens, "tags": tags}, token=token)


def push_pairs_dataset(
    hub: Any, repo_id: str, n: int = 120, seed: int = 0, triplets: bool = False, token: str | None = None
) -> str:
    """anchor/positive(/negative): a sentence, a paraphrase with the same adjective, one with an opposite one."""
    rng = random.Random(seed)
    rows: dict[str, list[str]] = {"anchor": [], "positive": []}
    if triplets:
        rows["negative"] = []
    for i in range(n):
        positive = i % 2 == 0
        adj = rng.choice(POSITIVE if positive else NEGATIVE)
        other = rng.choice(NEGATIVE if positive else POSITIVE)
        rows["anchor"].append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {adj}")
        rows["positive"].append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {adj} {rng.choice(TAILS)}")
        if triplets:
            rows["negative"].append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {other} {rng.choice(TAILS)}")
    return _push_rows(hub, repo_id, rows, token=token)


def push_scored_pairs_dataset(
    hub: Any, repo_id: str, n: int = 120, seed: int = 0, token: str | None = None
) -> str:
    """sentence1/sentence2/score: 1.0 when both sentences have the same polarity, else 0.0."""
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "score": []}
    for _ in range(n):
        a, b = rng.random() < 0.5, rng.random() < 0.5
        rows["sentence1"].append(f"{rng.choice(SUBJECTS)} is {rng.choice(POSITIVE if a else NEGATIVE)}")
        rows["sentence2"].append(f"{rng.choice(SUBJECTS)} was {rng.choice(POSITIVE if b else NEGATIVE)}")
        rows["score"].append(1.0 if a == b else 0.0)
    return _push_rows(hub, repo_id, rows, token=token)


def push_chat_dataset(hub: Any, repo_id: str, n: int = 120, seed: int = 0, token: str | None = None) -> str:
    """messages: [{"role": "user", "content": "what color is the sky?"}, {"role": "assistant", ...}]."""
    rng = random.Random(seed)
    things = list(COLORS)
    messages = []
    for _ in range(n):
        thing = rng.choice(things)
        messages.append(
            [
                {"role": "user", "content": f"what color is the {thing}?"},
                {"role": "assistant", "content": f"the {thing} is {COLORS[thing]}."},
            ]
        )
    return _push_rows(hub, repo_id, {"messages": messages}, token=token)


def push_image_dataset(hub: Any, repo_id: str, n: int = 80, seed: int = 0, token: str | None = None) -> str:
    """image/label: 32x32 noisy red ("red") or blue ("blue") squares (an `Image` feature in parquet)."""
    import datasets
    from PIL import Image

    rng = random.Random(seed)
    images, labels = [], []
    for i in range(n):
        red = i % 2 == 0
        base = (200, 30, 30) if red else (30, 30, 200)
        img = Image.new("RGB", (32, 32), tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in base))
        images.append(img)
        labels.append("red" if red else "blue")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
    return _push_rows(hub, repo_id, {"image": images, "label": labels}, features=features, token=token)
