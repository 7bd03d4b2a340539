"""What the repo page shows from a card's metadata, as on the Hub: the labelled metadata header (tasks, libraries,
datasets, languages, licenses, other tags: grouped, de-duplicated), the "Evaluation results" of `model-index`,
"Datasets used to train", and the links of rendered cards. Pure functions over card data; the view looks up which
referenced repos exist on this hub (`Linker`), so nothing links to a local 404: a repo that is not here links to
the configured upstream hub (marked external) or shows as plain text."""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from modelyard.hub.cards import RELATIONS
from modelyard.types import RepoType


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# the Hub's pipeline tags (tasks): a plain tag with one of these names belongs to the "Tasks" row
TASKS = _words(
    """text-classification token-classification table-question-answering question-answering zero-shot-classification
    translation summarization feature-extraction text-generation text2text-generation fill-mask
    sentence-similarity text-to-speech text-to-audio automatic-speech-recognition audio-to-audio
    audio-classification voice-activity-detection depth-estimation image-classification object-detection
    image-segmentation text-to-image image-to-text image-to-image image-to-video unconditional-image-generation
    video-classification reinforcement-learning robotics tabular-classification tabular-regression
    tabular-to-text table-to-text multiple-choice text-ranking text-retrieval time-series-forecasting
    text-to-video image-text-to-text visual-question-answering document-question-answering
    zero-shot-image-classification graph-ml mask-generation zero-shot-object-detection text-to-3d image-to-3d
    image-feature-extraction video-text-to-text keypoint-detection visual-document-retrieval any-to-any
    audio-text-to-text other"""
)
# libraries the Hub shows in its "Libraries" row when they appear as tags
LIBRARIES = _words(
    """transformers pytorch tensorflow tf jax flax safetensors onnx sentence-transformers diffusers peft gguf
    timm keras tf-keras spacy adapter-transformers flair fastai setfit openvino coreml tflite mlx ctranslate2
    stable-baselines3 ml-agents sklearn scikit-learn speechbrain nemo espnet fairseq paddlenlp paddlepaddle
    transformers.js rust joblib open_clip span-marker asteroid allennlp keras-hub llamafile mlc-llm pyannote-audio
    datasets pandas polars dask croissant webdataset mlcroissant fiftyone argilla distilabel"""
)
# tags the Hub adds for its own infrastructure: not shown
_NOISE_PREFIXES = ("region:", "deploy:", "template:", "endpoints_compatible", "autotrain_compatible")
_NOISE = frozenset({"has_space", "text-generation-inference", "autotrain_compatible", "endpoints_compatible"})
ROWS = (
    ("tasks", "Tasks"),
    ("libraries", "Libraries"),
    ("datasets", "Datasets"),
    ("languages", "Languages"),
    ("licenses", "Licenses"),
    ("other", "Other"),
)
RELATION_TITLES = {
    "finetune": "Fine-tunes",
    "adapter": "Adapters",
    "quantized": "Quantizations",
    "merge": "Merges",
}
assert set(RELATION_TITLES) == set(RELATIONS)


def as_list(v: Any) -> list[str]:
    """A card value that may be a string or a list, as strings (None and nested containers dropped)."""
    if v is None or v == "":
        return []
    items = v if isinstance(v, list) else [v]
    return [str(x).strip() for x in items if isinstance(x, str | int | float) and str(x).strip()]


@dataclass(frozen=True)
class Chip:
    label: str
    href: str | None  # None: plain text (a repo neither here nor upstream)
    external: bool = False  # on the upstream hub


@dataclass
class MetaRow:
    key: str
    title: str
    chips: list[Chip] = field(default_factory=list)


@dataclass(frozen=True)
class Linker:
    """Links to repos named in card metadata: local when the repo is on this hub (and visible to the viewer),
    else on the upstream hub (`upstream` empty: no link)."""

    local: dict[RepoType, dict[str, str]]  # per type: lower-cased id -> id as stored
    upstream: str = ""

    def find(self, rtype: RepoType, rid: str) -> str | None:
        return self.local.get(rtype, {}).get(rid.lower())

    def repo(self, rtype: RepoType, rid: str, label: str | None = None) -> Chip:
        found = self.find(rtype, rid)
        if found is not None:
            return Chip(label or found, "/" + rtype.url_prefix + found)
        if self.upstream and _repo_id_ok(rid):
            return Chip(label or rid, f"{self.upstream.rstrip('/')}/{rtype.url_prefix}{quote(rid)}", True)
        return Chip(label or rid, None)


