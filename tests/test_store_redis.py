"""Redis store: the shared contract against a real redis-server, plus what only Redis has
(key prefixes, the lease's expiry in Redis itself, passwords, outages)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis_server import RedisServer, unique_prefix
from store_contract import T0, StoreContract, run, sched, version

from unoschedule.abc import Store, WorkerQueues
from unoschedule.errors import StateError
from unoschedule.records import Claim
from unoschedule.store import open_store
from unoschedule.store.redis import RedisStorage, redacted_url


class TestRedisContract(StoreContract):
    CAPABILITIES = frozenset({WorkerQueues})
    FENCES_AFTER_LAPSE = False

    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer) -> None:
        self.url = redis_server.url

    def make_store(self, tmp_path: Path) -> RedisStorage:
        return RedisStorage(redis_url=self.url, key_prefix=unique_prefix())

    def lapse_lease(self, store: Store) -> None:
        """Redis drops the lease's key once its ``PX`` ran out."""
        assert isinstance(store, RedisStorage)
        store.client.pexpire(store.k("lease"), 1)
        while store.client.exists(store.k("lease")):
            time.sleep(0.001)


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStorage]:
    s = RedisStorage(redis_url=redis_server.url, key_prefix=unique_prefix())
    try:
        yield s
    finally:
        s.close()


def raw(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def fill(store: RedisStorage) -> None:
    """One of everything the store writes."""
    lease = store.acquire_lease("i1", 60, T0)
    assert lease is not None
    store.save_schedule(sched("a", next_run=T0), version("a", 1))
    assert store.claim(run("r1", kwargs={"k": 1}), "a@1", T0, epoch=lease.epoch)
    store.start_run("r1", T0)
    store.finish_run("r1", "success", T0 + timedelta(seconds=1), output="ok")
    store.add_event("deploy", {"sha": "x"}, [run("e1", trigger="event")], T0)
    store.set_meta("started_at", "now")


def test_pauses_written_before_kinds_keep_what_they_cover_and_still_expire(
    redis_server: RedisServer, store: RedisStorage
) -> None:
    from unoschedule.abc import PAUSE_CALLS

    r = raw(redis_server)
    end = "2026-03-01T12:30:00.000000Z"
    for name in ("held", "one", "both", "auto", "timed"):
        store.save_schedule(sched(name, status="paused"))
        by = "uno-schedule" if name == "auto" else "ops@host"
        record = {"paused_at": "2026-03-01T12:00:00.000000Z", "paused_by": by, "reason": name}
        if name == "timed":
            record["paused_until"] = end
        r.rpush(store.k("pauses", name), json.dumps(record))
        r.sadd(store.k("pauses-open"), name)
    calls = {"any": ["both", "one", "timed"], "together": ["both"]}
    r.hset(store.k("meta"), "paused_by_call", json.dumps(calls))
    assert store.expire_pauses(T0 + timedelta(minutes=30)) == ["timed"]
    kinds = sorted((p.schedule, p.kind) for p in store.open_pauses())
    assert kinds == [
        ("auto", "failures"), ("both", "all"), ("held", "definition"), ("held", "operator"),
        ("one", "operator"),
    ]  # fmt: skip
    assert store.get_meta("paused_by_call") is None
    assert store.resume_schedules(None, PAUSE_CALLS, T0) == ["auto", "both", "one"]
    assert store.get_schedule("held").status == "paused"  # type: ignore[union-attr]


def test_every_key_is_under_the_prefix_and_installations_do_not_mix(
    redis_server: RedisServer, store: RedisStorage
) -> None:
    other = RedisStorage(redis_url=redis_server.url, key_prefix=unique_prefix())
    try:
        fill(store)
        keys = raw(redis_server).keys(store.prefix + "*")
        assert len(keys) >= 10
        assert other.list_schedules() == [] and other.history(None) == []
        assert other.current_lease() is None
        # the other installation leads on its own, with its own epochs
        lease = other.acquire_lease("i1", 60, T0)
        assert lease is not None and lease.epoch == 1
        fill(other)
        assert {k for k in raw(redis_server).keys(store.prefix + "*")} == set(keys)
        assert sorted(r.run_id for r in store.history("a")) == ["e1", "r1"]
    finally:
        other.close()


def test_values_are_text_never_pickles(redis_server: RedisServer, store: RedisStorage) -> None:
    fill(store)
    client = redis.Redis.from_url(redis_server.url)  # bytes: nothing decoded for us
    values: list[bytes] = []
    for key in client.keys(store.prefix.encode() + b"*"):
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key))
        elif kind == b"hash":
            values.extend(client.hgetall(key).values())
        elif kind in (b"set", b"zset"):
            values.extend(client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1))
    assert values
    for value in values:
        assert not value.startswith(b"\x80"), value  # the pickle protocol marker
        value.decode("utf-8")
    definition = client.hget(f"{store.prefix}schedule:a", "definition")
    assert json.loads(definition) == sched("a").definition


