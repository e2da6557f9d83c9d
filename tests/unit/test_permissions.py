"""The role and ownership rules (reference §9), one table row per case."""

from __future__ import annotations

import pytest

from poms_shared.domain.permissions import Act, Actor, Denied, Owner, actable_roles, check

EXP = "nova"
OTHER = "dune"

# Who acts: (username, membership role in EXP or None, acting role, root)
PEOPLE = {
    "root": ("admin", None, "superuser", True),
    "superuser": ("sue", "superuser", "superuser", False),
    "production": ("pat", "production", "production", False),
    "production as analysis": ("pat", "production", "analysis", False),
    "shifter": ("shay", "production-shifter", "production-shifter", False),
    "analysis owner": ("ann", "analysis", "analysis", False),
    "analysis other": ("bob", "analysis", "analysis", False),
    "non-member": ("nora", None, "analysis", False),
}
PROD_OBJECT = Owner(EXP, creator="pat", creator_role="production")
ANA_OBJECT = Owner(EXP, creator="ann", creator_role="analysis")

# (person, act, object) -> allowed
Y, N = True, False
EXPECTED = {
    # view: any member acting in the experiment
    ("root", Act.VIEW, "prod"): Y,
    ("superuser", Act.VIEW, "prod"): Y,
    ("analysis other", Act.VIEW, "prod"): Y,
    ("shifter", Act.VIEW, "ana"): Y,
    ("non-member", Act.VIEW, "prod"): N,
    # modify
    ("root", Act.MODIFY, "prod"): Y,
    ("superuser", Act.MODIFY, "prod"): Y,
    ("superuser", Act.MODIFY, "ana"): Y,
    ("production", Act.MODIFY, "prod"): Y,
    ("production", Act.MODIFY, "ana"): N,  # must act as the creator role
    ("production as analysis", Act.MODIFY, "ana"): N,  # not its creator
    ("shifter", Act.MODIFY, "prod"): N,
    ("shifter", Act.MODIFY, "ana"): N,
    ("analysis owner", Act.MODIFY, "ana"): Y,
    ("analysis owner", Act.MODIFY, "prod"): N,
    ("analysis other", Act.MODIFY, "ana"): N,
    ("non-member", Act.MODIFY, "ana"): N,
    # do (operate)
    ("root", Act.DO, "ana"): Y,
    ("superuser", Act.DO, "prod"): Y,
    ("production", Act.DO, "prod"): Y,
    ("production", Act.DO, "ana"): Y,  # production operates analysis work too
    ("shifter", Act.DO, "prod"): Y,  # shifters operate production work
    ("shifter", Act.DO, "ana"): N,
    ("analysis owner", Act.DO, "ana"): Y,
    ("analysis owner", Act.DO, "prod"): N,
    ("analysis other", Act.DO, "ana"): N,
    ("non-member", Act.DO, "prod"): N,
    # create
    ("production", Act.CREATE, None): Y,
    ("analysis owner", Act.CREATE, None): Y,
    ("superuser", Act.CREATE, None): N,  # switch to analysis or production first
    ("shifter", Act.CREATE, None): N,
    ("non-member", Act.CREATE, None): N,
    # the experiment itself
    ("superuser", Act.MODIFY, None): Y,
    ("production", Act.MODIFY, None): N,
    ("production", Act.DO, None): Y,
    ("shifter", Act.DO, None): Y,
    ("analysis owner", Act.DO, None): N,
    # administration: root only
    ("root", Act.ADMIN, None): Y,
    ("superuser", Act.ADMIN, None): N,
}


def actor(person: str, experiment: str = EXP) -> Actor:
    username, membership, role, root = PEOPLE[person]
    return Actor(
        username, experiment, role, root=root, memberships={EXP: membership} if membership else {}
    )


@pytest.mark.parametrize(("person", "act", "obj"), sorted(EXPECTED, key=str))
def test_the_permission_table(person: str, act: Act, obj: str | None) -> None:
    owner = {"prod": PROD_OBJECT, "ana": ANA_OBJECT, None: None}[obj]
    if EXPECTED[(person, act, obj)]:
        check(actor(person), act, owner)
    else:
        with pytest.raises(Denied):
            check(actor(person), act, owner)


def test_membership_bounds_the_roles_one_may_act_as() -> None:
    assert actable_roles(actor("analysis owner"), EXP) == ("analysis",)
    assert actable_roles(actor("shifter"), EXP) == ("analysis", "production-shifter")
    assert "superuser" not in actable_roles(actor("production"), EXP)
    assert actable_roles(actor("root"), OTHER) == (
        "analysis",
        "production-shifter",
        "production",
        "superuser",
    )
    assert actable_roles(actor("superuser"), OTHER) == ()


@pytest.mark.parametrize(
    ("username", "membership", "role", "says"),
    [
        ("ann", "analysis", "production", "may act in nova as analysis, not production"),
        ("pat", "production", "superuser", "not superuser"),
        ("pat", "production", "boss", "unknown role 'boss'"),
        ("nora", None, "analysis", "not a member of experiment nova"),
    ],
)
def test_a_role_beyond_ones_membership_is_refused_with_the_reason(
    username: str, membership: str | None, role: str, says: str
) -> None:
    person = Actor(username, EXP, role, memberships={EXP: membership} if membership else {})
    with pytest.raises(Denied, match=says):
        check(person, Act.VIEW, PROD_OBJECT)


def test_an_object_of_another_experiment_asks_to_switch_experiment() -> None:
    elsewhere = Owner(OTHER, creator="pat", creator_role="production")
    with pytest.raises(Denied, match="belongs to experiment dune"):
        check(actor("superuser"), Act.VIEW, elsewhere)
    check(actor("root"), Act.MODIFY, elsewhere)  # root acting as superuser: everywhere


def test_no_experiment_chosen_is_refused_clearly() -> None:
    with pytest.raises(Denied, match="no experiment chosen"):
        check(Actor("pat", None, "production", memberships={EXP: "production"}), Act.VIEW)
