"""Managing campaigns for ``/api/v1`` and the compatibility methods alike: listing,
creating, renaming, cloning, deleting, the active flag and `.ini` saves (tags and sample
campaigns are in ``campaign_tags`` and ``campaign_samples``).

Every function checks the caller's permission itself (so both front ends refuse the same
things), changes nothing when it raises, and writes an audit row for every change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, false, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.exceptions import Conflict, Forbidden

from poms_shared.db.audit import record_audit
from poms_shared.db.campaigns import (
    SHARED_EXPERIMENT,
    SaveResult,
    load_campaign_spec,
    save_campaign,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.models import (
    Campaign,
    CampaignDependency,
    CampaignStage,
    CampaignTag,
    Experimenter,
    JobType,
    LoginSetup,
    Tag,
)
from poms_shared.db.tables import HeldLaunch, LaunchRequest, Schedule, Submission
from poms_shared.domain.dag import choose_leading_stage, leading_stages
from poms_shared.domain.permissions import ANALYSIS, CREATOR_ROLES, PRODUCTION, Act
from poms_shared.ini.model import (
    CampaignSpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    StageSpec,
    freeze_pairs,
)
from poms_shared.ini.parser import parse_ini
from poms_web import auth
from poms_web.adapters import campaign_samples as samples
from poms_web.adapters import queries
from poms_web.adapters.actions import BadRequest, experimenter, get_stage, request_launch
from poms_web.adapters.queries import NotFound
from poms_web.context import actor, web_state

NAME_LIMIT = 255  # campaigns.name
GENERIC = "generic"  # the login setup and job type a new campaign's first stage uses (§12.1)


# ---- where and who ----------------------------------------------------------------------


def experiment_here(session: Session) -> str:
    """The experiment the request acts in, else the deployment's default experiment."""
    return auth.actor(session).experiment or web_state().settings.experiment


def valid_name(field: str, raw: Any, limit: int = NAME_LIMIT) -> str:
    """A name for a campaign or tag: text, not blank, no '/', within ``limit``."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest(f"{field}: a non-empty name is required")
    name = raw.strip()
    if len(name) > limit:
        raise BadRequest(f"{field}: at most {limit} characters, not {len(name)}")
    if "/" in name or any(ord(ch) < 32 for ch in name):
        raise BadRequest(f"{field}: {name!r} may not contain '/' or control characters")
    return name


def plain(field: str, value: str) -> str:
    """``value``, unless it holds a NUL character (which the database refuses)."""
    if "\x00" in value:
        raise BadRequest(f"{field}: may not contain a NUL character")
    return value


def named(session: Session, experiment: str, name: str, field: str = "name") -> Campaign | None:
    return queries.campaign_or_none(session, experiment, plain(field, name))


def find(session: Session, experiment: str, name: str, field: str = "name") -> Campaign:
    return queries.find_campaign(session, experiment, plain(field, name))


def by_ids(session: Session, ids: Iterable[int], field: str = "campaign_id") -> list[Campaign]:
    """Campaigns by id, in the order given; NotFound naming any that do not exist."""
    wanted = list(dict.fromkeys(ids))
    rows = {
        c.campaign_id: c
        for c in session.scalars(select(Campaign).where(Campaign.campaign_id.in_(wanted)))
    }
    missing = [i for i in wanted if i not in rows]
    if missing:
        raise NotFound(f"{field}: no campaign {', '.join(map(str, missing))}")
    return [rows[i] for i in wanted]


def allowed(session: Session, act: Act, campaign: Campaign) -> bool:
    try:
        auth.may(session, act, campaign)
    except Forbidden:
        return False
    return True


# ---- listing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """Which campaigns a list shows (experiment None: every experiment)."""

    experiment: str | None
    me: int
    active: frozenset[bool] = frozenset({True})
    mine: bool = True
    others: bool = True
    roles: frozenset[str] = frozenset(CREATOR_ROLES)
    tag: str | None = None
    q: str | None = None


def listing_query(show: Listing) -> Select[Any]:
    """Campaigns with their creator's name, ordered by name (for ``paging.page_query``)."""
    plain("tag", show.tag or "")
    plain("q", show.q or "")
    query = (
        select(Campaign, Experimenter.username)
        .outerjoin(Experimenter, Experimenter.experimenter_id == Campaign.creator_id)
        .where(Campaign.active.in_(show.active))
        .order_by(Campaign.name, Campaign.campaign_id)
    )
    if show.experiment:
        query = query.where(Campaign.experiment == show.experiment)
    if not (show.mine and show.others):
        mine = Campaign.creator_id == show.me
        query = query.where(mine if show.mine else ~mine if show.others else false())
    if set(CREATOR_ROLES) - show.roles:
        query = query.where(Campaign.creator_role.in_(show.roles))
    if show.tag:
        tagged = (
            select(CampaignTag.campaign_id)
            .join(Tag, Tag.tag_id == CampaignTag.tag_id)
            .where(Tag.tag_name == show.tag)
        )
        query = query.where(Campaign.campaign_id.in_(tagged))
    if show.q:
        query = query.where(Campaign.name.icontains(show.q, autoescape=True))
    return query


