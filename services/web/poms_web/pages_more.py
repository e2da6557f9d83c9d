"""More server-rendered pages: held launches, an experiment's members, my API tokens and the
live launch log of a submission; actions call /api/v1 (readable without JavaScript)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint
from sqlalchemy import select

from poms_shared.db import identity
from poms_shared.db.models import CampaignStage, Experiment
from poms_shared.domain.permissions import ROLES, SUPERUSER, Act, Owner, actable_roles
from poms_shared.domain.statuses import SubmissionStatus
from poms_web import auth, pages, paging
from poms_web.adapters import queries, stage_admin
from poms_web.context import web_state
from poms_web.identity_api import _token_info
from poms_web.pages_common import install_error_pages, pages_of, render_page

bp = Blueprint("more_pages", __name__)
install_error_pages(bp)
LOG_TAIL = 500  # lines of the launch log the page shows at first


# The menu links held launches as ``pages.held_launches``: the view joins that blueprint
# (this module is imported before the app registers it).
@pages.bp.get("/held-launches")
def held_launches() -> Any:
    """Held launches the acting person may see, oldest first; paginated."""
    with web_state().db.transaction() as session:
        acting = auth.authorize(session, Act.VIEW)
        held = stage_admin.visible_held(session, acting)
        page = paging.page_of([queries.held_launch_info(h) for h in held])
        ids = {h["stage_id"] for h in page["items"]}
        query = select(CampaignStage.campaign_stage_id, CampaignStage.name).where(
            CampaignStage.campaign_stage_id.in_(ids)
        )
        names = {stage_id: name for stage_id, name in session.execute(query)}
        return render_page(
            session,
            "held_launches.html",
            title="Held launches",
            page=page,
            numbers=pages_of(page),
            stage_names=names,
        )


@bp.get("/experiments/<experiment>/members")
def members(experiment: str) -> Any:
    """The experiment's members and roles; superusers may change a role."""
    with web_state().db.transaction() as session:
        if session.get(Experiment, experiment) is None:
            raise queries.NotFound(f"experiment {experiment!r} does not exist")
        acting = auth.authorize(session, Act.VIEW, Owner(experiment), experiment=experiment)
        items = [
            {"username": u, "role": r, "active": a}
            for u, r, a in identity.members(session, experiment)
        ]
        page = paging.page_of(items)
        return render_page(
            session,
            "members.html",
            title=f"Members of {experiment}",
            experiment=experiment,
            page=page,
            numbers=pages_of(page),
            roles_all=ROLES,
            may_edit=SUPERUSER in actable_roles(acting, experiment),
            superuser=SUPERUSER,
        )


@bp.get("/me/tokens")
def tokens() -> Any:
    """My API tokens; make one (its secret is shown once) or revoke one."""
    with web_state().db.transaction() as session:
        who = auth.person(session)
        page = paging.page_of([_token_info(t) for t in identity.tokens_of(session, who.username)])
        return render_page(
            session, "tokens.html", title="My API tokens", page=page, numbers=pages_of(page)
        )


def log_tail(path: str | Path | None, tail: int) -> tuple[str | None, int]:
    """The last ``tail`` lines of a log (None: no log yet) and its full length."""
    if not path or not Path(path).exists():
        return None, 0
    text = Path(path).read_text(errors="replace")
    return "".join(text.splitlines(keepends=True)[-tail:]), len(text)


@bp.get("/submissions/<int:submission_id>/launch-log")
def launch_log(submission_id: int) -> Any:
    """The launch output so far; a script follows it while the launch runs."""
    with web_state().db.transaction() as session:
        sub = queries.get_submission(session, submission_id)
        auth.may_submission(session, Act.VIEW, sub)
        text, length = log_tail(sub.launch_log, LOG_TAIL)
        status = SubmissionStatus(sub.status_id)
        params = sub.submission_params or {}
        return render_page(
            session,
            "launch_log.html",
            title=f"Launch log of submission {submission_id}",
            sub=sub,
            status=status.label,
            log=text,
            length=length,
            tail=LOG_TAIL,
            launching=status == SubmissionStatus.NEW and "launch_finished" not in params,
        )
