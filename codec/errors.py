"""The one family of exceptions nic raises for anything it rejects."""

__all__ = [
    "NicError", "NicFormatError", "NicInputError", "NicModelError", "NicUnknownModelError"
]


class NicError(Exception):
    """Base of every rejection by nic: bad files, bad images, missing models."""


class NicFormatError(NicError, ValueError):
    """A byte string is not a valid .nic file (bad magic, check, length, field)."""


class NicInputError(NicError, ValueError):
    """An input image cannot be read or is not acceptable."""


class NicModelError(NicError):
    """A model is unknown, not installed, or its weights fail their fingerprint."""


class NicUnknownModelError(NicModelError, NicFormatError):
    """A .nic file names a model id that is not installed: a model problem, and a file
    this installation cannot decode (so it is also a NicFormatError for decode's contract)."""
