"""The test redis-server itself: private, on loopback, with nothing written to disk."""

from __future__ import annotations

from pathlib import Path

import redis
from redis_server import RedisServer


def test_server_is_private_and_keeps_nothing_on_disk(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert client.ping() is True
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    finally:
        client.close()


def test_a_server_stops_and_starts_on_its_port(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r")
    server.start()
    client = redis.Redis(port=server.port, socket_timeout=2)
    try:
        client.set("k", "v")
        server.stop()
        try:
            client.get("k")
            raise AssertionError("a stopped server answered")
        except redis.ConnectionError:
            pass
        server.start()
        assert client.get("k") is None  # persistence off: a restart starts empty
    finally:
        client.close()
        server.stop()
