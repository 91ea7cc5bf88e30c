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


def published_visit_id(ctx: RunContext, external_id: Any) -> Any:
    """The visit ID care planning shows: the roster's own, or with the environment's naming convention."""
    if ctx.naming is None:
        return external_id
    before, after = ctx.naming.visit_id_parts()
    return literal(before, String) + external_id + literal(after, String)


def published_branch_name(ctx: RunContext, name: Any) -> Any:
    """The branch name care planning shows: the roster's own, or with the environment's naming convention."""
    if ctx.naming is None:
        return name
    before, after = ctx.naming.branch_parts()
    return literal(before, String) + name + literal(after, String)


def allocation_summary(ctx: RunContext) -> Any:
    """Per allocated visit: how many of its workers are active and mobile-enabled, with their lowest and highest id.

    Columns ``visit_id``, ``mobile``, ``lo`` and ``hi``. One grouped pass over the
    allocations, for full runs, instead of a lookup per visit; plain aggregates,
    because an ordered one (the list itself) sorts every visit's workers apart.
    """
    a, w = R.allocations.alias("sa"), R.workers.alias("sw")
    usable = and_(w.c.status == WORKER_ACTIVE, w.c.mobile_enabled.is_(True), w.c.deleted_at.is_(None))
    chosen = case((usable, a.c.worker_id))
    return (
        select(
            a.c.visit_id,
            func.count(chosen).label("mobile"),
            func.min(chosen).label("lo"),
            func.max(chosen).label("hi"),
        )
        .select_from(a.join(w, and_(w.c.id == a.c.worker_id, w.c.environment_id == ctx.environment_id)))
        .group_by(a.c.visit_id)
        .subquery("alloc")
    )


def summarised_workers(dialect: str, alloc: Any, visit_id: Any, visits: Any) -> Any:
    """:func:`mobile_workers` from an :func:`allocation_summary` row.

    Built from the lowest and highest id for one or two workers (nearly every
    visit); listed by the lookup only for visits with more.
    """
    return case(
        (func.coalesce(alloc.c.mobile, 0) == 0, ""),
        (alloc.c.mobile == 1, cast(alloc.c.lo, String)),
        (alloc.c.mobile == 2, cast(alloc.c.lo, String) + "," + cast(alloc.c.hi, String)),
        else_=mobile_workers(dialect, visit_id, visits),
    )


def visit_flags(ctx: RunContext, dialect: str, where: ColumnElement[bool], *, grouped: bool = False) -> Select[Any]:
    """The rule and state columns of :func:`visits` only, and whether the published copy is current.

    ``grouped`` reads allocations in one grouped pass (:func:`allocation_summary`)
    instead of a lookup per visit: for full runs, which read every visit.
    """
    v, c, pub = R.visits, R.clients, P_VISITS
    ps, on_schedule = schedule_of(ctx.environment_id, c)
    source = v.join(c, c.c.id == v.c.client_id).outerjoin(ps, on_schedule).outerjoin(pub, pub.c.visit_id == v.c.id)
    if grouped:
        alloc = allocation_summary(ctx)
        source = source.outerjoin(alloc, alloc.c.visit_id == v.c.id)
        workers = summarised_workers(dialect, alloc, v.c.id, v)
        r_mobile: Any = func.coalesce(alloc.c.mobile, 0) > 0
        allocated: Any = alloc.c.visit_id.is_not(None)
    else:
        workers = mobile_workers(dialect, v.c.id, v)
        r_mobile = has_mobile_worker(v.c.id)
        allocated = exists().where(R.allocations.c.visit_id == v.c.id)
    same = and_(
        pub.c.external_id == published_visit_id(ctx, v.c.external_id),
        pub.c.client_id == v.c.client_id,
        pub.c.plan_visit_id.is_not_distinct_from(v.c.plan_visit_id),
        pub.c.contract_id == v.c.contract_id,
        pub.c.kind == v.c.kind,
        pub.c.start_at == v.c.start_at,
        pub.c.end_at == v.c.end_at,
        pub.c.workers == workers,
    )
    return (
        select(
            v.c.id,
            monitored(ctx.environment_id, v.c.contract_id).label("r_monitored"),
            in_window(ctx, v.c.start_at, ps.c.window_end_at).label("r_window"),
            r_mobile.label("r_mobile"),
            not_(
                and_(
                    v.c.confirmed_at.is_not(None),
                    or_(pub.c.first_published_at.is_(None), v.c.confirmed_at < pub.c.first_published_at),
                )
            ).label("r_not_confirmed"),
            v.c.deleted_at.is_not(None).label("deleted"),
            (v.c.status != "scheduled").label("cancelled"),
            (v.c.start_at < at(ctx.window_start)).label("before_window"),
            allocated.label("allocated"),
            pub.c.state.label("pub_state"),
            case((pub.c.id.is_(None), False), else_=same).label("same"),
        )
        .select_from(source)
        .where(v.c.environment_id == ctx.environment_id, where)
    )


