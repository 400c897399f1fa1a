"""qemu-img, the one tool that reads old VMs' disks (Debian's qemu-utils): inspect, check, convert.

Every call names the format explicitly after the first probe, so a raw file that happens to start
with a qcow2 header is never reinterpreted, and nothing here follows a backing file or an external
data file (a disk image may not point at other files on the portal host).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from catalog import stored_messages as texts

ACCEPTED_FORMATS = ("qcow2", "raw", "vmdk", "vdi")
INFO_TIMEOUT = 120  # seconds; info and check read metadata only
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


class DiskRefused(Exception):
    """The file is not a disk image Kennel imports; its argument (a ``StoredMessage``) says why, in
    words for the admin, and ``str()`` says it in the active language."""


@dataclass(frozen=True)
class DiskInfo:
    format: str
    virtual_size: int
    actual_size: int
    file_size: int


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except FileNotFoundError:
        raise DiskRefused(texts.QEMU_MISSING()) from None
    except subprocess.TimeoutExpired:
        raise DiskRefused(texts.QEMU_SLOW(s=timeout)) from None


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode(errors="replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # A damaged image can make qemu-img print thousands of lines; the first few say what is wrong.
    return "; ".join(lines[:3]) + (" …" if len(lines) > 3 else "")


def info(path: Path, fmt: str | None = None) -> dict:
    """``qemu-img info --output=json``; DiskRefused when qemu-img cannot open the file."""
    args = ["qemu-img", "info", "--output=json"]
    if fmt:
        args += ["-f", fmt]
    result = _run([*args, str(path)], INFO_TIMEOUT)
    if result.returncode != 0:
        raise DiskRefused(texts.QEMU_CANNOT_OPEN(e=_stderr(result)))
    return json.loads(result.stdout)


def _looks_like_a_disk(path: Path) -> bool:
    """A raw file is a disk when it holds a partition table or a file system Linux would mount:
    MBR (also what Power's PReP boot disks carry), GPT, LVM, ext2/3/4, XFS, Btrfs, ISO 9660."""
    with path.open("rb") as f:
        head = f.read(0x10048)
    return any(
        (
            head[510:512] == b"\x55\xaa",
            head[512:520] == b"EFI PART",
            b"LABELONE" in head[:2048],
            head[1080:1082] == b"\x53\xef",
            head[:4] == b"XFSB",
            head[0x10040:0x10048] == b"_BHRfS_M",
            head[0x8001:0x8006] == b"CD001",
        )
    )


def inspect(path: Path) -> DiskInfo:
    """What the file is, or DiskRefused saying why Kennel will not import it: not a disk image, a
    format other than qcow2/raw/vmdk/vdi, a backing or external data file, or a truncated image."""
    if not path.is_file():
        raise DiskRefused(texts.NO_FILE(path=str(path)))
    file_size = path.stat().st_size
    if file_size == 0:
        raise DiskRefused(texts.EMPTY())
    probed = info(path)
    fmt = probed.get("format", "")
    if fmt not in ACCEPTED_FORMATS:
        raise DiskRefused(texts.FORMAT(fmt=fmt or "?", ok=", ".join(ACCEPTED_FORMATS)))
    details = info(path, fmt)
    if details.get("backing-filename") or details.get("full-backing-filename"):
        raise DiskRefused(texts.BACKING_FILE(b=str(details.get("backing-filename"))))
    specific = (details.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise DiskRefused(texts.DATA_FILE())
    for extent in specific.get("extents") or []:
        if Path(extent.get("filename", "")).name != path.name:
            raise DiskRefused(texts.VMDK_EXTENTS(f=str(extent.get("filename"))))
    virtual = int(details.get("virtual-size") or 0)
    if virtual <= 0:
        raise DiskRefused(texts.NO_SIZE())
    if fmt == "raw":
        if file_size % 512:
            raise DiskRefused(texts.NOT_SECTORS(n=file_size))
        if not _looks_like_a_disk(path):
            raise DiskRefused(texts.RAW_BYTES())
    if fmt == "qcow2":
        check(path)
    return DiskInfo(
        format=fmt,
        virtual_size=virtual,
        actual_size=int(details.get("actual-size") or 0),
        file_size=file_size,
    )


def check(path: Path) -> None:
    """``qemu-img check`` of a qcow2: refuses corruption (a truncated file shows as clusters past its
    end); leaked clusters (exit 3) only waste space and are accepted."""
    result = _run(["qemu-img", "check", "--output=json", "-f", "qcow2", str(path)], INFO_TIMEOUT)
    if result.returncode in (0, 3):
        return
    try:
        report = json.loads(result.stdout or b"{}")
    except json.JSONDecodeError:
        report = {}
    if report.get("corruptions"):
        end = report.get("image-end-offset")
        raise DiskRefused(texts.QCOW2_DAMAGED(n=report["corruptions"], end=end if end is not None else "?"))
    raise DiskRefused(texts.CHECK_FAILED(e=_stderr(result) or result.returncode))


def convert(
    source: Path,
    source_format: str,
    target: Path,
    target_format: str,
    *,
    progress: Callable[[float], None],
    timeout: float,
) -> None:
    """``qemu-img convert`` into ``target`` (written next to it, then renamed, so a half-written
    file is never taken for a result). Calls ``progress(percent)`` as qemu-img reports it."""
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    args = ["qemu-img", "convert", "-p", "-f", source_format, "-O", target_format]
    args += [str(source), str(partial)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:  # noqa: S603
        assert process.stdout is not None
        stdout = cast(io.BufferedReader, process.stdout)  # read1: whatever arrived, without waiting for more
        buffer = b""
        while chunk := stdout.read1(4096):
            buffer = (buffer + chunk)[-256:]
            found = _PROGRESS.findall(buffer)
            if found:
                progress(float(found[-1]))
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            partial.unlink(missing_ok=True)
            raise DiskRefused(texts.CONVERT_SLOW(s=timeout)) from None
        errors = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DiskRefused(texts.CONVERT_FAILED(e="; ".join(errors.splitlines()[:3])))
    partial.rename(target)
