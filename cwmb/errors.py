"""User-facing errors: the command line prints their message in one line and exits non-zero."""


class CwmbError(Exception):
    """An error a user can cause and fix (bad input, missing file, exhausted budget, ...)."""

    exit_code = 2


class UnknownEnvironment(CwmbError):
    pass


class DatasetError(CwmbError):
    pass


class ProgramError(CwmbError):
    pass
