"""Where the project's non-Python files live (migrations, Cypher, store configuration).

The package is installed editable from the checkout, so these are found beside it.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
CYPHER_DIR = PROJECT_ROOT / "cypher"
STORE_CONFIG_DIR = PROJECT_ROOT / "stores"


def cypher(name: str) -> str:
    """The text of a named Cypher file, e.g. ``cypher("schema")``."""
    return (CYPHER_DIR / f"{name}.cypher").read_text()


def cypher_statements(text: str) -> list[str]:
    """Split a Cypher file into statements: ``;`` ends one; ``//`` lines are comments."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
