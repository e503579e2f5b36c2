"""Shared test configuration: the hypothesis profile of the fuzz suite's slow tier.

By default the fuzz files (``tests/test_fuzz*.py``) run a few hundred examples in about a
minute. CI's slow tier runs them with more than 10,000 examples in total:

    RLSCALING_FUZZ=slow pytest tests/test_fuzz.py tests/test_fuzz_loaders.py
    # or equivalently
    pytest --hypothesis-profile=fuzz-slow tests/test_fuzz.py tests/test_fuzz_loaders.py

The profile raises every hypothesis test's example count, so run it on the fuzz files only.
"""

import os

from hypothesis import HealthCheck, settings

FUZZ_SLOW_PROFILE = "fuzz-slow"
FUZZ_SLOW_MAX_EXAMPLES = 1000

settings.register_profile(
    FUZZ_SLOW_PROFILE,
    max_examples=FUZZ_SLOW_MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
if os.environ.get("RLSCALING_FUZZ") == "slow":
    settings.load_profile(FUZZ_SLOW_PROFILE)
