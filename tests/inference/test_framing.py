"""Worker → front message framing and the embedding vector encoding (pure Python, no model)."""

from __future__ import annotations

import json
import os
import pickle
import random
import struct
import threading
from multiprocessing.connection import Connection

import numpy as np

from modelyard.inference.formats import vectors_json
from modelyard.inference.framing import FrameReader, read_available


def test_messages_written_by_connection_send_are_read_back_whatever_the_chunking() -> None:
    messages: list[object] = [
        ("ready", {"task": "feature-extraction"}),
        ("results", [(1, "ok", [np.arange(384, dtype=np.float32)])], (1, 1, 0.01)),
        ("tok", 7, {"text": "é" * 3}),
        ("big", b"x" * 300_000),  # larger than a pipe buffer and than one read
        ("end", 7, "ok", {}, (1, 1, 0.2)),
    ]
    r, w = os.pipe()
    os.set_blocking(r, False)
    writer = Connection(w, readable=False)

    def write_all() -> None:
        for message in messages:
            writer.send(message)
        writer.close()

    thread = threading.Thread(target=write_all)
    thread.start()
    reader = FrameReader()
    got: list[object] = []
    rng = random.Random(1)
    pending = b""
    eof = False
    while not eof:
        data, eof = read_available(r)
        pending += data
        while pending:  # feed in random pieces, splitting headers and bodies
            cut = rng.randint(1, 7000)
            got.extend(reader.feed(pending[:cut]))
            pending = pending[cut:]
    thread.join()
    os.close(r)
    assert len(got) == len(messages)
    for want, have in zip(messages, got, strict=True):
        assert pickle.dumps(want) == pickle.dumps(have)
    assert not reader.buffer


def test_long_header_form_and_partial_frames() -> None:
    body = pickle.dumps(("results", list(range(10))))
    long_frame = struct.pack("!i", -1) + struct.pack("!Q", len(body)) + body
    short_frame = struct.pack("!i", len(body)) + body
    reader = FrameReader()
    assert list(reader.feed(long_frame[:6])) == []  # not even the 12-byte header yet
    assert list(reader.feed(long_frame[6:] + short_frame[:3])) == [("results", list(range(10)))]
    assert list(reader.feed(short_frame[3:])) == [("results", list(range(10)))]
    assert not reader.buffer


def test_read_available_reports_eof() -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    assert read_available(r) == (b"", False)
    os.write(w, b"abc")
    os.close(w)
    data, eof = read_available(r)
    if not eof:  # the data and the EOF may come in two reads
        more, eof = read_available(r)
        data += more
    os.close(r)
    assert (data, eof) == (b"abc", True)


def test_vectors_json_round_trips_float32_exactly() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((5, 384)).astype(np.float32)
    rows = list(matrix[:, :100])  # views of a sliced matrix (a `dimensions` request)
    body = vectors_json(rows)
    back = np.asarray(json.loads(body), dtype=np.float32)
    assert back.shape == (5, 100)
    assert np.array_equal(back, matrix[:, :100])
    assert json.loads(vectors_json([[1.5, 2.0]])) == [[1.5, 2.0]]


def test_vectors_json_writes_non_finite_values_as_null() -> None:
    body = vectors_json([np.array([1.0, np.nan, np.inf], dtype=np.float32)])
    assert json.loads(body) == [[1.0, None, None]]


def test_openai_embeddings_body_written_by_orjson_keeps_shape_and_float32_values() -> None:
    from modelyard.inference.formats import openai_embeddings_json

    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((3, 384)).astype(np.float32)
    rows = list(matrix[:, :64])  # views, as a `dimensions` request returns them
    body = json.loads(openai_embeddings_json(rows, "float", "org/m", 7))
    assert set(body) == {"object", "data", "model", "usage"}
    usage = {"prompt_tokens": 7, "total_tokens": 7}
    assert (body["object"], body["model"], body["usage"]) == ("list", "org/m", usage)
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", i) for i in range(3)]
    back = np.asarray([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert np.array_equal(back, matrix[:, :64])
    b64 = json.loads(openai_embeddings_json(rows, "base64", "org/m", 7))["data"][1]["embedding"]
    import base64

    assert np.array_equal(np.frombuffer(base64.b64decode(b64), dtype="<f4"), matrix[1, :64])
