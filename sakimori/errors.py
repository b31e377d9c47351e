"""Error types shared by every sakimori component.

One base class, narrow subclasses; each renders as a single line that names the file, line
or configuration key it is about, so an operator can act on it without a traceback.
"""

from __future__ import annotations


class SakimoriError(Exception):
    """Base class: an operational error reported as one line (exit code 1)."""

    exit_code = 1


class ConfigError(SakimoriError):
    """The configuration is unusable (exit code 2). Names the file and the dotted key."""

    exit_code = 2

    def __init__(self, path: str, key: str, message: str) -> None:
        self.path = path
        self.key = key
        self.message = message
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {message}")


class UsageError(SakimoriError):
    """The command line is wrong (exit code 2)."""

    exit_code = 2


class InputError(SakimoriError):
    """An input file (EVE, proxy log, list file, baselines) is unusable at path:line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class ToolMissingError(SakimoriError):
    """An external program (suricata, suricata-update, rspamd) is not installed."""

    def __init__(self, tool: str, hint: str = "") -> None:
        self.tool = tool
        msg = f"{tool}: not found on PATH"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class ToolFailedError(SakimoriError):
    """An external program ran but failed; carries the first meaningful line of its output."""

    def __init__(self, tool: str, detail: str) -> None:
        self.tool = tool
        self.detail = detail
        super().__init__(f"{tool} failed: {detail}")
