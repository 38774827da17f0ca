"""What the memory API answers, once: every response body, every live event, as TypedDicts.

One home for each shape. The routes declare them as their response models (so
``/openapi.json`` describes every response, and FastAPI checks each answer against it), the
Python client (:mod:`jarvis.client`) returns them, and the MCP tools and resources send the
same dicts. TypedDicts rather than models: an answer stays the plain ``dict`` every caller
already indexes (``agent["id"]``), and a type checker knows its keys.

Rows are open (``extra="allow"``): a column added by a later migration reaches callers before
its shape names it. Times are ISO-8601 strings and ids are strings, exactly as sent.
"""

from jarvis.shapes.live import *  # noqa: F403
from jarvis.shapes.mcp import *  # noqa: F403
from jarvis.shapes.results import *  # noqa: F403
from jarvis.shapes.rows import *  # noqa: F403
from jarvis.shapes import live, mcp, results, rows

__all__ = [*rows.__all__, *results.__all__, *live.__all__, *mcp.__all__]
