"""Who may see, change and operate what: the role and ownership rules, as pure functions.

An experiment member acts, per request, in one experiment and one role. Membership
bounds the roles they may take: an analysis member acts only as analysis, a production
shifter also as production-shifter, a production member also as production, a superuser
member as anything. A root user acts as anything in every experiment.

Objects (login setups, job types, campaigns, stages, submissions through their stage) carry
the experiment, creator and creator role they were made with:

- **view**: any member acting in the object's experiment;
- **modify**: superuser anything of the experiment; otherwise the acting role must be the
  object's creator role, and an analysis user must be its creator;
- **do** (launch, kill, hold, report on a submission …): as modify, but a production
  shifter operates what production made, production operates analysis work too;
- **create**: while acting as analysis or production (what is made belongs to that role;
  a superuser or shifter switches to one of them first);
- **admin** (global operations: launch holds, other people's tokens): root only;
- the experiment's own settings: superuser; its operations: production and shifters.

Every refusal says why. ``Denied`` carries 403: the identity is known, the act is not
allowed (unknown identities are refused earlier, with 401).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

ANALYSIS = "analysis"
SHIFTER = "production-shifter"
PRODUCTION = "production"
SUPERUSER = "superuser"
ROLES = (ANALYSIS, SHIFTER, PRODUCTION, SUPERUSER)  # lowest first

# The roles a membership lets its holder act as.
ACTABLE: Mapping[str, tuple[str, ...]] = {
    ANALYSIS: (ANALYSIS,),
    SHIFTER: (ANALYSIS, SHIFTER),
    PRODUCTION: (ANALYSIS, SHIFTER, PRODUCTION),
    SUPERUSER: ROLES,
}
CREATOR_ROLES = (ANALYSIS, PRODUCTION)


class Act(enum.Enum):
    VIEW = "view"
    MODIFY = "modify"
    DO = "do"
    CREATE = "create"
    ADMIN = "admin"


class Denied(Exception):
    """The identity is known but may not do this (HTTP 403)."""


@dataclass(frozen=True)
class Actor:
    """A person acting in one experiment, in one role."""

    username: str
    experiment: str | None
    role: str
    root: bool = False
    memberships: Mapping[str, str] = field(default_factory=dict)  # experiment -> role


@dataclass(frozen=True)
class Owner:
    """What an object records about where it belongs and who made it."""

    experiment: str
    creator: str | None = None
    creator_role: str | None = None


def actable_roles(actor: Actor, experiment: str) -> tuple[str, ...]:
    """The roles ``actor`` may take in ``experiment`` (none: not a member)."""
    if actor.root:
        return ROLES
    membership = actor.memberships.get(experiment)
    return ACTABLE.get(membership, ()) if membership else ()


def check_acting(actor: Actor) -> str:
    """The experiment the actor acts in, after checking they may act there in their role."""
    if actor.role not in ROLES:
        raise Denied(f"unknown role {actor.role!r}; roles are {', '.join(ROLES)}")
    if actor.experiment is None:
        raise Denied("no experiment chosen: pass 'experiment' (or set a session experiment)")
    allowed = actable_roles(actor, actor.experiment)
    if not allowed:
        raise Denied(f"user {actor.username} is not a member of experiment {actor.experiment}")
    if actor.role not in allowed:
        raise Denied(
            f"user {actor.username} may act in {actor.experiment} as "
            f"{', '.join(allowed)}, not {actor.role}"
        )
    return actor.experiment


def check(actor: Actor, act: Act, owner: Owner | None = None) -> None:
    """Raise ``Denied`` unless ``actor`` may ``act`` on the object ``owner`` describes
    (``owner`` None: an object of the acting experiment with no creator, e.g. the
    experiment itself)."""
    if act is Act.ADMIN:
        if not actor.root:
            raise Denied(f"only an administrator (root) may do this, not {actor.username}")
        return
    if actor.root and actor.role == SUPERUSER:
        return
    experiment = check_acting(actor)
    if owner is not None and owner.experiment != experiment:
        raise Denied(
            f"this belongs to experiment {owner.experiment}; "
            f"you are acting in {experiment}: switch experiment first"
        )
    if act is Act.VIEW:
        return
    if act is Act.CREATE:
        if actor.role not in CREATOR_ROLES:
            raise Denied(f"create things while acting as analysis or production, not {actor.role}")
        return
    if actor.role == SUPERUSER:
        return
    if owner is None:  # the experiment's own settings and operations
        if act is Act.MODIFY or actor.role == ANALYSIS:
            raise Denied(f"acting as {actor.role} you may not do this for the whole experiment")
        return
    if act is Act.MODIFY:
        _check_modify(actor, owner)
    else:
        _check_do(actor, owner)


def _check_modify(actor: Actor, owner: Owner) -> None:
    if owner.creator_role and actor.role != owner.creator_role:
        raise Denied(f"must be acting as {owner.creator_role} to change this, not {actor.role}")
    if actor.role == ANALYSIS and owner.creator != actor.username:
        raise Denied(f"only its creator ({owner.creator}) may change this")


def _check_do(actor: Actor, owner: Owner) -> None:
    role = owner.creator_role or PRODUCTION
    if actor.role == PRODUCTION:
        return  # production operates production and analysis work alike
    if actor.role == SHIFTER:
        if role != PRODUCTION:
            raise Denied("a production shifter operates production work only")
        return
    # analysis
    if role != ANALYSIS or owner.creator != actor.username:
        raise Denied(
            f"acting as analysis you may operate only your own work, not {owner.creator}'s"
        )
