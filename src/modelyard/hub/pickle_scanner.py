"""The pickle scanner: bytes in, verdict out (pure; hub/pickles.py stores the verdicts).

picklescan lists the globals a pickle names without loading it and classifies them (innocuous / suspicious /
dangerous). Around it, this module decides what the bytes are (torch zip, legacy torch file, numpy array, plain
pickle; by content, not by name, so a verdict belongs to the content) and bounds the work on hostile input: large
pickle arguments (tensor bytes, arrays) are sought over, never read; more than `MAX_PICKLE_BYTES` of opcodes,
`MAX_OPS` opcodes (picklescan keeps them all in a list), `MAX_ZIP_MEMBERS` zip entries or a deflated pickle entry
over `MAX_COMPRESSED_MEMBER` end the scan as ``error``. Bytes that do not parse are ``error`` too, never "no
imports": picklescan itself reads an unparseable file as clean.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

log = logging.getLogger("modelyard.pickles")

QUEUED, SAFE, SUSPICIOUS, UNSAFE, ERROR = "queued", "safe", "suspicious", "unsafe", "error"
MAX_PICKLE_BYTES = 32 * 1024 * 1024  # opcode bytes read (arguments over SKIP_READ are skipped, not counted)
MAX_OPS = 500_000  # ~ opcodes: picklescan keeps every opcode of a pickle in a list
SKIP_READ = 1024 * 1024  # a single read this large is an argument (tensor bytes): seek over it
MAX_ZIP_MEMBERS = 10_000
MAX_COMPRESSED_MEMBER = 256 * 1024 * 1024  # declared size of a deflated pickle member (zip bombs)
MAX_IMPORTS = 200  # stored per file (dangerous first)
MAX_NAME = 200  # characters of a module or global name
_SAFETY_RANK = {"innocuous": 0, "suspicious": 1, "dangerous": 2}


@dataclass(frozen=True)
class PickleImport:
    module: str
    name: str
    safety: str  # "innocuous" | "suspicious" | "dangerous"

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "name": self.name, "safety": self.safety}


class ScanLimit(Exception):
    """The scan would read more than the bounds allow."""


class _Skipped:
    """What a skipped large read returns: has the length the pickle parser checks, holds no bytes."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __str__(self) -> str:
        return f"<{self.n} bytes>"


class _Meter:
    """What one file's scan has read so far (shared by the members of a zip)."""

    def __init__(self) -> None:
        self.bytes = MAX_PICKLE_BYTES
        self.calls = MAX_OPS

    def count(self, n: int) -> None:
        self.calls -= 1
        self.bytes -= n
        if self.bytes < 0 or self.calls < 0:
            raise ScanLimit("the pickle is too large to scan")


class _Bounded(io.RawIOBase):
    """A seekable view of `f` that counts what a scan reads: large single reads are sought over (`_Skipped`),
    the rest counts against the meter (bytes, and calls: one per opcode); past either, ScanLimit."""

    def __init__(self, f: Any, meter: _Meter, size: int | None = None) -> None:
        self.f = f
        self.meter = meter
        if size is None:
            here = f.tell()
            size = f.seek(0, io.SEEK_END)
            f.seek(here)
        self.size = int(size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return int(self.f.tell())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self.f.seek(offset, whence))

    def read(self, n: int | None = -1) -> Any:
        if n is None or n < 0:
            n = self.size - self.tell()
        if n > SKIP_READ:
            left = self.size - self.tell()
            if left < n:
                return b""  # truncated: the parser sees a short read
            self.f.seek(n, io.SEEK_CUR)
            self.meter.count(0)
            return _Skipped(n)
        data = self.f.read(n)
        self.meter.count(len(data))
        return data

    def readline(self, size: int | None = -1) -> bytes:
        line: bytes = self.f.readline(65536)
        self.meter.count(len(line))
        return line

    def readinto(self, b: Any) -> int:  # io.RawIOBase API; the parser uses read/readline
        data = self.read(len(b))
        if isinstance(data, _Skipped):
            raise ScanLimit("unexpected large read")
        b[: len(data)] = data
        return len(data)


def _globals_of(f: Any, meter: _Meter, size: int | None = None) -> tuple[set[tuple[str, str]], str | None]:
    """(module, name) pairs a pickle stream (one or several pickles) names, and a parse error or None."""
    from picklescan import scanner

    try:
        return set(scanner._list_globals(_Bounded(f, meter, size), multiple_pickles=True)), None
    except scanner.GenOpsError as e:
        return set(e.globals or ()), f"not a valid pickle: {str(e)[:200]}"


