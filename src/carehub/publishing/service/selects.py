"""The publishing rules as SQL: one select per record kind, every rule a boolean column.

A full run reads each kind in chunks of primary keys; a change reads only the
records it touches. Both use these selects, and the per-record explain
(:mod:`carehub.publishing.service.explain`) must agree with them: a property
test checks it. Each select also returns the published copy's current values,
so the caller can tell what changes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, aggregate_order_by
from sqlalchemy.sql.expression import any_

from carehub.platform.db import UTCDateTime, core_table
from carehub.publishing.service.context import SCHEDULES, RunContext
from carehub.publishing.tables import (
    MonitoredContract,
    PublishedBranch,
    PublishedCarePlan,
    PublishedClient,
    PublishedVisit,
    PublishedWorker,
)
from carehub.roster.service.sources import SOURCES

MONITORED = core_table(MonitoredContract)
P_BRANCHES = core_table(PublishedBranch)
P_CLIENTS = core_table(PublishedClient)
P_WORKERS = core_table(PublishedWorker)
P_CARE_PLANS = core_table(PublishedCarePlan)
P_VISITS = core_table(PublishedVisit)

R = SOURCES
WORKER_ACTIVE = "active"


def in_ids(column: Any, ids: Collection[int], dialect: str) -> ColumnElement[bool]:
    """``column IN ids``: one array parameter on PostgreSQL, a list elsewhere."""
    clause: ColumnElement[bool]
    if dialect == "postgresql":
        clause = column == any_(cast(literal(sorted(ids), ARRAY(BIGINT)), ARRAY(BIGINT)))
    else:
        clause = column.in_(sorted(ids))
    return clause


def at(value: Any) -> Any:
    """A UTC time as a typed SQL literal (bound the way the columns are stored)."""
    return literal(value, UTCDateTime())


def monitored(env: int, contract_id: Any) -> ColumnElement[bool]:
    """The contract is ticked as monitored."""
    return exists().where(MONITORED.c.environment_id == env, MONITORED.c.contract_id == contract_id)


def schedule_of(env: int, clients: Any) -> tuple[Any, Any]:
    """``(alias, join condition)`` of the publish schedule of a client's group, for an outer join."""
    ps = SCHEDULES.alias(f"ps_{clients.name}")
    return ps, and_(ps.c.environment_id == env, ps.c.group_id == clients.c.group_id)


def in_window(ctx: RunContext, start_at: Any, scheduled_end: Any) -> ColumnElement[bool]:
    """The visit starts inside its group's publish window (half-open); the schedule never shortens the default."""
    default_end = at(ctx.default_end)
    end = case((scheduled_end > default_end, scheduled_end), else_=default_end)
    return and_(start_at >= at(ctx.window_start), start_at < end)


def live_visit(v: Any) -> ColumnElement[bool]:
    """A visit that exists and is not cancelled in the roster."""
    return and_(v.c.deleted_at.is_(None), v.c.status == "scheduled")


def mobile_workers(dialect: str, visit_id: Any, visits: Any) -> Any:
    """The active, mobile-enabled workers of visit ``visit_id`` (a column of ``visits``).

    Their roster ids, ascending, comma-separated; '' if none.
    """
    a, w = R.allocations.alias("mw_a"), R.workers.alias("mw_w")
    chosen = (
        select(a.c.worker_id)
        .join(w, w.c.id == a.c.worker_id)
        .where(
            a.c.visit_id == visit_id,
            w.c.status == WORKER_ACTIVE,
            w.c.mobile_enabled.is_(True),
            w.c.deleted_at.is_(None),
        )
    )
    if dialect == "postgresql":
        text = cast(a.c.worker_id, String)
        agg = func.string_agg(text, aggregate_order_by(literal_column("','"), a.c.worker_id))
        return func.coalesce(chosen.with_only_columns(agg).scalar_subquery(), "")
    # SQLite before 3.44 has no ORDER BY inside group_concat; an ordered subquery is
    # consumed in order (SQLite never flattens an ORDER BY subquery into an aggregate).
    ordered = chosen.order_by(a.c.worker_id).correlate(visits).subquery("mw")
    return func.coalesce(select(func.group_concat(ordered.c.worker_id, ",")).scalar_subquery(), "")


