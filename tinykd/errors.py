"""User-facing errors.

A `TinykdError` carries one line that names the file or value at fault and what to do about it.
The CLI prints it as `error: <line>` and exits with status 2; no traceback reaches the user.
"""


def printable(text: str) -> str:
    """`text` with control characters (NUL, escape sequences, ...) shown as `\\xNN`, so a hostile file name
    or label can neither cut a message short nor drive the terminal."""
    return "".join(ch if ch.isprintable() or ch == " " else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
                   for ch in str(text))


class TinykdError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep it to one line: the CLI prints exactly this.
        super().__init__(printable(" ".join(str(message).split())))


class AudioError(TinykdError):
    """A file that cannot be used as audio (corrupt, empty, NaN samples, ...)."""


class DatasetError(TinykdError):
    """A folder or manifest that cannot be read as a dataset."""


class CacheError(TinykdError):
    """A soft-label cache that is missing, stale or does not match the data/teacher."""


class OutputError(TinykdError):
    """A file tinykd was asked to write cannot be written (a folder in the way, no permission, disk full).

    `errno` keeps the operating system's error number, so a caller can tell a full disk from the rest.
    """

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno
