"""Roster pages: a browser for clients, workers and visits.

Thin: each page parses its query (every bad value gets its own message and a
safe default, never an error page), resolves the signed-in user's environment
and calls one function of ``roster.service.browse``. Lists answer htmx requests
aimed at ``#results`` with the results fragment only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from carehub.platform.auth import permissions
from carehub.platform.clock import utc_now
from carehub.platform.paging import ResultPage
from carehub.platform.web import environment, templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.roster.domain.patterns import DAY_CODES, parse_days
from carehub.roster.service import browse
from carehub.tenancy import service as tenancy
from carehub.tenancy.service import EnvironmentInfo

router = APIRouter(include_in_schema=False)

templating.add_template_dir(Path(__file__).parent / "templates")
templating.add_nav_item("Visits", "/roster/visits", "calendar")
templating.add_nav_item("Clients", "/roster/clients", "home")
templating.add_nav_item("Workers", "/roster/workers", "people")

WEEKDAYS = frozenset(range(5))


def _days(value: str) -> str:
    """A plan visit's days for people: ``Every day``, ``Weekdays``, ``Weekends`` or ``Mon, Wed, Fri``."""
    try:
        days = parse_days(value)
    except ValueError:
        return value
    named = {frozenset(range(7)): "Every day", WEEKDAYS: "Weekdays", frozenset({5, 6}): "Weekends"}
    return named.get(days) or ", ".join(DAY_CODES[d].capitalize() for d in sorted(days))


templating.templates.env.filters["days"] = _days

MAX_SEARCH = 100
DEFAULT_DAYS = 7
MAX_DAYS = 92
YES_NO = {"yes": True, "no": False}
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def page_environment(request: Request, actor: PageActor, container: ContainerDep) -> EnvironmentInfo:
    """The environment the signed-in user's page works in (:func:`carehub.tenancy.service.page_environment`).

    Care workers use the mobile app only: the roster pages refuse them.
    """
    permissions.require_staff(actor)
    return environment.page_environment(request, tenancy.page_environment, container.db, actor)


PageEnv = Annotated[EnvironmentInfo, Depends(page_environment)]


@dataclass
class QueryInput:
    """A page's query string, read value by value; each bad value adds a problem and falls back."""

    raw: Mapping[str, str]
    problems: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, label: str) -> str:
        """Free text, trimmed, printable, at most MAX_SEARCH characters."""
        raw = self.raw.get(name, "")
        printable = "".join(ch if ch.isprintable() else " " for ch in raw)
        if printable.strip() != raw.strip():
            self.problems.append(f"{label} had control characters, which cannot be searched for; they were left out.")
        value = " ".join(printable.split())
        if len(value) > MAX_SEARCH:
            self.problems.append(f"{label} is at most {MAX_SEARCH} characters; the rest was left out.")
            value = value[:MAX_SEARCH]
        if value:
            self.query[name] = value
        return value

    def choice(self, name: str, label: str, options: Sequence[str]) -> str | None:
        """One of ``options``, or None for any."""
        value = self.raw.get(name, "").strip()
        if not value:
            return None
        if value not in options:
            self.problems.append(f"{label} “{value[:40]}” is not one of: {', '.join(options)}. Showing all.")
            return None
        self.query[name] = value
        return value

    def yes_no(self, name: str, label: str) -> bool | None:
        """``yes`` or ``no``, or None for either."""
        value = self.choice(name, label, tuple(YES_NO))
        return None if value is None else YES_NO[value]

    def day(self, name: str, label: str, default: date) -> date:
        """A date as YYYY-MM-DD."""
        value = self.raw.get(name, "").strip()
        if not value:
            return default
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.problems.append(
                f"{label} “{value[:40]}” is not a date like {default.isoformat()}; showing {default.isoformat()}."
            )
            return default
        if not EARLIEST <= day <= LATEST:
            self.problems.append(
                f"{label} {day.isoformat()} is outside {EARLIEST.year}–{LATEST.year}; showing {default.isoformat()}."
            )
            return default
        return day

    def page(self) -> int:
        """A page number from 1."""
        value = self.raw.get("page", "").strip()
        if not value:
            return 1
        if not value.isdigit() or int(value) < 1 or len(value) > 9:
            self.problems.append(f"Page “{value[:20]}” is not a page number; showing the first page.")
            return 1
        return int(value)


def _count_set(*values: object) -> int:
    """How many filters are set (for the phone's "Filters" button)."""
    return sum(v is not None for v in values)


def _options(values: Sequence[str]) -> list[browse.Option]:
    return [browse.Option(v, v.capitalize()) for v in values]


def _list_page(request: Request, template: str, results: str, context: dict[str, Any], problems: list[str]) -> Response:
    """The whole page, or only the results for an htmx request aimed at them."""
    partial = (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-target") == "results"
        and not request.headers.get("hx-history-restore-request")
    )
    page: ResultPage[Any] = context["page"]
    requested = context["query"].get("page")
    if requested and page.page != int(requested):
        problems.append(f"There is no page {requested}; showing page {page.page} of {page.pages}.")
        context["query"]["page"] = str(page.page)
    context = {**context, "problems": problems, "partial": partial}
    if not partial:
        return templating.render(request, template, context)
    # The address bar shows the canonical query (no empty fields), so it can be shared or bookmarked.
    canonical = request.url.path + templating.query_string(context["query"]).rstrip("?")
    return templating.render(request, results, context, headers={"HX-Push-Url": canonical})


@router.get("/")
def home(_actor: PageActor) -> Response:
    return RedirectResponse("/roster/visits", status_code=303)


@router.get("/roster/clients")
def clients(request: Request, actor: PageActor, container: ContainerDep, env: PageEnv) -> Response:
    form = QueryInput(request.query_params)
    branches = browse.branch_options(container.db, env.id, branch_ids=actor.branch_ids)
    flt = browse.ClientFilter(
        q=form.text("q", "Search"),
        status=form.choice("status", "Status", browse.CLIENT_STATUSES),
        branch=form.choice("branch", "Branch", [b.value for b in branches]),
    )
    page_no = form.page()
    result = browse.list_clients(container.db, env.id, flt, page_no, branch_ids=actor.branch_ids)
    if page_no > 1:
        form.query["page"] = str(page_no)
    context = {
        "page": result,
        "filters": flt,
        "query": form.query,
        "branches": branches,
        "statuses": _options(browse.CLIENT_STATUSES),
        "active_filters": _count_set(flt.status, flt.branch),
    }
    return _list_page(request, "roster/clients.html", "roster/_clients_results.html", context, form.problems)


@router.get("/roster/clients/{external_id}")
def client(request: Request, external_id: str, actor: PageActor, container: ContainerDep, env: PageEnv) -> Response:
    detail = browse.do_view_client(container.db, actor, env.id, external_id, utc_now())
    today = _today(env)
    context = {"d": detail, "today": today, "horizon": today + timedelta(days=MAX_DAYS - 1)}
    return templating.render(request, "roster/client.html", context)


@router.get("/roster/workers")
def workers(request: Request, actor: PageActor, container: ContainerDep, env: PageEnv) -> Response:
    form = QueryInput(request.query_params)
    branches = browse.branch_options(container.db, env.id, branch_ids=actor.branch_ids)
    flt = browse.WorkerFilter(
        q=form.text("q", "Search"),
        status=form.choice("status", "Status", browse.WORKER_STATUSES),
        mobile=form.yes_no("mobile", "Mobile"),
        branch=form.choice("branch", "Branch", [b.value for b in branches]),
    )
    page_no = form.page()
    result = browse.list_workers(container.db, env.id, flt, utc_now(), page_no, branch_ids=actor.branch_ids)
    if page_no > 1:
        form.query["page"] = str(page_no)
    context = {
        "page": result,
        "filters": flt,
        "query": form.query,
        "branches": branches,
        "statuses": _options(browse.WORKER_STATUSES),
        "workload_days": browse.WORKLOAD_DAYS,
        "active_filters": _count_set(flt.status, flt.mobile, flt.branch),
    }
    return _list_page(request, "roster/workers.html", "roster/_workers_results.html", context, form.problems)


