"""A pre-warmed parent for model workers: imports torch and transformers once, then forks a worker per request.

Cold starts drop from ~3 s (a fresh interpreter importing torch) to a fork. Run as
``python -m modelyard.inference.zygote SOCK_FD`` by :class:`Zygote`; it exits when the front closes the socket.
Protocol on the unix socket: the front sends ``b"spawn"`` with the worker's two pipe fds attached
(``socket.send_fds``); the zygote answers with the child's pid (8 bytes, big endian). Children are reaped
automatically (SIGCHLD ignored), so the front watches them through their pipes and by pid.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading


def _preload() -> None:
    import importlib

    import torch
    import transformers

    for name in ("embeddings", "classify", "tokens", "qa", "seq2seq", "causal"):
        importlib.import_module(f"modelyard.inference.runtimes.{name}")
    importlib.import_module("modelyard.inference.worker")
    del torch, transformers


def serve(sock: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 2)
        except OSError:
            return
        if not msg:
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            sock.sendall((0).to_bytes(8, "big"))
            continue
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                from modelyard.inference import worker

                code = worker.main([str(fds[0]), str(fds[1])])
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        sock.sendall(pid.to_bytes(8, "big"))


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    _preload()
    assert threading.active_count() == 1, "the zygote must stay single-threaded to fork safely"
    sock.sendall(b"ready")
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
