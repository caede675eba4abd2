"""Where the leader's wake-up socket lives, and the datagram that wakes it.

A module of its own, free of the store's imports: the shell wakes the leader after every
``pause``, ``resume``, ``trigger`` and ``event``, and must not load the store for that.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

__all__ = ["notify", "socket_address"]

_SUN_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


def socket_address(state_path: str | os.PathLike[str]) -> list[str]:
    """Where the leader's wake-up socket may live, in the order both sides try them.

    Beside the state file when the path fits in ``sun_path`` (and the filesystem takes
    sockets), else under the temporary directory, named by a hash of the state file's
    real path so that the CLI and the runner agree without talking.
    """
    return list(_addresses(state_path))


def _addresses(state_path: str | os.PathLike[str]) -> Iterator[str]:
    real = os.path.realpath(os.fspath(state_path))
    primary = real + ".sock"
    if len(os.fsencode(primary)) <= _SUN_PATH_MAX:
        yield primary
    # A name, not a secret (anyone may create any name in /tmp; the leader replaces only
    # a socket): zlib's checksums, already loaded, where OpenSSL's digests cost a shell
    # command 3 ms to load.
    import zlib

    raw = real.encode()
    yield os.path.join("/tmp", f"uno-schedule-{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}.sock")


def notify(state_path: str | os.PathLike[str]) -> None:
    """One datagram to the leader's socket; silent when no leader listens (then there is
    no socket file, and the socket module is not even loaded)."""
    if not any(os.path.exists(address) for address in _addresses(state_path)):
        return
    import socket  # here: reading the state needs no socket

    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError:
        return
    try:
        sock.setblocking(False)
        for address in _addresses(state_path):
            try:
                sock.sendto(b"!", address)
                return
            except OSError:
                continue  # no leader, or it bound the fallback; a full queue is awake
    finally:
        sock.close()
