"""Login setups and job types ("templates"): lists and changes (their fields and checks
are in ``template_fields``).

Shared by ``/api/v1/login-setups``, ``/api/v1/job-types`` and the compatibility methods,
so that every way in checks the same permissions and writes the same audit rows
(reference §12.7, §9). Each change is all or nothing: every bad field is named and
nothing is saved.

Templates of the shared experiment (``samdev``, §12.2) may be read, and cloned, by
members of any experiment; changing them needs the rights in that experiment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Conflict

from poms_shared.contracts.messages import TestLoginSetup
from poms_shared.db.audit import record_audit
from poms_shared.db.campaigns import SHARED_EXPERIMENT
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import (
    Campaign,
    CampaignStage,
    Experiment,
    Experimenter,
    JobType,
    JobTypeRecovery,
    LoginSetup,
)
from poms_shared.domain import login_tests
from poms_shared.domain.permissions import ROLES, Act, Actor, Denied, Owner, check
from poms_web import auth
from poms_web.adapters.actions import BadRequest, experimenter
from poms_web.adapters.queries import NotFound
from poms_web.adapters.template_fields import JOB as JOB
from poms_web.adapters.template_fields import LOGIN as LOGIN
from poms_web.adapters.template_fields import (
    RECOVERIES,
    Recovery,
    Template,
    checked,
    kind_of,
    recoveries,
    template_name,
)
from poms_web.adapters.template_fields import Kind as Kind
from poms_web.context import actor, web_state

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


# ---- reading ----------------------------------------------------------------------------


def recovery_list(job_type: JobType) -> list[dict[str, Any]]:
    return [
        {
            "position": index,
            "recovery_type": item.recovery_type.name,
            "param_overrides": item.param_overrides or [],
        }
        for index, item in enumerate(job_type.recoveries)
    ]


def recovery_pairs(job_type: JobType) -> list[list[Any]]:
    """The client's form: ``[[type, [[key, value]…]]…]``."""
    return [[r["recovery_type"], r["param_overrides"]] for r in recovery_list(job_type)]


def snapshot(row: Template) -> dict[str, Any]:
    """The editable values (audit before/after)."""
    kind = kind_of(row)
    values = {field: getattr(row, field) for field in kind.fields}
    if isinstance(row, JobType):
        values[RECOVERIES] = recovery_pairs(row)
    return values


def info(row: Template, creator: str | None, acting: Actor | None = None) -> dict[str, Any]:
    kind = kind_of(row)
    data = {
        f"{kind.entity}_id": kind.id_of(row),
        "experiment": row.experiment,
        **snapshot(row),
        "creator": creator,
        "creator_role": row.creator_role,
        "created": row.created.isoformat() if row.created else None,
        "updated": row.updated.isoformat() if row.updated else None,
        "shared": row.experiment == SHARED_EXPERIMENT,
    }
    if isinstance(row, JobType):
        data[RECOVERIES] = recovery_list(row)
    if acting is not None:
        data["may_modify"] = _allowed(acting, Act.MODIFY, row, creator)
    return data


def _allowed(acting: Actor, act: Act, row: Template, creator: str | None) -> bool:
    try:
        check(acting, act, Owner(row.experiment, creator, row.creator_role))
    except Denied:
        return False
    return True


def creator_name(session: Session, row: Template) -> str | None:
    person = session.get(Experimenter, row.creator_id) if row.creator_id else None
    return person.username if person else None


def get(session: Session, kind: Kind, item_id: int) -> Any:
    row = session.get(kind.model, item_id)
    if row is None:
        raise NotFound(f"{kind.label} {item_id} does not exist")
    return row


def by_name(session: Session, kind: Kind, experiment: str, name: str) -> Any:
    """The template named ``name`` in ``experiment``, or None."""
    model = kind.model
    return session.scalar(select(model).where(model.experiment == experiment, model.name == name))


def find(session: Session, kind: Kind, experiment: str, name: str) -> Any:
    row = by_name(session, kind, experiment, name)
    if row is None:
        raise NotFound(f"no {kind.label} named {name!r} in experiment {experiment}")
    return row


def may_view(session: Session, row: Template) -> Actor:
    """VIEW on the template; the shared experiment's are visible from any experiment."""
    if row.experiment == SHARED_EXPERIMENT:
        return auth.authorize(session, Act.VIEW)
    return auth.may(session, Act.VIEW, row)


def acting_experiment(acting: Actor) -> str:
    return acting.experiment or web_state().settings.experiment


