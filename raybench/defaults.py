"""Defaults shared by the commands and the library, written once.

Plain constants with no imports, so that a command's ``--help`` reads them without loading
torch or Ray, and every module that needs one (registry, runner, report, layers above core)
reads it from here instead of restating it.
"""

REFERENCE_OPTIMIZER = "adam"
"""The optimizer others are compared against: the report's speed baseline, the held-out
protocol's headline, the optimizer multi-init trains against single initialization."""

MAX_RETRIES = 3
"""Times Ray redoes a run whose worker process or node died (``--max-retries``)."""

TUNE_SAMPLES = 6
"""Learning rates tried per (problem, optimizer) pair by a learning-rate search (``--tune-samples``)."""
TUNE_EXTRA = 3
"""At most this many values tried past an edge winner per pair (``--tune-extra``)."""

PENDING_TIMEOUT_S = 600.0
"""Seconds a command waits for a cluster's autoscaler to meet its per-run request (``--pending-timeout``)."""
