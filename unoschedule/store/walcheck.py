"""Reading a SQLite write-ahead log the way SQLite's recovery does, to tell damage apart.

After a crash, SQLite replays the ``-wal`` file up to its last valid commit and silently
drops every frame after the first bad checksum. Bytes overwritten in the middle of the
log therefore lose every transaction after them without an error: the state opens,
short of runs (or, when nothing was ever checkpointed, empty, and then reinitialised).
A crash itself only ever tears the *last* transaction, whose frames have no commit
frame after them; committed frames (their header names this log's salts and a
database size) found after the first bad checksum mean damage, and the state is then
refused untouched.

The format (sqlite.org/fileformat.html, "WAL file format"): a 32-byte header (magic,
version, page size, checkpoint sequence, two salts, a checksum of the first 24 bytes),
then frames of a 24-byte header (page number, database size after a commit or 0, the
two salts, a cumulative checksum) and one page.
"""

from __future__ import annotations

import struct
from array import array

__all__ = ["wal_damage"]

_MAGIC = {0x377F0682: "<", 0x377F0683: ">"}
_HEADER = struct.Struct(">IIIIIIII")
_FRAME = struct.Struct(">IIIIII")


def _checksum(data: bytes, order: str, s1: int, s2: int) -> tuple[int, int]:
    """SQLite's WAL checksum over ``data`` (a multiple of 8 bytes), continuing (s1, s2)."""
    words = array("I", data)
    if (order == ">") != (array("I", b"\x00\x00\x00\x01")[0] == 1):
        words.byteswap()  # the log's byte order is not this machine's
    mask = 0xFFFFFFFF
    it = iter(words)
    for x0, x1 in zip(it, it, strict=True):
        s1 = (s1 + x0 + s2) & mask
        s2 = (s2 + x1 + s1) & mask
    return s1, s2


def wal_damage(data: bytes) -> str | None:
    """Why the log ``data`` would lose committed transactions on recovery, or None.

    An empty log, or one whose frames all check out up to a clean end (or a torn last
    transaction), is fine.
    """
    if len(data) <= _HEADER.size:
        return None
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = _HEADER.unpack_from(data)
    order = _MAGIC.get(magic)
    valid_size = page_size >= 512 and page_size <= 65536 and page_size & (page_size - 1) == 0
    if order is None or not valid_size:
        return "its header is not a write-ahead log header"
    if _checksum(data[:24], order, 0, 0) != (c1, c2):
        return "its header fails its checksum"
    frame = _FRAME.size + page_size
    s1, s2 = c1, c2
    offset = _HEADER.size
    broken_at: int | None = None
    while offset + frame <= len(data):
        page, commit, f_salt1, f_salt2, f1, f2 = _FRAME.unpack_from(data, offset)
        ours = (f_salt1, f_salt2) == (salt1, salt2)
        if broken_at is None:
            if ours:
                s1, s2 = _checksum(data[offset : offset + 8], order, s1, s2)
                s1, s2 = _checksum(data[offset + _FRAME.size : offset + frame], order, s1, s2)
            if not ours or (s1, s2) != (f1, f2) or page == 0:
                broken_at = offset  # recovery stops here; nothing committed may follow
        elif ours and commit != 0 and page != 0:
            return f"a frame at byte {broken_at} is damaged and committed frames follow it"
        offset += frame
    return None
