"""What a start holds per schedule: the definitions live as long as the process, so their
size is the size of a big file's scheduler at READY (measured by allocation, not time)."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

from unoschedule.config import load_config


def _file(tmp_path, count: int):
    lines = ["schedules:"]
    for i in range(count):
        lines += [f"  job-{i:05d}:", f'    schedule: "{i % 60} * * * *"', '    command: ["true"]']
    path = tmp_path / "schedules.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_loaded_definition_takes_under_half_a_kilobyte_of_its_own(tmp_path):
    definition = next(iter(load_config(_file(tmp_path, 1)).schedules.values()))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        copies = [replace(definition, name=f"copy-{i}") for i in range(2000)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    names = sum(len(c.name) + 49 for c in copies)  # the new name strings themselves
    per_definition = (held - names) / len(copies)
    assert per_definition < 512, f"{per_definition:.0f} bytes per definition"


def test_a_definitions_fingerprint_is_kept_and_a_changed_copy_computes_its_own(tmp_path):
    config = load_config(_file(tmp_path, 2))
    first, second = config.schedules.values()
    assert first.fingerprint() == first.fingerprint()
    changed = first.with_changes(schedule=second.schedule)
    assert changed.fingerprint() != first.fingerprint()
    assert changed == replace(first, schedule=second.schedule)
    assert first.canonical()[1] == first.fingerprint()
    assert "_fingerprint" not in first.to_config()


def test_reconciling_with_the_records_just_read_does_not_read_them_again(tmp_path):
    """A start holds every stored schedule for the run loop; reading them all again to
    reconcile held two copies of 100,000 records at the peak of the start."""
    import asyncio

    from unoschedule import Scheduler

    state = tmp_path / "state.db"

    async def made() -> None:
        maker = Scheduler(storage=state)
        await maker.schedule(command="true", schedule="0 3 * * *", name="nightly")
        maker.close()

    asyncio.run(made())
    leader = Scheduler(storage=state)
    try:
        records = leader.store.list_schedules(definitions=False)
        leader.definitions.pop("nightly", None)

        def read_again(**_: object) -> None:
            raise AssertionError("the stored schedules were read a second time")

        leader.store.list_schedules = read_again  # type: ignore[method-assign]
        assert leader.reconcile_definitions(records) == ["nightly"]
        assert leader.definitions["nightly"].type == "cron"
    finally:
        leader.close()