def test_a_pruned_run_leaves_no_key_behind_and_its_totals_stay_under_the_prefix(
    redis_server: RedisServer, store: RedisStorage
) -> None:
    client = raw(redis_server)
    lease = store.acquire_lease("i1", 60, T0)
    assert lease is not None
    store.save_schedule(sched("a"))
    for i in range(3):
        at = T0 + timedelta(minutes=i)
        assert store.claim(run(f"r{i}", at=at), f"a@{i}", None, epoch=lease.epoch)
        assert store.start_run(f"r{i}", at)
        store.finish_run(f"r{i}", "success", at + timedelta(seconds=1.5))
    store.enqueue(run("m1", at=T0 - timedelta(hours=1), trigger="manual", queued_at=T0))
    assert [r.run_id for r in store.take_queued(lease.epoch, "i1")] == ["m1"]
    store.finish_run("m1", "error", T0)
    keys_before = set(client.keys(store.prefix + "*"))
    pruned = store.prune_runs("a", keep=2, before=None, limit=10)
    assert sorted(pruned.run_ids) == [("a", "m1"), ("a", "r0")]
    for run_id, okey in (("r0", "a@0"), ("m1", "queued:m1")):
        assert not client.exists(f"{store.prefix}run:{run_id}")
        assert client.hget(f"{store.prefix}occurrences", okey) is None
        for history in ("history", "history:a"):
            members = client.zrange(store.prefix + history, 0, -1)
            assert not [m for m in members if m.endswith("|" + run_id)]
    assert client.hget(f"{store.prefix}occurrences", "a@1") == "r1"  # the kept ones stay
    new_keys = set(client.keys(store.prefix + "*")) - keys_before
    assert new_keys == {store.prefix + "totals", store.prefix + "totals:a"}
    assert client.hgetall(store.prefix + "totals:a") == {
        "run_count": "2",
        "success_count": "1",
        "error_count": "1",
        "missed_count": "0",
        "skipped_count": "0",
        "finished_count": "1",  # m1 never started: no duration
        "total_duration": "1.5",
    }
    # The dead-man clock keeps the last success even once its run is pruned.
    assert store.prune_runs(None, keep=None, before=T0 + timedelta(hours=1), limit=10).run_ids
    assert store.history("a") == []
    assert store.last_successes() == {"a": T0 + timedelta(minutes=2, seconds=1.5)}
    assert store.run_counts()["a"]["success_count"] == 3


def test_the_lease_expires_in_redis_and_renewal_is_compare_and_set(
    redis_server: RedisServer, store: RedisStorage
) -> None:
    client = raw(redis_server)
    key = store.prefix + "lease"
    a = store.acquire_lease("A", 60, T0)
    assert a is not None
    assert 59_000 < client.pttl(key) <= 60_000  # SET ... PX: Redis frees it by itself
    client.pexpire(key, 5)  # as if A stopped renewing for a minute
    client.delete(key)
    b = store.acquire_lease("B", 30, T0)  # same logical instant: free because Redis says so
    assert b is not None and b.epoch == a.epoch + 1
    assert 29_000 < client.pttl(key) <= 30_000
    # A, thawed, cannot renew B's lease, nor stretch it
    assert store.renew_lease("A", a.epoch, 60, T0) is False
    assert client.pttl(key) <= 30_000
    assert store.current_lease().instance_id == "B"  # type: ignore[union-attr]
    # nor claim anything with its old epoch
    store.save_schedule(sched("s", next_run=T0))
    assert store.claim_many([Claim(run("r1", "s"), "s@1", T0)], epoch=a.epoch) == [False]
    assert store.get_run("r1") is None and client.hget(store.prefix + "schedule:s", "next_run")
    assert store.take_queued(a.epoch, "A") == []
    # B renews: a fresh expiry
    client.pexpire(key, 1000)
    assert store.renew_lease("B", b.epoch, 30, T0)
    assert client.pttl(key) > 29_000


