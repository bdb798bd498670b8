"""Test-only problems and optimizers, registered once in every Ray worker of the test session
(the session Ray's ``worker_process_setup_hook``, ``tests.conftest.ray_session``) and by the
tests that use them in the driver."""

from __future__ import annotations


def register() -> None:
    """Register every test-only entry in this process (idempotent)."""
    from tests import test_metric_direction, test_tuning_direction

    test_metric_direction.register_problem()
    test_tuning_direction.register_problem()