def needs_change(eligible: ColumnElement[bool], pub_state: Any, same: Any) -> ColumnElement[bool]:
    """:func:`carehub.publishing.domain.states.needs_change` in SQL (``pub_state`` NULL when unpublished)."""
    active = func.coalesce(pub_state == "active", False)
    # Each side once (a CASE, not an OR of both): the database works each expression out once per row.
    current = func.coalesce(and_(pub_state == "active", same), False)
    return case((eligible, not_(current)), else_=active)


def visit_changes(ctx: RunContext, dialect: str, where: ColumnElement[bool], *, grouped: bool = False) -> Select[Any]:
    """The ids of the visits matching ``where`` whose published copy must change (see :func:`needs_change`)."""
    f = visit_flags(ctx, dialect, where, grouped=grouped).subquery("flags")
    eligible = and_(
        f.c.r_monitored, f.c.r_window, f.c.r_mobile, f.c.r_not_confirmed, not_(f.c.deleted), not_(f.c.cancelled)
    )
    return select(f.c.id).where(needs_change(eligible, f.c.pub_state, f.c.same)).order_by(f.c.id)


def only_changing(query: Select[Any], eligible: Any, same: Any) -> Select[Any]:
    """The rows of ``query`` whose published copy must change, by :func:`needs_change`.

    ``eligible`` and ``same`` build, from the query's columns, whether every rule
    passes and whether the published copy's content is current. A full run reads
    only these rows: records that are already right never leave the database.
    """
    f = query.subquery("candidates")
    return select(f).where(needs_change(eligible(f.c), f.c.pub_state, same(f.c)))


def people_same(c: Any) -> ColumnElement[bool]:
    """A client's or worker's published copy has its current id, names and branch, a branch of its environment.

    A published copy in another environment's branch of the same name (published before branches had
    owners) is not current: the run then refuses the branch and deactivates the copy.
    """
    return and_(
        c.external_id == c.pub_external_id,
        c.first_name == c.pub_first_name,
        c.last_name == c.pub_last_name,
        c.published_branch == c.pub_branch,
        c.pub_branch_ours,
    )


def client_rules_pass(c: Any) -> ColumnElement[bool]:
    """Every client rule passes (columns of :func:`clients`)."""
    return and_(c.r_active, c.r_monitored, c.r_linked)


def worker_rules_pass(c: Any) -> ColumnElement[bool]:
    """Every worker rule passes (columns of :func:`workers`)."""
    return and_(c.r_active, c.r_mobile, c.r_in_window)


def care_plan_rules_pass(c: Any) -> ColumnElement[bool]:
    """Every care-plan rule passes (columns of :func:`plan_visits`)."""
    return and_(c.r_monitored, c.r_published, c.r_described, not_(c.deleted))


def care_plan_same(c: Any) -> ColumnElement[bool]:
    """The latest care plan has the plan visit's requirement, id, client and description."""
    return and_(
        c.contract_id == c.pub_contract_id,
        c.visit_type_code == c.pub_visit_type_code,
        c.days == c.pub_days,
        c.start_time == c.pub_start_time,
        c.duration_minutes == c.pub_duration_minutes,
        c.carers_needed == c.pub_carers_needed,
        c.external_id == c.pub_external_id,
        c.client_id == c.pub_client_id,
        c.visit_type_description.is_not_distinct_from(c.pub_description),
    )


def visit_candidates(ctx: RunContext) -> list[ColumnElement[bool]]:
    """Visits a full run must look at, as two disjoint sets: those that could be in a window, and the published rest.

    Two statements rather than one ``OR``: the first reads a range of the start-time
    index, the second starts from the published copy; an ``OR`` of both would read
    every visit of the environment.
    """
    v = R.visits
    could_be = and_(v.c.start_at >= at(ctx.window_start), v.c.start_at < at(ctx.latest_end))
    return [could_be, and_(P_VISITS.c.id.is_not(None), not_(could_be))]


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
    ctx: RunContext, roster: Any, published: Any, key: str, rules: list[Any], where: ColumnElement[bool]
) -> Select[Any]:
    """Clients or workers: names and branch, the rule columns, and the published copy to compare with."""
    b, pb, env = R.branches, P_BRANCHES, ctx.environment_id
    return (
        select(
            roster.c.id,
            roster.c.external_id,
            roster.c.first_name,
            roster.c.last_name,
            b.c.name.label("branch"),
            published_branch_name(ctx, b.c.name).label("published_branch"),
            *rules,
            published.c.id.label("pub_id"),
            published.c.state.label("pub_state"),
            published.c.external_id.label("pub_external_id"),
            published.c.first_name.label("pub_first_name"),
            published.c.last_name.label("pub_last_name"),
            pb.c.name.label("pub_branch"),
            (func.coalesce(pb.c.environment_id, env) == env).label("pub_branch_ours"),
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
    return _people(ctx, c, P_CLIENTS, "client_id", rules, where)


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
    return _people(ctx, w, P_WORKERS, "worker_id", rules, where)


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
