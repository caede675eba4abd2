"""The behaviour every ``Store`` backend must have, as one test class to subclass.

A backend's test module subclasses ``StoreContract`` and implements ``make_store``; the
scheduler relies only on what is tested here, so a backend that passes is a drop-in.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from unoschedule.abc import PAUSE_KINDS, Presence, StateFile, Store, WorkerQueues, held_lease
from unoschedule.model import RunRecord, ScheduleState, VersionRecord
from unoschedule.records import Finish

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sched(name: str, **kw: object) -> ScheduleState:
    values: dict[str, object] = {"definition": {"schedule": {"cron": "* * * * *"}}}
    values.update(kw)
    return ScheduleState(name=name, **values)  # type: ignore[arg-type]


def run(run_id: str, schedule: str = "a", at: datetime = T0, **kw: object) -> RunRecord:
    return RunRecord(run_id=run_id, schedule=schedule, scheduled_time=at, **kw)  # type: ignore[arg-type]


def version(schedule: str, n: int, at: datetime = T0) -> VersionRecord:
    return VersionRecord(
        schedule=schedule,
        version=n,
        changed_at=at,
        changelog=f"v{n}",
        source="schedules.yaml",
        definition={"n": n},
        diff=f"+ v{n}",
    )


#: Each store operation whose commit a leader must react to, as done by a process that
#: does not lead (the shell, a library call): the store itself wakes the leader.
WAKING_OPERATIONS: dict[str, Callable[[Store], object]] = {
    "save_schedules": lambda s: s.save_schedules([(sched("a"), None)]),
    "save_schedule_if": lambda s: s.save_schedule_if(
        sched("a"), version("a", 1), expected_version=None
    ),
    "set_status": lambda s: s.set_status(["a"], "paused", T0),
    "delete_schedule": lambda s: s.delete_schedule("a"),
    "enqueue": lambda s: s.enqueue(run("m1", queued_at=T0)),
    "enqueue_unique": lambda s: s.enqueue_unique([run("b1", queued_at=T0, trigger="backfill")]),
    "add_event": lambda s: s.add_event("deploy", None, [run("e1", trigger="event")], T0),
    "pause_schedules": lambda s: s.pause_schedules(["a"], "operator", T0),
    "resume_schedules": lambda s: s.resume_schedules(["a"], ("definition",), T0),
}


class StoreContract:
    """Subclass and implement ``make_store``; every test gets a fresh, empty store.

    The known differences between the backends are class attributes, each pinned by a
    test here, so that a backend cannot drift from what it says it is."""

    #: The capabilities the backend declares beyond ``Store`` (``abc.StateFile``: a file on
    #: this host; ``abc.WorkerQueues``: queues served to workers on other hosts).
    CAPABILITIES: frozenset[type] = frozenset()

    def make_store(self, tmp_path: Path) -> Store:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        s = self.make_store(tmp_path)
        try:
            yield s
        finally:
            s.close()

    def lapse_lease(self, store: Store) -> None:
        """What the backend does by itself once a lease's time-to-live has run out:
        nothing here (a lease expires by its instant alone)."""

    #: Whether the store's fence still lets a lapsed lease's holder claim
    #: (``Lease.fences``): SQLite's does until another takes it, Redis's does not.
    FENCES_AFTER_LAPSE = True

    @pytest.fixture
    def leader(self, store: Store) -> int:
        """Hold the lease as instance ``i1``; returns the epoch to claim with."""
        lease = store.acquire_lease("i1", 60, T0)
        assert lease is not None
        return lease.epoch

    # -- schedules ----------------------------------------------------------------------

    def test_schedule_round_trip(self, store: Store) -> None:
        assert store.get_schedule("a") is None
        state = sched(
            "a",
            version=3,
            status="paused",
            next_run=T0,
            anchor=T0 - timedelta(days=1),
            last_run=T0 - timedelta(hours=1, microseconds=5),
            last_result="error",
            created_at=T0 - timedelta(days=2),
            updated_at=T0,
            fingerprint="abc123",
        )
        store.save_schedule(state)
        assert store.get_schedule("a") == state

    def test_list_schedules_ordered_by_name(self, store: Store) -> None:
        for name in ("b", "c", "a"):
            store.save_schedule(sched(name))
        store.set_status(["c"], "removed", T0)
        assert [s.name for s in store.list_schedules()] == ["a", "b", "c"]

    def test_save_replaces_and_keeps_created_at(self, store: Store) -> None:
        store.save_schedule(sched("a", created_at=T0, fingerprint="1"))
        store.save_schedule(sched("a", version=2, fingerprint="2", definition={"x": 1}))
        got = store.get_schedule("a")
        assert got is not None
        assert (got.version, got.fingerprint, got.definition) == (2, "2", {"x": 1})
        assert got.created_at == T0

    def test_versions_newest_first(self, store: Store) -> None:
        store.save_schedule(sched("a"), version("a", 1))
        store.save_schedule(sched("a", version=2), version("a", 2, T0 + timedelta(1)))
        store.save_schedule(sched("b"), version("b", 1))
        got = store.versions("a")
        assert [v.version for v in got] == [2, 1]
        assert got[0] == version("a", 2, T0 + timedelta(1))
        assert store.versions("zzz") == []

    def test_a_schedule_keeps_its_source_and_lists_by_it(self, store: Store) -> None:
        store.save_schedules([(sched("f"), None), (sched("a", source="api"), None)])
        assert store.get_schedule("a").source == "api"  # type: ignore[union-attr]
        assert store.get_schedule("f").source == "file"  # type: ignore[union-attr]
        assert [s.name for s in store.list_schedules(source="api")] == ["a"]
        assert [s.name for s in store.list_schedules(definitions=False, source="file")] == ["f"]
        assert [
            s.source for s in store.list_schedules(definitions=False, statuses=("active",))
        ] == ["api", "file"]

    def test_save_if_writes_only_at_the_expected_version(self, store: Store) -> None:
        assert store.save_schedule_if(sched("a", version=1), version("a", 1), expected_version=None)
        # A second creation, and an update from a version that is not the stored one, fail.
        assert not store.save_schedule_if(
            sched("a", version=1), version("a", 1), expected_version=None
        )
        assert not store.save_schedule_if(
            sched("a", version=3, fingerprint="x"), version("a", 3), expected_version=2
        )
        assert store.get_schedule("a").version == 1  # type: ignore[union-attr]
        assert store.save_schedule_if(
            sched("a", version=2, fingerprint="y"), version("a", 2), expected_version=1
        )
        got = store.get_schedule("a")
        assert got is not None and (got.version, got.fingerprint) == (2, "y")
        assert [v.version for v in store.versions("a")] == [2, 1]
        # A removed schedule counts as absent: it can be created again.
        store.set_status(["a"], "removed", T0)
        assert store.save_schedule_if(sched("a", version=3), version("a", 3), expected_version=None)

    def test_every_definition_write_raises_the_generation(self, store: Store) -> None:
        first = store.generation()
        store.save_schedules([(sched("a"), None)])
        second = store.generation()
        assert second > first
        store.save_schedule_if(sched("b"), version("b", 1), expected_version=None)
        assert store.generation() > second
        store.set_next_run("a", T0)  # the leader's own bookkeeping is no definition change
        assert store.generation() == second + 1

    def test_a_removal_raises_the_generation_and_other_statuses_do_not(self, store: Store) -> None:
        """Workers follow the generation: a removal they did not see would let them start
        a run of the removed schedule."""
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        before = store.generation()
        store.set_status(["a"], "paused", T0)
        store.set_status(["a"], "active", T0)
        assert store.generation() == before
        assert store.set_status(["a"], "removed", T0) == ["a"]
        assert store.generation() == before + 1
        assert store.set_status(["a"], "removed", T0) == []  # nothing changed: nor does it
        assert store.generation() == before + 1

    def test_a_save_moves_the_generation_once_after_all_of_it(self, store: Store) -> None:
        """A save larger than a backend's chunk (Redis: 1,000 a script) still moves the
        generation once, and only after its last schedule: a reader that sees it move
        sees every schedule of the save."""
        names = [f"s{i:05d}" for i in range(2500)]
        first = store.generation()
        reader, seen = store.clone(), []
        stop = threading.Event()

        def follow() -> None:
            while not stop.is_set():
                if reader.generation() != first:
                    seen.append(len(reader.list_schedules(definitions=False)))
                    return

        thread = threading.Thread(target=follow)
        thread.start()
        try:
            store.save_schedules((sched(n), version(n, 1)) for n in names)
        finally:
            thread.join(timeout=30)
            stop.set()
            if reader is not store:
                reader.close()
        assert store.generation() == first + 1
        assert seen == [len(names)]
        store.save_schedules([])
        assert store.generation() == first + 2  # once per save, whatever it holds

    def test_a_save_that_fails_part_way_hides_nothing_it_wrote(self, store: Store) -> None:
        """Whatever a failed save left stored (all of one chunk or more on Redis, nothing
        on SQLite), the generation says so, so that a follower takes it."""
        first = store.generation()

        def items() -> Iterator[tuple[ScheduleState, VersionRecord | None]]:
            for i in range(1500):
                yield sched(f"s{i:05d}"), None
            raise RuntimeError("the file's reader failed")

        with pytest.raises(RuntimeError):
            store.save_schedules(items())
        stored = len(store.list_schedules(definitions=False))
        assert store.generation() == first + (1 if stored else 0)

    def test_pauses_are_recorded_closed_and_found_by_window(self, store: Store) -> None:
        later = T0 + timedelta(hours=1)
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        assert store.pause_schedules(
            ["a"], "operator", T0, until=later, reason="disk swap", by="ops@host"
        ) == ["a"]
        assert store.pause_schedules(["b"], "operator", T0 + timedelta(minutes=5)) == ["b"]
        assert [(p.schedule, p.reason, p.paused_until) for p in store.open_pauses()] == [
            ("a", "disk swap", later),
            ("b", None, None),
        ]
        assert store.resume_schedules(["a"], PAUSE_KINDS, T0 + timedelta(minutes=30)) == ["a"]
        assert [p.schedule for p in store.open_pauses()] == ["b"]
        # A new reason for the same pause replaces the record; a plain repeat keeps it.
        store.pause_schedules(["b"], "operator", T0 + timedelta(minutes=40), reason="again")
        store.pause_schedules(["b"], "operator", T0 + timedelta(minutes=45))
        assert [(p.schedule, p.reason) for p in store.open_pauses()] == [("b", "again")]
        found = store.pauses("a", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
        assert [(p.reason, p.resumed_at) for p in found] == [
            ("disk swap", T0 + timedelta(minutes=30))
        ]
        assert store.pauses("a", T0 + timedelta(minutes=31), later) == []
        assert [p.reason for p in store.pauses("b", T0, later)] == [None, "again"]
        assert {s.name: s.status for s in store.list_schedules()} == {"a": "active", "b": "paused"}

    def test_a_resume_continues_from_now(self, store: Store) -> None:
        store.save_schedules([(sched("a", next_run=T0), None)])
        store.pause_schedules(["a"], "operator", T0)
        store.resume_schedules(["a"], PAUSE_KINDS, T0 + timedelta(hours=1))
        state = store.get_schedule("a")
        assert state is not None and state.status == "active" and state.next_run is None

    def test_an_expiry_ends_only_the_timed_pause_and_keeps_every_other_reason(
        self, store: Store
    ) -> None:
        store.save_schedules(
            [
                (sched("held", status="paused"), None),  # paused: true in the file
                (sched("off", status="disabled"), None),
                (sched("fixing"), None),
                (sched("timed"), None),
                (sched("failing"), None),
            ]
        )
        store.pause_schedules(["fixing"], "operator", T0, reason="until the fix")
        store.pause_schedules(["failing"], "failures", T0, reason="3 failures", by="uno-schedule")
        end = T0 + timedelta(minutes=10)
        names = ["held", "off", "fixing", "timed", "failing"]
        assert store.pause_schedules(names, "operator", T0 + timedelta(minutes=1), until=end) == [
            "timed"
        ]
        assert store.get_schedule("off").status == "disabled"  # type: ignore[union-attr]
        assert store.expire_pauses(end - timedelta(seconds=1)) == []
        assert store.expire_pauses(end) == ["timed"]
        assert store.expire_pauses(end + timedelta(minutes=1)) == []
        statuses = {s.name: s.status for s in store.list_schedules()}
        assert statuses == {
            "held": "paused",
            "off": "disabled",
            "fixing": "paused",
            "timed": "active",
            "failing": "paused",
        }
        still = {p.schedule: p.reason for p in store.open_pauses()}
        assert still == {"held": None, "fixing": "until the fix", "failing": "3 failures"}
        assert [p.kind for p in store.open_pauses() if p.schedule == "held"] == ["definition"]

    def test_an_active_schedules_leftover_pause_ends_when_it_is_paused_again(
        self, store: Store
    ) -> None:
        store.save_schedules([(sched("a"), None)])
        store.pause_schedules(["a"], "operator", T0)
        # a change of the definition set it active (``enabled: false`` then ``true``)
        store.save_schedules([(sched("a"), None)])
        end = T0 + timedelta(minutes=5)
        assert store.pause_schedules(["a"], "operator", T0, until=end) == ["a"]
        assert store.expire_pauses(end) == ["a"]
        assert store.open_pauses() == []

    def test_a_removal_ends_every_open_pause_of_the_schedule_in_the_same_write(
        self, store: Store
    ) -> None:
        """A removed schedule holds no pause: one added again under its name would show
        it, and its timed one must not be left for the expiry to end."""
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        store.pause_schedules(["a", "b"], "operator", T0, reason="disk swap")
        store.pause_schedules(["a"], "failures", T0, reason="3 failures", by="uno-schedule")
        store.pause_schedules(["a"], "operator", T0, until=T0 + timedelta(hours=1))
        removed = T0 + timedelta(minutes=10)
        assert store.set_status(["a"], "removed", removed) == ["a"]
        assert [(p.schedule, p.reason) for p in store.open_pauses()] == [("b", "disk swap")]
        ended = store.pauses("a", T0, removed)
        assert len(ended) == 3 and {p.resumed_at for p in ended} == {removed}
        assert store.expire_pauses(T0 + timedelta(hours=2)) == []
        assert store.get_schedule("b").status == "paused"  # type: ignore[union-attr]

    def test_a_resume_by_kind_leaves_the_pauses_of_other_kinds(self, store: Store) -> None:
        store.save_schedules(
            [(sched(n), None) for n in ("a", "b", "c")]
            + [(sched("held", status="paused"), None), (sched("off", status="disabled"), None)]
        )
        store.pause_schedules(["b"], "operator", T0)
        assert store.pause_schedules(None, "all", T0 + timedelta(minutes=1)) == ["a", "c"]
        store.pause_schedules(["a"], "operator", T0 + timedelta(minutes=2))
        assert store.resume_schedules(None, ("all",), T0 + timedelta(minutes=3)) == ["c"]
        statuses = {s.name: s.status for s in store.list_schedules()}
        assert statuses == {
            "a": "paused", "b": "paused", "c": "active", "held": "paused", "off": "disabled",
        }  # fmt: skip
        calls = ("operator", "all", "failures")
        assert store.resume_schedules(None, calls, T0 + timedelta(minutes=4)) == ["a", "b"]
        assert store.get_schedule("held").status == "paused"  # type: ignore[union-attr]
        # Resuming a schedule by name ends every pause of it, the definition's too.
        assert store.resume_schedules(["held", "off"], PAUSE_KINDS, T0) == ["held"]
        assert store.get_schedule("off").status == "disabled"  # type: ignore[union-attr]
        assert store.open_pauses() == []

    def test_set_status_reports_changes(self, store: Store) -> None:
        for name in ("a", "b", "c", "d"):
            store.save_schedule(sched(name))
        store.set_status(["c"], "removed", T0)
        store.set_status(["d"], "completed", T0)
        assert store.set_status(["a", "nope"], "paused", T0) == ["a"]
        assert store.set_status(["a"], "paused", T0) == []
        # None: every schedule that is neither removed nor completed
        assert sorted(store.set_status(None, "paused", T0 + timedelta(1))) == ["b"]
        assert sorted(store.set_status(None, "active", T0)) == ["a", "b"]
        statuses = {s.name: s.status for s in store.list_schedules()}
        assert statuses == {"a": "active", "b": "active", "c": "removed", "d": "completed"}
        got = store.get_schedule("a")
        assert got is not None and got.updated_at == T0

    def test_set_next_run(self, store: Store) -> None:
        store.save_schedule(sched("a", next_run=T0))
        store.set_next_run("a", T0 + timedelta(minutes=5))
        assert store.get_schedule("a").next_run == T0 + timedelta(minutes=5)  # type: ignore[union-attr]
        store.set_next_run("a", None)
        assert store.get_schedule("a").next_run is None  # type: ignore[union-attr]

    def test_many_next_runs_are_set_at_once(self, store: Store) -> None:
        store.save_schedules([(sched(n, next_run=T0), None) for n in ("a", "b", "c")])
        store.set_next_runs({"a": T0 + timedelta(hours=1), "b": None, "nope": T0})
        got = {s.name: s.next_run for s in store.list_schedules()}
        assert got == {"a": T0 + timedelta(hours=1), "b": None, "c": T0}

    def test_next_runs_are_set_with_the_anchors_given_and_other_anchors_kept(
        self, store: Store
    ) -> None:
        store.save_schedules([(sched(n, next_run=T0, anchor=T0), None) for n in ("a", "b")])
        later = T0 + timedelta(minutes=33)
        store.set_next_runs({"a": later, "b": later}, anchors={"a": later, "nope": later})
        got = {s.name: (s.next_run, s.anchor) for s in store.list_schedules()}
        assert got == {"a": (later, later), "b": (later, T0)}

    def test_save_schedules_takes_a_generator_with_versions(self, store: Store) -> None:
        store.save_schedules((sched(n), version(n, 1)) for n in ("a", "b"))
        assert [s.name for s in store.list_schedules()] == ["a", "b"]
        assert [v.version for v in store.versions("b")] == [1]

    def test_listing_by_status(self, store: Store) -> None:
        store.save_schedules(
            [
                (sched(n, status=st), None)
                for n, st in (("a", "active"), ("b", "paused"), ("c", "removed"), ("d", "paused"))
            ]
        )
        paused = store.list_schedules(statuses=["paused"])
        assert [s.name for s in paused] == ["b", "d"]
        assert paused[0].definition == {"schedule": {"cron": "* * * * *"}}
        light = store.list_schedules(definitions=False, statuses=("removed", "active"))
        assert [(s.name, s.definition) for s in light] == [("a", {}), ("c", {})]
        assert store.list_schedules(statuses=[]) == []

    def test_listing_without_definitions_keeps_everything_else(self, store: Store) -> None:
        state = sched("a", status="paused", next_run=T0, anchor=T0, fingerprint="f1")
        store.save_schedule(state)
        (light,) = store.list_schedules(definitions=False)
        assert light.definition == {}
        light.definition = state.definition
        assert light == state

    def test_a_schedule_keeps_what_it_was_written_with_and_a_later_save_replaces_it(
        self, store: Store
    ) -> None:
        written = {"schedule": {"unique": True, "start_date": "2030-02-01T09:00:00"}}
        store.save_schedule(sched("a", written=written), version("a", 1))
        store.save_schedules([(sched("b"), None)])
        assert store.get_schedule("a").written == written  # type: ignore[union-attr]
        assert store.get_schedule("b").written is None  # type: ignore[union-attr]
        (light, _) = store.list_schedules(definitions=False)
        assert light.written is None  # a listing without definitions reads neither
        store.save_schedule_if(sched("a", version=2), version("a", 2), expected_version=1)
        assert store.get_schedule("a").written is None  # type: ignore[union-attr]

    def test_delete_schedule_keeps_history(self, store: Store, leader: int) -> None:
        store.save_schedule(sched("a"), version("a", 1))
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        assert store.delete_schedule("a") is True
        assert store.delete_schedule("a") is False
        assert store.get_schedule("a") is None
        assert store.versions("a") == []
        assert [r.run_id for r in store.history("a")] == ["r1"]

    # -- claims -------------------------------------------------------------------------

    def test_claim_many_answers_each_claim_and_advances_each_schedule(
        self, store: Store, leader: int
    ) -> None:
        from unoschedule.records import Claim

        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        assert store.claim(run("r0", "a"), "a@0", T0, epoch=leader)
        hour = timedelta(hours=1)
        results = store.claim_many(
            [
                Claim(run("r1", "a"), "a@0", T0 + 5 * hour),  # claimed before: refused
                Claim(run("r2", "a"), "a@1", T0 + 2 * hour),
                Claim(run("r3", "b"), "b@1", T0 + 3 * hour),
                Claim(run("r4", "b"), "b@1", T0 + 9 * hour),  # twice in one batch
            ],
            epoch=leader,
        )
        assert results == [False, True, True, False]
        assert {r.run_id for r in store.history(None)} == {"r0", "r2", "r3"}
        nxt = {s.name: s.next_run for s in store.list_schedules()}
        assert nxt == {"a": T0 + 2 * hour, "b": T0 + 3 * hour}

    def test_claim_many_completes_the_schedules_it_is_told_in_the_same_write(
        self, store: Store, leader: int
    ) -> None:
        from unoschedule.records import Claim

        later = T0 + timedelta(minutes=3)
        store.save_schedules([(sched(n, next_run=T0), None) for n in ("a", "b", "c", "d")])
        store.set_status(["d"], "completed", T0)
        claims = [Claim(run("r1", "a"), "a@1", None), Claim(run("r2", "b"), "b@1", T0)]
        completed = ["a", "c", "d"]  # c: its last occurrence was claimed before
        assert store.claim_many(claims, epoch=leader, completed=completed, now=later) == [
            True,
            True,
        ]
        got = {s.name: s for s in store.list_schedules()}
        assert {n: (s.status, s.next_run) for n, s in got.items()} == {
            "a": ("completed", None),
            "b": ("active", T0),
            "c": ("completed", None),
            "d": ("completed", None),
        }
        assert got["a"].updated_at == later and got["d"].updated_at == T0  # d was already
        assert sorted(s.name for s in store.list_schedules(statuses=["completed"])) == [
            "a",
            "c",
            "d",
        ]
        assert [s.name for s in store.list_schedules(statuses=["active"])] == ["b"]

    def test_claim_many_with_a_stale_epoch_writes_nothing(self, store: Store, leader: int) -> None:
        from unoschedule.records import Claim

        store.save_schedule(sched("a", next_run=T0))
        claims = [Claim(run(f"r{i}"), f"a@{i}", T0 + timedelta(hours=i)) for i in range(3)]
        assert store.claim_many(claims, epoch=leader + 1, completed=["a"], now=T0) == [
            False,
            False,
            False,
        ]
        assert store.history(None) == []
        got = store.get_schedule("a")
        assert got is not None and (got.next_run, got.status) == (T0, "active")
        assert store.claim_many([], epoch=leader) == []

    def test_claim_exactly_once(self, store: Store, leader: int) -> None:
        store.save_schedule(sched("a", next_run=T0))
        nxt = T0 + timedelta(minutes=1)
        assert store.claim(run("r1", result="running"), "a@T0", nxt, epoch=leader) is True
        assert store.get_schedule("a").next_run == nxt  # type: ignore[union-attr]
        # The same occurrence again, even as another run id: refused, nothing written.
        later = T0 + timedelta(minutes=9)
        assert store.claim(run("r2"), "a@T0", later, epoch=leader) is False
        assert store.get_run("r2") is None
        assert store.get_schedule("a").next_run == nxt  # type: ignore[union-attr]
        got = store.get_run("r1")
        assert got is not None
        assert (got.epoch, got.instance_id, got.result) == (leader, "i1", "running")

    def test_presences_are_listed_until_they_expire_or_are_withdrawn(self, store: Store) -> None:
        soon = T0 + timedelta(seconds=10)
        store.announce(Presence("worker", "w1:7", T0, soon, "reports,default"))
        store.announce(Presence("standby", "h2:9", T0, soon))
        store.announce(Presence("standby", "h3:1", T0, T0 + timedelta(seconds=1)))
        later = T0 + timedelta(seconds=5)
        store.announce(Presence("worker", "w1:7", later, later + timedelta(seconds=10), "reports"))
        got = store.presences(T0 + timedelta(seconds=2))
        assert [(p.role, p.instance_id, p.seen_at, p.detail) for p in got] == [
            ("standby", "h2:9", T0, ""), ("worker", "w1:7", later, "reports"),
        ]  # fmt: skip
        store.withdraw("standby", "h2:9")
        assert [p.instance_id for p in store.presences(T0 + timedelta(seconds=3))] == ["w1:7"]
        assert store.presences(later + timedelta(seconds=10)) == []

    def test_active_runs_are_every_queued_or_running_run_whoever_holds_it(
        self, store: Store, leader: int
    ) -> None:
        store.save_schedule(sched("a", next_run=T0))
        store.enqueue(run("m1", at=T0 + timedelta(minutes=3), queued_at=T0))  # nobody's yet
        store.claim(run("c1", result="running"), "a@1", None, epoch=leader)  # the leader's
        store.record_started(
            run("f1", at=T0 + timedelta(minutes=1), result="running", started_at=T0)
        )  # a foreground trigger's
        store.claim(run("d1", at=T0 - timedelta(minutes=1)), "a@0", None, epoch=leader)
        store.finish_run("d1", "success", T0)
        got = store.active_runs()
        assert [(r.run_id, r.result) for r in got] == [
            ("c1", "running"), ("f1", "running"), ("m1", "queued"),
        ]  # fmt: skip
        if WorkerQueues in self.CAPABILITIES:  # a run a worker started is still listed
            assert isinstance(store, WorkerQueues)
            started, _, _ = store.queues.start("m1", T0, 4242)
            assert started
            assert [r.run_id for r in store.active_runs()] == ["c1", "f1", "m1"]
            assert "m1" not in {r.run_id for r in store.unfinished_runs()}

    def test_run_ids_starting_a_prefix_are_found_in_order_up_to_the_limit(
        self, store: Store
    ) -> None:
        for run_id in ("1a2b3c01", "1a2b3c02", "1a2b4d00", "ffff0000"):
            store.enqueue(run(run_id, queued_at=T0))
        store.add_event("deploy", None, [run("1a2b3c03", trigger="event")], T0)
        assert store.run_ids_starting("1a2b3c", 10) == ["1a2b3c01", "1a2b3c02", "1a2b3c03"]
        assert store.run_ids_starting("1a2b3c", 2) == ["1a2b3c01", "1a2b3c02"]
        assert store.run_ids_starting("1a2b4d00", 10) == ["1a2b4d00"]
        assert store.run_ids_starting("1a2b5", 10) == []
        assert store.run_ids_starting("*", 10) == []  # a pattern character is a character
        assert store.run_ids_starting("", 10) == [
            "1a2b3c01", "1a2b3c02", "1a2b3c03", "1a2b4d00", "ffff0000",
        ]  # fmt: skip

    def test_claim_needs_current_epoch(self, store: Store) -> None:
        store.save_schedule(sched("a", next_run=T0))
        assert store.claim(run("r0"), "a@0", None, epoch=1) is False  # no lease at all
        old = store.acquire_lease("old", 10, T0)
        assert old is not None
        new = store.acquire_lease("new", 10, T0 + timedelta(seconds=11))
        assert new is not None and new.epoch > old.epoch
        # The old leader, paused and resumed, must not fire any more.
        assert store.claim(run("r1"), "a@1", T0 + timedelta(hours=1), epoch=old.epoch) is False
        assert store.get_run("r1") is None
        assert store.get_schedule("a").next_run == T0  # type: ignore[union-attr]
        assert store.claim(run("r2"), "a@1", T0 + timedelta(hours=1), epoch=new.epoch) is True

    def test_claim_round_trips_every_field(self, store: Store, leader: int) -> None:
        record = run(
            "r1",
            at=T0 + timedelta(microseconds=123456),
            trigger="event",
            attempt=2,
            result="running",
            queued_at=T0,
            started_at=T0 + timedelta(seconds=1),
            pid=4242,
            instance_id="i1",
            epoch=leader,
            args=[1, "two", None],
            kwargs={"k": [1, 2], "s": "é"},
            event={"payload": {"x": 1}},
            queue="io",
            priority="high",
        )
        assert store.claim(record, "a@x", None, epoch=leader)
        assert store.get_run("r1") == record

    def test_claim_from_threads_is_exclusive(self, store: Store, leader: int) -> None:
        wins: list[str] = []

        def worker(tag: str) -> None:
            for i in range(40):
                if store.claim(run(f"{tag}-{i}"), f"a@{i}", None, epoch=leader):
                    wins.append(f"a@{i}")

        threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == sorted(f"a@{i}" for i in range(40))

    # -- queued runs --------------------------------------------------------------------

    def test_enqueue_and_take_once(self, store: Store, leader: int) -> None:
        store.enqueue(run("q2", trigger="manual", queued_at=T0 + timedelta(seconds=2)))
        store.enqueue(run("q1", trigger="manual", queued_at=T0 + timedelta(seconds=1)))
        queued = store.get_run("q1")
        assert queued is not None and (queued.result, queued.epoch) == ("queued", 0)
        assert store.unfinished_runs() == []  # not claimed by any leader yet
        taken = store.take_queued(leader, "i1")
        assert [r.run_id for r in taken] == ["q1", "q2"]
        assert all((r.epoch, r.instance_id) == (leader, "i1") for r in taken)
        assert store.take_queued(leader, "i1") == []
        assert store.get_run("q1").epoch == leader  # type: ignore[union-attr]
        assert {r.run_id for r in store.unfinished_runs()} == {"q1", "q2"}

    def test_take_queued_refuses_stale_epoch(self, store: Store, leader: int) -> None:
        store.enqueue(run("q1", trigger="manual", queued_at=T0))
        assert store.take_queued(leader + 7, "ghost") == []
        assert [r.run_id for r in store.take_queued(leader, "i1")] == ["q1"]

    def test_a_run_recorded_started_here_is_never_handed_to_a_leader(
        self, store: Store, leader: int
    ) -> None:
        """A foreground ``trigger --wait`` records its run started by itself: a leader
        that comes up meanwhile must neither take it nor start it again."""
        store.save_schedule(sched("a"))
        here = run("f1", trigger="manual", queued_at=T0, started_at=T0, pid=4242)
        store.record_started(here)
        got = store.get_run("f1")
        assert got is not None
        assert (got.result, got.epoch, got.started_at, got.pid) == ("running", 0, T0, 4242)
        assert store.take_queued(leader, "i1") == []
        assert store.start_runs([("f1", T0, 1)]) == []
        assert store.unfinished_runs() == []  # not a crashed leader's to interrupt
        assert [r.run_id for r in store.history("a")] == ["f1"]
        assert [r.run_id for r in store.foreground_runs()] == ["f1"]  # its process's to end
        store.finish_run("f1", "success", T0 + timedelta(seconds=2))
        assert store.foreground_runs() == []
        done = store.get_run("f1")
        assert done is not None and (done.result, done.duration) == ("success", 2.0)
        assert store.get_schedule("a").last_result == "success"  # type: ignore[union-attr]

    def test_a_queued_retry_started_in_the_foreground_is_never_handed_to_a_leader(
        self, store: Store, leader: int
    ) -> None:
        """A foreground ``trigger --wait`` starts the retry it queued with its failed
        attempt's end: from then on it is that process's, as ``record_started`` makes
        its first attempt (a leader neither takes it nor starts it; it settles it only
        once that process is dead, ``foreground_runs``)."""
        store.save_schedule(sched("a"))
        retry = run("r2", trigger="retry", attempt=2, queued_at=T0, instance_id="fg:1")
        store.finish_runs([Finish("nope", "error", T0, then=(("a@x#2", retry),))])
        assert store.get_run("r2") is None  # no end recorded: nothing queued with it
        store.record_started(run("r1", trigger="manual", queued_at=T0, started_at=T0))
        store.finish_runs([Finish("r1", "error", T0, then=(("a@x#2", retry),))])
        later = T0 + timedelta(seconds=3)
        assert store.start_in_foreground("r2", later, 4242, "fg:1") is True
        got = store.get_run("r2")
        assert got is not None
        assert (got.result, got.epoch, got.started_at, got.pid, got.instance_id) == (
            "running", 0, later, 4242, "fg:1",
        )  # fmt: skip
        assert store.start_in_foreground("r2", later, 4242, "fg:1") is False  # not twice
        assert store.take_queued(leader, "i1") == []
        assert store.start_runs([("r2", later, 1)]) == []
        assert store.unfinished_runs() == []
        assert [r.run_id for r in store.foreground_runs()] == ["r2"]
        assert [r.run_id for r in store.active_runs()] == ["r2"]

    def test_a_queued_retry_a_leader_took_is_not_started_in_the_foreground(
        self, store: Store, leader: int
    ) -> None:
        store.save_schedule(sched("a"))
        store.enqueue(run("r2", trigger="retry", attempt=2, queued_at=T0))
        assert [r.run_id for r in store.take_queued(leader, "i1")] == ["r2"]
        assert store.start_in_foreground("r2", T0, 4242, "fg:1") is False
        got = store.get_run("r2")
        assert got is not None and (got.result, got.epoch, got.instance_id) == (
            "queued", leader, "i1",
        )  # fmt: skip
        assert store.start_runs([("r2", T0, None)]) == ["r2"]  # the leader's to start
        store.finish_run("r2", "success", T0)
        assert store.start_in_foreground("r2", T0, 4242, "fg:1") is False  # ended
        assert store.start_in_foreground("unknown", T0, 4242, "fg:1") is False

    def test_a_queued_retry_goes_to_exactly_one_of_a_foreground_process_and_a_leader(
        self, store: Store, leader: int
    ) -> None:
        """Threads stand for the two processes, each taking the same queued runs."""
        store.save_schedule(sched("a"))
        ids = [f"r{i}" for i in range(30)]
        for run_id in ids:
            store.enqueue(run(run_id, trigger="retry", attempt=2, queued_at=T0))
        foreground: list[str] = []
        led: list[str] = []
        go = threading.Barrier(2)

        def in_foreground() -> None:
            go.wait()
            for run_id in ids:
                if store.start_in_foreground(run_id, T0, 4242, "fg:1"):
                    foreground.append(run_id)

        def leading() -> None:
            go.wait()
            for _ in ids:
                led.extend(r.run_id for r in store.take_queued(leader, "i1"))

        threads = [threading.Thread(target=in_foreground), threading.Thread(target=leading)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(foreground + led) == sorted(ids)  # each once, by one of them
        for run_id in ids:
            got = store.get_run(run_id)
            assert got is not None
            held = ("running", 0) if run_id in foreground else ("queued", leader)
            assert (got.result, got.epoch) == held

    # -- run life cycle -----------------------------------------------------------------

    def test_runs_start_and_finish_in_batches(self, store: Store, leader: int) -> None:
        from unoschedule.records import Finish

        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        for run_id, name in (("r1", "a"), ("r2", "b"), ("r3", "a")):
            assert store.claim(run(run_id, name), run_id, None, epoch=leader)
        second = timedelta(seconds=1)
        store.start_runs([("r1", T0 + second, None), ("r2", T0 + 2 * second, 77)])
        got = {r.run_id: (r.result, r.started_at, r.pid) for r in store.history(None)}
        assert got["r1"] == ("running", T0 + second, None)
        assert got["r2"] == ("running", T0 + 2 * second, 77)
        assert got["r3"][0] == "queued"
        store.finish_runs(
            [
                Finish("r1", "success", T0 + 4 * second),
                Finish("r2", "timeout", T0 + 5 * second, error="timed out", output="tail"),
                Finish("nope", "success", T0),  # unknown: ignored
            ]
        )
        r1, r2 = store.get_run("r1"), store.get_run("r2")
        assert r1 is not None and (r1.result, r1.duration) == ("success", pytest.approx(3.0))
        assert r2 is not None
        assert (r2.result, r2.error, r2.output) == ("timeout", "timed out", "tail")
        assert r2.duration == pytest.approx(3.0)
        states = {s.name: (s.last_run, s.last_result) for s in store.list_schedules()}
        assert states == {"a": (T0 + second, "success"), "b": (T0 + 2 * second, "timeout")}
        store.start_runs([])
        store.finish_runs([])

    def test_a_run_starts_once(self, store: Store, leader: int) -> None:
        """Two leaders (a stale one thawed, and its successor) may both try to start a
        run that was claimed and not started: only the first may run its job."""
        store.save_schedule(sched("a"))
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        assert store.claim(run("r2"), "a@2", None, epoch=leader)
        second = timedelta(seconds=1)
        assert store.start_runs([("r1", T0 + second, None)]) == ["r1"]
        assert store.start_runs([("r1", T0 + 2 * second, 5), ("r2", T0, None)]) == ["r2"]
        got = store.get_run("r1")
        assert got is not None and (got.started_at, got.pid) == (T0 + second, None)
        assert store.start_run("r2", T0) is False
        store.finish_run("r1", "success", T0 + 3 * second)
        assert store.start_run("r1", T0) is False  # finished: never again
        assert store.start_runs([("nope", T0, None)]) == []

    def test_a_concurrency_group_admits_no_more_runs_than_its_limit(
        self, store: Store, leader: int
    ) -> None:
        """The count is of the group's schedules' running runs (others do not count),
        and an ended run gives its place back."""
        for name in ("a", "b", "other"):
            store.save_schedule(sched(name))
        for run_id, name in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("o1", "other")):
            assert store.claim(run(run_id, name), f"{run_id}@1", None, epoch=leader)
        group = ["a", "b"]
        assert store.start_runs([("o1", T0, None)]) == ["o1"]  # not in the group
        assert store.start_in_group("a1", T0, group, 2) is True
        assert store.start_in_group("b1", T0, group, 2) is True
        assert store.start_in_group("a2", T0, group, 2) is False  # full
        got = store.get_run("a2")
        assert got is not None and got.result == "queued"
        store.finish_run("b1", "success", T0 + timedelta(seconds=1))
        assert store.start_in_group("a2", T0 + timedelta(seconds=1), group, 2) is True
        got = store.get_run("a2")
        assert got is not None and (got.result, got.started_at) == (
            "running",
            T0 + timedelta(seconds=1),
        )
        assert store.start_in_group("a2", T0, group, 5) is False  # running: not again
        assert store.start_in_group("nope", T0, group, 5) is False

    def test_a_foreground_run_holds_a_place_in_its_concurrency_group(
        self, store: Store, leader: int
    ) -> None:
        """A ``trigger --wait`` runs its job in its own process, outside any leader: it
        is ``running`` all the same, and a group counts every running run."""
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        store.record_started(run("f1", "a", trigger="manual", queued_at=T0, started_at=T0))
        assert store.claim(run("b1", "b"), "b@1", None, epoch=leader)
        assert store.start_in_group("b1", T0, ["a", "b"], 1) is False
        got = store.get_run("b1")
        assert got is not None and got.result == "queued"
        if WorkerQueues in self.CAPABILITIES:  # nor may a worker start it
            assert isinstance(store, WorkerQueues)
            assert store.queues.start("b1", T0, 4242, [(1, ["a", "b"])])[0] is False
        store.finish_run("f1", "success", T0 + timedelta(seconds=1))
        assert store.start_in_group("b1", T0 + timedelta(seconds=1), ["a", "b"], 1) is True

    def test_a_concurrency_group_is_never_overfilled_by_racing_processes(
        self, store: Store, leader: int
    ) -> None:
        """Threads stand for hosts: each admits its own runs at the same moment."""
        store.save_schedule(sched("a"))
        ids = [f"r{i}" for i in range(12)]
        for run_id in ids:
            assert store.claim(run(run_id), f"{run_id}@1", None, epoch=leader)
        admitted: list[str] = []
        barrier = threading.Barrier(4)

        def admit(mine: list[str]) -> None:
            barrier.wait()
            for run_id in mine:
                if store.start_in_group(run_id, T0, ["a"], 3):
                    admitted.append(run_id)

        threads = [threading.Thread(target=admit, args=(ids[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(admitted) == 3
        running = [r for r in store.unfinished_runs() if r.result == "running"]
        assert sorted(r.run_id for r in running) == sorted(admitted)

    def test_a_finished_run_is_not_finished_again(self, store: Store, leader: int) -> None:
        """A newer leader recorded the run ``interrupted``; the stale leader's late
        finish must not overwrite that."""
        store.save_schedule(sched("a"))
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        store.start_run("r1", T0)
        store.finish_run("r1", "interrupted", T0 + timedelta(seconds=5), error="crash")
        store.finish_run("r1", "success", T0 + timedelta(seconds=9), output="late")
        got = store.get_run("r1")
        assert got is not None
        assert (got.result, got.error, got.output) == ("interrupted", "crash", None)
        assert got.finished_at == T0 + timedelta(seconds=5)
        assert store.get_schedule("a").last_result == "interrupted"  # type: ignore[union-attr]

    def test_an_end_is_recorded_whole_whoever_records_it(self, store: Store, leader: int) -> None:
        """A run buffered behind another says why (``error``) from its claim on: its
        end replaces that, so a success says no error. A worker's settle records an
        end exactly as ``finish_runs`` does."""
        store.save_schedule(sched("a"))
        said = {"error": "buffered: waits for run r0 (overlap: buffer_one)", "output": "x"}
        for run_id in ("r1", "r2"):
            assert store.claim(run(run_id, **said), f"a@{run_id}", None, epoch=leader)
            store.start_run(run_id, T0)
        store.finish_run("r1", "success", T0 + timedelta(seconds=3))
        by_leader = store.get_run("r1")
        assert by_leader is not None
        assert (by_leader.result, by_leader.error, by_leader.output) == ("success", None, None)
        assert by_leader.duration == pytest.approx(3.0)
        if WorkerQueues in self.CAPABILITIES:
            assert isinstance(store, WorkerQueues)
            end = Finish("r2", "success", T0 + timedelta(seconds=3))
            assert store.queues.settle("default", "", "", end, started_at=T0) == 1
            assert store.get_run("r2") == dataclasses.replace(by_leader, run_id="r2")
            got = store.get_schedule("a")
            assert got is not None and (got.last_run, got.last_result) == (T0, "success")

    @pytest.mark.parametrize("said", ["", None], ids=["empty", "none"])
    def test_an_empty_error_and_output_read_back_as_recorded(
        self, store: Store, leader: int, said: str | None
    ) -> None:
        """``true`` prints nothing: its output is the empty text, a value, not an absent
        one (None), and every store, the leader's end and a worker's settle alike, gives
        back exactly what the end said."""
        store.save_schedule(sched("a"))
        before = {"error": "before", "output": "before"}
        for run_id in ("r1", "r2"):
            assert store.claim(run(run_id, **before), run_id, None, epoch=leader)
            store.start_run(run_id, T0)
        store.finish_runs([Finish("r1", "success", T0, error=said, output=said)])
        got = store.get_run("r1")
        assert got is not None and (got.error, got.output) == (said, said)
        if WorkerQueues in self.CAPABILITIES:
            assert isinstance(store, WorkerQueues)
            end = Finish("r2", "success", T0, error=said, output=said)
            assert store.queues.settle("default", "", "", end, started_at=T0) == 1
            got = store.get_run("r2")
            assert got is not None and (got.error, got.output) == (said, said)

    def test_an_end_enqueues_the_runs_it_starts_in_the_same_write(
        self, store: Store, leader: int
    ) -> None:
        """A chain: the downstream run is queued with the upstream's end, for a leader."""
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        store.start_run("r1", T0)
        down = run("d1", "b", T0 + timedelta(seconds=2), trigger="event", queued_at=T0)
        down.event = {"after": {"schedule": "a", "run_id": "r1", "result": "success"}}
        end = Finish("r1", "success", T0 + timedelta(seconds=2), then=(("b@after:r1", down),))
        store.finish_runs([end])
        got = store.get_run("d1")
        assert got is not None and (got.result, got.epoch, got.event) == (
            "queued",
            0,
            down.event,
        )
        assert [r.run_id for r in store.take_queued(leader, "i1")] == ["d1"]

    def test_an_end_recorded_again_starts_nothing_again(self, store: Store, leader: int) -> None:
        """The settle step repeated (by a new leader, or after a lost reply): the end is
        not recorded twice, and so neither is the run it starts, under any new run id."""
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        store.start_run("r1", T0)
        first = run("d1", "b", T0, trigger="event", queued_at=T0)
        store.finish_runs([Finish("r1", "success", T0, then=(("b@after:r1", first),))])
        again = run("d2", "b", T0, trigger="event", queued_at=T0)
        store.finish_runs([Finish("r1", "success", T0, then=(("b@after:r1", again),))])
        assert store.get_run("d2") is None
        assert [r.run_id for r in store.history("b")] == ["d1"]

    def test_an_end_not_recorded_starts_nothing(self, store: Store, leader: int) -> None:
        """A newer leader recorded the run interrupted: a stale end and its chain are
        both left out."""
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        store.finish_run("r1", "interrupted", T0, error="crash")
        down = run("d1", "b", T0, trigger="event", queued_at=T0)
        store.finish_runs([Finish("r1", "success", T0, then=(("b@after:r1", down),))])
        assert store.get_run("d1") is None

    def test_finish_runs_says_which_ends_it_recorded(self, store: Store, leader: int) -> None:
        """A leader frozen past its lease ends a run that the leader that took over
        recorded interrupted, and an end comes again for a run already ended: neither
        is written, and the store says so, so that no caller counts, notifies or retries
        an end that the state does not hold."""
        store.save_schedule(sched("a"))
        for run_id in ("r1", "r2", "r3"):
            assert store.claim(run(run_id), f"a@{run_id}", None, epoch=leader)
        store.start_runs([(run_id, T0, None) for run_id in ("r1", "r2", "r3")])
        later = T0 + timedelta(minutes=2)
        successor = store.acquire_lease("i2", 60, later)  # i1's lease ran out
        assert successor is not None and successor.epoch > leader
        cut_off = Finish("r1", "interrupted", later, error="cut off")
        assert store.finish_runs([cut_off]) == ["r1"]  # the successor's recovery
        stale = Finish("r1", "error", later, error="boom")  # the thawed holder's end
        ends = [stale, Finish("r2", "success", later), Finish("nope", "success", later)]
        assert store.finish_runs(ends) == ["r2"]
        got = store.get_run("r1")
        assert got is not None and (got.result, got.error) == ("interrupted", "cut off")
        assert store.finish_runs([Finish("r2", "error", later)]) == []  # ended already
        assert store.finish_run("r2", "error", later) is False
        assert store.finish_run("r3", "success", later) is True
        got = store.get_run("r2")
        assert got is not None and got.result == "success"
        if WorkerQueues in self.CAPABILITIES:  # a worker's settle: the same rule
            assert isinstance(store, WorkerQueues)
            assert store.queues.settle("default", "", "", stale, started_at=T0) == 0

    def test_a_run_ended_twice_in_one_batch_keeps_its_first_end(
        self, store: Store, leader: int
    ) -> None:
        """Ends are written in batches: the second end of one run in a batch is refused
        as it would be in a batch of its own, and the schedule keeps its last end."""
        store.save_schedule(sched("a"))
        for run_id in ("r1", "r2"):
            assert store.claim(run(run_id), f"a@{run_id}", None, epoch=leader)
        second = timedelta(seconds=1)
        store.start_runs([("r1", T0, None), ("r2", T0 + second, None)])
        ends = [
            Finish("r1", "success", T0 + 2 * second),
            Finish("r2", "timeout", T0 + 3 * second, error="late"),
            Finish("r1", "error", T0 + 4 * second, error="again"),
        ]
        assert store.finish_runs(ends) == ["r1", "r2"]
        got = store.get_run("r1")
        assert got is not None and (got.result, got.error) == ("success", None)
        assert got.duration == pytest.approx(2.0)
        state = store.get_schedule("a")
        assert state is not None and (state.last_run, state.last_result) == (
            T0 + second,
            "timeout",
        )

    def test_a_notification_is_claimed_once_whoever_asks(self, store: Store) -> None:
        """The sender of a notification claims it first: a second sender (a new
        leader, a worker) is refused, another event or run is not."""
        assert store.claim_notification("failure:a:r1", T0)
        assert not store.claim_notification("failure:a:r1", T0 + timedelta(seconds=5))
        other = store.clone()
        assert not other.claim_notification("failure:a:r1", T0)
        assert other.claim_notification("recovery:a:r2", T0)
        assert store.claim_notification("failure:a:r2", T0)

    def test_start_finish_duration(self, store: Store, leader: int) -> None:
        store.save_schedule(sched("a"))
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        store.start_run("r1", T0 + timedelta(seconds=1), pid=99)
        got = store.get_run("r1")
        assert got is not None and (got.result, got.pid) == ("running", 99)
        store.finish_run(
            "r1", "error", T0 + timedelta(seconds=3.25), error="exit status 2", output="boom"
        )
        got = store.get_run("r1")
        assert got is not None
        assert got.result == "error"
        assert got.finished_at == T0 + timedelta(seconds=3.25)
        assert got.duration == pytest.approx(2.25)
        assert (got.error, got.output) == ("exit status 2", "boom")
        state = store.get_schedule("a")
        assert state is not None and state.last_result == "error"
        assert state.last_run == T0 + timedelta(seconds=1)

    def test_finish_without_start_has_no_duration(self, store: Store, leader: int) -> None:
        store.save_schedule(sched("a"))
        assert store.claim(run("r1"), "a@1", None, epoch=leader)
        store.finish_run("r1", "skipped", T0 + timedelta(seconds=5))
        got = store.get_run("r1")
        assert got is not None and got.result == "skipped" and got.duration is None
        state = store.get_schedule("a")
        assert state is not None and (state.last_result, state.last_run) == ("skipped", T0)
        store.finish_run("no-such-run", "success", T0)  # ignored, no error

    def test_history_order_and_limit(self, store: Store, leader: int) -> None:
        rows = [
            ("r1", T0, 1),
            ("r2", T0 + timedelta(minutes=1), 1),
            ("r3", T0 + timedelta(minutes=1), 2),
            # a fractional instant must sort by time, not by its text
            ("r4", T0 + timedelta(minutes=1, microseconds=500000), 1),
            ("r5", T0 + timedelta(minutes=2), 1),
        ]
        for run_id, at, attempt in rows:
            assert store.claim(run(run_id, at=at, attempt=attempt), run_id, None, epoch=leader)
        assert store.claim(run("b1", "b", T0 + timedelta(hours=1)), "b1", None, epoch=leader)
        assert [r.run_id for r in store.history("a")] == ["r5", "r4", "r3", "r2", "r1"]
        assert [r.run_id for r in store.history("a", limit=2)] == ["r5", "r4"]
        assert [r.run_id for r in store.history(None, limit=2)] == ["b1", "r5"]
        assert store.history("nobody") == []

    def test_unfinished_runs(self, store: Store, leader: int) -> None:
        assert store.claim(run("r1", result="queued"), "k1", None, epoch=leader)
        assert store.claim(run("r2", result="running"), "k2", None, epoch=leader)
        assert store.claim(run("r3", result="running"), "k3", None, epoch=leader)
        store.finish_run("r3", "success", T0)
        assert store.claim(run("r4", result="missed"), "k4", None, epoch=leader)
        store.enqueue(run("q1", queued_at=T0))
        assert sorted(r.run_id for r in store.unfinished_runs()) == ["r1", "r2"]

    def test_run_counts(self, store: Store, leader: int) -> None:
        results = ["success", "success", "error", "timeout", "interrupted", "missed", "skipped"]
        for i, result in enumerate(results):
            at = T0 + timedelta(minutes=i)
            assert store.claim(run(f"r{i}", at=at), f"k{i}", None, epoch=leader)
            if result not in ("missed", "skipped"):
                store.start_run(f"r{i}", at)
            store.finish_run(f"r{i}", result, at + timedelta(seconds=2))
        assert store.claim(run("b0", "b", result="running"), "b0", None, epoch=leader)
        counts = store.run_counts()
        a = counts["a"]
        assert a["run_count"] == 5
        assert a["success_count"] == 2
        assert a["error_count"] == 3
        assert a["missed_count"] == 1
        assert a["skipped_count"] == 1
        assert a["finished_count"] == 5
        assert a["total_duration"] == pytest.approx(10.0)
        assert counts["b"]["run_count"] == 0
        recent = store.run_counts(since=T0 + timedelta(minutes=5))["a"]
        assert (recent["run_count"], recent["missed_count"], recent["skipped_count"]) == (0, 1, 1)
        # one schedule's counts are the same, read alone
        assert store.run_counts(schedule="a") == {"a": a}
        assert store.run_counts(since=T0 + timedelta(minutes=5), schedule="a") == {"a": recent}
        assert store.run_counts(schedule="nothing") == {}
        # the runs that ran from an instant on, counted in the same pass
        both = store.run_counts(recent=T0 + timedelta(minutes=2))
        assert both["a"] == a | {"recent_run_count": 3}  # r2, r3, r4; not missed r5, skipped r6
        assert both["b"]["recent_run_count"] == 0
        assert store.run_counts(recent=T0 + timedelta(minutes=9))["a"]["recent_run_count"] == 0

    # -- operations: explain, backfill, dead-man alarms, retention ------------------------

    def _finished(
        self, store: Store, epoch: int, name: str, count: int, start: datetime = T0
    ) -> list[str]:
        """``count`` finished runs of ``name``, a minute apart (every fourth an error,
        2 s each), claimed at once; returns their ids, oldest first."""
        from unoschedule.records import Claim

        claims = []
        for i in range(count):
            at = start + timedelta(minutes=i)
            record = run(
                f"{name}-{i}",
                name,
                at,
                result="error" if i % 4 == 0 else "success",
                started_at=at,
                finished_at=at + timedelta(seconds=2),
                duration=2.0,
            )
            claims.append(Claim(record, f"{name}@{i}", None))
        assert all(store.claim_many(claims, epoch=epoch))
        return [c.run.run_id for c in claims]

    def test_runs_between_lists_one_schedule_by_instant_then_attempt(
        self, store: Store, leader: int
    ) -> None:
        minute = timedelta(minutes=1)
        rows = [("r2", T0 + minute, 2), ("r0", T0 - minute, 1), ("r1", T0 + minute, 1)]
        rows += [("r3", T0 + 2 * minute, 1), ("r4", T0 + 2 * minute + timedelta(microseconds=1), 1)]
        for run_id, at, attempt in rows:
            assert store.claim(run(run_id, at=at, attempt=attempt), run_id, None, epoch=leader)
        assert store.claim(run("b1", "b", T0 + minute), "b1", None, epoch=leader)
        got = store.runs_between("a", T0, T0 + 2 * minute)  # both ends included
        assert [r.run_id for r in got] == ["r1", "r2", "r3"]
        assert got[0] == store.get_run("r1")
        assert [r.run_id for r in store.runs_between("a", T0 + 3 * minute, T0 + 9 * minute)] == []
        assert store.runs_between("nobody", T0, T0 + minute) == []

    def test_enqueue_unique_refuses_an_occurrence_enqueued_before(
        self, store: Store, leader: int
    ) -> None:
        first = [
            run("b1", at=T0, trigger="backfill", queued_at=T0 + timedelta(hours=1)),
            run("b2", at=T0 + timedelta(minutes=1), trigger="backfill"),
            run("b3", at=T0 + timedelta(minutes=1), trigger="backfill"),  # twice in one call
        ]
        assert store.enqueue_unique(first) == [True, True, False]
        got = store.get_run("b1")
        assert got is not None
        assert (got.result, got.epoch, got.trigger) == ("queued", 0, "backfill")
        assert got.queued_at == T0 + timedelta(hours=1)
        assert store.get_run("b2").queued_at is not None  # type: ignore[union-attr]
        assert store.get_run("b3") is None
        # The same instants again (a backfill given twice): refused; another trigger at
        # the same instant is another occurrence.
        again = [
            run("c1", at=T0, trigger="backfill"),
            run("c2", at=T0, trigger="manual"),
        ]
        assert store.enqueue_unique(again) == [False, True]
        assert store.get_run("c1") is None
        assert store.enqueue_unique([]) == []
        assert sorted(r.run_id for r in store.take_queued(leader, "i1")) == ["b1", "b2", "c2"]
        assert sorted(r.run_id for r in store.history("a")) == ["b1", "b2", "c2"]

    def test_last_successes_are_when_the_latest_success_finished(
        self, store: Store, leader: int
    ) -> None:
        store.save_schedules([(sched("a"), None), (sched("b"), None)])
        assert store.last_successes() == {}
        self._finished(store, leader, "a", 3)  # errors at 0, successes at 1 and 2
        assert store.claim(run("b0", "b", result="running"), "b0", None, epoch=leader)
        assert store.last_successes() == {"a": T0 + timedelta(minutes=2, seconds=2)}
        # a success that finishes later, whatever its instant, moves it; a failure does not
        assert store.claim(run("a-x", "a", T0 - timedelta(hours=1)), "a-x", None, epoch=leader)
        store.start_run("a-x", T0)
        store.finish_run("a-x", "success", T0 + timedelta(hours=1))
        store.finish_run("b0", "error", T0 + timedelta(hours=2))
        assert store.last_successes() == {"a": T0 + timedelta(hours=1)}

    def test_run_totals_count_the_stored_runs_of_each_schedule(
        self, store: Store, leader: int
    ) -> None:
        assert store.run_totals() == {}
        store.save_schedules([(sched("a"), None), (sched("idle"), None)])
        self._finished(store, leader, "a", 3)
        self._finished(store, leader, "gone", 2)  # a deleted schedule's runs count too
        store.enqueue(run("q1", "a", queued_at=T0))
        assert store.run_totals() == {"a": 4, "gone": 2}

    def test_pruning_keeps_the_newest_runs_and_the_statistics_totals(
        self, store: Store, leader: int
    ) -> None:
        ids = self._finished(store, leader, "a", 120)
        self._finished(store, leader, "b", 10)
        before = store.run_counts()
        assert before["a"]["run_count"] == 120 and before["a"]["error_count"] == 30
        assert before["a"]["total_duration"] == pytest.approx(240.0)

        deleted: list[tuple[str, str]] = []
        while batch := store.prune_runs("a", keep=100, before=None, limit=15).run_ids:
            assert len(batch) <= 15
            deleted += batch
        assert sorted(deleted) == sorted(("a", i) for i in ids[:20])  # the oldest twenty
        kept = store.history("a", limit=500)
        assert len(kept) == 100
        assert min(r.scheduled_time for r in kept) == T0 + timedelta(minutes=20)
        assert store.get_run(ids[0]) is None
        assert store.runs_between("a", T0, T0 + timedelta(minutes=19)) == []
        assert store.run_counts() == before  # totals survive the pruning
        recent = store.run_counts(since=T0)["a"]  # a window counts the stored runs only
        assert (recent["run_count"], recent["finished_count"]) == (100, 100)
        with_recent = store.run_counts(recent=T0)["a"]  # pruned runs are in no window
        assert with_recent == before["a"] | {"recent_run_count": 100}
        assert store.run_totals() == {"a": 100, "b": 10}

        # By age: everything scheduled before the cut goes, whatever the schedule.
        cut = T0 + timedelta(minutes=110)
        while store.prune_runs(None, keep=None, before=cut, limit=8).run_ids:
            pass
        assert store.run_totals() == {"a": 10}
        assert min(r.scheduled_time for r in store.history("a")) == cut
        assert store.run_counts() == before
        assert store.prune_runs("a", keep=None, before=None, limit=10).run_ids == ()

    def test_pruning_never_deletes_a_queued_or_running_run(self, store: Store, leader: int) -> None:
        old = T0 - timedelta(days=1)
        assert store.claim(run("slow", at=old, result="running"), "slow", None, epoch=leader)
        assert store.claim(run("waiting", at=old, result="queued"), "waiting", None, epoch=leader)
        store.enqueue(run("asked", at=old, trigger="manual", queued_at=old))
        self._finished(store, leader, "a", 4)
        pruned = store.prune_runs("a", keep=1, before=None, limit=100)
        assert sorted(pruned.run_ids) == [("a", "a-0"), ("a", "a-1"), ("a", "a-2")]
        assert sorted(r.run_id for r in store.history("a")) == ["a-3", "asked", "slow", "waiting"]
        assert store.prune_runs(None, keep=None, before=T0 + timedelta(days=1), limit=100).run_ids
        assert sorted(r.run_id for r in store.history("a")) == ["asked", "slow", "waiting"]
        assert {r.run_id for r in store.unfinished_runs()} == {"slow", "waiting"}
        # finished, it goes with the next pass
        store.finish_run("slow", "success", T0)
        pruned = store.prune_runs(None, keep=None, before=T0, limit=100)
        assert pruned.run_ids == (("a", "slow"),)
        assert store.run_counts()["a"]["success_count"] == 4  # a-1..a-3 and slow

    def test_a_clone_shares_the_state_and_closes_alone(self, store: Store, leader: int) -> None:
        other = store.clone()
        try:
            self._finished(store, leader, "a", 3)
            assert other.run_totals() == {"a": 3}
            assert other.prune_runs("a", keep=1, before=None, limit=10).run_ids
            assert [r.run_id for r in store.history("a")] == ["a-2"]
        finally:
            if other is not store:
                other.close()
        assert store.run_counts()["a"]["run_count"] == 3  # the first handle still works

    # -- events -------------------------------------------------------------------------

    def test_add_event_enqueues_runs(self, store: Store, leader: int) -> None:
        runs = [run("e1", "a", trigger="event"), run("e2", "b", trigger="event")]
        first = store.add_event("deploy", {"sha": "abc"}, runs, T0)
        second = store.add_event("deploy", None, [], T0 + timedelta(seconds=1))
        assert isinstance(first, int) and second > first
        got = store.get_run("e1")
        assert got is not None
        assert (got.result, got.epoch, got.trigger) == ("queued", 0, "event")
        assert got.event == {"sha": "abc"}
        assert got.queued_at == T0
        assert [r.run_id for r in store.take_queued(leader, "i1")] == ["e1", "e2"]

    # -- leadership ---------------------------------------------------------------------

    def test_lease_life_cycle(self, store: Store) -> None:
        assert store.current_lease() is None
        a = store.acquire_lease("A", 10, T0)
        assert a is not None and a.instance_id == "A"
        assert a.expires_at == T0 + timedelta(seconds=10) and a.acquired_at == T0
        assert store.current_lease() == a
        # someone else while it lives: refused
        assert store.acquire_lease("B", 10, T0 + timedelta(seconds=5)) is None
        # the holder again: same epoch, later expiry
        again = store.acquire_lease("A", 10, T0 + timedelta(seconds=5))
        assert again is not None and again.epoch == a.epoch
        assert again.expires_at == T0 + timedelta(seconds=15)
        assert store.renew_lease("A", a.epoch, 10, T0 + timedelta(seconds=8)) is True
        assert store.current_lease().expires_at == T0 + timedelta(seconds=18)  # type: ignore[union-attr]
        assert store.renew_lease("B", a.epoch, 10, T0) is False
        assert store.renew_lease("A", a.epoch + 1, 10, T0) is False
        # expiry: B takes over with a higher epoch; A can no longer renew
        b = store.acquire_lease("B", 10, T0 + timedelta(seconds=18))
        assert b is not None and b.epoch == a.epoch + 1
        assert b.acquired_at == T0 + timedelta(seconds=18)
        assert store.renew_lease("A", a.epoch, 10, T0 + timedelta(seconds=19)) is False
        # release: free at once for the next one, epoch still increases
        store.release_lease("A", a.epoch)  # not the holder: no effect
        assert store.acquire_lease("C", 10, T0 + timedelta(seconds=19)) is None
        store.release_lease("B", b.epoch)
        c = store.acquire_lease("C", 10, T0 + timedelta(seconds=19))
        assert c is not None and c.epoch == b.epoch + 1

    def test_a_released_lease_names_no_holder_and_the_next_still_gets_a_higher_epoch(
        self, store: Store
    ) -> None:
        """A clean stop releases the lease: no store names its holder any more (as if it
        still led, or had led until 1970), and the next leader's epoch is still higher."""
        a = store.acquire_lease("A", 60, T0)
        assert a is not None
        store.release_lease("B", a.epoch)  # not the holder: no effect
        store.release_lease("A", a.epoch + 1)  # not its epoch: no effect
        assert store.current_lease() == a
        store.release_lease("A", a.epoch)
        assert store.current_lease() is None
        assert held_lease(store, T0 + timedelta(seconds=1)) is None
        b = store.acquire_lease("B", 60, T0 + timedelta(seconds=1))
        assert b is not None and b.epoch == a.epoch + 1
        assert store.current_lease() == b

    def test_a_lease_names_its_holder_as_leader_only_until_it_expires(self, store: Store) -> None:
        a = store.acquire_lease("A", 10, T0)
        assert a is not None
        assert held_lease(store, T0 + timedelta(seconds=9)) == a
        assert held_lease(store, T0 + timedelta(seconds=10)) is None

    def test_a_lease_never_released_names_its_last_holder_until_another_takes_it(
        self, store: Store
    ) -> None:
        """A holder killed (``kill -9``) never releases its lease: once expired, and gone
        from the store's own time-to-live, it still says who led last and until when
        (``status`` says since when nobody leads), yet names no leader; the next
        holder's lease replaces it, and a release after expiry still forgets it."""
        a = store.acquire_lease("A", 10, T0)
        assert a is not None
        assert store.renew_lease("A", a.epoch, 10, T0 + timedelta(seconds=5))
        self.lapse_lease(store)
        later = T0 + timedelta(minutes=5)
        last = store.current_lease()
        assert last is not None
        assert (last.instance_id, last.epoch, last.expires_at, last.acquired_at) == (
            "A",
            a.epoch,
            T0 + timedelta(seconds=15),
            T0,
        )
        assert held_lease(store, later) is None
        assert last.fences is self.FENCES_AFTER_LAPSE
        b = store.acquire_lease("B", 10, later)
        assert b is not None and b.epoch == a.epoch + 1
        assert store.current_lease() == b
        self.lapse_lease(store)
        store.release_lease("A", a.epoch)  # not the last holder: no effect
        assert store.current_lease() == replace(b, fences=self.FENCES_AFTER_LAPSE)
        store.release_lease("B", b.epoch)  # a clean stop that came after the expiry
        assert store.current_lease() is None

    def test_expired_lease_still_renews_if_nobody_took_it(self, store: Store) -> None:
        a = store.acquire_lease("A", 1, T0)
        assert a is not None
        assert store.renew_lease("A", a.epoch, 1, T0 + timedelta(seconds=30)) is True

    # -- meta and wake-ups --------------------------------------------------------------

    def test_meta(self, store: Store) -> None:
        assert store.get_meta("started") is None
        store.set_meta("started", "x")
        store.set_meta("started", "y")
        assert store.get_meta("started") == "y"

    def test_the_first_value_set_if_absent_is_the_one_every_writer_gets(self, store: Store) -> None:
        assert store.set_meta_if_absent("id", "first") == "first"
        assert store.set_meta_if_absent("id", "second") == "first"
        assert store.get_meta("id") == "first"
        store.set_meta("id", "replaced")  # a plain write still replaces it
        assert store.set_meta_if_absent("id", "third") == "replaced"

    @pytest.mark.serial
    def test_notify_wakes_waiter(self, store: Store) -> None:
        waiter = store.waiter()
        try:
            t = time.monotonic()
            assert waiter.wait(0.05) is False
            assert time.monotonic() - t >= 0.04
            woke: list[float] = []

            def sleeper() -> None:
                start = time.monotonic()
                if waiter.wait(5):
                    woke.append(time.monotonic() - start)

            thread = threading.Thread(target=sleeper)
            thread.start()
            time.sleep(0.05)
            sent = time.monotonic()
            store.notify()
            thread.join(2)
            assert woke, "the waiter was not woken"
            assert time.monotonic() - sent < 0.1 + 0.05
            # several notifications wake once, then it sleeps again
            store.notify()
            store.notify()
            assert waiter.wait(1) is True
            assert waiter.wait(0.05) is False
        finally:
            waiter.close()

    @pytest.mark.parametrize("operation", sorted(WAKING_OPERATIONS))
    def test_a_change_a_leader_must_react_to_wakes_it_without_a_notify_call(
        self, store: Store, operation: str
    ) -> None:
        store.save_schedules([(sched("a"), None)])
        waiter = store.waiter()
        try:
            while waiter.wait(0.05):
                pass  # the wake-up of the set-up, if it arrived after the waiter
            WAKING_OPERATIONS[operation](store)
            assert waiter.wait(5) is True
        finally:
            waiter.close()

    def test_the_backend_declares_its_capabilities(self, store: Store) -> None:
        declared = {c for c in (StateFile, WorkerQueues) if isinstance(store, c)}
        assert declared == self.CAPABILITIES

    def test_a_success_is_remembered_after_its_run_is_pruned(
        self, store: Store, leader: int
    ) -> None:
        """The dead-man clock counts from the real last success: pruning its record,
        by count or by age, takes nothing back, and a pruned older success never
        moves it back."""
        self._finished(store, leader, "a", 3)  # an error, then successes at 1 and 2 min
        last = {"a": T0 + timedelta(minutes=2, seconds=2)}
        assert store.prune_runs("a", keep=1, before=None, limit=10).run_ids
        assert store.last_successes() == last
        assert store.prune_runs("a", keep=0, before=None, limit=10).run_ids
        assert store.history("a") == []
        assert store.last_successes() == last
        older = T0 - timedelta(days=1)  # a backfilled success, pruned by age
        done = run("old", "a", older, result="success", started_at=older, finished_at=older)
        assert store.claim(done, "old", None, epoch=leader)
        assert store.prune_runs(None, keep=None, before=T0, limit=10).run_ids == (("a", "old"),)
        assert store.history("a") == []
        assert store.last_successes() == last
        store.save_schedule(sched("a"))
        assert store.claim(run("late", "a", T0 + timedelta(hours=1)), "late", None, epoch=leader)
        store.start_run("late", T0 + timedelta(hours=1))
        store.finish_run("late", "success", T0 + timedelta(hours=2))
        assert store.last_successes() == {"a": T0 + timedelta(hours=2)}

    def test_notify_without_leader_is_silent(self, store: Store) -> None:
        store.notify()
