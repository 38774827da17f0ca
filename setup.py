"""Packaging that pyproject.toml cannot say: the wheel carries the top-level ``migrations/``,
``cypher/`` and ``stores/`` folders inside the package, as ``jarvis/_data/<folder>``, so an
installed ``jarvis`` needs no checkout (``jarvis/paths.py`` finds them). The folders stay where
they are in git: one home each. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, find_packages, setup

#: Each top-level folder the running code reads, with the files of it that the wheel carries.
DATA = {
    "migrations": ["*.sql"],
    "cypher": ["*.cypher"],
    "stores": ["postgres/*.conf", "redis/*.conf", "chroma/*.template", "neo4j/pom.xml", "neo4j/src/**/*.java"],
}


def _data_packages() -> list[str]:
    """Each data folder and its subfolders, named as packages (setuptools ships only those)."""
    return [
        name
        for folder in DATA
        for name in (
            f"jarvis._data.{folder}",
            *(f"jarvis._data.{folder}.{sub}" for sub in find_namespace_packages(where=folder)),
        )
    ]


setup(
    packages=find_packages(include=["jarvis", "jarvis.*"]) + _data_packages(),
    package_dir={f"jarvis._data.{folder}": folder for folder in DATA},
    # the web console's static assets (jarvis/console/**), whether or not the folder is a package
    package_data={"jarvis": ["console/**/*"], **{f"jarvis._data.{folder}": globs for folder, globs in DATA.items()}},
)