_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")


def _repo_id_ok(rid: str) -> bool:
    return bool(_ID_RE.match(rid)) and ".." not in rid


def referenced(card: dict[str, Any] | None, tags: Iterable[str] = ()) -> dict[RepoType, set[str]]:
    """Repo ids a card names: datasets (`datasets`, `dataset:` tags, model-index datasets) and models
    (`base_model`, `base_model:` tags, a space's `models`)."""
    card = card or {}
    datasets = set(as_list(card.get("datasets")))
    models = set(as_list(card.get("base_model"))) | set(as_list(card.get("models")))
    for t in tags:
        if t.startswith("dataset:"):
            datasets.add(t.split(":", 1)[1])
        elif t.startswith("base_model:"):
            models.add(t.rsplit(":", 1)[1])
    for r in eval_results(card):
        if r.dataset_type:
            datasets.add(r.dataset_type)
    return {
        RepoType.DATASET: {d for d in datasets if _repo_id_ok(d)},
        RepoType.MODEL: {m for m in models if _repo_id_ok(m)},
    }


def metadata_rows(
    rtype: RepoType,
    card: dict[str, Any] | None,
    tags: Iterable[str],
    pipeline_tag: str | None,
    library: str | None,
    links: Linker,
) -> list[MetaRow]:
    """The labelled metadata header: each value once (case-insensitive), in the row it belongs to, each chip a
    link to the listing filtered by it (datasets: to the dataset)."""
    card = card or {}
    plural = rtype.plural
    rows = {key: MetaRow(key, title) for key, title in ROWS}
    seen: set[str] = set()

    def add(row: str, label: str, href: str | None, external: bool = False, key: str | None = None) -> None:
        k = (key or label).lower()
        if not label or k in seen:
            return
        seen.add(k)
        rows[row].chips.append(Chip(label, href, external))

    def listing(**params: str) -> str:
        return f"/{plural}?{urlencode(params)}"

    def dataset(d: str) -> None:
        c = links.repo(RepoType.DATASET, d)
        add("datasets", c.label, c.href, c.external, key=f"dataset:{d}")

    if pipeline_tag:
        add("tasks", pipeline_tag, listing(pipeline_tag=pipeline_tag))
    for t in as_list(card.get("task_categories")):
        add("tasks", t, listing(tag=f"task_categories:{t}"))
    for t in as_list(card.get("task_ids")):
        add("tasks", t, listing(tag=t))
    if library:
        add("libraries", library, listing(library=library))
    for d in as_list(card.get("datasets")):
        dataset(d)
    for lang in as_list(card.get("language")):
        add("languages", lang, listing(language=lang))
    for lic in as_list(card.get("license")):
        add("licenses", lic, listing(license=lic))
    base_models = {b.lower() for b in as_list(card.get("base_model"))}
    for tag in tags:
        low = tag.lower()
        if low in _NOISE or low.startswith(_NOISE_PREFIXES) or low.startswith("base_model:"):
            continue  # base models are in the model tree
        prefix, _, value = tag.partition(":")
        if value and prefix == "dataset":
            dataset(value)
        elif value and prefix == "license":
            add("licenses", value, listing(license=value))
        elif value and prefix == "language":
            add("languages", value, listing(language=value))
        elif value and prefix in ("task_categories", "pipeline_tag"):
            add("tasks", value, listing(tag=tag))
        elif value and prefix == "library":
            add("libraries", value, listing(tag=tag))
        elif low in TASKS:
            add("tasks", tag, listing(tag=tag))
        elif low in LIBRARIES:
            add("libraries", tag, listing(tag=tag))
        elif low not in base_models:
            add("other", tag, listing(tag=tag))
    return [r for r in rows.values() if r.chips]


def training_datasets(card: dict[str, Any] | None, links: Linker) -> list[Chip]:
    """The card's `datasets`, once each: local ones link here, others upstream (or plain text)."""
    out: dict[str, Chip] = {}
    for d in as_list((card or {}).get("datasets")):
        out.setdefault(d.lower(), links.repo(RepoType.DATASET, d))
    return list(out.values())


