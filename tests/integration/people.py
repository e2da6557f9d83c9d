"""People for API and page tests: users, their memberships and their API tokens."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy.orm import Session

from poms_shared.db import identity


def add_people(
    session: Session,
    people: Mapping[str, str | None],
    experiment: str,
    roots: Collection[str] = (),
) -> dict[str, str]:
    """Each person as a user (``roots`` made root), a member of ``experiment`` in the
    given role (None: no member), with an API token; the tokens by name."""
    tokens = {}
    for name, role in people.items():
        identity.add_user(session, name, root=True if name in roots else None)
        if role:
            identity.set_membership(session, name, experiment, role)
        tokens[name] = identity.issue_token(session, name, "tests")[1]
    return tokens
