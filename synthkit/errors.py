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
