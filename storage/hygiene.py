"""What an attachment really is, and whether it may be sent at all.

A file's name says what its sender wants it to look like; its first bytes say what it is.
Executables and scripts are refused by extension (scripts carry no magic bytes) and by the
sniffed type (an executable renamed to .pdf still starts with MZ or ELF).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass

import filetype

# How many leading bytes the sniffer needs (filetype reads at most 261).
SNIFF_BYTES = 261

DEFAULT_DENIED_EXTENSIONS = frozenset(
    "ade adp app apk bat cab chm cmd com cpl dll dmg exe hta ins iso isp jar js jse lib lnk "
    "mde msc msi msp mst nsh pif ps1 psm1 reg scr sct sh shb sys vb vbe vbs vxd wsc wsf wsh".split()
)
DEFAULT_DENIED_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-elf",
        "application/x-mach-binary",
        "application/x-sharedlib",
        "application/vnd.microsoft.portable-executable",
        "application/java-archive",
        "application/x-msi",
        "application/x-ms-shortcut",
        "application/x-sh",
        "application/javascript",
        "text/javascript",
        "application/x-bat",
    }
)


class AttachmentDenied(ValueError):
    """A dangerous attachment; the message names the file and why."""


def sniff_content_type(head: bytes, filename: str) -> str:
    """The type the bytes show, else the one the name suggests, else octet-stream."""
    sniffed = filetype.guess_mime(head) if head else None
    if sniffed:
        return str(sniffed)
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@dataclass(frozen=True)
class AttachmentPolicy:
    """Extensions and content types that are never attached."""

    denied_extensions: frozenset[str] = DEFAULT_DENIED_EXTENSIONS
    denied_types: frozenset[str] = DEFAULT_DENIED_TYPES

    @classmethod
    def from_lists(cls, extensions: Iterable[str], types: Iterable[str]) -> AttachmentPolicy:
        """A policy from configured lists (extensions with or without the dot)."""
        return cls(
            frozenset(e.strip().lower().lstrip(".") for e in extensions if e.strip()),
            frozenset(t.strip().lower() for t in types if t.strip()),
        )

    def check_name(self, key: str, filename: str) -> None:
        """Refuse a denied extension (any of them: `invoice.pdf.exe` is an .exe)."""
        parts = filename.lower().split(".")[1:]
        denied = [p for p in parts if p in self.denied_extensions]
        if denied:
            raise AttachmentDenied(f"attachment `{key}` is not allowed (.{denied[-1]} files)")

    def check_type(self, key: str, content_type: str) -> None:
        """Refuse a denied content type, as sniffed from the bytes."""
        if content_type.lower() in self.denied_types:
            raise AttachmentDenied(f"attachment `{key}` is not allowed ({content_type})")
