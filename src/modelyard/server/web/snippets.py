"""'Use this model/dataset' code snippets."""

from __future__ import annotations

from modelyard.hub.repos import Repo
from modelyard.types import RepoType


def endpoint_name(repo_id: str) -> str:
    """The default inference endpoint name for a repo (mirrors inference.config.default_name)."""
    import re

    base = repo_id.split("/")[-1].lower()
    return (re.sub(r"[^a-z0-9._-]+", "-", base).strip("-._") or "model")[:63]


def snippets(repo: Repo, base: str) -> list[tuple[str, str, str]]:
    """[(key, title, code)] for the repo page."""
    rid = repo.id_str
    env = f"export HF_ENDPOINT={base}\n"
    if repo.type is RepoType.DATASET:
        return [
            (
                "datasets",
                "datasets",
                f"{env}python -c 'from datasets import load_dataset\nds = load_dataset(\"{rid}\")\nprint(ds)'",
            ),
            (
                "hub",
                "huggingface_hub",
                f"{env}python - <<'EOF'\nfrom huggingface_hub import snapshot_download\n"
                f'path = snapshot_download("{rid}", repo_type="dataset")\nEOF',
            ),
            ("curl", "curl", f"curl -L {base}/datasets/{rid}/resolve/main/README.md"),
        ]
    if repo.type is RepoType.SPACE:
        return [
            (
                "hub",
                "huggingface_hub",
                f"{env}python -c 'from huggingface_hub import snapshot_download; "
                f'snapshot_download("{rid}", repo_type="space")\'',
            )
        ]
    task = repo.pipeline_tag or "text-classification"
    out: list[tuple[str, str, str]] = []
    if repo.library_name == "sentence-transformers":
        out.append(
            (
                "sentence-transformers",
                "sentence-transformers",
                f"{env}python - <<'EOF'\nfrom sentence_transformers import SentenceTransformer\n\n"
                f'model = SentenceTransformer("{rid}")\nprint(model.encode(["Hello world", "Hi there"]).shape)\nEOF',
            )
        )
    pipeline_task = PIPELINE_TASK.get(task, task)
    out += [
        (
            "transformers",
            "transformers",
            f'{env}python - <<\'EOF\'\nfrom transformers import pipeline\n\npipe = pipeline("{pipeline_task}", model="{rid}")\n'
            f"print(pipe({PIPELINE_ARGS.get(pipeline_task, DEFAULT_ARGS)}))\nEOF",
        ),
        (
            "hub",
            "huggingface_hub",
            f"{env}python - <<'EOF'\nfrom huggingface_hub import hf_hub_download, snapshot_download\n\n"
            f'config = hf_hub_download("{rid}", "config.json")\nlocal_dir = snapshot_download("{rid}")\nEOF',
        ),
        ("curl", "curl", f"curl -L {base}/{rid}/resolve/main/config.json"),
        (
            "inference",
            "InferenceClient",
            f"python - <<'EOF'\nfrom huggingface_hub import InferenceClient\n\n"
            f'client = InferenceClient(base_url="{base}/endpoints/{endpoint_name(rid)}")\n'
            f"print(client.{task.replace('-', '_')}({CLIENT_ARGS.get(task, DEFAULT_ARGS)}))\nEOF",
        ),
    ]
    return out


DEFAULT_ARGS = '"Hello world"'
# tasks the transformers pipeline() names differently
PIPELINE_TASK = {"sentence-similarity": "feature-extraction"}
PIPELINE_ARGS = {
    "question-answering": 'question="Who lives here?", context="Ada lives in London."',
    "zero-shot-classification": '"I love this phone", candidate_labels=["tech", "food"]',
    "fill-mask": '"Paris is the [MASK] of France."',
    "image-classification": '"cat.jpg"',
    "automatic-speech-recognition": '"sample.wav"',
    "audio-classification": '"sample.wav"',
    "object-detection": '"cat.jpg"',
    "image-segmentation": '"cat.jpg"',
    "image-to-text": '"cat.jpg"',
    "zero-shot-image-classification": '"cat.jpg", candidate_labels=["cat", "dog"]',
    "document-question-answering": '"invoice.png", question="What is the total?"',
}
CLIENT_ARGS = {
    "image-to-image": '"cat.jpg", prompt="a watercolour painting"',
    **PIPELINE_ARGS,
    "sentence-similarity": '"Hello world", other_sentences=["Hi there", "Good night"]',
    "text-to-image": '"an astronaut riding a horse on the moon"',
    "text-to-speech": '"Hello world"',
}
