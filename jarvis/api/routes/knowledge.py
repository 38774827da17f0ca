"""/api/v1/knowledge, /code-snippets, /task-patterns: what agents know and reuse."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Query

from jarvis.api.deps import Reader, Writer
from jarvis.schemas import CodeSnippetIn, KnowledgeIn, TaskPatternIn
from jarvis.shapes import (
    CodeSnippetWritten,
    Deleted,
    KnowledgeWritten,
    Relationship,
    TaskPatternWritten,
    TraversedKnowledge,
)

router = APIRouter(prefix="/api/v1", tags=["knowledge"])


@router.post("/knowledge", status_code=201, response_model=KnowledgeWritten)
def add_knowledge(
    body: KnowledgeIn,
    caller: Writer,
    wait: bool | None = Query(
        default=None,
        description=(
            "true: answer after every projection store has the item (read-your-writes); false: answer "
            "at commit, projected milliseconds later; unset: the server's JARVIS_WRITE_WAIT"
        ),
    ),
) -> KnowledgeWritten:
    return caller.run(caller.jarvis.add_knowledge, body, wait=wait)


@router.get("/knowledge/traverse", response_model=list[TraversedKnowledge])
def traverse(
    caller: Reader,
    topic: str = Query(min_length=1, max_length=255),
    max_hops: int = Query(default=3, ge=1, le=3),
    limit: int = Query(default=50, ge=1, le=500),
    as_of: datetime | None = Query(default=None, description="facts valid at this time (default: now)"),
) -> list[TraversedKnowledge]:
    return caller.run(caller.jarvis.traverse_knowledge, topic, max_hops=max_hops, limit=limit, as_of=as_of)


@router.delete("/knowledge/{knowledge_id}", response_model=Deleted)
def delete_knowledge(knowledge_id: UUID, caller: Writer) -> Deleted:
    return caller.run(caller.jarvis.delete_knowledge, knowledge_id)


@router.put("/knowledge/{knowledge_id}/related/{related_id}", response_model=Relationship)
def relate(knowledge_id: UUID, related_id: UUID, caller: Writer) -> Relationship:
    return caller.run(caller.jarvis.relate_knowledge, knowledge_id, related_id)


@router.put("/knowledge/{knowledge_id}/used-in/{task_id}", response_model=Relationship)
def used_in(knowledge_id: UUID, task_id: UUID, caller: Writer) -> Relationship:
    return caller.run(caller.jarvis.use_knowledge, knowledge_id, task_id)


@router.post("/code-snippets", status_code=201, tags=["code snippets"], response_model=CodeSnippetWritten)
def add_code_snippet(body: CodeSnippetIn, caller: Writer) -> CodeSnippetWritten:
    return caller.run(caller.jarvis.add_code_snippet, body)


@router.post("/task-patterns", status_code=201, tags=["task patterns"], response_model=TaskPatternWritten)
def add_task_pattern(body: TaskPatternIn, caller: Writer) -> TaskPatternWritten:
    return caller.run(caller.jarvis.add_task_pattern, body)
