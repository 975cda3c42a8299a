"""Names with older aliases: the one rule by which a policy set, a store
observation layout or a PPO preset given by an old name is read as its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["resolve"]


def resolve(
    name: str, known: Iterable[str], aliases: Mapping[str, str], what: str
) -> str:
    """``name``, or the name its alias stands for; a ``ValueError`` naming
    ``what`` and the choices if it is neither."""
    known = tuple(known)
    own = aliases.get(name, name)
    if own not in known:
        raise ValueError(f"{what} must be one of {list(known)}, got {name!r}")
    return own
