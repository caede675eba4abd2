"""Shared test configuration.

Hypothesis profiles: ``ci`` (the default) bounds the number of examples and has no
deadline, so that the whole suite stays fast on a 2-core machine; ``thorough`` is for a
deliberate long run (``HYPOTHESIS_PROFILE=thorough pytest tests/test_schedule_properties.py``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=40,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
