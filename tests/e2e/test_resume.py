"""An interrupted download resumes with a Range request and ends byte-identical.

huggingface_hub 2.4.0 resumes *inside* one ``hf_hub_download`` call (``file_download.http_get``): on a
``RemoteProtocolError`` mid-body it sleeps 1 s and re-requests with ``Range: bytes=<received>-``. (Partial
``.incomplete`` files are process-unique since 2.x, so there is no cross-call resume to test.) A TCP proxy in
front of the hub cuts the first response after 15 MB; we check the retry's Range header, that the hub
answered 206 and that the proxy relayed far less than two full copies.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download


class CuttingProxy:
    """127.0.0.1:0 -> upstream; the first connection whose response passes `cut_after` bytes is dropped there."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cut_done = False
        self.requests: list[bytes] = []  # raw client->hub bytes, one item per read
        self.responses: list[bytes] = []  # first bytes of every hub->client read that starts a response
        self.relayed = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        self.loop.run_until_complete(main())
        self.loop.run_forever()

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        done = asyncio.Event()

        async def up() -> None:
            try:
                while data := await cr.read(65536):
                    self.requests.append(data)
                    uw.write(data)
                    await uw.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                done.set()

        async def down() -> None:
            sent = 0
            cutting = not self.cut_done
            try:
                while data := await ur.read(65536):
                    if data.startswith(b"HTTP/1.1"):
                        self.responses.append(data[:2000])
                    if cutting and not self.cut_done and sent + len(data) > self.cut_after:
                        data = data[: max(0, self.cut_after - sent)]
                        cw.write(data)
                        self.relayed += len(data)
                        await cw.drain()
                        self.cut_done = True
                        break
                    cw.write(data)
                    sent += len(data)
                    self.relayed += len(data)
                    await cw.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                done.set()

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        await done.wait()
        for t in tasks:
            t.cancel()
        for w in (cw, uw):
            w.close()

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def proxy(live_server):
    p = CuttingProxy(live_server.port, cut_after=15 * 1024 * 1024)
    yield p
    p.close()


# the plain-HTTP download path (http_get): LFS-stored content has no Xet hash, so the client fetches /resolve;
# a Xet download goes to the CAS instead, where hf_xet retries whole terms
@pytest.mark.parametrize("transfer", ["lfs"], indirect=True)
def test_interrupted_download_resumes_with_range(
    live_server, api, repo_name, proxy, hf_cache, caplog, transfer
):
    # the client writes in 10 MiB chunks (constants.DOWNLOAD_CHUNK_SIZE): resume starts at a chunk boundary
    size = 25 * 1024 * 1024 + 123
    data = os.urandom(size)
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id=rid)

    path = hf_hub_download(
        rid, "big.bin", cache_dir=hf_cache, endpoint=f"http://127.0.0.1:{proxy.port}", token=live_server.alice
    )
    assert proxy.cut_done, "the proxy never cut the connection"
    got = Path(path).read_bytes()
    assert len(got) == size
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()

    raw = b"".join(proxy.requests).decode("latin-1")
    ranges = re.findall(r"(?im)^range:\s*bytes=(\d+)-\s*$", raw)
    assert ranges, f"no resume Range request was sent:\n{raw[:3000]}"
    resumed_at = int(ranges[-1])
    assert 0 < resumed_at < size
    assert any(
        r.startswith(b"HTTP/1.1 206") and f"bytes {resumed_at}-{size - 1}/{size}".encode() in r
        for r in proxy.responses
    ), proxy.responses
    # only the missing tail was fetched again
    assert proxy.relayed <= proxy.cut_after + (size - resumed_at) + 64 * 1024
    assert proxy.relayed < 2 * size
    assert "Trying to resume download" in caplog.text or resumed_at > 0
