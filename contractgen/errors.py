"""The one exception tree of contractgen.

Every user-facing failure is a ``ContractgenError``; each subclass carries the
process exit code that the CLI returns for it::

    ContractgenError            (1, never raised directly)
    ├── InputError              3  the deal sheet is not readable, strict JSON
    ├── InvalidDealError        4  the deal sheet breaks the schema or a cross-field rule
    ├── LibraryError            5  clause library, rule or template problem
    └── OutputError             6  output refused or failed

Exit code 1 is reserved for bugs (anything that is not a ContractgenError) and
exit code 2 for usage errors, which Click reports itself.
"""

from __future__ import annotations

from dataclasses import dataclass


class ContractgenError(Exception):
    """Root of every error contractgen reports to its user."""

    exit_code = 1


class InputError(ContractgenError):
    """The input file cannot be read as strict JSON."""

    exit_code = 3


@dataclass(frozen=True)
class Problem:
    """One problem in one deal sheet: where it is and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "path": self.path, "message": self.message}


class InvalidDealError(ContractgenError):
    """The deal sheet fails its schema or a cross-field check."""

    exit_code = 4

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LibraryError(ContractgenError):
    """A clause module, rule or template is broken."""

    exit_code = 5


class OutputError(ContractgenError):
    """An output file was refused or could not be written."""

    exit_code = 6