def campaign_item(session: Session, campaign: Campaign, creator: str | None) -> dict[str, Any]:
    """One campaign of a list: summary, owner and tags."""
    return {
        **queries._campaign_summary(session, campaign),
        "creator": creator,
        "creator_role": campaign.creator_role,
        "tags": sorted(t.tag_name for t in campaign.tags),
    }


# ---- saving from an .ini ----------------------------------------------------------------


def save_spec(
    session: Session, spec: CampaignSpec, text: str, *, experiment: str, new: bool = False
) -> SaveResult:
    """Create or update a campaign from a spec (``new``: it must not exist yet)."""
    plain("file", text)
    existing = named(session, experiment, spec.name)
    if existing is None or new:
        acting = auth.authorize_create(session, experiment=experiment, role=spec.poms_role)
        if existing is not None:
            raise Conflict(f"a campaign named {spec.name!r} already exists in {experiment}")
    else:
        acting = auth.may(session, Act.MODIFY, existing)
    check_templates(session, spec, experiment)
    before = queries.campaign_ini_or_none(session, experiment, spec.name)
    role = auth.creator_role(acting, spec.poms_role)
    result = save_campaign(session, spec, experiment=experiment, actor=actor(), role=role)
    record_audit(
        session,
        actor=actor(),
        action="save_ini",
        entity="campaign",
        entity_id=result.campaign_id,
        before=before,
        after={"ini": text},
    )
    return result


def check_templates(session: Session, spec: CampaignSpec, experiment: str) -> None:
    """The caller may modify every existing login setup and job type that the file
    describes differently from what is stored (a file that only repeats one is fine)."""
    pairs: list[tuple[str, LoginSetup | JobType | None, bool]] = []
    for setup in spec.login_setups:
        row = _own(session, LoginSetup, experiment, setup.name)
        pairs.append(
            (f"[login_setup {setup.name}]", row, row is not None and _setup_spec(row) != setup)
        )
    for job_type in spec.job_types:
        jrow = _own(session, JobType, experiment, job_type.name)
        pairs.append(
            (f"[job_type {job_type.name}]", jrow, jrow is not None and _job_spec(jrow) != job_type)
        )
    for section, item, differs in pairs:
        if item is None or not differs:
            continue
        try:
            auth.may(session, Act.MODIFY, item)
        except Forbidden as exc:
            raise Forbidden(
                f"{section}: differs from the stored one, which you may not change "
                f"({exc.description}); leave it out or give it a new name"
            ) from None


def _own(session: Session, model: type[Any], experiment: str, name: str) -> Any:
    query = select(model).where(model.experiment == experiment, model.name == name)
    return session.scalars(query).first()


def _setup_spec(row: LoginSetup) -> LoginSetupSpec:
    return LoginSetupSpec(row.name, row.launch_host, row.launch_account, row.launch_setup)


def _job_spec(row: JobType) -> JobTypeSpec:
    recoveries = tuple(
        (r.recovery_type.name, freeze_pairs(r.param_overrides or []) or ()) for r in row.recoveries
    )
    parameters = freeze_pairs(row.definition_parameters or []) or ()
    return JobTypeSpec(
        row.name, row.launch_script, parameters, row.output_file_patterns, recoveries
    )


# ---- create, rename, clone, delete --------------------------------------------------------


def create_campaign(
    session: Session, experiment: str, name: Any, role: Any = None
) -> tuple[str, SaveResult]:
    """A campaign with one default stage ``stage0`` (§12.1), owned by the caller."""
    if role is not None and role not in CREATOR_ROLES:
        raise BadRequest(f"role: {ANALYSIS} or {PRODUCTION}, not {role!r}")
    acting = auth.authorize_create(session, experiment=experiment, role=role)
    name = valid_name("name", name)
    if queries.campaign_or_none(session, experiment, name) is not None:
        raise Conflict(f"a campaign named {name!r} already exists in {experiment}")
    stage0 = StageFields(
        completion_type="complete",
        completion_pct=95,
        cs_split_type="None",
        dataset_or_split_data="from_parent",
        job_type=GENERIC,
        login_setup=GENERIC,
        param_overrides=(),
        test_param_overrides=(),
        software_version="v1_0",
        vo_role="Production",
        stage_type="regular",
        default_clear_cronjob=True,
    )
    generic = samples.sample_spec("sample_generate")
    spec = CampaignSpec(
        name=name,
        poms_role=auth.creator_role(acting, role),
        stages=(StageSpec("stage0", stage0),),
        # the shared 'generic' templates are made only where neither the experiment nor
        # the shared experiment has them (§12.2)
        login_setups=tuple(
            t for t in generic.login_setups if not _shared(session, LoginSetup, experiment, t.name)
        ),
        job_types=tuple(
            t for t in generic.job_types if not _shared(session, JobType, experiment, t.name)
        ),
    )
    text = f"(created as {name} with its default stage stage0)"
    return name, save_spec(session, spec, text, experiment=experiment, new=True)