# --- model-index: "Evaluation results" ---------------------------------------------------------------
@dataclass(frozen=True)
class EvalResult:
    model: str
    task: str
    dataset: str
    dataset_type: str
    config: str
    split: str
    metric: str
    metric_type: str
    value: str
    verified: bool


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.6g}"
    if isinstance(v, int | str):
        return str(v)[:80]
    return ""


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _s(v: Any) -> str:
    return str(v)[:200] if isinstance(v, str | int | float) and not isinstance(v, bool) else ""


def eval_results(card: dict[str, Any] | None, limit: int = 200) -> list[EvalResult]:
    """Rows of the card's `model-index` (task, dataset, metric, value); malformed entries are skipped."""
    mi = (card or {}).get("model-index")
    out: list[EvalResult] = []
    if not isinstance(mi, list):
        return out
    for model in mi:
        if not isinstance(model, dict) or not isinstance(model.get("results"), list):
            continue
        for res in model["results"]:
            if not isinstance(res, dict):
                continue
            task = _dict(res.get("task"))
            ds = _dict(res.get("dataset"))
            metrics = res.get("metrics")
            if not isinstance(metrics, list):
                continue
            for m in metrics:
                if not isinstance(m, dict) or "value" not in m:
                    continue
                value = _fmt(m.get("value"))
                if not value:
                    continue
                out.append(
                    EvalResult(
                        model=_s(model.get("name")),
                        task=_s(task.get("name")) or _s(task.get("type")),
                        dataset=_s(ds.get("name")) or _s(ds.get("type")),
                        dataset_type=_s(ds.get("type")),
                        config=_s(ds.get("config")),
                        split=_s(ds.get("split")),
                        metric=_s(m.get("name")) or _s(m.get("type")),
                        metric_type=_s(m.get("type")),
                        value=value,
                        verified=m.get("verified") is True,
                    )
                )
                if len(out) >= limit:
                    return out
    return out


# --- links in rendered cards -------------------------------------------------------------------------
_A_RE = re.compile(r'<a\s([^>]*?)href="([^"]*)"([^>]*)>(.*?)</a>', re.S | re.I)
_IMG_RE = re.compile(r'(<img\s[^>]*?src=")([^"]*)(")', re.I)
# first path segments of the hub's own pages (never a user or a repo)
_PAGES = _words(
    """models datasets spaces static api search collections login logout join settings admin new new-dataset
    new-space inference-endpoints organizations invite reset-password docs endpoints"""
)


