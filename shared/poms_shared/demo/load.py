"""Load the demo experiment and sample campaign when they are absent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_shared.db.campaigns import save_campaign
from poms_shared.db.models import Campaign, Experiment, Experimenter, Membership
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT, demo_ini
from poms_shared.ini.parser import parse_ini


def ensure_experiment(session: Session, experiment: str, username: str, role: str) -> None:
    """Experiment, user and membership, created if missing."""
    if session.get(Experiment, experiment) is None:
        session.add(Experiment(experiment=experiment, name=f"{experiment} experiment"))
    user = session.scalar(select(Experimenter).where(Experimenter.username == username))
    if user is None:
        user = Experimenter(username=username, first_name=username, root=False)
        session.add(user)
    session.flush()
    if session.get(Membership, (user.experimenter_id, experiment)) is None:
        session.add(
            Membership(experimenter_id=user.experimenter_id, experiment=experiment, role=role)
        )


def load_samples(session: Session, username: str = "poms") -> bool:
    """True if the demo campaign was created now, False if it already existed."""
    ensure_experiment(session, DEMO_EXPERIMENT, username, "production")
    exists = session.scalar(
        select(Campaign).where(
            Campaign.experiment == DEMO_EXPERIMENT, Campaign.name == DEMO_CAMPAIGN
        )
    )
    if exists is not None:
        return False
    save_campaign(
        session,
        parse_ini(demo_ini()),
        experiment=DEMO_EXPERIMENT,
        actor=username,
        role="production",
    )
    return True