def _shared(session: Session, model: type[Any], experiment: str, name: str) -> bool:
    return any(_own(session, model, e, name) is not None for e in (experiment, SHARED_EXPERIMENT))


def rename_campaign(session: Session, campaign: Campaign, to: Any) -> None:
    auth.may(session, Act.MODIFY, campaign)
    new = valid_name("to", to)
    if new == campaign.name:
        return
    if queries.campaign_or_none(session, campaign.experiment, new) is not None:
        raise Conflict(f"a campaign named {new!r} already exists in {campaign.experiment}")
    old = campaign.name
    positions = dict(campaign.positions or {})
    # The campaign node's position, under its bare name (older files) or "campaign <name>"
    # (the graph editor and the reference's [node_positions] example).
    moved = False
    for before, after in ((old, new), (f"campaign {old}", f"campaign {new}")):
        if before in positions:
            positions[after] = positions.pop(before)
            moved = True
    if moved:
        campaign.positions = positions
    campaign.name = new
    campaign.updater_id = experimenter(session, actor()).experimenter_id
    record_audit(
        session,
        actor=actor(),
        action="rename",
        entity="campaign",
        entity_id=campaign.campaign_id,
        before={"name": old},
        after={"name": new},
    )


def clone_name(source: str, to: Any, rename: Any = None) -> str:
    """§12.3: ``rename`` (default: the whole name) replaced once by ``to``; when that
    changes nothing, ``clone_of_<source>``."""
    to = valid_name("to", to)
    if rename is None:
        return to
    if not isinstance(rename, str) or not rename:
        raise BadRequest("rename: the part of the name to replace, as non-empty text")
    new = source.replace(rename, to, 1)
    return valid_name("to", new if new != source else f"clone_of_{source}")


def clone_campaign(
    session: Session, campaign: Campaign, to: Any, rename: Any = None
) -> tuple[str, SaveResult]:
    """A copy owned by the caller, in the experiment the caller acts in; the login setups
    and job types are shared with the original, not copied."""
    auth.may(session, Act.VIEW, campaign)
    new = clone_name(campaign.name, to, rename)
    spec = load_campaign_spec(session, experiment=campaign.experiment, name=campaign.name)
    spec = dataclasses.replace(spec, name=new, experiment=None, poms_role=None, state_active=True)
    text = f"(cloned from {campaign.experiment}/{campaign.name})"
    return new, save_spec(session, spec, text, experiment=experiment_here(session), new=True)


def delete_campaign(session: Session, campaign: Campaign) -> str:
    """§12.4: only a campaign none of whose stages was ever submitted; its stages, their
    dependencies, schedules and held launches and its tag links go with it. Login setups
    and job types stay."""
    auth.may(session, Act.MODIFY, campaign)
    stage_ids = [s.campaign_stage_id for s in campaign.stages]
    used = session.scalar(select(func.count()).where(Submission.campaign_stage_id.in_(stage_ids)))
    if used:
        raise Conflict(
            f"campaign {campaign.name!r} has been submitted ({used} submissions) and cannot be "
            "deleted; mark it inactive instead"
        )
    campaign_id, name = campaign.campaign_id, campaign.name
    # recorded while the campaign still exists, so the entry knows its experiment
    record_audit(
        session,
        actor=actor(),
        action="delete",
        entity="campaign",
        entity_id=campaign_id,
        before=queries.campaign_ini_or_none(session, campaign.experiment, name),
    )
    dep = CampaignDependency
    session.execute(
        delete(dep).where(
            or_(dep.upstream_stage_id.in_(stage_ids), dep.downstream_stage_id.in_(stage_ids))
        )
    )
    for model in (Schedule, HeldLaunch):
        session.execute(delete(model).where(model.campaign_stage_id.in_(stage_ids)))
    # launch requests stay as a record of who asked for what
    session.execute(
        update(LaunchRequest)
        .where(LaunchRequest.campaign_stage_id.in_(stage_ids))
        .values(campaign_stage_id=None)
    )
    session.execute(delete(CampaignTag).where(CampaignTag.campaign_id == campaign.campaign_id))
    session.execute(delete(CampaignStage).where(CampaignStage.campaign_stage_id.in_(stage_ids)))
    session.execute(delete(Campaign).where(Campaign.campaign_id == campaign_id))
    return f"campaign {name!r} deleted"


