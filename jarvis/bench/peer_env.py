"""The benchmark's peer (Mem0 OSS) in a virtualenv of its own, installed the first time the
benchmark runs it (``jarvis bench``), never by the quick start: minutes a newcomer does not need.

``mem0ai`` pins libraries below ours (protobuf), so it gets ``<cache dir>/venv-mem0``, which sees
our site-packages behind its own through a ``.pth`` file: it reuses torch, sentence-transformers
and the packaged model, and imports this same ``jarvis``. The pins are the ``peer`` extra of
pyproject.toml; a stamp file records what was installed, so later runs install nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
import tomllib
import venv
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from jarvis.paths import INSTALLED, PROJECT_ROOT

__all__ = ["ensure", "peer_python", "requirements"]

EXTRA = "peer"


def requirements() -> list[str]:
    """The ``peer`` extra's pins: from the installed package's metadata, or the checkout's pyproject.toml."""
    if INSTALLED:
        marker = f'extra == "{EXTRA}"'
        return sorted(r.split(";")[0].strip() for r in metadata.requires("jarvis-memory") or () if marker in r)
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return sorted(project["optional-dependencies"][EXTRA])


def peer_python(cache_dir: Path) -> Path:
    return cache_dir.expanduser() / "venv-mem0" / "bin" / "python"


def ensure(cache_dir: Path, *, say: Callable[[str], None] = lambda _: None) -> Path:
    """The peer's interpreter, its virtualenv made and its pins installed first if they are not."""
    python = peer_python(cache_dir)
    root = python.parent.parent
    wanted = "\n".join(requirements())
    if not python.exists():
        say(f"creating the benchmark peer's virtualenv {root}")
        venv.EnvBuilder(with_pip=True).create(root)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # our packages behind the peer's own (rewritten each time: it follows the interpreter in use)
    (Path(site) / "jarvis-main-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    stamp = root / ".jarvis-requirements"
    if not stamp.exists() or stamp.read_text() != wanted:
        say(f"installing the benchmark peer into {root}: {wanted.replace(chr(10), ' ')}")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted.split("\n")], check=True)
        stamp.write_text(wanted)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, required=True)
    args = parser.parse_args()
    ensure(args.cache_dir, say=lambda line: print(f"bootstrap: {line}", file=sys.stderr))


if __name__ == "__main__":
    main()
