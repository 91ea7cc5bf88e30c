"""Webhook pages: deliveries (with every attempt and why it failed, Retry and Replay) and subscriptions.

Thin: each page reads its query (a bad value gets a message and a safe
default, never an error page) and calls ``delivery.service``. Changes are
forms posted with the session's CSRF token; with htmx a row or a section is
swapped in place, without it the browser is sent back to the page. Only
administrators see (and may use) the buttons and the form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from carehub.platform.auth import permissions
from carehub.platform.auth.actor import Actor
from carehub.platform.delivery import service
from carehub.platform.delivery.tables import STATUSES
from carehub.platform.errors import CarehubError, PermissionDenied
from carehub.platform.web import templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.platform.web.shell import check_csrf

router = APIRouter(include_in_schema=False)

templating.add_template_dir(Path(__file__).parent / "templates")


def add_navigation() -> None:
    """The Deliveries entry of the main navigation (added by the app, after the capabilities' entries)."""
    templating.add_nav_item("Deliveries", "/deliveries", "arrow-right", admin=True)


MAX_FIELD = 2000
PER_PAGE = 50
SubscriptionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


def _shell(request: Request, container: ContainerDep, actor: Actor) -> int:
    """The actor's tenant; sets the page header's tenant name and time zone."""
    if actor.tenant_id is None:
        raise PermissionDenied("webhook deliveries belong to a tenant; sign in as one of its users")
    # Deliveries carry every branch's events: tenant administrators only.
    permissions.require_admin(actor, "see webhook deliveries")
    facts = service.tenant_facts(container.db, actor.tenant_id)
    if facts is not None:
        templating.set_shell(request, timezone=facts.timezone, tenant_name=facts.name)
    return actor.tenant_id


def _hx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _number(raw: str, label: str, problems: list[str], maximum: int = 2**63 - 1) -> int | None:
    value = raw.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 19 or not 1 <= int(value) <= maximum:
        problems.append(f"{label} “{value[:20]}” is not a number from 1 to {maximum:,}; it was left out.")
        return None
    return int(value)


@router.get("/deliveries")
def deliveries(request: Request, actor: PageActor, container: ContainerDep) -> Response:
    tenant_id = _shell(request, container, actor)
    problems: list[str] = []
    query: dict[str, str] = {}
    raw = request.query_params
    status = raw.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        problems.append(f"Status “{status[:40]}” is not one of: {', '.join(STATUSES)}. Showing all.")
        status = None
    if status:
        query["status"] = status
    subs = service.list_subscriptions(container.db, tenant_id)
    sub_id = _number(raw.get("subscription", ""), "Subscription", problems, 2**31 - 1)
    if sub_id is not None and all(s.id != sub_id for s in subs):
        problems.append(f"There is no subscription {sub_id}; showing every subscription.")
        sub_id = None
    if sub_id is not None:
        query["subscription"] = str(sub_id)
    event_id = _number(raw.get("event", ""), "Event", problems)
    if event_id is not None:
        query["event"] = str(event_id)
    page_no = _number(raw.get("page", ""), "Page", problems, 1_000_000) or 1
    found = service.list_deliveries(
        container.db,
        tenant_id,
        status=status,
        subscription_id=sub_id,
        event_id=event_id,
        page=page_no,
        per_page=PER_PAGE,
    )
    if page_no != found.page:
        problems.append(f"There is no page {page_no}; showing page {found.page} of {found.pages}.")
    if found.page > 1:
        query["page"] = str(found.page)
    context = {
        "page": found,
        "query": query,
        "problems": problems,
        "subscriptions": subs,
        "status": status,
        "subscription_id": sub_id,
        "event_id": event_id,
        "statuses": STATUSES,
        "partial": _hx(request) and request.headers.get("hx-target") == "results",
    }
    if context["partial"]:
        # The address bar shows the canonical query (no empty fields), so it can be shared or bookmarked.
        canonical = "/deliveries" + templating.query_string(query).rstrip("?")
        return templating.render(
            request, "delivery/_deliveries_results.html", context, headers={"HX-Push-Url": canonical}
        )
    return templating.render(request, "delivery/deliveries.html", context)


@router.get("/deliveries/subscriptions")
def subscriptions(request: Request, actor: PageActor, container: ContainerDep) -> Response:
    tenant_id = _shell(request, container, actor)
    return _subscriptions_page(request, container, tenant_id)


def _subscriptions_page(
    request: Request,
    container: ContainerDep,
    tenant_id: int,
    *,
    created: service.CreatedSubscription | None = None,
    error: CarehubError | None = None,
    notice: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "subscriptions": service.list_subscriptions(container.db, tenant_id),
        "created": created,
        "error": error,
        "notice": notice,
        "form": form or {"topics": " ".join(service.DEFAULT_TOPICS), "max_attempts": service.DEFAULT_MAX_ATTEMPTS},
        "default_attempts": service.DEFAULT_MAX_ATTEMPTS,
    }
    return templating.render(request, "delivery/subscriptions.html", context, status_code=status_code)


@router.post("/deliveries/subscriptions")
def add_subscription(
    request: Request,
    actor: PageActor,
    container: ContainerDep,
    name: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    url: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    topics: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    max_attempts: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    tenant_id = _shell(request, container, actor)
    form = {"name": name, "url": url, "topics": topics, "max_attempts": max_attempts}
    try:
        attempts = int(max_attempts) if max_attempts.strip() else service.DEFAULT_MAX_ATTEMPTS
    except ValueError:
        attempts = -1  # refused by the service, with the field named
    try:
        created = service.do_create_subscription(
            container.db,
            actor,
            tenant_id=tenant_id,
            name=name,
            url=url,
            topics=topics.replace(",", " ").split() or None,
            max_attempts=attempts,
        )
    except CarehubError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        return _subscriptions_page(request, container, tenant_id, error=exc, form=form, status_code=exc.status)
    # The secret is shown in this answer only: no redirect, nothing kept in the session.
    return _subscriptions_page(request, container, tenant_id, created=created, status_code=201)


@router.post("/deliveries/subscriptions/{subscription_id}/active")
def set_active(
    request: Request,
    subscription_id: SubscriptionId,
    actor: PageActor,
    container: ContainerDep,
    active: Annotated[str, Form(max_length=10)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    tenant_id = _shell(request, container, actor)
    change = service.do_enable_subscription if active == "yes" else service.do_disable_subscription
    info = change(container.db, actor, tenant_id=tenant_id, subscription_id=subscription_id)
    notice = f"{info.name} is {'enabled' if info.active else 'disabled'}."
    return _subscriptions_page(request, container, tenant_id, notice=notice)


@router.post("/deliveries/subscriptions/{subscription_id}/retry-dead")
def retry_dead(
    request: Request,
    subscription_id: SubscriptionId,
    actor: PageActor,
    container: ContainerDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    tenant_id = _shell(request, container, actor)
    count = service.do_retry_dead(container.db, actor, tenant_id=tenant_id, subscription_id=subscription_id)
    notice = f"{count} dead deliver{'y is' if count == 1 else 'ies are'} pending again."
    return _subscriptions_page(request, container, tenant_id, notice=notice)


@router.post("/deliveries/subscriptions/{subscription_id}/replay")
def replay(
    request: Request,
    subscription_id: SubscriptionId,
    actor: PageActor,
    container: ContainerDep,
    from_event: Annotated[str, Form(max_length=30)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    tenant_id = _shell(request, container, actor)
    problems: list[str] = []
    first = _number(from_event, "From event", problems)
    if first is None:
        message = problems[0] if problems else "Enter the first event id to send again."
        error = CarehubError(message)
        return _subscriptions_page(request, container, tenant_id, error=error, status_code=422)
    result = service.do_replay(
        container.db, actor, tenant_id=tenant_id, subscription_id=subscription_id, from_event_id=first
    )
    notice = (
        f"Replay queued {result.events} event{'' if result.events == 1 else 's'} from event {first} "
        f"({result.requeued} sent before, {result.created} never sent)."
    )
    return _subscriptions_page(request, container, tenant_id, notice=notice)


@router.get("/deliveries/{delivery_id}")
def delivery(request: Request, delivery_id: DeliveryId, actor: PageActor, container: ContainerDep) -> Response:
    tenant_id = _shell(request, container, actor)
    found = service.get_delivery(container.db, tenant_id, delivery_id)
    return templating.render(request, "delivery/delivery.html", {"d": found})


def _after_change(request: Request, container: ContainerDep, tenant_id: int, delivery_id: int) -> Response:
    """The changed row (htmx), or back to where the form was (no JavaScript)."""
    if _hx(request):
        found = service.get_delivery(container.db, tenant_id, delivery_id)
        template = "delivery/_delivery_row.html" if request.headers.get("hx-target", "").startswith("row-") else None
        if template:
            return templating.render(request, template, {"d": found, "changed": True})
        return templating.render(request, "delivery/_delivery_panel.html", {"d": found, "changed": True})
    back = request.headers.get("referer", "")
    target = "/deliveries/" + str(delivery_id) if f"/deliveries/{delivery_id}" in back else "/deliveries"
    return RedirectResponse(target, status_code=303)


@router.post("/deliveries/{delivery_id}/retry")
def retry(
    request: Request,
    delivery_id: DeliveryId,
    actor: PageActor,
    container: ContainerDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    tenant_id = _shell(request, container, actor)
    service.do_retry(container.db, actor, tenant_id=tenant_id, delivery_id=delivery_id)
    return _after_change(request, container, tenant_id, delivery_id)


@router.post("/deliveries/{delivery_id}/replay")
def replay_delivery(
    request: Request,
    delivery_id: DeliveryId,
    actor: PageActor,
    container: ContainerDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    tenant_id = _shell(request, container, actor)
    service.do_replay_delivery(container.db, actor, tenant_id=tenant_id, delivery_id=delivery_id)
    return _after_change(request, container, tenant_id, delivery_id)
