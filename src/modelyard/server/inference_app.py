"""HTTP front for inference endpoints (Starlette). Mount it under ``/endpoints`` on the hub.

Routes, relative to the mount point (see docs/inference.md):

- ``POST /{name}``: inference for the endpoint's task (HF Inference API shapes, ``InferenceClient(base_url=...)``)
- ``POST /{name}/v1/chat/completions`` (SSE with ``stream``), ``POST /{name}/v1/embeddings``, ``GET /{name}/v1/models``
- ``GET /{name}/health`` (200 only when loaded), ``GET /{name}/info``, ``GET /{name}/metrics``
- management: ``GET|POST /-/api/endpoints``, ``GET|DELETE /-/api/endpoints/{name}``,
  ``POST /-/api/endpoints/{name}/{pause|resume|unload}``; ``GET /-/metrics``, ``GET /-/health``

Endpoint names start with a letter or digit, so ``-`` never collides with one.
Standalone: ``python -m modelyard.server.inference_app --model-dir DIR --name NAME --port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route

from modelyard import __version__
from modelyard.errors import HubError, NotFound, Unauthorized
from modelyard.inference import EndpointConfig, EndpointManager, StaticTokenAuthorizer, allow_all
from modelyard.inference import formats as F
from modelyard.inference import tasks as T
from modelyard.inference.errors import EndpointNotFound, InvalidInput, UnsupportedTask
from modelyard.inference.manager import READY, Endpoint
from modelyard.inference.process import StreamEvent
from modelyard.inference.requests import (
    MAX_CLIENT_BATCH,
    OP_EMBED,
    decode_json,
    parse_chat_request,
    parse_embeddings_request,
    parse_task_request,
)
from modelyard.inference.source import HubSource, LocalDirSource, ModelSource
from modelyard.server.edge import EdgeGuard, read_body
from modelyard.server.embed_fastpath import EmbedFastPath, FastPathStarlette
from modelyard.server.errors import EXCEPTION_HANDLERS, RequestIdMiddleware
from modelyard.server.http_server import server_config

log = logging.getLogger("modelyard.inference")

Authorize = Callable[[str | None, str], Awaitable[None]]
IsAdmin = Callable[[str | None], Awaitable[bool]]
# (action, token, endpoint) after an endpoint was created or deleted: the hub's audit log
OnChange = Callable[[str, str | None, Endpoint], Awaitable[None]]

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024  # request line and headers (431 past it); control characters in paths are 400
AUTH_CACHE_SECONDS = 2.0


# ------------------------------------------------------------------------------------------------ helpers
def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def sse(data: Any) -> bytes:
    try:
        return b"data: " + orjson.dumps(data) + b"\n\n"
    except TypeError:  # what orjson does not serialise (a subclass it refuses, a huge int)
        return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


class InferenceFront:
    """Request handlers; one per app, bound to a manager and an authorizer."""

    def __init__(
        self,
        manager: EndpointManager,
        authorize: Authorize,
        manage: Authorize | None = None,
        is_admin: IsAdmin | None = None,
        on_change: OnChange | None = None,
        invoke: Authorize | None = None,
    ) -> None:
        self.manager = manager
        self.invoke = invoke  # extra check for calling an endpoint (the hub: inference.endpoints.infer.write)
        self.on_change = on_change  # told after an endpoint was created or deleted
        self.authorize = authorize
        self.manage = manage  # extra check for create/delete/pause/resume/unload (the hub: write access)
        self.is_admin = is_admin  # who sees every endpoint in listings and metrics (the hub: admin accounts)
        self._auth_ok: dict[tuple[str | None, str], float] = {}

    # ----------------------------------------------------------------------------------------- plumbing
    async def _check(self, request: Request, repo_id: str) -> None:
        await self._check_token(bearer_token(request), repo_id)

    async def _check_token(self, token: str | None, repo_id: str) -> None:
        key = (token, repo_id)
        now = time.monotonic()
        if self._auth_ok.get(key, 0.0) > now:
            return
        await self.authorize(token, repo_id)
        if len(self._auth_ok) > 10_000:
            self._auth_ok.clear()
        self._auth_ok[key] = now + AUTH_CACHE_SECONDS

    async def _callable(self, request: Request) -> Endpoint:
        """The endpoint if the caller may call it: `_endpoint`, then the `invoke` check (not cached)."""
        endpoint = await self._endpoint(request)
        if self.invoke is not None:
            await self.invoke(bearer_token(request), endpoint.config.repo_id)
        return endpoint

    async def _endpoint(self, request: Request) -> Endpoint:
        """The endpoint if the caller may read its repo. An endpoint of a repo the caller cannot see answers
        exactly like a name that does not exist (the repo's name is not revealed either)."""
        name = request.path_params["name"]
        endpoint = self.manager.get(name)
        try:
            await self._check(request, endpoint.config.repo_id)
        except NotFound:
            raise EndpointNotFound(f"Endpoint {name!r} not found") from None
        if endpoint.config.access != "public" and bearer_token(request) is None:
            raise Unauthorized(f"Endpoint {endpoint.name!r} is {endpoint.config.access}: send a token")
        return endpoint

    async def _visible(self, request: Request) -> list[Endpoint]:
        """The endpoints the caller may see: those whose repo it can read; all of them for an admin."""
        token = bearer_token(request)
        endpoints = self.manager.list_endpoints()
        if self.is_admin is not None and await self.is_admin(token):
            return list(endpoints)
        visible = []
        for endpoint in endpoints:
            try:
                await self._check_token(token, endpoint.config.repo_id)
            except HubError:
                continue
            visible.append(endpoint)
        return visible

    @staticmethod
    async def _body(request: Request) -> bytes:
        return await read_body(request, MAX_BODY_BYTES)

    @staticmethod
    def _wait_for_model(request: Request, body: bytes) -> bool:
        """Hold the request while the model loads (the default, up to the manager's `wait_timeout_s`), unless the
        caller asks not to wait: `X-Wait-For-Model: false` (or 0/no/off), else `{"options": {"wait_for_model":
        false}}` in a JSON body; then a loading model answers 503 ModelLoading with `estimated_time` at once."""
        header = request.headers.get("x-wait-for-model")
        if header is not None:
            return header.strip().lower() not in ("0", "false", "no", "off")
        if b"wait_for_model" in body:
            with contextlib.suppress(HubError, AttributeError):  # a bad body is reported by the task parser
                options = decode_json(body).get("options") or {}
                if isinstance(options, dict) and isinstance(options.get("wait_for_model"), bool):
                    return bool(options["wait_for_model"])
        return True

    async def _ready(self, endpoint: Endpoint, wait: bool) -> str:
        if wait:
            await self.manager.wait_ready(endpoint.name, timeout=self.manager.wait_timeout_s)
        else:
            self.manager.acquire(endpoint.name)
        task = endpoint.task
        assert task is not None
        return task

    # -------------------------------------------------------------------------------------- inference
    async def predict(self, request: Request) -> Response:
        endpoint = await self._callable(request)
        body = await self._body(request)
        wait = self._wait_for_model(request, body)
        task = await self._ready(endpoint, wait)
        parsed = parse_task_request(task, body, request.headers.get("content-type"))
        if parsed.stream:
            return await self._tgi_stream(endpoint, parsed, wait)
        outputs = await self.manager.infer(endpoint.name, parsed, wait_for_model=wait)
        if parsed.op == OP_EMBED:
            return Response(F.vectors_json(outputs), media_type="application/json")
        if task in T.AUDIO_OUTPUT_TASKS:  # text-to-speech: the audio file itself
            audio = F.wav_bytes(outputs[0]["audio"], outputs[0]["sampling_rate"])
            return Response(audio, media_type="audio/wav")
        if task in T.DIFFUSION_TASKS:  # text-to-image, image-to-image: the PNG itself
            return Response(F.png_body(outputs), media_type="image/png")
        return json_response(F.task_response(task, parsed, outputs))

    async def _tgi_stream(self, endpoint: Endpoint, parsed: Any, wait: bool) -> Response:
        events = await _started(await self.manager.stream(endpoint.name, parsed, wait_for_model=wait))

        async def body() -> AsyncIterator[bytes]:
            held: dict[str, Any] | None = None
            index = 0
            async for event in events:
                if event.kind == "tok":
                    if held is not None:
                        index += 1
                        yield sse(F.tgi_stream_token(index, held))
                    held = event.payload
                elif event.kind == "end":
                    yield sse(F.tgi_stream_final(index + 1, held, event.payload))
                else:
                    yield sse(_stream_error(event))

        return StreamingResponse(
            body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def chat(self, request: Request) -> Response:
        endpoint = await self._callable(request)
        body = await self._body(request)
        parsed, model, include_usage = parse_chat_request(body)
        wait = self._wait_for_model(request, body)
        task = await self._ready(endpoint, wait)
        if task != T.TEXT_GENERATION:
            raise UnsupportedTask(
                f"Endpoint {endpoint.name!r} serves {task}; chat needs a text-generation model"
            )
        if not endpoint.info.get("chat_template"):
            raise InvalidInput(f"The model of endpoint {endpoint.name!r} has no chat template")
        model = model if model and model != "dummy" else endpoint.config.repo_id
        if not parsed.stream:
            outputs = await self.manager.infer(endpoint.name, parsed, wait_for_model=wait)
            return json_response(F.chat_completion(outputs[0], model))
        events = await _started(await self.manager.stream(endpoint.name, parsed, wait_for_model=wait))
        return StreamingResponse(
            _chat_stream(events, model, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def embeddings(self, request: Request) -> Response:
        endpoint = await self._callable(request)
        body = await self._body(request)
        parsed, fmt, model = parse_embeddings_request(body)
        wait = self._wait_for_model(request, body)
        task = await self._ready(endpoint, wait)
        if task not in T.EMBEDDING_TASKS:
            raise UnsupportedTask(
                f"Endpoint {endpoint.name!r} serves {task}; embeddings need an embedding model"
            )
        outputs = await self.manager.infer(endpoint.name, parsed, wait_for_model=wait)
        tokens = sum(len(text.split()) for text in parsed.items)
        body = F.openai_embeddings_json(outputs, fmt, model or endpoint.config.repo_id, tokens)
        return Response(body, media_type="application/json")

    async def models(self, request: Request) -> Response:
        endpoint = await self._endpoint(request)
        card = {
            "id": endpoint.config.repo_id,
            "object": "model",
            "created": int(endpoint.created_at),
            "owned_by": endpoint.config.repo_id.split("/")[0],
        }
        return json_response({"object": "list", "data": [card]})

    # ------------------------------------------------------------------------------------ observability
    async def health(self, request: Request) -> Response:
        endpoint = await self._endpoint(request)
        if endpoint.state == READY:
            return json_response({"status": "ok", "state": endpoint.state})
        body = {"error": f"Endpoint {endpoint.name!r} is {endpoint.state}", "state": endpoint.state}
        return json_response(body, status=503)

    async def info(self, request: Request) -> Response:
        endpoint = await self._endpoint(request)
        config = endpoint.config
        runtime = {k: v for k, v in endpoint.info.items() if k not in ("pid",)}
        return json_response(
            {
                "model_id": config.repo_id,
                "model_sha": config.revision,
                "model_pipeline_tag": endpoint.task,
                "endpoint": endpoint.name,
                "state": endpoint.state,
                "max_batch_size": config.max_batch_size,
                "max_batch_total_tokens": config.max_batch_tokens,  # TGI's name: the token budget
                "max_concurrent_requests": config.max_queue,
                "max_client_batch_size": MAX_CLIENT_BATCH,
                "version": __version__,
                "router": "modelyard",
                "runtime": runtime,
            }
        )

    async def endpoint_metrics(self, request: Request) -> Response:
        endpoint = await self._endpoint(request)
        return _metrics_response(self.manager.metrics.render(endpoint.name))

    async def all_metrics(self, request: Request) -> Response:
        names = {endpoint.name for endpoint in await self._visible(request)}
        return _metrics_response(self.manager.metrics.render(only=names))

    async def front_health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    # ------------------------------------------------------------------------------------- management
    async def list_endpoints(self, request: Request) -> Response:
        return json_response({"endpoints": [endpoint.to_dict() for endpoint in await self._visible(request)]})

    async def create_endpoint(self, request: Request) -> Response:
        payload = decode_json(await self._body(request) or b"{}")
        if not isinstance(payload, dict):
            raise InvalidInput("Body must be a JSON object")
        load = payload.pop("load", True)
        if payload.get("namespace") is not None:  # the owner namespace is the Hub's endpoint API's to set
            raise InvalidInput("'namespace' is set through /v2/endpoint/{namespace}, not here")
        config = EndpointConfig.from_dict(payload)
        await self.authorize(bearer_token(request), config.repo_id)
        if self.manage is not None:
            await self.manage(bearer_token(request), config.repo_id)
        endpoint = await self.manager.create(config, load=bool(load))
        if self.on_change is not None:
            await self.on_change("endpoint.create", bearer_token(request), endpoint)
        return json_response(endpoint.to_dict(), status=201)

    async def get_endpoint(self, request: Request) -> Response:
        endpoint = await self._endpoint(request)
        return json_response(endpoint.to_dict())

    async def _managed_endpoint(self, request: Request) -> Endpoint:
        endpoint = await self._endpoint(request)
        if self.manage is not None:
            await self.manage(bearer_token(request), endpoint.config.repo_id)
        return endpoint

    async def delete_endpoint(self, request: Request) -> Response:
        endpoint = await self._managed_endpoint(request)
        await self.manager.delete(endpoint.name)
        if self.on_change is not None:
            await self.on_change("endpoint.delete", bearer_token(request), endpoint)
        return json_response({"deleted": endpoint.name})

    async def action(self, request: Request) -> Response:
        endpoint = await self._managed_endpoint(request)
        action = request.path_params["action"]
        handlers = {"pause": self.manager.pause, "resume": self.manager.resume, "unload": self.manager.unload}
        if action not in handlers:
            raise NotFound(f"Unknown action {action!r}")
        result = await handlers[action](endpoint.name)
        return json_response(result.to_dict())


def _stream_error(event: StreamEvent) -> dict[str, Any]:
    exc = event.payload
    message = getattr(exc, "message", str(exc))
    kind = "validation" if isinstance(exc, InvalidInput) else "generation"
    return {"error": message, "error_type": kind}


async def _started(events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """Wait for a stream's first event: an error before any token (a prompt over the endpoint's token budget, a bad
    parameter) is raised here, so the client gets its 4xx instead of a 200 stream that carries an error."""
    first = await anext(events)
    if first.kind == "error" and isinstance(first.payload, HubError):
        async for _ in events:  # let the request finish its bookkeeping
            pass
        raise first.payload

    async def chained() -> AsyncIterator[StreamEvent]:
        yield first
        async for event in events:
            yield event

    return chained()


async def _chat_stream(
    events: AsyncIterator[StreamEvent], model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    cid = F.new_completion_id()
    yield sse(F.chat_chunk(cid, model, {"role": "assistant", "content": ""}))
    # a content chunk is F.chat_chunk's bytes, spliced from its constant parts (the hot path: one per token)
    head = b'data: {"id":' + orjson.dumps(cid) + b',"object":"chat.completion.chunk","created":'
    middle = b',"model":' + orjson.dumps(model) + b',"system_fingerprint":"modelyard","choices":[{"index":0,'
    middle += b'"delta":{"content":'
    tail = b'},"logprobs":null,"finish_reason":null}]}\n\n'
    async for event in events:
        if event.kind == "tok":
            payload = event.payload
            if "logprobs" in payload:
                logprobs = payload["logprobs"]
                yield sse(F.chat_chunk(cid, model, {"content": payload["text"]}, logprobs=logprobs))
            elif payload["text"]:
                yield head + str(int(time.time())).encode() + middle + orjson.dumps(payload["text"]) + tail
        elif event.kind == "end":
            result = event.payload
            reason = str(result.get("finish_reason", "stop"))
            yield sse(F.chat_chunk(cid, model, {}, finish_reason=reason))
            if include_usage:
                prompt, done = int(result.get("prompt_tokens", 0)), int(result.get("completion_tokens", 0))
                usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
                chunk = F.chat_chunk(cid, model, {}, usage=usage)
                chunk["choices"] = []
                yield sse(chunk)
        else:
            message = getattr(event.payload, "message", str(event.payload))
            yield sse({"error": {"message": message, "type": "server_error"}})
    yield b"data: [DONE]\n\n"


def _metrics_response(text: str) -> Response:
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def create_inference_app(
    manager: EndpointManager,
    authorize: Authorize,
    manage: Authorize | None = None,
    is_admin: IsAdmin | None = None,
    on_change: OnChange | None = None,
    invoke: Authorize | None = None,
    fast_path: bool = True,
) -> Starlette:
    """The ASGI app for inference endpoints. The caller owns ``manager`` and must ``await manager.aclose()``
    at shutdown (a mounted sub-app's lifespan does not run). ``authorize`` gates every use of an endpoint;
    ``manage``, when given, additionally gates creating, deleting, pausing, resuming and unloading one;
    ``is_admin(token)`` says who sees every endpoint in ``/-/metrics`` and the listing (others: the endpoints
    whose repo they may read); ``on_change`` is told of each endpoint created or deleted (the hub's audit log);
    ``invoke``, when given, additionally gates calling one (predict, chat, embeddings).
    Errors are answered by the shared handlers of server/errors.py. ``fast_path``: embedding calls skip Starlette's
    routing (server/embed_fastpath.py; same handlers, same answers)."""
    app, _ = _inference_app(manager, authorize, manage, is_admin, on_change, invoke, fast_path)
    return app


def _inference_app(
    manager: EndpointManager,
    authorize: Authorize,
    manage: Authorize | None = None,
    is_admin: IsAdmin | None = None,
    on_change: OnChange | None = None,
    invoke: Authorize | None = None,
    fast_path: bool = True,
) -> tuple[FastPathStarlette, InferenceFront]:
    front = InferenceFront(manager, authorize, manage, is_admin, on_change, invoke)

    routes = [
        Route("/-/api/endpoints", front.list_endpoints, methods=["GET"]),
        Route("/-/api/endpoints", front.create_endpoint, methods=["POST"]),
        Route("/-/api/endpoints/{name}", front.get_endpoint, methods=["GET"]),
        Route("/-/api/endpoints/{name}", front.delete_endpoint, methods=["DELETE"]),
        Route("/-/api/endpoints/{name}/{action}", front.action, methods=["POST"]),
        Route("/-/metrics", front.all_metrics, methods=["GET"]),
        Route("/-/health", front.front_health, methods=["GET"]),
        Route("/{name}", front.predict, methods=["POST"]),
        Route("/{name}/", front.predict, methods=["POST"]),
        Route("/{name}/v1/chat/completions", front.chat, methods=["POST"]),
        Route("/{name}/v1/embeddings", front.embeddings, methods=["POST"]),
        Route("/{name}/v1/models", front.models, methods=["GET"]),
        Route("/{name}/health", front.health, methods=["GET"]),
        Route("/{name}/info", front.info, methods=["GET"]),
        Route("/{name}/metrics", front.endpoint_metrics, methods=["GET"]),
    ]
    app = FastPathStarlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    if fast_path:
        app.fast_path = EmbedFastPath(manager, front.embeddings, front.predict)
    return app, front


# --------------------------------------------------------------------------------------------- standalone
def create_standalone_app(
    manager: EndpointManager, authorize: Authorize, configs: list[EndpointConfig], fast_path: bool = True
) -> Starlette:
    """The inference app mounted at ``/endpoints`` (same URLs as on the hub), creating ``configs`` at startup.
    ``fast_path``: embedding calls skip the middleware stack and routing of both apps (server/embed_fastpath.py)."""
    inner, front = _inference_app(manager, authorize, fast_path=fast_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for config in configs:
            await manager.create(config, load=True)
        yield
        await manager.aclose()

    async def root_health(request: Request) -> Response:
        return json_response({"status": "ok"})

    outer = FastPathStarlette(
        routes=[Route("/health", root_health, methods=["GET"]), Mount("/endpoints", app=inner)],
        lifespan=lifespan,
        middleware=[Middleware(RequestIdMiddleware), Middleware(EdgeGuard, max_header_size=MAX_HEADER_BYTES)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    if fast_path:
        outer.fast_path = EmbedFastPath(
            manager,
            front.embeddings,
            front.predict,
            prefix="/endpoints",
            outermost=True,
            max_header_size=MAX_HEADER_BYTES,
        )
    return outer


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m modelyard.server.inference_app", description="Serve model endpoints standalone."
    )
    p.add_argument("--model-dir", type=Path, help="serve this local model directory")
    p.add_argument("--hub", help="hub URL to fetch --repo from")
    p.add_argument(
        "--hub-token", default=os.environ.get("MODELYARD_TOKEN"), help="token for the hub download"
    )
    p.add_argument("--repo", help="repo id on --hub (user/model)")
    p.add_argument("--revision", default="main")
    p.add_argument(
        "--local", action="append", default=[], metavar="REPO=DIR", help="map a repo id to a directory"
    )
    p.add_argument("--name", help="endpoint name (default: from the repo id / directory)")
    p.add_argument("--task", help="override the inferred task")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on stdout)")
    p.add_argument("--token", action="append", default=[], help="require this bearer token (repeatable)")
    p.add_argument(
        "--private", action="append", default=None, metavar="REPO", help="only these repos need --token"
    )
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=0.0)
    p.add_argument("--max-queue", type=int, default=128)
    p.add_argument("--keep-alive", type=float, default=-1, help="seconds idle before unloading (-1: never)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads in the worker (default: all cores)"
    )
    p.add_argument(
        "--lanes",
        type=int,
        default=None,
        help="batches the worker runs at once, each on threads/lanes cores (default: 2 for embedding models when "
        "there are 2+ threads, else 1; a lone batch still gets every thread)",
    )
    p.add_argument(
        "--autocast", choices=("bfloat16", "float16"), default=None, help="run the model under torch.autocast"
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "int8"),
        default="float32",
        help="weight precision, checked against float32 at load (int8: dynamic quantization of Linear layers)",
    )
    p.add_argument(
        "--no-graph",
        dest="graph",
        action="store_false",
        help="keep the eager forward (default: a frozen TorchScript trace where it gives the same answers)",
    )
    p.add_argument(
        "--allow-unsafe-pickle",
        action="store_true",
        help="load the model even if a pickle file in it imports something dangerous (hub/pickles.py)",
    )
    p.add_argument(
        "--wait-timeout",
        type=float,
        default=120.0,
        help="seconds a request waits for a loading model (then 503); X-Wait-For-Model: false answers 503 at once",
    )
    p.add_argument("--memory-budget-mb", type=float, default=None)
    p.add_argument("--max-loaded", type=int, default=None)
    p.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_false",
        help="route embedding calls through Starlette like every other route (for comparisons)",
    )
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def build_from_args(args: argparse.Namespace) -> tuple[EndpointManager, Authorize, list[EndpointConfig]]:
    local: dict[str, Path] = {}
    for entry in args.local:
        repo, _, path = entry.partition("=")
        local[repo] = Path(path).resolve()
    configs: list[EndpointConfig] = []
    source: ModelSource
    options = {
        "task": args.task,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": args.max_wait_ms,
        "max_queue": args.max_queue,
        "keep_alive_s": None if args.keep_alive < 0 else args.keep_alive,
        "threads": args.threads,
        "lanes": args.lanes,
        "autocast": args.autocast,
        "dtype": args.dtype,
        "graph": args.graph,
        "revision": args.revision,
        "allow_unsafe_pickle": args.allow_unsafe_pickle,
    }
    if args.hub:
        source = HubSource(args.hub, token=args.hub_token)
        if args.repo:
            configs.append(
                EndpointConfig.from_dict({"repo_id": args.repo, "name": args.name or "", **options})
            )
    else:
        if args.model_dir:
            name = args.name or _dir_name(args.model_dir)
            repo = args.repo or f"local/{name}"
            local[repo] = args.model_dir.resolve()
            configs.append(EndpointConfig.from_dict({"repo_id": repo, "name": name, **options}))
        source = LocalDirSource(local)
    budget = int(args.memory_budget_mb * 1024 * 1024) if args.memory_budget_mb else None
    manager = EndpointManager(
        source, memory_budget_bytes=budget, max_loaded=args.max_loaded, wait_timeout_s=args.wait_timeout
    )
    authorize: Authorize = (
        StaticTokenAuthorizer(args.token, private_repos=args.private) if args.token else allow_all
    )
    return manager, authorize, configs


def _dir_name(path: Path) -> str:
    from modelyard.inference.config import default_name

    return default_name(path.resolve().name)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    manager, authorize, configs = build_from_args(args)
    app = create_standalone_app(manager, authorize, configs, fast_path=args.fast_path)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
    )  # accepted sockets inherit it (no Nagle stalls)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connect() works as soon as the address is printed
    port = sock.getsockname()[1]
    config = server_config(app, log_level=args.log_level, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    names = ", ".join(c.name for c in configs) or "(none yet)"
    print(f"MODELYARD_INFERENCE_LISTENING http://{args.host}:{port} endpoints: {names}", flush=True)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(server.serve(sockets=[sock]))
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it): a cheaper event loop per request."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


if __name__ == "__main__":
    sys.exit(main())
