"""User-facing errors.

A `TinykdError` carries one line that names the file or value at fault and what to do about it.
The CLI prints it as `error: <line>` and exits with status 2; no traceback reaches the user.
"""


class TinykdError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep it to one line: the CLI prints exactly this.
        super().__init__(" ".join(str(message).split()))


class AudioError(TinykdError):
    """A file that cannot be used as audio (corrupt, empty, NaN samples, ...)."""


class DatasetError(TinykdError):
    """A folder or manifest that cannot be read as a dataset."""


class CacheError(TinykdError):
    """A soft-label cache that is missing, stale or does not match the data/teacher."""
