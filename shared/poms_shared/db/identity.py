"""People, memberships and API tokens: what identity and permission checks read.

A token is ``poms_`` + 43 random URL-safe characters, shown once when issued; only its
SHA-256 is stored (a fast hash suffices for a secret with 256 random bits), with the first
characters kept to recognise it in a list. A token may be limited to one experiment and
one role, and may expire; a revoked or expired token identifies nobody.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.base import utcnow
from poms_shared.db.models import ApiToken, Experiment, Experimenter, Membership
from poms_shared.domain.permissions import ROLES, Actor, actable_roles

TOKEN_PREFIX = "poms_"
SHOWN = 12  # characters of a token kept in clear, to tell tokens apart


class IdentityError(ValueError):
    """Bad input to an identity operation (unknown user, bad role …); the message says which."""


class Unauthenticated(Exception):
    """Credentials that identify nobody (HTTP 401)."""


@dataclass(frozen=True)
class Person:
    """Who a request comes from, with what may bound their acting."""

    username: str
    experimenter_id: int
    root: bool
    memberships: dict[str, str]
    session_experiment: str | None
    token_experiment: str | None = None  # a scoped token acts only here …
    token_role: str | None = None  # … and only as this
    session_role: str | None = None  # the role chosen for the session experiment

    def acting(self, experiment: str | None, role: str | None) -> Actor:
        """The actor for a request naming ``experiment``/``role`` (either may be None:
        the token's scope, then the saved session experiment or the only membership; the
        role a membership gives, superuser for an administrator)."""
        experiment = experiment or self.token_experiment or self.session_experiment
        if experiment is None and len(self.memberships) == 1:
            experiment = next(iter(self.memberships))
        if role is None and self.token_role is None and experiment == self.session_experiment:
            role = self.session_role
        role = role or self.token_role or _highest(self, experiment)
        return Actor(self.username, experiment, role, root=self.root, memberships=self.memberships)


def _highest(person: Person, experiment: str | None) -> str:
    """The role a person acts as when they name none: their membership's role."""
    if person.root:
        return "superuser"
    return person.memberships.get(experiment or "", "analysis")


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def person(session: Session, username: str) -> Person:
    """The experimenter ``username`` and their memberships; Unauthenticated if unknown."""
    user = session.scalar(select(Experimenter).where(Experimenter.username == username))
    if user is None:
        raise Unauthenticated(f"unknown user {username!r}")
    return _person(session, user)


def _person(session: Session, user: Experimenter) -> Person:
    rows = session.execute(
        select(Membership.experiment, Membership.role).where(
            Membership.experimenter_id == user.experimenter_id, Membership.active.is_(True)
        )
    )
    return Person(
        username=user.username,
        experimenter_id=user.experimenter_id,
        root=user.root,
        memberships={experiment: role for experiment, role in rows},
        session_experiment=user.session_experiment,
        session_role=user.session_role if user.session_experiment else None,
    )