def visits(ctx: RunContext, dialect: str, where: ColumnElement[bool]) -> Select[Any]:
    """Visits with their rule columns and published copy, for the visits matching ``where``."""
    v, c, pub = R.visits, R.clients, P_VISITS
    env = ctx.environment_id
    ps, on_schedule = schedule_of(env, c)
    has_allocation = exists().where(R.allocations.c.visit_id == v.c.id)
    return (
        select(
            v.c.id,
            v.c.external_id,
            v.c.client_id,
            c.c.external_id.label("client_external_id"),
            v.c.plan_visit_id,
            v.c.contract_id,
            v.c.kind,
            v.c.start_at,
            v.c.end_at,
            mobile_workers(dialect, v.c.id, v).label("workers"),
            monitored(env, v.c.contract_id).label("r_monitored"),
            in_window(ctx, v.c.start_at, ps.c.window_end_at).label("r_window"),
            not_(
                and_(
                    v.c.confirmed_at.is_not(None),
                    or_(pub.c.first_published_at.is_(None), v.c.confirmed_at < pub.c.first_published_at),
                )
            ).label("r_not_confirmed"),
            v.c.deleted_at.is_not(None).label("deleted"),
            (v.c.status != "scheduled").label("cancelled"),
            (v.c.start_at < at(ctx.window_start)).label("before_window"),
            has_allocation.label("allocated"),
            pub.c.id.label("pub_id"),
            pub.c.state.label("pub_state"),
            pub.c.external_id.label("pub_external_id"),
            pub.c.client_id.label("pub_client_id"),
            pub.c.plan_visit_id.label("pub_plan_visit_id"),
            pub.c.contract_id.label("pub_contract_id"),
            pub.c.kind.label("pub_kind"),
            pub.c.start_at.label("pub_start_at"),
            pub.c.end_at.label("pub_end_at"),
            pub.c.workers.label("pub_workers"),
        )
        .select_from(
            v.join(c, c.c.id == v.c.client_id).outerjoin(ps, on_schedule).outerjoin(pub, pub.c.visit_id == v.c.id)
        )
        .where(v.c.environment_id == env, where)
    )


def has_mobile_worker(visit_id: Any) -> ColumnElement[bool]:
    """At least one active, mobile-enabled worker is allocated (the same workers :func:`mobile_workers` lists)."""
    a, w = R.allocations.alias("hm_a"), R.workers.alias("hm_w")
    return exists(
        select(1)
        .select_from(a.join(w, w.c.id == a.c.worker_id))
        .where(
            a.c.visit_id == visit_id,
            w.c.status == WORKER_ACTIVE,
            w.c.mobile_enabled.is_(True),
            w.c.deleted_at.is_(None),
        )
    )


