"""LitServe peer for bench/embedding_peers.py: sentence-transformers behind LitServe's OpenAI embeddings spec.

Runs inside its own virtual environment (bench/results/peers-env/litserve, made by embedding_peers.py), never in
the project's. Dynamic batching on (``max_batch_size``, ``batch_timeout``), one worker on the CPU; the route is
``POST /v1/embeddings`` (the OpenAI request shape, one input per request as the spec requires with batching).

Usage: python bench/peers/litserve_server.py --model-dir DIR --port N [--max-batch-size 64] [--batch-timeout 0.005]
"""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls
from litserve.specs import OpenAIEmbeddingSpec


class EmbedAPI(ls.LitAPI):  # type: ignore[misc]
    """Module level: LitServe spawns its inference worker and pickles this object (``model_dir`` goes along)."""

    model_dir = ""

    def setup(self, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(self.model_dir, device="cpu")

    def predict(self, inputs: list[Any]) -> Any:
        # one item per request: the spec's decode gives the request's `input` (a string or a 1-list)
        texts = [x[0] if isinstance(x, list) else x for x in inputs]
        return self.model.encode(texts, batch_size=len(texts), normalize_embeddings=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--batch-timeout", type=float, default=0.005)
    args = p.parse_args()

    api = EmbedAPI(
        max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout, spec=OpenAIEmbeddingSpec()
    )
    api.model_dir = args.model_dir
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
