"""The error a user can fix: `cr.UsageError`.

Bad input (an unknown name, a value out of range, a file that is not what it should be) raises
UsageError, whose message says what was expected in the caller's terms. It is a ValueError, so
`except ValueError` keeps working; the `chainrule` command prints it as one line (exit code 2),
while any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

from typing import Any


class UsageError(ValueError):
    """Bad input the user can fix; the message names what was given and what was expected."""


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message is one line naming the pip install."""


def require_module(module: str, extra: str, needed_for: str) -> Any:
    """`import module`, or MissingDependencyError: "<needed_for> needs <module>: pip install
    'chainrule[<extra>]'". Every optional dependency is imported through this (or says the same)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(install_hint(module, extra, needed_for)) from e


def install_hint(module: str, extra: str, needed_for: str) -> str:
    """The one line that says how to get an optional dependency."""
    return f"{needed_for} needs {module.split('.')[0]}, an optional dependency: pip install 'chainrule[{extra}]'"
