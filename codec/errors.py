"""The one family of exceptions nic raises for anything it rejects."""

__all__ = [
    "NicError", "NicFormatError", "NicInputError", "NicModelError", "NicUnknownModelError",
    "NicFidelityError", "NicFidelityWarning", "NicUsageError", "NicExistsError",
]


class NicError(Exception):
    """Base of every rejection by nic: bad files, bad images, missing models."""


class NicFormatError(NicError, ValueError):
    """A byte string is not a valid .nic file (bad magic, check, length, field)."""


class NicUsageError(NicError, ValueError):
    """Options that are out of range or ask for two different things (the CLI exits 2)."""


class NicExistsError(NicError):
    """An output file already exists; nic never replaces one unless told to (force)."""

    def __init__(self, path, message: str | None = None):
        super().__init__(message or f"{path} exists; pick another name with -o")
        self.path = path


class NicInputError(NicError, ValueError):
    """An input image cannot be read or is not acceptable."""


class NicModelError(NicError):
    """A model is unknown, not installed, or its weights fail their fingerprint."""


class NicUnknownModelError(NicModelError, NicFormatError):
    """A .nic file names a model id that is not installed: a model problem, and a file
    this installation cannot decode (so it is also a NicFormatError for decode's contract)."""


class NicFidelityError(NicError):
    """Strict mode: the file would not decode to what the input shows (another digit, another
    item, or content the model cannot represent)."""


class NicFidelityWarning(UserWarning):
    """The file was written, but it may not decode to what the input shows; the message says
    what is lost and what to use instead."""
