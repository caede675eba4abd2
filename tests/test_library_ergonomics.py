"""What a program embedding the library meets first: the errors its handlers get, where
its tasks are imported from, and which ports it opens."""

from __future__ import annotations

from types import SimpleNamespace

from unoschedule import TaskFailure
from unoschedule.scheduler import _rebuilt


def failure(error: str) -> TaskFailure:
    outcome = SimpleNamespace(error=error, result="error", output="Traceback ...\nboom\n")
    return _rebuilt(outcome, SimpleNamespace(run_id="r-1"))  # type: ignore[arg-type]


def test_a_failure_rebuilt_from_another_process_reads_as_the_original_message() -> None:
    exc = failure("ValueError: the database is on fire")
    assert str(exc) == "the database is on fire" == str(ValueError("the database is on fire"))
    assert isinstance(exc, ValueError)
    assert (exc.type_name, exc.message, exc.run_id) == (
        "ValueError",
        "the database is on fire",
        "r-1",
    )
    assert exc.traceback.startswith("Traceback")


def test_a_rebuilt_key_error_reads_as_the_key_error_did() -> None:
    original = KeyError("sku")
    exc = failure(f"KeyError: {original}")
    assert isinstance(exc, KeyError)
    assert str(exc) == str(original)
