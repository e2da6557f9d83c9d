"""Who is asking, acting where and as what, and whether they may.

Identity, in order: ``Authorization: Bearer <API token>``; the single-sign-on header
(``POMS_SSO_HEADER``) when the request comes from a trusted proxy
(``POMS_TRUSTED_PROXIES``; from anywhere else the header is ignored); the local
development login (``POMS_DEV_USER``: on by default in embedded mode only, marked on
every response with ``X-POMS-Dev-Login``). Nobody identified: 401.

The experiment and role a request acts in come from ``experiment``/``role`` in the query
or form (or ``X-POMS-Experiment``/``X-POMS-Role``), else the object's experiment, else the
token's scope, the saved session choice, the only membership. A scoped token refuses any
other experiment or role.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from flask import g, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, Unauthorized

from poms_shared.db import identity
from poms_shared.db.identity import Person, Unauthenticated
from poms_shared.db.tables import Submission
from poms_shared.domain.permissions import (
    ANALYSIS,
    CREATOR_ROLES,
    PRODUCTION,
    Act,
    Actor,
    Denied,
    Owner,
    actable_roles,
    check,
)
from poms_web.adapters import owners
from poms_web.context import web_state

DEV_HEADER = "X-POMS-Dev-Login"


class NotSignedIn(Unauthorized):
    """401 with the reason; the error handler adds ``WWW-Authenticate``."""


def person(session: Session) -> Person:
    """The requester (cached for the request); NotSignedIn if nobody is identified."""
    found: Person | None = g.get("poms_person")
    if found is None:
        try:
            found = _identify(session)
        except Unauthenticated as exc:
            raise NotSignedIn(str(exc)) from None
        g.poms_person = found
    return found


def _identify(session: Session) -> Person:
    settings = web_state().settings
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send the API token as 'Authorization: Bearer <token>'")
        return identity.person_for_token(session, secret.strip())
    sso = request.headers.get(settings.sso_header, "").strip()
    if sso and _trusted(request.remote_addr, settings.trusted_proxies):
        return identity.person(session, sso)
    if settings.dev_user:
        g.poms_dev_login = settings.dev_user
        return _dev_person(session, settings.dev_user)
    raise Unauthenticated(
        "sign in through the site's single sign-on, or send 'Authorization: Bearer <token>'"
    )


def _trusted(address: str | None, proxies: tuple[str, ...]) -> bool:
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def _dev_person(session: Session, username: str) -> Person:
    """The development login acts as an administrator (its memberships, if any, kept)."""
    try:
        found = identity.person(session, username)
    except Unauthenticated:
        return Person(username, 0, True, {}, None)
    return replace(found, root=True)


def _requested(name: str) -> str | None:
    value = request.args.get(name) or request.headers.get(f"X-POMS-{name.title()}")
    if value is None and request.form:
        value = request.form.get(name)
    return value.strip() if value and value.strip() else None


def actor(
    session: Session,
    owner: Owner | None = None,
    *,
    experiment: str | None = None,
    role: str | None = None,
) -> Actor:
    """The requester acting in the requested experiment and role (see the module doc);
    ``experiment``/``role``: what to assume when the request names none."""
    who = person(session)
    experiment = _requested("experiment") or g.get("poms_path_experiment") or experiment
    role = _requested("role") or g.get("poms_path_role") or role
    if who.token_experiment and experiment and experiment != who.token_experiment:
        raise Forbidden(f"this API token acts only in experiment {who.token_experiment}")
    if who.token_role and role and role != who.token_role:
        raise Forbidden(f"this API token acts only as {who.token_role}")
    if experiment is None and owner is not None and not who.token_experiment:
        experiment = owner.experiment
    return who.acting(experiment, role)


def authorize(
    session: Session,
    act: Act,
    owner: Owner | None = None,
    *,
    experiment: str | None = None,
    role: str | None = None,
) -> Actor:
    """The acting requester, if they may ``act`` on ``owner``; 401/403 otherwise."""
    acting = actor(session, owner, experiment=experiment, role=role)
    try:
        check(acting, act, owner)
    except Denied as exc:
        raise Forbidden(str(exc)) from None
    return acting


def authorize_create(
    session: Session, *, experiment: str | None = None, role: str | None = None
) -> Actor:
    """The acting requester, if they may create objects in the experiment.

    Objects are made while acting as analysis or production. When the request names no
    role: ``role`` (e.g. an ``.ini``'s ``poms_role``) if given, else the membership's role,
    and someone whose role makes nothing (superuser, shifter) creates as production if they
    may act so, otherwise as analysis."""
    named = _requested("role") or g.get("poms_path_role")
    acting = actor(session, experiment=experiment, role=role)
    if not named and acting.role not in CREATOR_ROLES and acting.experiment:
        allowed = actable_roles(acting, acting.experiment)
        fallback = next((r for r in (PRODUCTION, ANALYSIS) if r in allowed), None)
        if fallback:
            acting = replace(acting, role=fallback)
    try:
        check(acting, Act.CREATE, Owner(acting.experiment or ""))
    except Denied as exc:
        raise Forbidden(str(exc)) from None
    return acting


def may(session: Session, act: Act, item: owners.Owned) -> Actor:
    """``authorize`` on a login setup, job type, campaign or stage."""
    return authorize(session, act, owners.owner(session, item))


def may_submission(session: Session, act: Act, submission: Submission) -> Actor:
    return authorize(session, act, owners.submission_owner(session, submission))


def creator_role(acting: Actor, wanted: str | None = None) -> str:
    """The role a new object is made for: the acting role, or for an administrator acting
    as superuser the one asked for (production by default)."""
    if acting.role in CREATOR_ROLES:
        return acting.role
    return wanted if wanted is not None and wanted in CREATOR_ROLES else PRODUCTION


def mark_dev_login(response: Any) -> Any:
    """``after_request``: say on the response that the development login answered."""
    if g.get("poms_dev_login"):
        response.headers[DEV_HEADER] = g.poms_dev_login
    return response