def person_for_token(session: Session, secret: str, now: datetime | None = None) -> Person:
    """Whom a bearer token identifies (its use noted); Unauthenticated with the reason."""
    now = now or utcnow()
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None:
        raise Unauthenticated("unknown API token")
    if token.revoked is not None:
        raise Unauthenticated(f"API token {token.name!r} was revoked")
    if token.expires is not None and _utc(token.expires) <= now:
        raise Unauthenticated(f"API token {token.name!r} expired at {token.expires:%Y-%m-%d %H:%M}")
    token.last_used = now
    user = session.get(Experimenter, token.experimenter_id)
    assert user is not None  # a foreign key
    found = _person(session, user)
    return replace(found, token_experiment=token.experiment, token_role=token.role)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def issue_token(
    session: Session,
    username: str,
    name: str,
    *,
    experiment: str | None = None,
    role: str | None = None,
    expires: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``username``; returns the row and the secret (never stored)."""
    user = _user(session, username)
    name = name.strip()
    if not name:
        raise IdentityError("name: give the token a name (what or who uses it)")
    if experiment is not None and session.get(Experiment, experiment) is None:
        raise IdentityError(f"experiment: no experiment {experiment!r}")
    if role is not None and role not in ROLES:
        raise IdentityError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if expires is not None and _utc(expires) <= utcnow():
        raise IdentityError("expires: the expiry is in the past")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        experimenter_id=user.experimenter_id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:SHOWN],
        experiment=experiment,
        role=role,
        expires=expires,
    )
    session.add(token)
    session.flush()
    return token, secret


def tokens_of(session: Session, username: str) -> list[ApiToken]:
    user = _user(session, username)
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.experimenter_id == user.experimenter_id)
            .order_by(ApiToken.token_id)
        )
    )


def revoke_token(session: Session, token_id: int, username: str | None) -> ApiToken:
    """Revoke a token (of ``username``, unless None: anyone's); LookupError if none."""
    token = session.get(ApiToken, token_id)
    owner = session.get(Experimenter, token.experimenter_id) if token else None
    if token is None or owner is None or (username is not None and owner.username != username):
        raise LookupError(f"no API token {token_id}")
    if token.revoked is None:
        token.revoked = utcnow()
    return token


def _user(session: Session, username: str) -> Experimenter:
    user = session.scalar(select(Experimenter).where(Experimenter.username == username))
    if user is None:
        raise IdentityError(f"user: no user {username!r}")
    return user


# ---- bootstrap (``poms admin``) ------------------------------------------------------


def add_experiment(session: Session, code: str, name: str | None = None) -> bool:
    """Create an experiment; False if it exists already."""
    code = code.strip()
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise IdentityError(f"experiment: {code!r} is not a short code of letters and digits")
    if session.get(Experiment, code) is not None:
        return False
    session.add(Experiment(experiment=code, name=name or code))
    session.flush()
    return True


def add_user(
    session: Session,
    username: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    root: bool | None = None,
) -> bool:
    """Create (or update) an experimenter; True if created."""
    username = username.strip()
    if not username or any(c.isspace() for c in username) or len(username) > 128:
        raise IdentityError(f"user: {username!r} is not a user name")
    user = session.scalar(select(Experimenter).where(Experimenter.username == username))
    created = user is None
    if user is None:
        user = Experimenter(username=username, root=bool(root))
        session.add(user)
    elif root is not None:
        user.root = root
    user.first_name = first_name or user.first_name
    user.last_name = last_name or user.last_name
    session.flush()
    return created


def set_membership(
    session: Session, username: str, experiment: str, role: str, *, active: bool = True
) -> None:
    """Make ``username`` a member of ``experiment`` with ``role`` (or change it)."""
    if role not in ROLES:
        raise IdentityError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if session.get(Experiment, experiment) is None:
        raise IdentityError(f"experiment: no experiment {experiment!r}")
    user = _user(session, username)
    membership = session.get(Membership, (user.experimenter_id, experiment))
    if membership is None:
        membership = Membership(experimenter_id=user.experimenter_id, experiment=experiment)
        session.add(membership)
    membership.role = role
    membership.active = active
    session.flush()


def members(session: Session, experiment: str) -> list[tuple[str, str, bool]]:
    """(username, role, active) of the experiment's members, by user name."""
    rows = session.execute(
        select(Experimenter.username, Membership.role, Membership.active)
        .join(Membership, Membership.experimenter_id == Experimenter.experimenter_id)
        .where(Membership.experiment == experiment)
        .order_by(Experimenter.username)
    )
    return [(u, r, a) for u, r, a in rows]


def set_session(session: Session, username: str, experiment: str, role: str | None) -> str:
    """Save where ``username`` acts by default: ``experiment`` (they must be a member, an
    administrator anywhere) as ``role``, or when the role is missing or not theirs
    there, their membership's role (as the original lowered it). The role saved."""
    user = session.scalar(select(Experimenter).where(Experimenter.username == username))
    if user is None:
        raise IdentityError(f"no user {username!r}")
    if session.get(Experiment, experiment) is None:
        raise IdentityError(f"no experiment {experiment!r}")
    who = _person(session, user)
    allowed = actable_roles(
        Actor(username, experiment, "analysis", root=who.root, memberships=who.memberships),
        experiment,
    )
    if not allowed:
        raise IdentityError(f"{username} is not a member of experiment {experiment}")
    chosen = role if role is not None and role in allowed else _highest(who, experiment)
    user.session_experiment = experiment
    user.session_role = chosen
    return chosen