def visit_flags(ctx: RunContext, dialect: str, where: ColumnElement[bool]) -> Select[Any]:
    """The rule and state columns of :func:`visits` only, and whether the published copy is current.

    A full run reads every visit in its windows; reading these few plain
    columns first, and the whole row only for visits that change, keeps a run
    with little to do close to the cost of reading the rows at all.
    """
    v, c, pub = R.visits, R.clients, P_VISITS
    ps, on_schedule = schedule_of(ctx.environment_id, c)
    same = and_(
        pub.c.external_id == v.c.external_id,
        pub.c.client_id == v.c.client_id,
        pub.c.plan_visit_id.is_not_distinct_from(v.c.plan_visit_id),
        pub.c.contract_id == v.c.contract_id,
        pub.c.kind == v.c.kind,
        pub.c.start_at == v.c.start_at,
        pub.c.end_at == v.c.end_at,
        pub.c.workers == mobile_workers(dialect, v.c.id, v),
    )
    return (
        select(
            v.c.id,
            monitored(ctx.environment_id, v.c.contract_id).label("r_monitored"),
            in_window(ctx, v.c.start_at, ps.c.window_end_at).label("r_window"),
            has_mobile_worker(v.c.id).label("r_mobile"),
            not_(
                and_(
                    v.c.confirmed_at.is_not(None),
                    or_(pub.c.first_published_at.is_(None), v.c.confirmed_at < pub.c.first_published_at),
                )
            ).label("r_not_confirmed"),
            v.c.deleted_at.is_not(None).label("deleted"),
            (v.c.status != "scheduled").label("cancelled"),
            (v.c.start_at < at(ctx.window_start)).label("before_window"),
            exists().where(R.allocations.c.visit_id == v.c.id).label("allocated"),
            pub.c.state.label("pub_state"),
            case((pub.c.id.is_(None), False), else_=same).label("same"),
        )
        .select_from(
            v.join(c, c.c.id == v.c.client_id).outerjoin(ps, on_schedule).outerjoin(pub, pub.c.visit_id == v.c.id)
        )
        .where(v.c.environment_id == ctx.environment_id, where)
    )


def visit_candidates(ctx: RunContext) -> ColumnElement[bool]:
    """Visits a full run must look at: those that could be in a window, and every published one."""
    v = R.visits
    return or_(
        and_(
            v.c.start_at >= at(ctx.window_start),
            v.c.start_at < at(ctx.latest_end),
        ),
        P_VISITS.c.id.is_not(None),
    )


def _client_links(env: int, client_id: Any, *, on_monitored: bool) -> ColumnElement[bool]:
    """Linked through a plan visit or an allocated visit (on a monitored contract, if asked)."""
    p, v, a = R.plan_visits, R.visits, R.allocations
    plan = exists().where(p.c.client_id == client_id, p.c.deleted_at.is_(None))
    allocated = exists().where(v.c.client_id == client_id, live_visit(v), exists().where(a.c.visit_id == v.c.id))
    if on_monitored:
        plan = plan.where(monitored(env, p.c.contract_id))
        allocated = allocated.where(monitored(env, v.c.contract_id))
    return or_(plan, allocated)


def _people(
    env: int, roster: Any, published: Any, key: str, rules: list[Any], where: ColumnElement[bool]
) -> Select[Any]:
    """Clients or workers: names and branch, the rule columns, and the published copy to compare with."""
    b, pb = R.branches, P_BRANCHES
    return (
        select(
            roster.c.id,
            roster.c.external_id,
            roster.c.first_name,
            roster.c.last_name,
            b.c.name.label("branch"),
            *rules,
            published.c.id.label("pub_id"),
            published.c.state.label("pub_state"),
            published.c.external_id.label("pub_external_id"),
            published.c.first_name.label("pub_first_name"),
            published.c.last_name.label("pub_last_name"),
            pb.c.name.label("pub_branch"),
        )
        .select_from(
            roster.join(b, b.c.id == roster.c.branch_id)
            .outerjoin(published, published.c[key] == roster.c.id)
            .outerjoin(pb, pb.c.id == published.c.branch_id)
        )
        .where(roster.c.environment_id == env, where)
    )


def clients(ctx: RunContext, where: ColumnElement[bool]) -> Select[Any]:
    """Clients with their rule columns and published copy."""
    c, env = R.clients, ctx.environment_id
    rules = [
        (and_(c.c.status == "active", c.c.deleted_at.is_(None))).label("r_active"),
        _client_links(env, c.c.id, on_monitored=True).label("r_monitored"),
        _client_links(env, c.c.id, on_monitored=False).label("r_linked"),
    ]
    return _people(env, c, P_CLIENTS, "client_id", rules, where)