@dataclass(frozen=True)
class Filters:
    """List filters; None means either way."""

    q: str | None = None
    mine: bool | None = None  # True: made by the requester; False: made by others
    active: bool | None = None
    creator_role: str | None = None
    shared: bool = False  # also the shared experiment's templates


def _flag_arg(args: Mapping[str, str], name: str) -> bool | None:
    raw = (args.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in TRUE | FALSE:
        return raw in TRUE
    raise BadRequest(f"{name}: expected true or false, not {raw!r}")


def filters_from(args: Mapping[str, str]) -> Filters:
    """``?q=&mine=&active=&creator_role=&shared=`` of a list request."""
    role = (args.get("creator_role") or "").strip() or None
    if role is not None and role not in ROLES:
        raise BadRequest(f"creator_role: one of {', '.join(ROLES)}, not {role!r}")
    return Filters(
        q=(args.get("q") or "").strip() or None,
        mine=_flag_arg(args, "mine"),
        active=_flag_arg(args, "active"),
        creator_role=role,
        shared=bool(_flag_arg(args, "shared")),
    )


def listing(kind: Kind, experiment: str, filters: Filters, username: str) -> Select[Any]:
    """Rows ``(template, creator username)`` matching ``filters``, by name."""
    model = kind.model
    places = [experiment, SHARED_EXPERIMENT] if filters.shared else [experiment]
    query = (
        select(model, Experimenter.username)
        .outerjoin(Experimenter, Experimenter.experimenter_id == model.creator_id)
        .where(model.experiment.in_(places))
        .order_by(model.name, model.experiment)
    )
    if filters.q:
        query = query.where(func.lower(model.name).contains(filters.q.lower(), autoescape=True))
    if filters.active is not None:
        query = query.where(model.active.is_(filters.active))
    if filters.creator_role:
        query = query.where(model.creator_role == filters.creator_role)
    if filters.mine is True:
        query = query.where(Experimenter.username == username)
    elif filters.mine is False:
        query = query.where(or_(Experimenter.username.is_(None), Experimenter.username != username))
    return query


# ---- changing ---------------------------------------------------------------------------


def _unique(session: Session, kind: Kind, experiment: str, name: str, keep: Any = None) -> None:
    other = by_name(session, kind, experiment, name)
    if other is not None and other is not keep:
        raise Conflict(f"name: a {kind.label} named {name!r} already exists in {experiment}")


def _set_recoveries(session: Session, job_type: JobType, entries: list[Recovery]) -> None:
    job_type.recoveries.clear()
    session.flush()  # the old entries go before new ones take their positions
    for order, (kind, overrides) in enumerate(entries):
        item = JobTypeRecovery(recovery_order=order, recovery_type_id=kind.recovery_type_id)
        item.recovery_type = kind
        item.param_overrides = overrides
        job_type.recoveries.append(item)


def _apply(session: Session, row: Template, values: Mapping[str, Any]) -> None:
    for field, value in values.items():
        if field != RECOVERIES:
            setattr(row, field, value)
    if RECOVERIES in values:
        assert isinstance(row, JobType)
        _set_recoveries(session, row, values[RECOVERIES])


def _audit(session: Session, action: str, row: Template, before: Any, after: Any) -> None:
    kind = kind_of(row)
    record_audit(
        session,
        actor=actor(),
        action=f"{action}_{kind.entity}",
        entity=kind.entity,
        entity_id=kind.id_of(row),
        before=before,
        after=after,
    )


def create(session: Session, kind: Kind, body: Mapping[str, Any]) -> Any:
    """A new template in the acting experiment, owned by the requester in their role."""
    acting = auth.authorize_create(session)
    values = checked(session, kind, body, creating=True)
    experiment = acting_experiment(acting)
    if session.get(Experiment, experiment) is None:
        raise NotFound(f"experiment {experiment!r} does not exist")
    _unique(session, kind, experiment, values["name"])
    person = experimenter(session, actor()).experimenter_id
    row = kind.model(
        experiment=experiment,
        creator_id=person,
        updater_id=person,
        creator_role=auth.creator_role(acting),
    )
    if kind is LOGIN:
        row.launch_setup = ""
        row.active = True
    else:
        assert isinstance(row, JobType)
        row.definition_parameters, row.output_file_patterns, row.active = [], "%", True
        row.input_files_per_job = row.output_files_per_job = 0
    session.add(row)
    _apply(session, row, values)
    session.flush()
    _audit(session, "create", row, None, snapshot(row))
    return row


def edit(session: Session, row: Template, body: Mapping[str, Any]) -> list[str]:
    """Apply the changes in ``body``; returns the names of the fields that changed."""
    auth.may(session, Act.MODIFY, row)
    kind = kind_of(row)
    values = checked(session, kind, body, creating=False)
    if "name" in values:
        _unique(session, kind, row.experiment, values["name"], keep=row)
    before = snapshot(row)
    _apply(session, row, values)
    session.flush()
    after = snapshot(row)
    changed = sorted(k for k in after if after[k] != before[k])
    if changed:
        row.updater_id = experimenter(session, actor()).experimenter_id
        _audit(
            session,
            "edit",
            row,
            {k: before[k] for k in changed},
            {k: after[k] for k in changed},
        )
    return changed


def _users(session: Session, row: Template) -> list[str]:
    column = (
        CampaignStage.login_setup_id if isinstance(row, LoginSetup) else CampaignStage.job_type_id
    )
    found = session.execute(
        select(Campaign.name, CampaignStage.name)
        .outerjoin(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
        .where(column == kind_of(row).id_of(row))
        .order_by(CampaignStage.campaign_stage_id)
    )
    return [f"{campaign or '(no campaign)'}/{stage}" for campaign, stage in found]


def delete(session: Session, row: Template) -> None:
    """Delete an unused template (409 naming the stages that use it)."""
    auth.may(session, Act.MODIFY, row)
    kind = kind_of(row)
    users = _users(session, row)
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        raise Conflict(
            f"the {kind.label} {row.name!r} is used by {len(users)} stage(s) ({shown}) "
            "and cannot be deleted; point them at another one first"
        )
    _audit(session, "delete", row, snapshot(row), None)
    session.delete(row)
    session.flush()


def clone(session: Session, row: Template, body: Mapping[str, Any]) -> Any:
    """A copy of ``row`` named ``body["name"]`` in the acting experiment, owned by the
    requester (a shared template may be copied into one's own experiment)."""
    may_view(session, row)
    kind = kind_of(row)
    unknown = sorted(set(body) - {"name"})
    if unknown:
        raise BadRequest(f"{', '.join(unknown)}: unknown field (a clone takes only 'name')")
    try:
        name = template_name(body.get("name"))
    except ValueError as exc:
        raise BadRequest(f"name: {exc}") from None
    made = create(session, kind, {**snapshot(row), "name": name})
    record_audit(
        session,
        actor=actor(),
        action=f"clone_{kind.entity}",
        entity=kind.entity,
        entity_id=kind.id_of(made),
        after={"from": kind.id_of(row), "name": name},
    )
    return made


def login_test_url(login_setup_id: int, log_name: str) -> str:
    return f"/api/v1/login-setups/{login_setup_id}/tests/{log_name}"


def start_login_test(session: Session, row: LoginSetup) -> str:
    """Ask the launcher to run the login setup on its host (§6.14); the new log's name.
    The caller wakes the relay after the transaction."""
    auth.may(session, Act.DO, row)
    name = login_tests.new_log_name(actor(), datetime.now(UTC))
    taken = login_tests.logs_dir(web_state().settings.log_dir, row.login_setup_id)
    unique, n = name, 1
    while (taken / unique).exists():
        n += 1
        unique = f"{name}.{n}"
    UnitOfWork(session).emit(
        TestLoginSetup(login_setup_id=row.login_setup_id, actor=actor(), log_name=unique)
    )
    record_audit(
        session,
        actor=actor(),
        action="test_login_setup",
        entity="login_setup",
        entity_id=row.login_setup_id,
        after={"log": unique},
    )
    return unique


def replace_recoveries(session: Session, job_type: JobType, value: Any) -> list[str]:
    """Replace the job type's ordered recovery list."""
    return edit(session, job_type, {RECOVERIES: value})


def merge_recoveries(session: Session, job_type: JobType, value: Any) -> list[list[Any]]:
    """Merge ``value`` into the list (§12.7): each type already listed gets the new
    override pairs (a key given again takes the new value; every entry of that type),
    new types go at the end in the order given. Returns the new list (client form)."""
    auth.may(session, Act.MODIFY, job_type)
    try:
        incoming = recoveries(session, value)
    except ValueError as exc:
        raise BadRequest(f"recoveries: {exc}") from None
    merged = [[t, list(map(list, o))] for t, o in recovery_pairs(job_type)]
    for kind, overrides in incoming:
        same = [entry for entry in merged if entry[0] == kind.name]
        if not same:
            merged.append([kind.name, [list(p) for p in overrides]])
        for entry in same:
            entry[1] = [[k, v] for k, v in {**dict(entry[1]), **dict(overrides)}.items()]
    edit(session, job_type, {RECOVERIES: merged})
    return recovery_pairs(job_type)
