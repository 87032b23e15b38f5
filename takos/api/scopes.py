"""Scope names shared by personal access tokens and OAuth tokens."""

SCOPES: dict[str, str] = {
    "openid": "Sign you in with your Takos identity",
    "profile": "Read your name, username and picture",
    "email": "Read your email address",
    "spaces:read": "List your spaces and their members",
    "spaces:write": "Create and change spaces and their members",
    "repos:read": "Read repositories, branches and files",
    "repos:write": "Push code, open and merge pull requests",
    "threads:read": "Read your agent threads and runs",
    "threads:write": "Create threads and post messages",
    "agents:execute": "Start and cancel agent runs",
    "files:read": "Read files in your spaces",
    "files:write": "Create and change files in your spaces",
    "memories:read": "Read agent memories",
    "memories:write": "Create and change agent memories",
}
ALL = "*"


def normalize_scopes(raw: object) -> list[str] | str:
    """Validate a scopes value from a request: "*", a space-separated string or a list."""
    from takos.api.errors import BadRequest

    if raw in (None, "", ALL, [ALL]):
        return ALL
    items = raw.split() if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise BadRequest("scopes must be '*' or a list of scope names.", details={"fields": {"scopes": ["Invalid."]}})
    unknown = sorted(set(items) - set(SCOPES))
    if unknown:
        raise BadRequest(
            f"Unknown scopes: {', '.join(unknown)}.", details={"fields": {"scopes": [f"Unknown: {s}" for s in unknown]}}
        )
    return sorted(set(items))


def grants(granted: list[str] | str, needed: str) -> bool:
    if granted == ALL:
        return True
    if needed in granted:
        return True
    # A write scope implies the matching read scope.
    return bool(needed.endswith(":read") and needed.replace(":read", ":write") in granted)
