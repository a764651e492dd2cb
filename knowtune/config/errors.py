"""The one error type users see: a single line naming file, line and field."""

from __future__ import annotations


class KnowtuneError(Exception):
    """Bad input from the user. The CLI prints `str(err)` on one line and exits with code 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.file:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"record {self.line}: "
        field = f"field '{self.field}': " if self.field else ""
        return (where + field + self.message).replace("\n", " ")
