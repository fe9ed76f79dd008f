"""Yes/no in words: the one reader, for configuration (sources.toml, spider arguments) and
for data (Contracts Finder's "Suitable for SME" column, a portal's "Yes"/"No")."""

from __future__ import annotations

_YES = frozenset({"yes", "y", "true", "1", "on"})
_NO = frozenset({"no", "n", "false", "0", "off"})


def yes_no(value: object) -> bool | None:
    """'Yes'/'Y'/'true'/'1'/'on' -> True; 'No'/'N'/'false'/'0'/'off' -> False (any case,
    spaces ignored); a bool is itself; anything else None (not said)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else ""
    return True if text in _YES else False if text in _NO else None


def yes_no_setting(value: object, name: str) -> bool:
    """A configuration flag: yes/no as above, anything else a ValueError naming it."""
    flag = yes_no(value)
    if flag is None:
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return flag