def client_eligible(env: int, c: Any) -> ColumnElement[bool]:
    """Every client rule at once, for roster clients ``c`` (a link to a monitored contract is a link)."""
    return and_(c.c.status == "active", c.c.deleted_at.is_(None), _client_links(env, c.c.id, on_monitored=True))


def worker_in_window(ctx: RunContext, worker_id: Any) -> ColumnElement[bool]:
    """Allocated to a live visit on a monitored contract that starts inside its publish window."""
    a, v, c = R.allocations.alias("wa"), R.visits.alias("wv"), R.clients.alias("wc")
    ps, on_schedule = schedule_of(ctx.environment_id, c)
    return exists(
        select(1)
        .select_from(a.join(v, v.c.id == a.c.visit_id).join(c, c.c.id == v.c.client_id).outerjoin(ps, on_schedule))
        .where(
            a.c.worker_id == worker_id,
            live_visit(v),
            monitored(ctx.environment_id, v.c.contract_id),
            in_window(ctx, v.c.start_at, ps.c.window_end_at),
        )
    )


def workers(ctx: RunContext, where: ColumnElement[bool]) -> Select[Any]:
    """Workers with their rule columns and published copy."""
    w = R.workers
    rules = [
        (and_(w.c.status == WORKER_ACTIVE, w.c.deleted_at.is_(None))).label("r_active"),
        w.c.mobile_enabled.label("r_mobile"),
        worker_in_window(ctx, w.c.id).label("r_in_window"),
    ]
    return _people(ctx.environment_id, w, P_WORKERS, "worker_id", rules, where)


def plan_visit_published(plan_visit_id: Any) -> ColumnElement[bool]:
    """At least one of its visits has published (and is still published, or has since ended)."""
    return exists().where(P_VISITS.c.plan_visit_id == plan_visit_id, P_VISITS.c.state.in_(("active", "ended")))


def plan_visits(ctx: RunContext, where: ColumnElement[bool]) -> Select[Any]:
    """Plan visits with their rule columns and latest care plan."""
    p, c, cp = R.plan_visits, R.clients, P_CARE_PLANS
    revisions = P_CARE_PLANS.alias("revisions")
    latest = select(func.max(revisions.c.revision)).where(revisions.c.plan_visit_id == p.c.id).scalar_subquery()
    described = and_(p.c.visit_type_description.is_not(None), func.trim(p.c.visit_type_description) != "")
    return (
        select(
            p.c.id,
            p.c.external_id,
            p.c.client_id,
            c.c.external_id.label("client_external_id"),
            p.c.contract_id,
            p.c.visit_type_code,
            p.c.visit_type_description,
            p.c.days,
            p.c.start_time,
            p.c.duration_minutes,
            p.c.carers_needed,
            p.c.deleted_at.is_not(None).label("deleted"),
            monitored(ctx.environment_id, p.c.contract_id).label("r_monitored"),
            plan_visit_published(p.c.id).label("r_published"),
            described.label("r_described"),
            cp.c.id.label("pub_id"),
            cp.c.state.label("pub_state"),
            cp.c.revision.label("pub_revision"),
            cp.c.external_id.label("pub_external_id"),
            cp.c.client_id.label("pub_client_id"),
            cp.c.contract_id.label("pub_contract_id"),
            cp.c.visit_type_code.label("pub_visit_type_code"),
            cp.c.description.label("pub_description"),
            cp.c.days.label("pub_days"),
            cp.c.start_time.label("pub_start_time"),
            cp.c.duration_minutes.label("pub_duration_minutes"),
            cp.c.carers_needed.label("pub_carers_needed"),
            cp.c.content.label("pub_content"),
        )
        .select_from(
            p.join(c, c.c.id == p.c.client_id).outerjoin(
                cp, and_(cp.c.plan_visit_id == p.c.id, cp.c.revision == latest)
            )
        )
        .where(p.c.environment_id == ctx.environment_id, where)
    )
