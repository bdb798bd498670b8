"""User-facing errors: the CLI prints their message on one line and exits 2."""


class UsageError(ValueError):
    """Bad command-line or config input: says what was wrong and what is accepted."""
