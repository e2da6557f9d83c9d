"""The campaign graph editor's data: a stored campaign as the editor's JSON, with the
templates and choices its forms offer; and saving the editor's graph the way an `.ini`
upload is saved (same permission checks, same validation, one transaction).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.audit import record_audit
from poms_shared.db.campaigns import SHARED_EXPERIMENT, SaveResult, load_campaign_spec
from poms_shared.db.models import Campaign, JobType, LoginSetup, RecoveryType
from poms_shared.domain.permissions import Act
from poms_shared.ini.model import (
    ALWAYS_WRITTEN,
    COMPLETION_TYPES,
    FALLBACKS,
    STAGE_TYPES,
    CampaignSpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    thaw_pairs,
)
from poms_shared.ini.parser import parse_ini
from poms_web import auth
from poms_web.adapters import campaign_admin as admin
from poms_web.adapters import campaign_samples
from poms_web.adapters.campaign_graph import FIELDS, Graph, graph_ini
from poms_web.adapters.queries import NotFound
from poms_web.context import actor

# A new campaign starts with the defaults the "Add" action gives its first stage (§12.1).
NEW_DEFAULTS: dict[str, Any] = {
    "vo_role": "Production",
    "software_version": "v1_0",
    "dataset_or_split_data": "from_parent",
    "cs_split_type": "None",
    "completion_type": "complete",
    "completion_pct": 95,
    "param_overrides": [],
    "test_param_overrides": [],
    "merge_overrides": False,
    "login_setup": admin.GENERIC,
    "job_type": admin.GENERIC,
    "stage_type": "regular",
    "output_ancestor_depth": 1,
    "default_clear_cronjob": True,
}


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign_id: no campaign {campaign_id}")
    return campaign


def editor_state(session: Session, campaign: Campaign | None, experiment: str) -> dict[str, Any]:
    """Everything the editor page needs: the graph, the templates it may pick from, the
    recovery and split types, and the values a field falls back to."""
    spec = None
    if campaign is not None:
        spec = load_campaign_spec(session, experiment=campaign.experiment, name=campaign.name)
    login_setups, job_types = catalog(session, experiment, spec)
    kinds = session.scalars(select(RecoveryType.name).order_by(RecoveryType.name))
    return {
        "campaign_id": campaign.campaign_id if campaign else None,
        "experiment": experiment,
        "graph": graph_of(spec) if spec else new_graph(),
        "login_setups": login_setups,
        "job_types": job_types,
        "recovery_types": list(kinds),
        "split_types": [dataclasses.asdict(s) for s in SPLIT_TYPES],
        "fields": [list(f) for f in FIELDS],
        "fallbacks": FALLBACKS.to_json(),
        "stage_types": list(STAGE_TYPES),
        "completion_types": list(COMPLETION_TYPES),
    }


def new_graph() -> dict[str, Any]:
    """A campaign not saved yet: defaults and no stage."""
    return {
        "campaign": {"name": "", "state": "Active", "keywords": {}, "defaults": NEW_DEFAULTS},
        "stages": [],
        "dependencies": [],
        "positions": {},
    }


def catalog(
    session: Session, experiment: str, spec: CampaignSpec | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Login setups and job types a stage may name: the experiment's, the shared ones, and
    those the campaign uses; the generic pair offered as new where neither has them."""
    setups = {t.name: _setup_json(t, True) for t in _stored(session, LoginSetup, experiment)}
    jobs = {t.name: _job_json(t, True) for t in _stored(session, JobType, experiment)}
    used = spec or CampaignSpec(name="-")
    generic = campaign_samples.sample_spec("sample_generate")
    for setup in used.login_setups:
        setups.setdefault(setup.name, _setup_json(setup, True))
    for job in used.job_types:
        jobs.setdefault(job.name, _job_json(job, True))
    for setup in generic.login_setups:
        setups.setdefault(setup.name, _setup_json(setup, False))
    for job in generic.job_types:
        jobs.setdefault(job.name, _job_json(job, False))
    return sorted(setups.values(), key=_by_name), sorted(jobs.values(), key=_by_name)


def _by_name(item: dict[str, Any]) -> str:
    return str(item["name"])


def _stored(session: Session, model: type[Any], experiment: str) -> list[Any]:
    """The experiment's own templates, then shared ones whose name it does not use."""
    query = select(model).where(model.experiment.in_({experiment, SHARED_EXPERIMENT}))
    rows = sorted(session.scalars(query), key=lambda r: r.experiment != experiment)
    return list({r.name: r for r in reversed(rows)}.values())


def _setup_json(item: LoginSetup | LoginSetupSpec, stored: bool) -> dict[str, Any]:
    if isinstance(item, LoginSetup):
        item = LoginSetupSpec(item.name, item.launch_host, item.launch_account, item.launch_setup)
    return {**dataclasses.asdict(item), "stored": stored}


def _job_json(item: JobType | JobTypeSpec, stored: bool) -> dict[str, Any]:
    if isinstance(item, JobType):
        return {
            "name": item.name,
            "launch_script": item.launch_script,
            "parameters": list(item.definition_parameters or []),
            "output_file_patterns": item.output_file_patterns,
            "recoveries": [
                [r.recovery_type.name, list(r.param_overrides or [])] for r in item.recoveries
            ],
            "stored": stored,
        }
    return {
        "name": item.name,
        "launch_script": item.launch_script,
        "parameters": thaw_pairs(item.parameters),
        "output_file_patterns": item.output_file_patterns,
        "recoveries": [[kind, thaw_pairs(pairs)] for kind, pairs in item.recoveries],
        "stored": stored,
    }


# ---- saving -----------------------------------------------------------------------------


