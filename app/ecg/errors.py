"""The one exception type for input a user can fix."""


class InvalidRecordError(ValueError):
    """Bad input: the message names the file and the problem (and, where possible, the fix).

    Raised by every reader and by the beat pipeline. The UI shows ``str(err)`` as an alert,
    the CLI prints it on stderr and exits 2, the JSON API answers 400 with it.
    """

    def __init__(self, filename: str, problem: str):
        self.filename = filename
        self.problem = problem
        super().__init__(f"{filename}: {problem}")