def test_a_renewal_after_expiry_holds_only_while_nobody_took_over(
    redis_server: RedisServer, store: RedisStorage
) -> None:
    client = raw(redis_server)
    a = store.acquire_lease("A", 60, T0)
    assert a is not None
    client.delete(store.prefix + "lease")  # expired, nobody else came
    assert store.renew_lease("A", a.epoch, 60, T0) is True
    assert store.current_lease().epoch == a.epoch  # type: ignore[union-attr]
    client.delete(store.prefix + "lease")
    b = store.acquire_lease("B", 60, T0)
    assert b is not None
    client.delete(store.prefix + "lease")  # B's lease gone too: still not A's again
    assert store.renew_lease("A", a.epoch, 60, T0) is False
    assert store.current_lease() == replace(b, fences=False)  # who led last; it claims nothing


def test_release_wakes_the_standbys(store: RedisStorage) -> None:
    lease = store.acquire_lease("A", 60, T0)
    assert lease is not None
    waiter = store.waiter()
    try:
        woken: list[bool] = []
        thread = threading.Thread(target=lambda: woken.append(waiter.wait(5)))
        thread.start()
        store.release_lease("A", lease.epoch)
        thread.join(5)
        assert woken == [True]
        assert store.current_lease() is None
    finally:
        waiter.close()


def test_password_from_url_or_environment_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(tmp_path / "r", password="pw-123")
    server.start()
    try:
        with RedisStorage(server.url, key_prefix=unique_prefix()) as s:
            s.set_meta("k", "v")  # the URL's password
        bare = f"redis://127.0.0.1:{server.port}/0"
        monkeypatch.delenv("UNO_SCHEDULE_REDIS_PASSWORD", raising=False)
        with pytest.raises(StateError, match="needs a password") as missing:
            RedisStorage(bare, key_prefix=unique_prefix()).get_meta("k")
        monkeypatch.setenv("UNO_SCHEDULE_REDIS_PASSWORD", "pw-123")
        with RedisStorage(bare, key_prefix=unique_prefix()) as s:
            s.set_meta("k", "v")  # the environment's password
        wrong = f"redis://:nope-456@127.0.0.1:{server.port}/0"
        with pytest.raises(StateError, match="refused the password") as refused:
            RedisStorage(wrong, key_prefix=unique_prefix()).get_meta("k")
        assert "nope-456" not in str(refused.value) and "pw-123" not in str(missing.value)
        assert repr(RedisStorage(wrong)).count("nope-456") == 0
    finally:
        server.stop()


def test_redacted_url() -> None:
    assert redacted_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redacted_url("rediss://user:pw@h/2") == "rediss://user:***@h/2"
    assert redacted_url("redis://h:6379/0") == "redis://h:6379/0"


def test_open_store_serves_redis_urls_with_a_prefix_from_the_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNO_SCHEDULE_REDIS_PREFIX", "custom-x")
    s = open_store(redis_server.url)
    try:
        assert isinstance(s, RedisStorage) and s.prefix == "custom-x:"
        s.set_meta("k", "v")
        assert raw(redis_server).hget("custom-x:meta", "k") == "v"
    finally:
        s.close()
    with pytest.raises(StateError, match="cannot use Redis URL"):
        open_store("redis://h:notaport/0")


def test_an_outage_is_an_error_never_swallowed_and_the_store_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r")
    server.start()
    s = RedisStorage(server.url, key_prefix=unique_prefix(), socket_timeout=1)
    try:
        lease = s.acquire_lease("A", 60, T0)
        assert lease is not None
        waiter = s.waiter()
        server.stop()
        with pytest.raises(StateError, match="cannot reach Redis"):
            s.claim_many([Claim(run("r1"), "a@1", None)], epoch=lease.epoch)
        with pytest.raises(StateError):
            s.renew_lease("A", lease.epoch, 60, T0)
        s.release_lease("A", lease.epoch)  # logged, not raised: the lease expires anyway
        s.notify()  # never fails
        assert waiter.wait(0.1) is False  # nor does the waiter
        server.start()  # an empty Redis (no persistence): no lease, so no claim
        assert s.claim_many([Claim(run("r1"), "a@1", None)], epoch=lease.epoch) == [False]
        again = s.acquire_lease("A", 60, T0)
        assert again is not None
        assert s.claim(run("r1"), "a@1", None, epoch=again.epoch) is True
        # the waiter subscribed again by itself
        deadline = 50
        while deadline and not _woken(s, waiter):
            deadline -= 1
        assert deadline, "the waiter never heard a notification after the restart"
        waiter.close()
    finally:
        s.close()
        server.stop()


