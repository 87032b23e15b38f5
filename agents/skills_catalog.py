"""The official skill catalog shipped with Takos (custom skills live in the `Skill` table)."""

from __future__ import annotations

OFFICIAL_SKILLS: list[dict[str, object]] = [
    {
        "id": "repo-explorer",
        "name": "repo-explorer",
        "description": "Find your way around a repository before changing it.",
        "instructions": "List the tree first, then read the files that matter; cite paths in answers.",
        "triggers": ["explore", "where is", "how does"],
    },
    {
        "id": "code-change",
        "name": "code-change",
        "description": "Make a change on a branch and open a pull request for review.",
        "instructions": "Commit to a new branch (never the default branch) and open a pull request describing why.",
        "triggers": ["fix", "implement", "change", "refactor"],
    },
    {
        "id": "memory-keeper",
        "name": "memory-keeper",
        "description": "Remember facts and preferences the user states.",
        "instructions": "When the user states a lasting fact or preference, store it as a semantic memory.",
        "triggers": ["remember", "always", "prefer"],
    },
    {
        "id": "report-writer",
        "name": "report-writer",
        "description": "Summarise findings as a report artifact.",
        "instructions": "Write findings as a report artifact with a short title and markdown content.",
        "triggers": ["report", "summarise", "summarize"],
    },
]


def official_skill(skill_id: str) -> dict[str, object] | None:
    return next((s for s in OFFICIAL_SKILLS if s["id"] == skill_id), None)
