"""``POMS_CATALOG=samweb``: on Located, the campaign manager's recoveries and dependency
datasets are SAM definitions (reference §3.6, §4.2–4.3), evaluated by the fake SAM server;
a SAM failure leaves the Located event to be retried, never the recovery skipped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sam_campaign import (
    AFTER,
    EXP,
    fill_world,
    sam_settings,
    simulate_submission,
    stage_id_of,
)
from sqlalchemy import select

from poms_campaign_manager import bootstrap, handlers
from poms_shared.broker.errors import RetryPolicy
from poms_shared.broker.memory import InProcessBus
from poms_shared.catalog import SubmissionCatalog
from poms_shared.catalog.factory import make_catalog
from poms_shared.contracts import decode, new_envelope
from poms_shared.contracts.messages import (
    LaunchSubmission,
    RecoverSubmission,
    SubmissionLocated,
)
from poms_shared.db.messaging import UnitOfWork
from poms_shared.db.session import Database
from poms_shared.db.tables import Dataset, LaunchRequest, OutboxMessage, Submission
from poms_shared.settings import load_settings
from poms_shared.testing.fake_samweb import FakeSamweb


@pytest.fixture
def sam() -> Iterator[FakeSamweb]:
    with FakeSamweb() as fake:
        fill_world(fake)
        yield fake


@dataclass(frozen=True)
class Launched:
    """A submission the campaign manager allocated and handed to the launcher."""

    stage_id: int
    dataset: str
    recovery_parent_id: int | None


def located(db: Database, sid: int, settings: Any) -> list[Launched]:
    """Handle the submission's Located event; what it launched."""
    with db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        evt = SubmissionLocated(submission_id=sid, stage_id=sub.campaign_stage_id, campaign_id=None)
        uow = UnitOfWork(session)
        handlers.on_submission_located(evt, uow=uow, settings=settings)
        return launched_by(session, [e.payload for e in uow.emitted])


def launched_by(session: Any, payloads: list[Any]) -> list[Launched]:
    result = []
    for payload in payloads:
        if isinstance(payload, LaunchSubmission):
            row = session.get(Submission, payload.submission_id)
            result.append(
                Launched(
                    row.campaign_stage_id, row.submission_params["dataset"], row.recovery_parent_id
                )
            )
    return result


def params_of(db: Database, sid: int) -> tuple[dict[str, Any], int | None]:
    with db.transaction() as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        return dict(sub.submission_params), sub.recovery_position


def local_datasets(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(Dataset.name)))


def recovery_definitions(sam: FakeSamweb) -> list[str]:
    return sorted(n for n in sam.world(EXP).definitions if n.startswith("poms_recover_"))


# ---- both adapters answer the new port --------------------------------------------------


@pytest.mark.parametrize("catalog", ["local", "samweb"])
def test_the_configured_adapter_answers_questions_about_a_submissions_files(database, sam, catalog):
    settings = sam_settings(sam) if catalog == "samweb" else load_settings(catalog="local")
    with database.transaction() as session:
        assert isinstance(make_catalog(settings, session, experiment=EXP), SubmissionCatalog)


# ---- dependency datasets (§3.6) ---------------------------------------------------------


def test_on_located_the_dependency_dataset_is_a_sam_definition_of_the_matching_outputs(
    database, sam
):
    sid = simulate_submission(database)
    launched = located(database, sid, sam_settings(sam))

    name = f"poms_depends_{sid}_1"
    assert launched == [Launched(stage_id_of(database, "reconstruct"), name, None)]
    world = sam.world(EXP)
    assert name in world.definitions
    # outputs of P's files, of version v1_0, made after the launch, matching sim_%.root
    assert world.query(f"defname:{name}") == ["sim_1.root", "sim_2.root"]
    assert local_datasets(database) == []  # nothing was defined in the local catalog

    # a definition, not a frozen list: output declared later (e.g. by a recovery) joins it
    world.add_file("sim_4.root", parents=["gen_4"], version="v1_0", created=AFTER)
    assert world.query(f"defname:{name}") == ["sim_1.root", "sim_2.root", "sim_4.root"]


def test_an_existing_dependency_definition_holding_more_files_is_kept(database, sam):
    sid = simulate_submission(database)
    name = f"poms_depends_{sid}_1"
    sam.world(EXP).define(name, "file_name sim_1.root,sim_1.log,sim_2.root")
    located(database, sid, sam_settings(sam))
    assert sam.world(EXP).query(f"defname:{name}") == ["sim_1.log", "sim_1.root", "sim_2.root"]


def test_without_a_sam_project_nothing_is_defined_or_recovered_and_the_dependents_launch(
    database, sam
):
    sid = simulate_submission(database, project=None, recoveries=("consumed_status",))
    launched = located(database, sid, sam_settings(sam))

    name = f"poms_depends_{sid}_1"  # declared by the jobs themselves (§3.6)
    assert launched == [Launched(stage_id_of(database, "reconstruct"), name, None)]
    assert sam.calls("definitions/create") == []
    params, position = params_of(database, sid)
    assert "recoveries" not in params.get("workflow", {})
    assert position == 1  # the step was looked at, and had nothing it could recover


