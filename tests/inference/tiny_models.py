"""Build tiny random models (one per task) in a directory, offline, in a few seconds.

``initializer_range=0.5`` so outputs differ clearly per input.
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

WORDS = [
    "the",
    "a",
    "model",
    "hub",
    "serves",
    "fast",
    "small",
    "large",
    "red",
    "blue",
    "green",
    "cat",
    "dog",
    "bird",
    "runs",
    "jumps",
    "sleeps",
    "city",
    "river",
    "paris",
    "london",
    "berlin",
    "alice",
    "bob",
    "carol",
    "good",
    "bad",
    "happy",
    "sad",
    "movie",
    "book",
    "song",
    "great",
    "terrible",
    "quick",
    "brown",
    "fox",
    "lazy",
    "over",
    "under",
    "between",
    "summer",
    "winter",
    "data",
    "code",
    "test",
    "batch",
    "queue",
    "token",
    "answer",
    "question",
    "what",
    "who",
    "where",
    "is",
    "was",
    "are",
    "were",
    "and",
    "or",
    "not",
    "very",
    "really",
]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]


def _card(path: Path, tag: str | None) -> None:
    meta = f"pipeline_tag: {tag}\n" if tag else ""
    (path / "README.md").write_text(f"---\nlicense: apache-2.0\n{meta}---\n# tiny test model\n")


def wordpiece_tokenizer(path: Path) -> object:
    from _tiny import wordpiece_tokenizer as build

    fast = build(sentences(400) + WORDS, vocab_size=300, max_length=128)
    fast.save_pretrained(path)
    return fast


def bpe_tokenizer(path: Path, chat_template: str | None = None) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>", "<s>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(sentences(400) + WORDS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        model_max_length=256,
    )
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(path)
    return fast


def _bert_config(tokenizer: object, **kw: object) -> object:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        initializer_range=0.5,
        pad_token_id=0,
        **kw,
    )


def build_bert(path: Path, kind: str) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(zlib.crc32(kind.encode()) % 1000)  # hash() of a str changes per process: flaky weights
    path.mkdir(parents=True, exist_ok=True)
    tok = wordpiece_tokenizer(path)
    labels: dict[int, str] | None = {
        "text-classification": {0: "NEGATIVE", 1: "POSITIVE", 2: "NEUTRAL"},
        "zero-shot-classification": {0: "contradiction", 1: "neutral", 2: "entailment"},
        "token-classification": {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"},
    }.get(kind)
    kw: dict[str, object] = {}
    if labels:
        kw = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    config = _bert_config(tok, **kw)
    cls = {
        "text-classification": tf.BertForSequenceClassification,
        "zero-shot-classification": tf.BertForSequenceClassification,
        "token-classification": tf.BertForTokenClassification,
        "question-answering": tf.BertForQuestionAnswering,
        "fill-mask": tf.BertForMaskedLM,
        "sentence-similarity": tf.BertModel,
    }[kind]
    model = cls(config).eval()
    model.save_pretrained(path)
    if kind == "sentence-similarity":
        (path / "1_Pooling").mkdir(exist_ok=True)
        (path / "1_Pooling" / "config.json").write_text(
            json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
        )
        (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (path / "modules.json").write_text(json.dumps(modules))
        _card(path, "sentence-similarity")
    else:
        # text-classification/zero-shot/token-classification... are left to be inferred from config.json
        _card(path, None)
    return path


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_causal_lm(path: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    path.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(path, CHAT_TEMPLATE)
    config = LlamaConfig(
        vocab_size=len(tok),  # type: ignore[arg-type]
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.5,
        pad_token_id=0,
        bos_token_id=3,
        eos_token_id=1,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # make </s> and other specials unlikely so outputs are non-empty
        for special in range(7):
            model.lm_head.weight[special].zero_()
            model.lm_head.weight[special] -= 0.0
    model.generation_config.eos_token_id = 1
    model.generation_config.pad_token_id = 0
    model.save_pretrained(path)
    _card(path, None)
    return path


def build_seq2seq(path: Path, tag: str | None) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(2)
    path.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(path)
    config = T5Config(
        vocab_size=len(tok),  # type: ignore[arg-type]
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        initializer_factor=0.5,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight[:7].zero_()
    model.generation_config.eos_token_id = 1
    model.save_pretrained(path)
    _card(path, tag)
    return path


def build_wav2vec2(path: Path) -> Path:
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
    )

    torch.manual_seed(3)
    path.mkdir(parents=True, exist_ok=True)
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]
    (path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tokenizer = Wav2Vec2CTCTokenizer(
        str(path / "vocab.json"), pad_token="<pad>", unk_token="<unk>", word_delimiter_token="|"
    )
    tokenizer.save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).save_pretrained(path)
    config = Wav2Vec2Config(
        vocab_size=len(chars),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        initializer_range=0.5,
        pad_token_id=0,
        ctc_loss_reduction="mean",
    )
    model = Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():
        model.lm_head.bias[0] = -5.0  # make blanks rarer so the transcript is non-empty
    model.save_pretrained(path)
    _card(path, None)
    return path


def build_vit(path: Path) -> Path:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(4)
    path.mkdir(parents=True, exist_ok=True)
    labels = {0: "cat", 1: "dog", 2: "bird"}
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=0.5,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    ViTForImageClassification(config).eval().save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    _card(path, None)
    return path


def build_all(root: Path) -> dict[str, Path]:
    """Every tiny model, keyed by a short name; returns repo-style ids → directories."""
    out: dict[str, Path] = {}
    for kind in (
        "text-classification",
        "zero-shot-classification",
        "token-classification",
        "question-answering",
        "fill-mask",
        "sentence-similarity",
    ):
        out[kind] = build_bert(root / kind, kind)
    out["text-generation"] = build_causal_lm(root / "text-generation")
    out["summarization"] = build_seq2seq(root / "summarization", "summarization")
    out["translation"] = build_seq2seq(root / "translation", "translation")
    out["text2text-generation"] = build_seq2seq(root / "text2text-generation", None)
    out["automatic-speech-recognition"] = build_wav2vec2(root / "automatic-speech-recognition")
    out["image-classification"] = build_vit(root / "image-classification")
    return out


if __name__ == "__main__":
    import sys
    import time

    t0 = time.time()
    dirs = build_all(Path(sys.argv[1]))
    print({k: str(v) for k, v in dirs.items()}, f"{time.time() - t0:.1f}s")
