"""The webhook API: ``/api/v1/subscriptions`` and ``/api/v1/deliveries``.

Thin: each route checks its input, takes the caller's tenant and calls one
function of ``delivery.service``. Every route needs a caller (an API token, or
a signed-in browser for reads); changes need a tenant administrator. The
signing secret is in the answer to the request that creates a subscription,
and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from carehub.platform.auth import permissions
from carehub.platform.auth.actor import Actor
from carehub.platform.delivery import service
from carehub.platform.errors import PermissionDenied
from carehub.platform.web.deps import ApiActor, ContainerDep

router = APIRouter(prefix="/api/v1")

MAX_ID = 2**63 - 1
MAX_SUBSCRIPTION_ID = 2**31 - 1
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_SUBSCRIPTION_ID, description="Subscription id")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="Delivery id")]
Topic = Annotated[str, Field(min_length=1, max_length=80)]
Status = Literal["pending", "delivered", "dead"]


class SubscriptionIn(BaseModel):
    """A new subscription. Leave ``secret`` out to have Carehub make one (returned once)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=service.MAX_NAME)
    url: str = Field(min_length=1, max_length=service.MAX_URL, examples=["https://example.org/carehub/webhook"])
    topics: list[Topic] | None = Field(
        default=None, max_length=service.MAX_TOPICS, description="Topic prefixes; default ['publishing.']; '*' = all"
    )
    max_attempts: int = Field(default=service.DEFAULT_MAX_ATTEMPTS, ge=1, le=service.MAX_ATTEMPTS_LIMIT)
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class SubscriptionPatch(BaseModel):
    """What to change; what is left out stays."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=service.MAX_NAME)
    url: str | None = Field(default=None, min_length=1, max_length=service.MAX_URL)
    topics: list[Topic] | None = Field(default=None, max_length=service.MAX_TOPICS)
    max_attempts: int | None = Field(default=None, ge=1, le=service.MAX_ATTEMPTS_LIMIT)
    active: bool | None = None


class ReplayIn(BaseModel):
    """Which events to send again: from an event id, or since a time (with its UTC offset); optionally up to an id."""

    model_config = ConfigDict(extra="forbid")

    from_event_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    since: datetime | None = None
    to_event_id: int | None = Field(default=None, ge=1, le=MAX_ID)


def _tenant(actor: Actor) -> int:
    if actor.tenant_id is None:
        raise PermissionDenied("webhook subscriptions belong to a tenant; this caller has none")
    # Subscriptions and deliveries carry every branch's events: tenant administrators (and tokens) only.
    permissions.require_admin(actor, "see or change webhook subscriptions and deliveries")
    return actor.tenant_id


@router.get("/subscriptions", tags=["Webhooks"], summary="List the tenant's webhook subscriptions (no secrets)")
def list_subscriptions(actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    subs = service.list_subscriptions(container.db, _tenant(actor))
    return {"items": [s.as_dict() for s in subs]}


@router.post(
    "/subscriptions",
    tags=["Webhooks"],
    status_code=201,
    summary="Create a webhook subscription (administrators); the answer holds its signing secret, once",
)
def create_subscription(body: SubscriptionIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    created = service.do_create_subscription(
        container.db,
        actor,
        tenant_id=_tenant(actor),
        name=body.name,
        url=body.url,
        topics=body.topics,
        max_attempts=body.max_attempts,
        secret=body.secret,
    )
    return {**created.subscription.as_dict(), "secret": created.secret}


@router.get("/subscriptions/{subscription_id}", tags=["Webhooks"], summary="Read one webhook subscription")
def get_subscription(subscription_id: SubscriptionId, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return service.get_subscription(container.db, _tenant(actor), subscription_id).as_dict()


@router.patch(
    "/subscriptions/{subscription_id}",
    tags=["Webhooks"],
    summary="Change a webhook subscription, or disable it with active=false (administrators)",
)
def update_subscription(
    subscription_id: SubscriptionId, body: SubscriptionPatch, actor: ApiActor, container: ContainerDep
) -> dict[str, Any]:
    info = service.do_update_subscription(
        container.db,
        actor,
        tenant_id=_tenant(actor),
        subscription_id=subscription_id,
        name=body.name,
        url=body.url,
        topics=body.topics,
        max_attempts=body.max_attempts,
        active=body.active,
    )
    return info.as_dict()


@router.post(
    "/subscriptions/{subscription_id}/replay",
    tags=["Webhooks"],
    summary="Send a subscription its events again from an event id or a time, in event order (administrators)",
)
def replay(subscription_id: SubscriptionId, body: ReplayIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    result = service.do_replay(
        container.db,
        actor,
        tenant_id=_tenant(actor),
        subscription_id=subscription_id,
        from_event_id=body.from_event_id,
        since=body.since,
        to_event_id=body.to_event_id,
    )
    return result.as_dict()


@router.post(
    "/subscriptions/{subscription_id}/retry-dead",
    tags=["Webhooks"],
    summary="Send every dead delivery of a subscription again (administrators)",
)
def retry_dead(subscription_id: SubscriptionId, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    count = service.do_retry_dead(container.db, actor, tenant_id=_tenant(actor), subscription_id=subscription_id)
    return {"subscription_id": subscription_id, "retried": count}


@router.get("/deliveries", tags=["Webhooks"], summary="List deliveries, newest first, with their last failure")
def list_deliveries(
    actor: ApiActor,
    container: ContainerDep,
    status: Annotated[Status | None, Query(description="pending, delivered or dead")] = None,
    subscription_id: Annotated[int | None, Query(ge=1, le=MAX_SUBSCRIPTION_ID)] = None,
    event_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = 50,
) -> dict[str, Any]:
    found = service.list_deliveries(
        container.db,
        _tenant(actor),
        status=status,
        subscription_id=subscription_id,
        event_id=event_id,
        page=page,
        per_page=per_page,
    )
    return found.as_dict()


@router.get(
    "/deliveries/{delivery_id}",
    tags=["Webhooks"],
    summary="One delivery with every attempt (when, HTTP status, why it failed) and the event's payload",
)
def get_delivery(delivery_id: DeliveryId, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return service.get_delivery(container.db, _tenant(actor), delivery_id).as_dict()


@router.post(
    "/deliveries/{delivery_id}/retry",
    tags=["Webhooks"],
    summary="Send a dead delivery again, with a fresh count of attempts (administrators)",
)
def retry(delivery_id: DeliveryId, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return service.do_retry(container.db, actor, tenant_id=_tenant(actor), delivery_id=delivery_id).as_dict()


@router.post(
    "/deliveries/{delivery_id}/replay",
    tags=["Webhooks"],
    summary="Send a delivered (or dead) event to its subscription again (administrators)",
)
def replay_one(delivery_id: DeliveryId, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return service.do_replay_delivery(container.db, actor, tenant_id=_tenant(actor), delivery_id=delivery_id).as_dict()
