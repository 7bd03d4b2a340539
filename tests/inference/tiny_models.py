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
    from _tiny import bpe_tokenizer as build

    specials = ["<pad>", "</s>", "<unk>", "<s>", "<|user|>", "<|assistant|>", "<|system|>"]
    fast = build(
        sentences(400) + WORDS,
        specials,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="</s>",
        bos_token="<s>",
        model_max_length=256,
    )
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(path)
    return fast


def _bert_config(tokenizer: object, **kw: object) -> object:
    from _tiny import bert_config

    return bert_config(
        len(tokenizer),  # type: ignore[arg-type]
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
    from transformers import LlamaForCausalLM

    from _tiny import llama_config

    torch.manual_seed(1)
    path.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(path, CHAT_TEMPLATE)
    config = llama_config(
        len(tok),  # type: ignore[arg-type]
        initializer_range=0.5,
        pad_token_id=0,
        bos_token_id=3,
        eos_token_id=1,
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
    from transformers import ViTForImageClassification, ViTImageProcessor

    from _tiny import vit_config

    torch.manual_seed(4)
    path.mkdir(parents=True, exist_ok=True)
    labels = {0: "cat", 1: "dog", 2: "bird"}
    config = vit_config(
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


# ------------------------------------------------------------------ issue 15: vision and audio tasks
_VIS_LABELS = {0: "cat", 1: "dog", 2: "bird"}


def build_yolos(path: Path) -> Path:
    import torch
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    torch.manual_seed(5)
    path.mkdir(parents=True, exist_ok=True)
    config = YolosConfig(
        image_size=[32, 32],
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_detection_tokens=5,
        initializer_range=0.5,
        id2label=_VIS_LABELS,
        label2id={v: k for k, v in _VIS_LABELS.items()},
    )
    YolosForObjectDetection(config).eval().save_pretrained(path)
    YolosImageProcessor(size={"shortest_edge": 32, "longest_edge": 32}).save_pretrained(path)
    _card(path, None)
    return path


def build_segformer(path: Path) -> Path:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(6)
    path.mkdir(parents=True, exist_ok=True)
    labels = {0: "sky", 1: "road", 2: "tree"}
    config = SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[16, 32],
        patch_sizes=[7, 3],
        strides=[4, 2],
        num_attention_heads=[1, 2],
        mlp_ratios=[2, 2],
        decoder_hidden_size=32,
        initializer_range=0.5,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    SegformerForSemanticSegmentation(config).eval().save_pretrained(path)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    _card(path, None)
    return path


def build_captioner(path: Path) -> Path:
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    torch.manual_seed(7)
    path.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(path)
    enc = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=0.5,
    )
    dec = GPT2Config(
        vocab_size=len(tok),  # type: ignore[arg-type]
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        initializer_range=0.5,
        bos_token_id=3,
        eos_token_id=1,
        pad_token_id=0,
        add_cross_attention=True,
        is_decoder=True,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id = 3
    config.pad_token_id = 0
    config.eos_token_id = 1
    model = VisionEncoderDecoderModel(config=config).eval()
    with torch.no_grad():
        model.decoder.lm_head.weight[:7].zero_()
    model.generation_config.decoder_start_token_id = 3
    model.generation_config.eos_token_id = 1
    model.generation_config.pad_token_id = 0
    model.save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    _card(path, None)
    return path


def build_clip(path: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(8)
    path.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(path)
    from tokenizers.processors import TemplateProcessing

    # CLIP pools the text at the first </s>: end every text with one
    tok._tokenizer.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])  # type: ignore[attr-defined]
    tok.save_pretrained(path)  # type: ignore[attr-defined]
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tok),  # type: ignore[arg-type]
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "projection_dim": 16,
            "pad_token_id": 0,
            "bos_token_id": 3,
            "eos_token_id": 1,
            "initializer_range": 0.5,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "projection_dim": 16,
            "initializer_range": 0.5,
        },
        projection_dim=16,
    )
    CLIPModel(config).eval().save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        path
    )
    _card(path, None)
    return path


def build_audio_classifier(path: Path) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(9)
    path.mkdir(parents=True, exist_ok=True)
    labels = {0: "speech", 1: "music", 2: "noise"}
    Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).save_pretrained(path)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=16,
        initializer_range=0.5,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(path)
    _card(path, None)
    return path


