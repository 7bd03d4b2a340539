"""transformers and datasets load from (and push to) the live hub, unchanged, through HF_ENDPOINT."""

from __future__ import annotations

import io

import pytest

from _transfer import assert_arrived

TEXTS = ["the cat is good today", "a dog was awful again", "this movie seems boring to me"]


@pytest.fixture(scope="module")
def tiny_repo(live_server, tiny_model_dir):
    api = live_server.api()
    rid = "alice/tiny-bert"
    api.create_repo(rid, exist_ok=True)
    api.upload_folder(folder_path=tiny_model_dir, repo_id=rid, commit_message="tiny bert")
    weights = next(iter(api.get_paths_info(rid, ["model.safetensors"])))
    assert_arrived(live_server, weights.lfs.sha256, "xet")  # the default client: from_pretrained reads Xet
    return rid


def _local_logits(model_dir, texts):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(**tok(texts, return_tensors="pt", padding=True)).logits


def test_transformers_from_pretrained_and_pipeline(live_server, tiny_repo, tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    cache = tmp_path / "cache"
    tok = AutoTokenizer.from_pretrained(tiny_repo, cache_dir=cache)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_repo, cache_dir=cache).eval()
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    with torch.no_grad():
        logits = model(**tok(TEXTS, return_tensors="pt", padding=True)).logits
    assert torch.allclose(logits, _local_logits(tiny_model_dir, TEXTS))

    clf = pipeline("text-classification", model=tiny_repo, model_kwargs={"cache_dir": cache})
    out = clf(TEXTS)
    local = pipeline("text-classification", model=str(tiny_model_dir))(TEXTS)
    assert [o["label"] for o in out] == [o["label"] for o in local]
    assert [round(o["score"], 5) for o in out] == [round(o["score"], 5) for o in local]
    # the files really came from our hub's cache layout
    assert (cache / "models--alice--tiny-bert" / "snapshots").is_dir()


def test_transformers_revision_and_private(live_server, tiny_model_dir, tmp_path):
    from huggingface_hub.errors import RepositoryNotFoundError
    from transformers import AutoConfig

    api = live_server.api()
    rid = "alice/tiny-private"
    api.create_repo(rid, private=True, exist_ok=True)
    api.upload_file(path_or_fileobj=tiny_model_dir / "config.json", path_in_repo="config.json", repo_id=rid)
    api.create_tag(rid, tag="v1", exist_ok=True)
    cfg = AutoConfig.from_pretrained(rid, revision="v1", token=live_server.alice, cache_dir=tmp_path)
    assert cfg.hidden_size == 32
    with pytest.raises((OSError, RepositoryNotFoundError)) as ei:
        AutoConfig.from_pretrained(rid, token=live_server.bob, cache_dir=tmp_path / "bob")
    assert "not a valid model identifier" in str(ei.value) or "Repository Not Found" in str(ei.value)


def test_push_to_hub(live_server, tiny_model_dir, tmp_path, transfer):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 if transfer == "xet" else 0.02)  # fresh weights per mode
    rid = f"alice/tiny-pushed-{transfer}"
    model.push_to_hub(rid, token=live_server.alice, commit_message="push model")
    tok.push_to_hub(rid, token=live_server.alice, commit_message="push tokenizer")
    model.push_to_hub(rid, token=live_server.alice)  # second push: create_repo(exist_ok=True) path
    files = set(live_server.api().list_repo_files(rid))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= files
    weights = next(iter(live_server.api().get_paths_info(rid, ["model.safetensors"])))
    assert_arrived(live_server, weights.lfs.sha256, transfer)
    back = AutoModelForSequenceClassification.from_pretrained(rid, cache_dir=tmp_path).eval()
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2), n1
    tok2 = AutoTokenizer.from_pretrained(rid, cache_dir=tmp_path)
    assert tok2(TEXTS[0])["input_ids"] == tok(TEXTS[0])["input_ids"]


ROWS = {"text": ["good", "bad", "fine", "awful"], "label": [1, 0, 1, 0]}


def _rows(transfer: str) -> dict[str, list]:
    """ROWS plus one row naming the mode: fresh file bytes per mode."""
    return {"text": [*ROWS["text"], transfer], "label": [*ROWS["label"], 2]}


def _load(rid: str, tmp_path):
    import datasets

    return datasets.load_dataset(rid, cache_dir=str(tmp_path / "ds-cache"), token=False)


def test_load_dataset_csv(live_server, tmp_path):
    api = live_server.api()
    rid = "alice/ds-csv"
    api.create_repo(rid, repo_type="dataset", exist_ok=True)
    csv = "text,label\n" + "".join(f"{t},{lbl}\n" for t, lbl in zip(ROWS["text"], ROWS["label"], strict=True))
    api.upload_file(
        path_or_fileobj=csv.encode(), path_in_repo="data/train.csv", repo_id=rid, repo_type="dataset"
    )
    ds = _load(rid, tmp_path)
    assert list(ds) == ["train"]
    assert ds["train"].to_dict() == ROWS


def test_load_dataset_parquet(live_server, tmp_path, transfer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    api = live_server.api()
    rid = f"alice/ds-parquet-{transfer}"
    api.create_repo(rid, repo_type="dataset", exist_ok=True)
    buf = io.BytesIO()
    pq.write_table(pa.table(_rows(transfer)), buf)
    test_buf = io.BytesIO()
    pq.write_table(pa.table({"text": [f"meh {transfer}"], "label": [0]}), test_buf)
    api.upload_file(
        path_or_fileobj=buf.getvalue(),
        path_in_repo="data/train-00000-of-00001.parquet",
        repo_id=rid,
        repo_type="dataset",
    )
    api.upload_file(
        path_or_fileobj=test_buf.getvalue(),
        path_in_repo="data/test-00000-of-00001.parquet",
        repo_id=rid,
        repo_type="dataset",
    )
    entry = next(iter(api.get_paths_info(rid, ["data/train-00000-of-00001.parquet"], repo_type="dataset")))
    assert entry.lfs is not None  # *.parquet is an LFS pattern
    assert_arrived(live_server, entry.lfs.sha256, transfer)
    ds = _load(rid, tmp_path)
    assert sorted(ds) == ["test", "train"]
    assert ds["train"].to_dict() == _rows(transfer)
    assert ds["test"].to_dict() == {"text": [f"meh {transfer}"], "label": [0]}


def test_dataset_push_to_hub(live_server, tmp_path, transfer):
    import datasets

    rid = f"alice/ds-pushed-{transfer}"
    datasets.Dataset.from_dict(_rows(transfer)).push_to_hub(rid, token=live_server.alice)
    shards = [
        e
        for e in live_server.api().list_repo_tree(rid, repo_type="dataset", recursive=True)
        if e.path.endswith(".parquet")
    ]
    assert shards and all(e.lfs is not None for e in shards)
    for e in shards:
        assert_arrived(live_server, e.lfs.sha256, transfer)
    ds = datasets.load_dataset(rid, cache_dir=str(tmp_path / "c"), token=live_server.alice)
    assert ds["train"].to_dict() == _rows(transfer)
