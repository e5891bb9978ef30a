"""Routes for a site's notification settings: its channels and its email templates."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from iopnet.auth import SiteDatabase, site_database
from iopnet.catalog import Scope
from iopnet.db import Connection
from iopnet.fields import Identifier
from iopnet.idempotency import Answer, IdempotencyKey, execute
from iopnet.problems import Problem, not_found
from services.notifications import commands, domain, store
from services.notifications.api.models import (
    ChannelsRequest,
    ChannelsView,
    TemplateRequest,
    TemplateView,
)
from services.notifications.domain import MessageKind, SiteChannels, Template
from services.notifications.domain.addresses import forbidden_range, literal_address
from services.notifications.settings import current as current_settings
from services.notifications.webhook_client import Resolver, system_resolver

router = APIRouter(prefix="/v1/sites/{site_id}", tags=["site settings"])
Admin = Annotated[SiteDatabase, Depends(site_database(Scope.NOTIFICATIONS_ADMIN))]


def _own_site(db: SiteDatabase, site_id: str) -> None:
    if not db.principal.may_act_for(site_id):
        raise Problem(403, "forbidden", "Not this key's site",
                      "a site's notification settings are changed with its own key")


def _email_kind(kind: str) -> MessageKind:
    if kind not in {k.value for k in domain.EMAIL_KINDS}:
        raise not_found("template kind", kind)
    return MessageKind(kind)


def _channels_view(channels: SiteChannels) -> ChannelsView:
    return ChannelsView(site_id=channels.site_id,
                        clinician_alert_email=channels.clinician_alert_email,
                        webhook_url=channels.webhook_url,
                        webhook_secret_set=bool(channels.webhook_secret),
                        escalation_email=channels.escalation_email,
                        acknowledge_within=channels.acknowledgement_window)


@router.put("/channels", responses={200: {"model": ChannelsView}})
async def set_channels(site_id: Identifier, body: ChannelsRequest, request: Request, db: Admin,
                       idempotency_key: IdempotencyKey = None
                       ) -> JSONResponse:
    """Where the site's clinician alerts (email) and webhooks go. Replaces what was set."""
    _own_site(db, site_id)
    if body.webhook_url is not None and (problem := await _webhook_url_problem(body.webhook_url)):
        raise Problem(422, "validation", "The request is not valid", problem,
                      errors=[{"pointer": "#/webhook_url", "detail": problem}])
    if (body.webhook_url is None) != (body.webhook_secret is None):
        raise Problem(422, "validation", "The request is not valid",
                      "a webhook needs both its URL and its secret",
                      errors=[{"pointer": "#/webhook_secret"}])

    channels = SiteChannels(site_id, body.clinician_alert_email, body.webhook_url,
                            body.webhook_secret, escalation_email=body.escalation_email,
                            acknowledge_within=body.acknowledge_within)

    async def record(conn: Connection) -> Answer:
        recorded = await commands.set_channels(commands.unit_of_work(conn, db.cause), channels)
        return Answer(200, _channels_view(recorded).model_dump(mode="json"))

    return await execute(request, db, idempotency_key, body, record)


#: Resolving a webhook's name when it is set; the send resolves (and checks) it again.
RESOLVE_SECONDS = 2
resolver: Resolver = system_resolver


async def _webhook_url_problem(url: str) -> str | None:
    """Why the URL is refused: by its form, or because its name resolves to an internal
    address now (a name that does not resolve yet is checked again at each send)."""
    allow_internal = current_settings().webhook_allow_internal_addresses
    if (problem := domain.webhook_url_problem(url, allow_internal=allow_internal)):
        return problem
    host = urlsplit(url).hostname or ""
    if allow_internal or literal_address(host) is not None:
        return None
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            addresses = await resolver(host, 443)
    except (OSError, TimeoutError):
        return None
    for address in addresses:
        if (internal := forbidden_range(address)) is not None:
            return (f"the name resolves to a {internal} address:"
                    " webhooks go to the public internet")
    return None


@router.get("/channels", response_model=ChannelsView)
async def read_channels(site_id: Identifier, db: Admin) -> ChannelsView:
    _own_site(db, site_id)
    async with db.transaction() as conn:
        return _channels_view(await store.site_channels(conn, site_id))


@router.put("/templates/{kind}", responses={200: {"model": TemplateView}})
async def set_template(site_id: Identifier, kind: str, body: TemplateRequest, request: Request,
                       db: Admin, idempotency_key: IdempotencyKey = None
                       ) -> JSONResponse:
    """The site's email template for a kind: ``string.Template`` text with ${placeholders}."""
    _own_site(db, site_id)
    message_kind = _email_kind(kind)
    template = Template(body.subject, body.body)
    if problems := domain.template_problems(message_kind, template):
        raise Problem(422, "validation", "The request is not valid",
                      "; ".join(f"{f}: {p}" for f, p in problems.items()),
                      errors=[{"pointer": f"#/{f}", "detail": p} for f, p in problems.items()])

    async def record(conn: Connection) -> Answer:
        await commands.set_template(commands.unit_of_work(conn, db.cause), site_id, message_kind,
                                    template)
        return Answer(200, _template_view(site_id, message_kind, template, False))

    return await execute(request, db, idempotency_key, body, record)


@router.get("/templates/{kind}", response_model=TemplateView)
async def read_template(site_id: Identifier, kind: str, db: Admin) -> dict[str, object]:
    """The template in use: the site's own, or the default."""
    _own_site(db, site_id)
    message_kind = _email_kind(kind)
    async with db.transaction() as conn:
        template = await store.template_for(conn, site_id, message_kind)
    return _template_view(site_id, message_kind, template,
                          template == domain.DEFAULT_TEMPLATES[message_kind])


def _template_view(site_id: str, kind: MessageKind, template: Template, default: bool
                   ) -> dict[str, object]:
    return TemplateView(site_id=site_id, kind=kind.value, subject=template.subject,
                        body=template.body, placeholders=sorted(domain.PLACEHOLDERS[kind]),
                        default=default).model_dump(mode="json")