# ---- active flag ------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveResult:
    changed: list[str]
    unchanged: list[str]  # already so
    refused: dict[str, str]  # name -> why

    def as_json(self, active: bool) -> dict[str, Any]:
        return {"active": active, **dataclasses.asdict(self)}


def set_active(
    session: Session, campaigns: list[Campaign], active: bool, *, clear_cron: bool = False
) -> ActiveResult:
    """Set the flag on each campaign the caller may modify (Forbidden if none). With
    ``clear_cron``, deactivating also drops the stages' launch schedules (§12.10)."""
    result = ActiveResult([], [], {})
    permitted = []
    for campaign in campaigns:
        try:
            auth.may(session, Act.MODIFY, campaign)
        except Forbidden as exc:
            result.refused[campaign.name] = str(exc.description)
        else:
            permitted.append(campaign)
    if campaigns and not permitted:
        raise Forbidden("; ".join(f"{name}: {why}" for name, why in result.refused.items()))
    for campaign in permitted:
        dropped = _clear_schedules(session, campaign) if clear_cron and not active else []
        if campaign.active == active and not dropped:
            result.unchanged.append(campaign.name)
            continue
        record_audit(
            session,
            actor=actor(),
            action="activate" if active else "deactivate",
            entity="campaign",
            entity_id=campaign.campaign_id,
            before={"active": campaign.active},
            after={"active": active, "schedules_dropped": dropped},
        )
        campaign.active = active
        result.changed.append(campaign.name)
    return result


def _clear_schedules(session: Session, campaign: Campaign) -> list[int]:
    ids = [s.campaign_stage_id for s in campaign.stages]
    rows = list(session.scalars(select(Schedule).where(Schedule.campaign_stage_id.in_(ids))))
    for row in rows:
        session.delete(row)
    return [row.campaign_stage_id for row in rows]


# ---- samples, dependencies -----------------------------------------------------------------------


def clone_sample(
    session: Session, name: str, to: Any, rename: Any = "sample"
) -> tuple[str, SaveResult]:
    """Save a sample as a new campaign of the caller's, in the experiment they act in; by
    default ``to`` replaces the word 'sample' in the sample's name (§12.3)."""
    text = samples.sample_text(name)
    spec = parse_ini(text)
    new = clone_name(spec.name, to, rename)
    spec = dataclasses.replace(spec, name=new, experiment=None, poms_role=None)
    return new, save_spec(session, spec, text, experiment=experiment_here(session), new=True)


def dependencies(session: Session, campaign: Campaign) -> dict[str, Any]:
    """The campaign's stages (leading ones marked) and the edges between them."""
    auth.may(session, Act.VIEW, campaign)
    names, edges = queries.campaign_graph(session, campaign)
    leaders = set(leading_stages(list(names), edges))
    return {
        "campaign": campaign.name,
        "campaign_id": campaign.campaign_id,
        "stages": [
            {"stage_id": sid, "name": name, "leading": sid in leaders}
            for sid, name in names.items()
        ],
        "dependencies": [
            {
                "upstream": names.get(e.upstream),
                "upstream_id": e.upstream,
                "downstream": names[e.downstream],
                "downstream_id": e.downstream,
                "file_patterns": e.file_patterns,
            }
            for e in edges
        ],
    }


def viewer_experiments(session: Session) -> list[str] | None:
    """Experiments the caller may look into (None: all, for an administrator)."""
    who = auth.person(session)
    if who.root:
        return None
    return sorted(who.memberships)


def stage_list(session: Session) -> list[dict[str, Any]]:
    """Every stage of the experiments the caller may look into."""
    query = select(CampaignStage).order_by(CampaignStage.campaign_stage_id)
    experiments = viewer_experiments(session)
    if experiments is not None:
        query = query.where(CampaignStage.experiment.in_(experiments))
    return [
        {"campaign_stage_id": s.campaign_stage_id, "name": s.name, "experiment": s.experiment}
        for s in session.scalars(query)
    ]


def launch_leader(session: Session, campaign: Campaign, test: bool) -> str:
    """Ask for a launch of the campaign's one leading stage (§6.1); the request id."""
    auth.may(session, Act.DO, campaign)
    names, edges = queries.campaign_graph(session, campaign)
    stage = get_stage(session, choose_leading_stage(campaign.name, names, edges))
    return request_launch(UnitOfWork(session), stage, actor(), {"test": test})
