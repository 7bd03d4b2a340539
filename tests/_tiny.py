"""A tiny random BERT text classifier, built locally (no hub download), per baselines.md "Tiny test model".

``build_tiny_model(dest)`` writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json
(~130 KB) with ``save_pretrained``. It is deterministic for a given seed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

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
_ADJ = [
    "good",
    "bad",
    "great",
    "terrible",
    "fine",
    "awful",
    "lovely",
    "boring",
    "happy",
    "sad",
    "amazing",
    "slow",
]
TAILS = ["today", "again", "as usual", "for sure", "in the end", "to me", "at night", "this time"]


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sentences(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(_ADJ)} {rng.choice(TAILS)}" for _ in range(n)
    ]


def wordpiece_tokenizer(corpus: list[str], vocab_size: int = 256, max_length: int = 64) -> Any:
    """A BERT-style WordPiece PreTrainedTokenizerFast trained with `tokenizers` on `corpus`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def bpe_tokenizer(corpus: list[str], specials: list[str], unk_token: str | None = None, **fast: Any) -> Any:
    """A byte-level BPE PreTrainedTokenizerFast (400 tokens, every byte in the alphabet) trained on `corpus`;
    `fast`: the special tokens' roles and model_max_length."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=unk_token))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    if unk_token is not None:
        fast["unk_token"] = unk_token
    return PreTrainedTokenizerFast(tokenizer_object=tok, **fast)


def bert_config(vocab_size: int, **kw: Any) -> Any:
    """A tiny BertConfig (hidden 32, 2 layers, 2 heads, intermediate 64, 64 positions); `kw` adds or overrides."""
    from transformers import BertConfig

    base: dict[str, Any] = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
    }
    return BertConfig(vocab_size=vocab_size, **{**base, **kw})


def llama_config(vocab_size: int, **kw: Any) -> Any:
    """A tiny LlamaConfig (hidden 32, intermediate 64, 2 layers, 4 heads, 2 KV heads, 256 positions, untied)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        **kw,
    )


def vit_config(**kw: Any) -> Any:
    """A tiny ViTConfig for 32x32 RGB images (patch 8, hidden 32, 2 layers, 2 heads, intermediate 64)."""
    from transformers import ViTConfig

    return ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        **kw,
    )


def build_tiny_model(dest: Path, seed: int = 0) -> Path:
    """Save a random BertForSequenceClassification (hidden 32, 2 layers, 2 heads) + WordPiece tokenizer to dest."""
    import torch
    from transformers import BertForSequenceClassification

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fast = wordpiece_tokenizer(sentences(seed=seed))
    config = bert_config(
        len(fast),
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
        initializer_range=0.5,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    print(build_tiny_model(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-model")))