@dataclass
class CardLinks:
    """Rewrites the links of a rendered card (sanitised HTML from render_markdown): links to repos that are not on
    this hub go upstream (marked external) or become plain text, relative links resolve against the card's
    folder in the repo (as on the Hub) when that file exists, and become plain text when it does not."""

    links: Linker
    repo_url: str  # "/ns/name", "/datasets/ns/name"
    rev: str
    files: Iterable[str]
    folder: str = ""  # the card's folder in the repo ("" for the README at the root)
    accounts: set[str] = field(default_factory=set)  # lower-cased names of users/orgs that exist

    def __post_init__(self) -> None:
        self._files = set(self.files)
        self._dirs = {posixpath.dirname(p) for p in self._files}
        for d in list(self._dirs):
            while d:
                d = posixpath.dirname(d)
                self._dirs.add(d)

    def rewrite(self, body: str) -> str:
        body = _A_RE.sub(self._anchor, body)
        return _IMG_RE.sub(self._img, body)

    def _anchor(self, m: re.Match[str]) -> str:
        before, href, after, inner = m.group(1), html.unescape(m.group(2)), m.group(3), m.group(4)
        new, external = self.target(href)
        if new is None:
            return f'<span class="dead-link">{inner}</span>'
        if new == href:
            return m.group(0)
        attrs = f'{before}href="{html.escape(new)}"{after}'
        if external:
            attrs = (
                re.sub(r'\s*rel="[^"]*"', "", attrs) + ' rel="noopener noreferrer nofollow" class="external"'
            )
        return f"<a {attrs.strip()}>{inner}</a>"

    def _img(self, m: re.Match[str]) -> str:
        src = html.unescape(m.group(2))
        if not src or urlsplit(src).scheme or src.startswith(("/", "#")):
            return m.group(0)
        path = self._resolve(urlsplit(src).path)
        if path is None or path not in self._files:
            return m.group(0)
        return m.group(1) + html.escape(f"{self.repo_url}/resolve/{self.rev}/{quote(path)}") + m.group(3)

    def _resolve(self, rel: str) -> str | None:
        from urllib.parse import unquote

        p = posixpath.normpath(posixpath.join(self.folder, unquote(rel)))
        return None if p.startswith("..") or p == "." else p.lstrip("/")

    def target(self, href: str) -> tuple[str | None, bool]:
        """(new href or None for plain text, whether it points upstream)."""
        parts = urlsplit(href)
        if parts.scheme or href.startswith(("#", "//")) or not href:
            return href, False
        if not href.startswith("/"):  # relative: a file of this repo
            path = self._resolve(parts.path)
            if path is None:
                return None, False
            frag = f"#{parts.fragment}" if parts.fragment else ""
            if path in self._files:
                return f"{self.repo_url}/blob/{self.rev}/{quote(path)}{frag}", False
            if path in self._dirs:
                return f"{self.repo_url}/tree/{self.rev}/{quote(path)}", False
            return None, False
        segs = [s for s in parts.path.split("/") if s]
        if not segs or (segs[0] in _PAGES and not (segs[0] in ("datasets", "spaces") and len(segs) >= 3)):
            return href, False
        rtype = RepoType.MODEL
        if segs[0] in ("datasets", "spaces"):
            rtype = RepoType.DATASET if segs[0] == "datasets" else RepoType.SPACE
            segs = segs[1:]
        if len(segs) == 1:  # a user or org page
            if segs[0].lower() in self.accounts:
                return href, False
            return self._upstream(href)
        rid = "/".join(segs[:2])
        if self.links.find(rtype, rid) is not None:
            return href, False
        return self._upstream(href)

    def _upstream(self, href: str) -> tuple[str | None, bool]:
        if not self.links.upstream:
            return None, False
        return self.links.upstream.rstrip("/") + href, True


def card_account_names(body_html: str) -> set[str]:
    """Single-segment local links (`/name`) in a rendered card: the user/org pages it links to."""
    out = set()
    for m in _A_RE.finditer(body_html):
        href = html.unescape(m.group(2))
        if href.startswith("/") and not href.startswith("//"):
            segs = [s for s in urlsplit(href).path.split("/") if s]
            if len(segs) == 1 and segs[0] not in _PAGES:
                out.add(segs[0])
    return out


def card_repo_ids(body_html: str) -> dict[RepoType, set[str]]:
    """Repo ids of the local links (`/ns/name...`, `/datasets/ns/name...`) in a rendered card."""
    out: dict[RepoType, set[str]] = {t: set() for t in RepoType}
    for m in _A_RE.finditer(body_html):
        href = html.unescape(m.group(2))
        if not href.startswith("/") or href.startswith("//"):
            continue
        segs = [s for s in urlsplit(href).path.split("/") if s]
        rtype = RepoType.MODEL
        if segs and segs[0] in ("datasets", "spaces"):
            rtype = RepoType.DATASET if segs[0] == "datasets" else RepoType.SPACE
            segs = segs[1:]
        elif segs and segs[0] in _PAGES:
            continue
        if len(segs) >= 2:
            out[rtype].add("/".join(segs[:2]))
    return out


_HEADING_RE = re.compile(r"<(/?)h([1-5])(\s[^>]*)?>", re.I)


def demote_headings(body: str) -> str:
    """h1..h5 of a rendered card one level down (the page's own <h1> is the repo's name: one <h1> a page); a
    card's h1 keeps its look (class md-h1)."""

    def one(m: re.Match[str]) -> str:
        level = int(m.group(2))
        if m.group(1):
            return f"</h{level + 1}>"
        attrs = m.group(3) or ""
        return (
            f'<h{level + 1}{attrs} class="md-h1">'
            if level == 1 and "class=" not in attrs
            else f"<h{level + 1}{attrs}>"
        )

    return _HEADING_RE.sub(one, body)
