"""Domain errors. Raised inside `assistant/`, turned into one-line messages at the edges."""


class AssistantError(Exception):
    """Base class: the message is meant for the user, one line, with the fix where known."""

    exit_code = 1


class ConfigError(AssistantError):
    exit_code = 2


class CorpusError(AssistantError):
    """A corpus file cannot be read or holds no papers."""

    exit_code = 3


class IndexMissingError(AssistantError):
    exit_code = 4


class IndexBusyError(AssistantError):
    exit_code = 5


class ModelError(AssistantError):
    exit_code = 6


class GenerationError(AssistantError):
    exit_code = 7


class StoreError(AssistantError):
    exit_code = 8


class DownloadError(ModelError):
    """A model pull failed: the hub unreachable or offline, no such file, a sha256 mismatch, no disk space."""

    exit_code = 9


class WriteError(AssistantError):
    """An output cannot be written (disk full, read-only, no permission); what was written before is kept."""

    exit_code = 10
