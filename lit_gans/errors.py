"""Errors a user can act on: bad data, config, options or missing files.

The CLI prints these as one message (no traceback) and exits with status 2; a traceback is kept for bugs.
Each message names the file or option at fault and the fix. The classes also derive from the matching
built-in exception, so ``except ValueError`` / ``except FileNotFoundError`` keep working.
"""

from __future__ import annotations


class UserError(Exception):
    """Base class: an error in what the user gave (a file, a folder, an option), not a bug."""


class ConfigError(UserError, ValueError):
    """An option or YAML value the code cannot use (names the option and a value that works)."""


class DataError(UserError, ValueError):
    """A data file or folder that cannot be used as it is (names the file and the fix)."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder that is not there (names the path and how to get it)."""
