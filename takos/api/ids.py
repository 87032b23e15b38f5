"""Object ids: 12 lowercase alphanumeric characters, as in the reference platform."""

import re
import secrets
import string

ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 12
ID_RE = re.compile(r"^[a-z0-9]{12}$")


def new_id(length: int = ID_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def is_id(value: str) -> bool:
    return bool(ID_RE.match(value or ""))
