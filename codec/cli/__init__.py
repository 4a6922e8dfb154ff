"""The `nic` command: a thin typer layer over the Python API.

It follows the conventions of gzip, cwebp/dwebp, cjxl/djxl and flac: `-` is stdin or stdout;
-o names the output file, or a folder when it ends in / or is one; the output's extension picks
decode's image format; nothing is overwritten without --force, and no message suggests it.

Exit codes: 0 success, 1 error (one line on stderr, no traceback), 2 usage error (bad or
conflicting options, an output name nic cannot write).
"""

import os
import sys

import typer

from . import archives, coding, extras, models  # noqa: F401  (each registers its commands)
from .common import DIST, app
from .extras import EXTRAS

__all__ = ["app", "main", "DIST", "EXTRAS"]


def main() -> None:
    """Console entry point; NIC_DEBUG=1 shows tracebacks of unexpected errors."""
    usage_error = typer.BadParameter.__mro__[1]  # click's UsageError, as typer ships it

    try:
        code = app(standalone_mode=False)
    except usage_error as error:  # one line, as for every other error, not a usage box
        typer.echo(f"nic: error: {error.format_message()} (nic {_command_name(error)}--help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("nic: aborted", err=True)
        sys.exit(1)
    except ModuleNotFoundError as error:  # an optional part missing where nothing checked for it
        if os.environ.get("NIC_DEBUG"):
            raise
        extra = next((e for e, mods in EXTRAS.items() if (error.name or "").split(".")[0] in mods),
                     None)
        hint = f': in nic\'s project folder, pip install ".[{extra}]"' if extra else ""
        typer.echo(f"nic: error: the module {error.name} is not installed{hint}", err=True)
        sys.exit(1)
    except Exception as error:  # a bug, not a user error: still one line unless debugging
        if os.environ.get("NIC_DEBUG"):
            raise
        typer.echo(f"nic: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _command_name(error) -> str:
    """'encode ' for an error inside `nic encode`, '' at the top level."""
    name = error.ctx.info_name if error.ctx is not None and error.ctx.parent is not None else ""
    return f"{name} " if name else ""
