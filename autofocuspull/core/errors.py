"""Errors with one-line messages that name the file and the problem."""

from __future__ import annotations


class AutofocusError(Exception):
    """Base class: a failure the CLI reports as one line (exit code 1)."""

    exit_code = 1


class UsageError(AutofocusError):
    """Bad arguments or paths given by the user (exit code 2)."""

    exit_code = 2


class InputError(AutofocusError):
    """An input file is missing, unreadable or not what it should be (exit code 1)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class ModelUnavailableError(AutofocusError):
    """A model could not be loaded; the message says what to download and where to put it."""


class ValidationError(AutofocusError):
    """A plan, keyframes or grades file is malformed; the message names the file and field."""

    def __init__(self, path: object, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path = str(path)
        self.field = field
        self.problem = problem