def save_graph(session: Session, graph: Graph, campaign: Campaign | None) -> SaveResult:
    """Save the graph as its `.ini` text would be uploaded; renames keep the stored rows
    (and so their history). Raises what the upload raises; the caller's transaction
    makes it all or nothing."""
    text = graph_ini(graph)
    spec = parse_ini(text)
    if campaign is None:
        experiment = admin.experiment_here(session)
        return admin.save_spec(session, spec, text, experiment=experiment, new=True)
    auth.may(session, Act.MODIFY, campaign)
    if spec.name != campaign.name:
        admin.rename_campaign(session, campaign, spec.name)
    _rename_stages(session, campaign, graph)
    return admin.save_spec(session, spec, text, experiment=campaign.experiment)


def _rename_stages(session: Session, campaign: Campaign, graph: Graph) -> None:
    """Give stored stages their new names before the save matches stages by name (§7.4:
    a node's old name finds the row, its label renames it). A new name still held by a
    stage that is not renamed away is left to the save (that stage is the one updated)."""
    rows = {row.name: row for row in campaign.stages}
    renames = {s.was: s.name for s in graph.stages if s.was in rows and s.was != s.name}
    held = set(rows) - set(renames)
    renames = {old: new for old, new in renames.items() if new not in held}
    if not renames:
        return
    for old in renames:  # two steps, so stages may swap names
        rows[old].name = f"renaming-{uuid.uuid4().hex}"
    session.flush()
    for old, new in renames.items():
        rows[old].name = new
        record_audit(
            session,
            actor=actor(),
            action="rename",
            entity="campaign_stage",
            entity_id=rows[old].campaign_stage_id,
            before={"name": old},
            after={"name": new},
        )
    session.flush()


# ---- the editor's view of a stored campaign ---------------------------------------------


def graph_of(spec: CampaignSpec) -> dict[str, Any]:
    """A stored campaign as the editor's JSON. A stage value equal to the campaign default
    is left out, so the stage inherits it and a changed default reaches it (§12.11)."""
    defaults = spec.defaults.to_json()
    return {
        "campaign": {
            "name": spec.name,
            "state": "Active" if spec.state_active else "Inactive",
            "keywords": spec.keywords,
            "defaults": defaults,
        },
        "stages": [
            {"name": s.name, "was": s.name, "fields": _own(s.fields, defaults)} for s in spec.stages
        ],
        "dependencies": [
            {"upstream": d.upstream, "downstream": d.downstream, "file_patterns": d.file_patterns}
            for d in spec.dependencies
        ],
        "positions": {label: [x, y] for label, (x, y) in spec.positions.items()},
    }


def _own(fields: StageFields, defaults: dict[str, Any]) -> dict[str, Any]:
    own = fields.to_json()
    fallback = FALLBACKS.to_json()
    for key in ALWAYS_WRITTEN:
        # the exporter always writes these; equal to what the stage would inherit: inherit
        if own.get(key) == defaults.get(key, fallback.get(key)):
            own.pop(key, None)
    return own


# ---- split types, for the picker --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SplitType:
    """A split type as the picker offers it: parameters, help text, custom data editor."""

    kind: str
    params: tuple[str, ...]
    help: str
    editor: str | None = None


NEW_PARAMS = ("window", "round", "fts", "firsttime", "lasttime")
SPLIT_TYPES = (
    SplitType(
        "None",
        (),
        "No splitting is done: every launch uses the dataset field as it is, and the stage "
        "never runs out.",
    ),
    SplitType(
        "list",
        (),
        "The dataset field is a comma-separated list of datasets; each launch takes the next "
        "one, in order, until the list is used up.",
        "list",
    ),
    SplitType(
        "multiparam",
        (),
        "The dataset field is a JSON list of lists of values; each launch takes the next "
        "combination (the first list varies fastest) joined with '_', e.g. electron_1GeV, "
        "muon_1GeV, electron_3GeV, muon_3GeV.",
        "multiparam",
    ),
    SplitType(
        "nfiles",
        ("n",),
        "Slices of n files of the dataset, one per launch, until a slice is empty. For "
        "datasets that do not grow (see drainingn).",
    ),
    SplitType(
        "mod",
        ("n",),
        "Exactly n slices, each taking every n-th file of the dataset (stride n, offsets "
        "0 to n-1).",
    ),
    SplitType(
        "byrun",
        ("low", "high"),
        "One run number per launch, from low (default 1) up to but not including high "
        "(default 999999).",
    ),
    SplitType(
        "byexistingruns",
        (),
        "One run that has files not handed out yet per launch; ends when no such file is left.",
    ),
    SplitType(
        "draining",
        (),
        "The dataset unchanged on every launch; never runs out. For a definition that "
        "already leaves out the files processed.",
    ),
    SplitType(
        "drainingn",
        ("n",),
        "At most n files not handed out yet per launch (remembered with snapshots); works "
        "for datasets that grow.",
    ),
    SplitType(
        "stagedfiles",
        ("n",),
        "The dataset field names a (prestage) project; each launch takes up to n more "
        "files the project has delivered.",
    ),
    SplitType(
        "limitn",
        ("n",),
        "The first n files of the dataset on every launch (a small sample); nothing is remembered.",
    ),
    SplitType(
        "new",
        NEW_PARAMS,
        "Files new in each time slice: window (default 1w), round, fts (registration "
        "latency, default 30m), firsttime and lasttime (epoch seconds). Durations take a "
        "w, d, h, m or s suffix.",
    ),
    SplitType(
        "new_local",
        NEW_PARAMS,
        "As new, with the slice boundaries written in local time instead of GMT.",
    ),
)
