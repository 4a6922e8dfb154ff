"""The README's quick start runs as written (its `nic` commands, on the shipped sample)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def quick_start_commands() -> list[str]:
    """The `nic ...` commands of the README's first shell block, split at '&&'."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```(?:sh|bash|console)\n(.*?)```", readme, re.S).group(1)
    commands = [part.strip() for line in block.splitlines() for part in line.split("&&")]
    return [command for command in commands if command.startswith("nic ")]


def test_quick_start_encodes_and_decodes_the_sample(tmp_path):
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    commands = quick_start_commands()
    assert [c.split()[1] for c in commands] == ["encode", "decode"]
    nic = Path(sys.executable).parent / "nic"
    for command in commands:
        result = subprocess.run([str(nic), *command.split()[1:]], cwd=tmp_path,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("*.png"))