@router.get("/roster/workers/{external_id}")
def worker(request: Request, external_id: str, actor: PageActor, container: ContainerDep, env: PageEnv) -> Response:
    detail = browse.do_view_worker(container.db, actor, env.id, external_id, utc_now())
    context = {"d": detail, "today": _today(env), "workload_days": browse.WORKLOAD_DAYS}
    return templating.render(request, "roster/worker.html", context)


def _today(env: EnvironmentInfo) -> date:
    return utc_now().astimezone(env.zone).date()


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _visit_window(form: QueryInput, env: EnvironmentInfo) -> tuple[date, date]:
    """The days asked for, inclusive: by default today and the next DEFAULT_DAYS days, in the tenant's zone."""
    today = _today(env)
    start = form.day("from", "From", today)
    end = form.day("to", "To", start + timedelta(days=DEFAULT_DAYS))
    if end < start:
        form.problems.append(
            f"“To” ({end.isoformat()}) is before “From” ({start.isoformat()}); "
            f"showing {DEFAULT_DAYS + 1} days from {start.isoformat()}."
        )
        end = start + timedelta(days=DEFAULT_DAYS)
    if (end - start).days >= MAX_DAYS:
        end = start + timedelta(days=MAX_DAYS - 1)
        form.problems.append(f"Choose at most {MAX_DAYS} days; showing up to {end.isoformat()}.")
    form.query["from"], form.query["to"] = start.isoformat(), end.isoformat()
    return start, end


@router.get("/roster/visits")
def visits(request: Request, actor: PageActor, container: ContainerDep, env: PageEnv) -> Response:
    form = QueryInput(request.query_params)
    start, end = _visit_window(form, env)
    allocation = form.choice("allocation", "Allocation", browse.ALLOCATIONS)
    flt = browse.VisitFilter(
        start_from=_local_midnight(start, env.zone),
        start_to=_local_midnight(end + timedelta(days=1), env.zone),
        status=form.choice("status", "Status", browse.VISIT_STATUSES),
        allocation=next((a for a in browse.ALLOCATIONS if a == allocation), None),
        confirmed=form.yes_no("confirmed", "Confirmed"),
        client=form.text("client", "Client search"),
    )
    page_no = form.page()
    result = browse.list_visits(container.db, env.id, flt, page_no, branch_ids=actor.branch_ids)
    if page_no > 1:
        form.query["page"] = str(page_no)
    today = _today(env)
    default_window = (start, end) == (today, today + timedelta(days=DEFAULT_DAYS))
    context = {
        "page": result,
        "filters": flt,
        "query": form.query,
        "active_filters": _count_set(flt.status, flt.allocation, flt.confirmed, None if default_window else True),
        "day_from": start,
        "day_to": end,
        "today": today,
        "tomorrow": today + timedelta(days=1),
        "week_end": today + timedelta(days=DEFAULT_DAYS),
        "statuses": _options(browse.VISIT_STATUSES),
        "allocations": [
            browse.Option("unallocated", "Unallocated"),
            browse.Option("partly", "Partly allocated"),
            browse.Option("allocated", "Fully allocated"),
        ],
    }
    return _list_page(request, "roster/visits.html", "roster/_visits_results.html", context, form.problems)


@router.get("/roster/visits/{external_id}")
def visit(request: Request, external_id: str, actor: PageActor, container: ContainerDep, env: PageEnv) -> Response:
    detail = browse.do_view_visit(container.db, actor, env.id, external_id)
    return templating.render(request, "roster/visit.html", {"d": detail, "today": _today(env)})
