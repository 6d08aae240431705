"""One exception type for every bad-input case, so the CLI can print it cleanly."""


class DataError(ValueError):
    """Bad input data: the message names the offending file and says how to fix it."""

    def __init__(self, path, problem: str, fix: str = ""):
        self.path = str(path)
        message = f"{self.path}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)
