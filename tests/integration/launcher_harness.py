"""The launcher service on the in-process bus, with helpers to configure launches and wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from poms_launcher import bootstrap
from poms_shared.broker.memory import InProcessBus
from poms_shared.broker.names import TRACKER_LAUNCHES
from poms_shared.contracts import Envelope, Message, new_envelope
from poms_shared.db.models import Campaign, CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import Submission
from poms_shared.demo import DEMO_CAMPAIGN
from poms_shared.domain.statuses import SubmissionStatus
from poms_shared.runtime.service import Service
from poms_shared.settings import Settings


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Harness:
    """A running launcher and everything it published on the tracker's launch queue."""

    service: Service
    bus: InProcessBus
    db: Database
    events: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, command: Message) -> None:
        self.bus.publish(new_envelope(command))

    def collected(self, kind: type | tuple[type, ...], **match: Any) -> list[Any]:
        with self.lock:
            return [
                e
                for e in self.events
                if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())
            ]

    def wait_event(self, kind: type | tuple[type, ...], timeout: float = 30.0, **match: Any) -> Any:
        what = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        found = wait_for(lambda: self.collected(kind, **match), timeout, what)
        return found[0]

    def submission(self, sid: int) -> Submission:
        with self.db.transaction() as session:
            sub = session.get(Submission, sid)
            assert sub is not None
            session.expunge(sub)
            return sub


@contextmanager
def running_launcher(settings: Settings, db: Database) -> Iterator[Harness]:
    bus = InProcessBus()
    bus.declare()
    service = bootstrap.build(settings, db, bus)
    harness = Harness(service, bus, db)

    def collect(envelope: Envelope) -> None:
        with harness.lock:
            harness.events.append(envelope.payload)

    service.subscribe_all()
    bus.subscribe(TRACKER_LAUNCHES, collect)
    bus.start()
    service.start_loops()
    try:
        yield harness
    finally:
        service.stop_loops()
        bus.stop()


def configure_stage(
    db: Database,
    *,
    launch_script: str,
    parameters: list[list[str]] | None = None,
    host: str = "localhost",
    account: str = "poms",
    setup: str = "",
    vo_role: str = "Production",
) -> int:
    """Point the demo campaign's first stage at a launch script and login setup."""
    with db.transaction() as session:
        stage = session.scalars(
            select(CampaignStage)
            .join(Campaign, Campaign.campaign_id == CampaignStage.campaign_id)
            .where(Campaign.name == DEMO_CAMPAIGN)
            .order_by(CampaignStage.campaign_stage_id)
        ).first()
        assert stage is not None
        stage.job_type.launch_script = launch_script
        stage.job_type.definition_parameters = []
        stage.param_overrides = parameters or []
        stage.login_setup.launch_host = host
        stage.login_setup.launch_account = account
        stage.login_setup.launch_setup = setup
        stage.vo_role = vo_role
        return stage.campaign_stage_id


def new_submission(db: Database, stage_id: int, **params: Any) -> int:
    with db.transaction() as session:
        sub = Submission(
            campaign_stage_id=stage_id,
            launcher="poms",
            status_id=int(SubmissionStatus.NEW),
            submission_params={"dataset": "", **params},
        )
        session.add(sub)
        session.flush()
        return sub.submission_id


def log_text(harness: Harness, sid: int) -> str:
    path = harness.submission(sid).launch_log
    return Path(path).read_text() if path and Path(path).exists() else ""