def build_vits(path: Path) -> Path:
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    torch.manual_seed(10)
    path.mkdir(parents=True, exist_ok=True)
    chars = ["k", *" abcdefghijklmnopqrstuvwxyz'.,"]  # index 0 doubles as the pad/blank symbol
    (path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    VitsTokenizer(
        str(path / "vocab.json"),
        pad_token="k",
        unk_token="<unk>",
        add_blank=True,
        normalize=True,
        phonemize=False,
        is_uroman=False,
    ).save_pretrained(path)
    config = VitsConfig(
        vocab_size=len(chars),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        window_size=2,
        ffn_dim=32,
        ffn_kernel_size=3,
        flow_size=16,
        spectrogram_bins=17,
        upsample_initial_channel=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16,
        depth_separable_num_layers=1,
        sampling_rate=16000,
        initializer_range=0.5,
    )
    VitsModel(config).eval().save_pretrained(path)
    _card(path, None)
    return path


DONUT_TOKENS = ["<s_docvqa>", "<s_question>", "</s_question>", "<s_answer>", "</s_answer>"]


def build_donut(path: Path) -> Path:
    """An OCR-free document-QA model shaped like Donut: DonutSwin encoder + MBart decoder, task tokens."""
    import torch
    from transformers import (
        DonutImageProcessor,
        DonutSwinConfig,
        MBartConfig,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
    )

    torch.manual_seed(11)
    path.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(path)
    tok.add_special_tokens({"additional_special_tokens": DONUT_TOKENS})  # type: ignore[attr-defined]
    tok.save_pretrained(path)  # type: ignore[attr-defined]
    enc = DonutSwinConfig(
        image_size=[32, 32],
        patch_size=4,
        embed_dim=16,
        depths=[1, 1],
        num_heads=[1, 2],
        window_size=4,
        initializer_range=0.5,
    )
    dec = MBartConfig(
        vocab_size=len(tok),  # type: ignore[arg-type]
        d_model=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        max_position_embeddings=128,
        is_decoder=True,
        add_cross_attention=True,
        pad_token_id=0,
        bos_token_id=3,
        eos_token_id=1,
        init_std=0.5,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id = 3
    config.pad_token_id = 0
    config.eos_token_id = 1
    model = VisionEncoderDecoderModel(config=config).eval()
    model.generation_config.decoder_start_token_id = 3
    model.generation_config.eos_token_id = 1
    model.generation_config.pad_token_id = 0
    model.save_pretrained(path)
    DonutImageProcessor(size={"height": 32, "width": 32}, do_align_long_axis=False).save_pretrained(path)
    _card(path, "document-question-answering")  # a Donut can also parse or caption: the card names the task
    return path


def build_more_tasks(root: Path) -> dict[str, Path]:
    """The tiny models of the vision/audio tasks of test_more_tasks.py, keyed by task."""
    return {
        "object-detection": build_yolos(root / "object-detection"),
        "image-segmentation": build_segformer(root / "image-segmentation"),
        "image-to-text": build_captioner(root / "image-to-text"),
        "zero-shot-image-classification": build_clip(root / "zero-shot-image-classification"),
        "audio-classification": build_audio_classifier(root / "audio-classification"),
        "text-to-speech": build_vits(root / "text-to-speech"),
        "document-question-answering": build_donut(root / "document-question-answering"),
    }


def build_tiny_sd(path: Path) -> Path:
    """A tiny Stable-Diffusion-style pipeline (UNet, VAE, CLIP text encoder, CLIP tokenizer, DDIM scheduler).

    The tokenizer is a CLIP byte-level BPE whose merges spell the words of ``WORDS`` (no download); the weights are
    random (~650 KB) and a 32x32, 2-step generation takes well under a second on a CPU. Card: text-to-image.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(5)
    path.mkdir(parents=True, exist_ok=True)
    # GPT-2's byte alphabet: printable bytes as themselves, the others shifted past 255
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    alphabet = [chr(b) for b in printable] + [chr(256 + n) for n in range(256 - len(printable))]
    vocab_list = alphabet + [c + "</w>" for c in alphabet]
    merges: list[tuple[str, str]] = []
    for word in WORDS:  # whole words as merges (left to right), so common words are one token
        current = word[0]
        for i, ch in enumerate(word[1:], start=1):
            last = i == len(word) - 1
            nxt = ch + "</w>" if last else ch
            merge = (current, nxt)
            current = current + nxt
            if merge not in merges:
                merges.append(merge)
                vocab_list.append(current)
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for tok in vocab_list:
        vocab.setdefault(tok, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )
    ).eval()
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=4,
    ).eval()
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    ).eval()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(path)
    _card(path, "text-to-image")
    return path


if __name__ == "__main__":
    import sys
    import time

    t0 = time.time()
    dirs = build_all(Path(sys.argv[1]))
    print({k: str(v) for k, v in dirs.items()}, f"{time.time() - t0:.1f}s")
