"""Small named exceptions raised by core code; the CLI turns each into one clear line.

Every message names the input, what was wrong and what to do about it.
"""

from detector.suggest import command


class CopyhoundError(Exception):
    """Base of every error a user is meant to read. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(CopyhoundError):
    exit_code = 2


class WorkspaceMissing(UsageError):
    def __init__(self, home):
        super().__init__(
            f"No copyhound workspace at {home}. Create one with `{command('init', '--home', home)}`, "
            "or point COPYHOUND_HOME / --home at an existing one."
        )


class DatabaseUnusable(CopyhoundError):
    """The workspace database is missing, empty, not a SQLite database, or damaged."""

    exit_code = 2


class DiskFull(CopyhoundError):
    """A write failed because the disk is full; what was written before is kept."""


class ConfigError(UsageError):
    """config.toml holds an unknown key, a wrong type or an unknown component name."""


class ImageRefused(CopyhoundError):
    """An input that cannot be fingerprinted. `reason` is a short stable code stored with the refusal."""

    def __init__(self, name: str, reason: str, detail: str):
        self.name = name
        self.reason = reason
        self.detail = detail
        super().__init__(f"{name}: {detail}")


class EmbedderUnavailable(CopyhoundError):
    """The configured embedding model cannot be loaded (offline, missing checkpoint, bad spec)."""

    exit_code = 3


class EmbedderMismatch(CopyhoundError):
    """Stored embeddings come from a different model than the configured one."""


class ExtraMissing(CopyhoundError):
    """An optional part of copyhound (the portal, ONNX export) is used without its packages installed."""

    exit_code = 3


class WorkspaceLocked(CopyhoundError):
    """Another process holds the workspace's scan lock."""

    exit_code = 3


class NotFound(CopyhoundError):
    """An id given on the command line or API does not exist (or belongs to another owner)."""


class ActionRefused(CopyhoundError):
    """A notice, offer or export that must not be made: the match is rejected or authorized, or the
    owner profile lacks what the document needs."""


class TimestampUnavailable(CopyhoundError):
    """The configured RFC 3161 time-stamping authority did not answer with a valid token."""

    exit_code = 3


class QueueUnavailable(CopyhoundError):
    """The distributed detection queue cannot be used: Redis does not answer, or no worker is alive."""

    exit_code = 3
