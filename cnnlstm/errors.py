"""User-facing errors: each carries one line that names the offending key, value or file."""


class UserError(Exception):
    """Bad input from the user; the entry points print it as one line and exit non-zero."""


class ConfigError(UserError, ValueError):
    """A config value (or a constructor argument built from one) is invalid."""


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt or unsafe to load."""


class DataError(UserError):
    """A data source is missing, unreadable or inconsistent."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class StorageError(UserError):
    """A file could not be written (the disk is full, read-only, or not ours to write)."""
