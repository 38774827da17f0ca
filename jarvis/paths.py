"""Where the project's non-Python files live (migrations, Cypher, store configuration).

One home for every path the code reads outside its own modules. In a checkout they are the
top-level ``migrations/``, ``cypher/`` and ``stores/`` folders (their one home in git); the wheel
carries copies inside the package, as ``jarvis/_data/<folder>`` (``setup.py`` maps them), so an
installed ``jarvis`` works from any directory. Nothing here writes: data the stack makes lives
in ``JARVIS_DATA_DIR`` (default ``./.jarvis``), never inside site-packages.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The folder holding the ``jarvis`` package: the checkout when run from source, site-packages
#: when installed. Put it on a child process's PYTHONPATH so the child imports this same code.
PROJECT_ROOT = PACKAGE_DIR.parent
_BUNDLED = PACKAGE_DIR / "_data"
#: True when running from an installed wheel (the package carries its data), False in a checkout.
INSTALLED = _BUNDLED.is_dir()
_DATA = _BUNDLED if INSTALLED else PROJECT_ROOT

MIGRATIONS_DIR = _DATA / "migrations"
CYPHER_DIR = _DATA / "cypher"
STORE_CONFIG_DIR = _DATA / "stores"


def docs_dir() -> Path:
    """Where `jarvis bench --docs` / `eval --docs` write: the checkout's ``docs/``; when installed,
    ``docs/`` in the working directory (never site-packages)."""
    return (Path.cwd() if INSTALLED else PROJECT_ROOT) / "docs"


def cypher(name: str) -> str:
    """The text of a named Cypher file, e.g. ``cypher("schema")``."""
    return (CYPHER_DIR / f"{name}.cypher").read_text()


def cypher_statements(text: str) -> list[str]:
    """Split a Cypher file into statements: ``;`` ends one; ``//`` lines are comments."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
