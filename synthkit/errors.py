"""The one exception type that reaches users as a single line instead of a traceback."""


class SynthkitError(Exception):
    """A problem with the user's input or environment, stated in one line.

    `exit_code` lets a command tell kinds of failure apart (2 for bad input by default).
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class RunFinishedWithErrors(SynthkitError):
    """The command did its work and recorded it, but some of it failed: its run directory and
    results are kept, and the exit code says so."""

    exit_code = 1

    def __init__(self, message: str, result: dict, *, exit_code: int | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.result = result


class RunFailedMidway(SynthkitError):
    """The command failed after it had changed something (rows written to the DB): its run
    directory is kept, its manifest says what failed, and the exit code is 1, not 2."""

    exit_code = 1