def _legacy_torch_globals(f: Any, meter: _Meter) -> tuple[set[tuple[str, str]], str | None] | None:
    """Globals of a legacy (pre-zip) torch file: five pickles, then raw storage bytes; None if not one."""
    from picklescan import scanner, torch

    f.seek(0)
    head = f.read(16)
    f.seek(0)
    if not head.startswith(b"\x80\x02\x8a\x0a"):  # protocol 2, LONG1 of 10 bytes: torch's MAGIC_NUMBER
        return None
    bounded = _Bounded(f, meter)
    if torch.get_magic_number(bounded) != torch.MAGIC_NUMBER:
        return None
    found: set[tuple[str, str]] = set()
    for _ in range(5):  # magic, protocol, sys info, the object, storage keys (torch/serialization.py)
        found |= scanner._list_globals(bounded, multiple_pickles=False)
    return found, None


def _numpy_globals(f: Any, meter: _Meter, size: int | None = None) -> tuple[set[tuple[str, str]], str | None]:
    """A .npy array holds a pickle only for object dtypes (after its header)."""
    import numpy as np

    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, TypeError, SyntaxError) as e:
        return set(), f"not a valid numpy array: {str(e)[:200]}"
    if not dtype.hasobject:
        return set(), None
    return _globals_of(f, meter, size)


def _zip_globals(f: Any) -> tuple[set[tuple[str, str]], str | None]:
    """Globals of the pickle and object-array members of a zip (torch's format, .npz); other members are skipped
    after their first bytes."""
    from picklescan.relaxed_zipfile import RelaxedZipFile

    found: set[tuple[str, str]] = set()
    errors: list[str] = []
    meter = _Meter()
    try:
        zf = RelaxedZipFile(f, "r")
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return set(), f"not a valid zip: {str(e)[:200]}"
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise ScanLimit(f"the zip has more than {MAX_ZIP_MEMBERS} entries")
        for info in infos:
            name = info.filename
            try:
                with zf.open(info) as member:
                    magic = member.read(8)
                # what torch.load unpickles (data.pkl, constants.pkl); other members are found by their bytes
                named = name.endswith((".pkl", ".pickle"))
                is_pickle = named or magic.startswith((b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"))
                is_numpy = name.endswith(".npy") or magic.startswith(b"\x93NUMPY")
                if not (is_pickle or is_numpy):
                    continue
                if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_COMPRESSED_MEMBER:
                    raise ScanLimit(f"compressed entry {name[:100]} is too large to scan")
                scan = _numpy_globals if is_numpy and not is_pickle else _globals_of
                with zf.open(info) as member:
                    got, err = scan(member, meter, info.file_size)
                found |= got
                if err and (named or got or not is_pickle):  # tensor bytes may start like a pickle: no error
                    errors.append(f"{name[:100]}: {err}")
            except (
                zipfile.BadZipFile,
                RuntimeError,
                EOFError,
                OSError,
                ValueError,
                NotImplementedError,
            ) as e:
                errors.append(f"{name[:100]}: {type(e).__name__}: {str(e)[:150]}")
    return found, "; ".join(errors)[:300] or None


def scan_stream(f: BinaryIO) -> tuple[str, tuple[PickleImport, ...], str | None]:
    """Scan the content of a (seekable) stream: (status, imports, error). Never loads the pickle; never raises on
    hostile bytes (a failure is the status ``error``)."""
    from picklescan import scanner

    try:
        head = f.read(8)
        f.seek(0)
        found: set[tuple[str, str]]
        err: str | None
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            found, err = _zip_globals(f)
        elif head.startswith(b"7z\xbc\xaf\x27\x1c"):
            found, err = set(), "7z archives are not scanned"
        elif head.startswith(b"\x93NUMPY"):
            found, err = _numpy_globals(f, _Meter())
        else:
            legacy = _legacy_torch_globals(f, _Meter())
            f.seek(0)
            found, err = legacy if legacy is not None else _globals_of(f, _Meter())
    except ScanLimit as e:
        return ERROR, (), str(e)
    except Exception as e:  # hostile bytes can break the parser in many ways: a verdict, never a crash
        log.warning("pickle scan failed: %r", e)
        return ERROR, (), f"could not scan: {type(e).__name__}"
    result = scanner._build_scan_result_from_raw_globals(found, "file", scan_err=err is not None)
    imports = sorted(
        {
            PickleImport(str(g.module)[:MAX_NAME], str(g.name)[:MAX_NAME], g.safety.value)
            for g in result.globals
        },
        key=lambda i: (-safety_rank(i.safety), i.module, i.name),
    )[:MAX_IMPORTS]
    safeties = {i.safety for i in imports}
    if "dangerous" in safeties:
        status = UNSAFE
    elif err is not None:
        status = ERROR
    elif "suspicious" in safeties:
        status = SUSPICIOUS
    else:
        status = SAFE
    return status, tuple(imports), err


def safety_rank(safety: str) -> int:
    """Order of picklescan's safety levels (an unknown level ranks as dangerous)."""
    return _SAFETY_RANK.get(safety, 2)