def _woken(store: RedisStorage, waiter: object) -> bool:
    store.notify()
    return bool(waiter.wait(0.1))  # type: ignore[attr-defined]


def test_a_waiting_standby_wakes_when_the_lease_expires(store: RedisStorage) -> None:
    assert store.acquire_lease("A", 0.3, T0) is not None
    waiter = store.waiter()
    try:
        began = time.monotonic()
        assert waiter.wait(30) is False  # no notification: the lease ran out in Redis
        assert time.monotonic() - began < 10  # long before the 30 s asked for
        assert store.current_lease().instance_id == "A"  # type: ignore[union-attr]
        assert store.acquire_lease("B", 60, T0) is not None
    finally:
        waiter.close()


def test_the_design_documents_library_use(redis_server: RedisServer) -> None:
    """``Scheduler(storage=RedisStorage(...), lock_timeout=..., instance_id=...)`` leads,
    and ``get_statistics`` names it."""
    import asyncio

    from unoschedule import RedisStorage as Exported
    from unoschedule import Scheduler

    storage = Exported(redis_url=redis_server.url, key_prefix=unique_prefix())
    scheduler = Scheduler(storage=storage, lock_timeout=30, instance_id="scheduler-1")

    async def go() -> dict[str, object]:
        await scheduler.start()
        try:
            return await scheduler.get_statistics()
        finally:
            await scheduler.shutdown()

    stats = asyncio.run(go())
    assert stats["instance_id"] == stats["leader"] == "scheduler-1"
    assert storage.current_lease() is None  # released at shutdown


@pytest.mark.parametrize("path", ["/1/2", "/abc", "/-1", "/1x", "/ 1"])
def test_a_redis_url_whose_database_is_not_a_number_is_refused(path: str) -> None:
    with pytest.raises(StateError) as refused:
        RedisStorage(f"redis://:pw@127.0.0.1:6379{path}")
    message = str(refused.value)
    assert "database" in message and "pw" not in message and "\n" not in message


def test_a_redis_url_names_its_database_by_one_number_or_none(redis_server: RedisServer) -> None:
    base = redis_server.url.rsplit("/", 1)[0]
    for path, db in (("", 0), ("/", 0), ("/3", 3), ("/15", 15)):
        store = RedisStorage(base + path, key_prefix=unique_prefix())
        try:
            assert store.client.connection_pool.connection_kwargs.get("db", 0) == db
        finally:
            store.close()


def test_events_go_with_the_runs_retention_by_age(
    store: RedisStorage, redis_server: RedisServer
) -> None:
    for minutes in (0, 1, 2, 10, 11):
        store.add_event("e", {"n": minutes}, [], T0 + timedelta(minutes=minutes))
    events = store.k("events")
    assert raw(redis_server).hlen(events) == 5
    store.prune_runs(None, keep=None, before=T0 + timedelta(minutes=5), limit=2)
    assert sorted(raw(redis_server).hkeys(events)) == ["3", "4", "5"]  # the oldest 2
    store.prune_runs(None, keep=None, before=T0 + timedelta(minutes=5), limit=200)
    assert sorted(raw(redis_server).hkeys(events)) == ["4", "5"]  # newer ones stay
    store.add_event("e", None, [], T0 + timedelta(minutes=12))
    store.prune_runs(None, keep=None, before=T0 + timedelta(minutes=30), limit=200)
    assert raw(redis_server).hlen(events) == 0


def test_the_fence_compares_the_holder_not_only_the_epoch_number(
    store: RedisStorage, redis_server: RedisServer
) -> None:
    """Redis restarted empty under a leader: the epochs restart at 1, and a second runner
    takes epoch 1 too; the first one's claims and takes are refused all the same."""
    old = store.acquire_lease("old", 60, T0)
    assert old is not None and old.epoch == 1
    store.save_schedule(sched("a"))
    assert store.claim(run("r1"), "a@1", None, epoch=1)
    store.client.delete(*store.client.keys(store.prefix + "*"))  # the data is lost
    other = RedisStorage(redis_server.url, key_prefix=store.prefix)
    try:
        new = other.acquire_lease("new", 60, T0)
        assert new is not None and new.epoch == 1
        other.save_schedule(sched("a"))
        assert not store.claim(run("r2"), "a@2", None, epoch=1)  # "old" holds no lease
        other.enqueue(run("q1", trigger="manual"))
        assert store.take_queued(1, "old") == []
        assert other.claim(run("r3"), "a@3", None, epoch=1)
        assert [r.run_id for r in other.take_queued(1, "new")] == ["q1"]
    finally:
        other.close()