# ---- recoveries (§4.2–4.3) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("recoveries", "new_input", "files", "position"),
    [
        (("consumed_status",), False, ["gen_4", "gen_5"], 1),
        (("delivered_not_consumed", "pending_files"), False, ["gen_3", "gen_4", "gen_5"], 2),
        (("added_files",), True, ["gen_6"], 1),
    ],
)
def test_a_recovery_is_a_sam_definition_of_the_types_files_launched_as_a_child(
    database, sam, recoveries, new_input, files, position
):
    if new_input:
        sam.world(EXP).add_file("gen_6")  # joins gen_def after P took its snapshot
    sid = simulate_submission(database, recoveries=recoveries)
    launched = located(database, sid, sam_settings(sam))

    [name] = recovery_definitions(sam)
    assert name.startswith("poms_recover_") and name.endswith(f"_{sid}_{position - 1}")
    assert sam.world(EXP).query(f"defname:{name}") == files
    assert launched == [Launched(stage_id_of(database, "simulate"), name, sid)]
    params, recovery_position = params_of(database, sid)
    [record] = params["workflow"]["recoveries"]
    assert (record["name"], record["count"]) == (name, len(files))
    assert recovery_position == position
    assert local_datasets(database) == []


def test_when_sam_finds_nothing_to_recover_no_child_is_launched_and_the_dependents_go(
    database, sam
):
    sid = simulate_submission(database, recoveries=("added_files",))  # nothing was added
    launched = located(database, sid, sam_settings(sam))

    assert recovery_definitions(sam) == []
    name = f"poms_depends_{sid}_1"
    assert launched == [Launched(stage_id_of(database, "reconstruct"), name, None)]


def test_a_persons_recovery_is_defined_in_sam_and_a_sam_outage_refuses_it_with_the_reason(
    database, sam
):
    sid = simulate_submission(database)

    def recover(request_id: str) -> LaunchRequest:
        with database.transaction() as session:
            stage_id = session.get(Submission, sid).campaign_stage_id
            session.add(LaunchRequest(request_id=request_id, campaign_stage_id=stage_id, actor="x"))
            session.flush()
            cmd = RecoverSubmission(
                submission_id=sid, recovery_type="consumed_status", actor="x", request_id=request_id
            )
            handlers.recover_submission(cmd, uow=UnitOfWork(session), settings=sam_settings(sam))
            request = session.get(LaunchRequest, request_id)
            session.expunge(request)
            return request

    sam.fail_next(count=1)
    refused = recover("r1")
    assert refused.outcome == "failed"
    assert refused.error and refused.error.startswith("data catalog:")
    assert recovery_definitions(sam) == []

    accepted = recover("r2")
    assert accepted.outcome == "launched", accepted.error
    [name] = recovery_definitions(sam)
    assert sam.world(EXP).query(f"defname:{name}") == ["gen_4", "gen_5"]


# ---- SAM failures: the Located event is retried, not lost --------------------------------


def run_located_through_the_bus(database: Database, sid: int, settings: Any) -> InProcessBus:
    """The campaign manager's consumer handles the Located event as in production
    (retries, redelivery, dead letters), with short waits."""
    bus = InProcessBus(retry=RetryPolicy(attempts=2, min_wait=0.01, max_wait=0.02))
    service = bootstrap.build(settings, database, bus)
    service.subscribe_all()
    bus.start()
    with database.transaction() as session:
        stage_id = session.get(Submission, sid).campaign_stage_id
    bus.publish(
        new_envelope(SubmissionLocated(submission_id=sid, stage_id=stage_id, campaign_id=None))
    )
    assert bus.wait_idle(30)
    bus.stop()
    return bus


def launched_from_outbox(database: Database) -> list[Launched]:
    with database.transaction() as session:
        payloads = [decode(b).payload for b in session.scalars(select(OutboxMessage.body))]
        return launched_by(session, payloads)


def test_a_sam_error_during_the_recovery_walk_is_retried_and_the_recovery_launched_once(
    database, sam
):
    sid = simulate_submission(database, recoveries=("consumed_status",))
    sam.fail_next(count=1)  # the first attempt fails on its first SAM call
    bus = run_located_through_the_bus(database, sid, sam_settings(sam))

    assert bus.dead_letters == []
    [name] = recovery_definitions(sam)
    assert launched_from_outbox(database) == [
        Launched(stage_id_of(database, "simulate"), name, sid)
    ]
    assert params_of(database, sid)[1] == 1


def test_a_sam_outage_outlasting_the_retries_changes_nothing_and_keeps_the_event(database, sam):
    sid = simulate_submission(database, recoveries=("consumed_status",))
    sam.fail_next(count=1000)
    bus = run_located_through_the_bus(database, sid, sam_settings(sam))

    [(_queue, body, reason)] = bus.dead_letters  # parked with the reason, for a replay
    assert decode(body).payload == SubmissionLocated(
        submission_id=sid, stage_id=stage_id_of(database, "simulate"), campaign_id=None
    )
    assert "CatalogError" in reason
    assert launched_from_outbox(database) == []
    params, position = params_of(database, sid)
    assert position is None and "dependents_launched" not in params


def test_a_sam_error_while_defining_a_dependency_is_retried_not_skipped(database, sam):
    sid = simulate_submission(database)
    sam.fail_next(count=1)
    bus = run_located_through_the_bus(database, sid, sam_settings(sam))

    assert bus.dead_letters == []
    name = f"poms_depends_{sid}_1"
    assert sam.world(EXP).query(f"defname:{name}") == ["sim_1.root", "sim_2.root"]
    assert launched_from_outbox(database) == [
        Launched(stage_id_of(database, "reconstruct"), name, None)
    ]
