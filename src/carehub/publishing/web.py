"""Publishing pages: publish schedules, monitored contracts, explain, and the integration's health.

Thin: each handler resolves the signed-in user's environment and calls one
service function (for contracts, one call saves every tick and untick in one
transaction). Forms post with the session's CSRF token. A Preview button asks htmx for the counts only; without
JavaScript it posts the form and the whole page comes back with them.
A change that is applied redirects back to its page with a notice (so a reload
never posts twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from carehub.platform.auth import permissions
from carehub.platform.clock import utc_now
from carehub.platform.errors import InvalidInput, NotFound
from carehub.platform.web import environment, templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.platform.web.shell import check_csrf
from carehub.publishing.domain.catalogue import BY_ID
from carehub.publishing.domain.schedules import MAX_DAYS_AHEAD
from carehub.publishing.service import config, explain, status
from carehub.publishing.service.runs import RunResult
from carehub.tenancy import service as tenancy
from carehub.tenancy.service import EnvironmentInfo

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
templating.add_template_dir(HERE / "templates")

STYLESHEET = HERE / "static" / "publishing.css"
FLASH = "publishing_notice"
MAX_FIELD = 100
KINDS = {"client": "Client", "worker": "Worker", "visit": "Visit", "plan-visit": "Plan visit"}
RECORD_PAGES = {"client": "/roster/clients/", "worker": "/roster/workers/", "visit": "/roster/visits/"}
TABS = (
    ("schedules", "Schedules", "/publishing/schedules"),
    ("contracts", "Contracts", "/publishing/contracts"),
    ("explain", "Explain", "/publishing/explain"),
    ("health", "Health", "/publishing/health"),
)
DELIVERY_PAGES = ("/deliveries", "/publishing/deliveries", "/webhooks/deliveries")
CHANGE_ORDER = ("published", "updated", "cancelled", "deactivated", "ended")
KIND_LABELS = {"visit": "Visits", "care_plan": "Care plans", "client": "Clients", "worker": "Workers"}
TRIGGERS = {
    "change": "Roster change",
    "schedule": "Publish schedule",
    "contracts": "Monitored contracts",
    "reconcile": "Full reconcile",
    "settings": "Settings",
    "window": "New day: window moved",
    "refresh": "Refresh",
}


def _ago(moment: datetime | None) -> str:
    """How long ago, for people: ``never``, ``just now``, ``12 min ago``, ``3 h ago``, ``2 days ago``."""
    if moment is None:
        return "Never"
    seconds = max(0, int((utc_now() - moment).total_seconds()))
    if seconds < 60:
        return "Just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _minutes(value: int) -> str:
    """An interval in minutes for people: ``15 min``, ``2 h``, ``24 h``, ``2 h 30 min``."""
    hours, minutes = divmod(value, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


templating.templates.env.filters["pub_ago"] = _ago
templating.templates.env.filters["pub_minutes"] = _minutes


def add_navigation() -> None:
    """Add Publishing to the main navigation; called by the app after the roster's pages, so it comes after them."""
    templating.add_nav_item("Publishing", "/publishing", "shield")


def page_environment(request: Request, actor: PageActor, container: ContainerDep) -> EnvironmentInfo:
    """The environment the signed-in user's page works in (:func:`carehub.tenancy.service.page_environment`)."""
    return environment.page_environment(request, tenancy.page_environment, container.db, actor)


def staff_environment(request: Request, actor: PageActor, container: ContainerDep) -> EnvironmentInfo:
    """As :func:`page_environment`, for pages care workers may not see."""
    status.require_staff(actor)
    return page_environment(request, actor, container)


def admin_environment(request: Request, actor: PageActor, container: ContainerDep) -> EnvironmentInfo:
    """As :func:`page_environment`, for tenant configuration and health: tenant administrators only."""
    status.require_staff(actor)
    permissions.require_admin(actor, "see or change tenant configuration and the integration's health")
    return page_environment(request, actor, container)


PageEnv = Annotated[EnvironmentInfo, Depends(page_environment)]
StaffEnv = Annotated[EnvironmentInfo, Depends(staff_environment)]
AdminEnv = Annotated[EnvironmentInfo, Depends(admin_environment)]


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _deliveries_href(request: Request) -> str | None:
    """The deliveries page, when the app has one (it belongs to the delivery capability, built on its own)."""
    paths = {getattr(route, "path", None) for route in request.app.router.routes}
    return next((p for p in DELIVERY_PAGES if p in paths), None)


def _render(request: Request, template: str, tab: str, context: dict[str, Any], status_code: int = 200) -> Response:
    notice = request.session.pop(FLASH, None)
    actor = getattr(request.state, "actor", None)
    admin = actor is not None and permissions.can(actor, permissions.Permission.CONFIGURE)
    deliveries = _deliveries_href(request) if admin else None
    tabs = TABS if admin else tuple(t for t in TABS if t[0] == "explain")
    return templating.render(
        request,
        template,
        {
            "tabs": (*tabs, ("deliveries", "Deliveries", deliveries)) if deliveries else tabs,
            "deliveries_href": deliveries,
            "tab": tab,
            "notice": notice if isinstance(notice, str) else None,
            "change_names": CHANGE_ORDER,
            **context,
        },
        status_code=status_code,
    )


def _flash(request: Request, text: str, target: str) -> Response:
    request.session[FLASH] = text
    return RedirectResponse(target, status_code=303)


def _today(env: EnvironmentInfo) -> date:
    return utc_now().astimezone(env.zone).date()


def _sentence(message: str) -> str:
    text = message.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _problems(exc: InvalidInput) -> list[str]:
    """An input error as sentences: the message, then each row's reason when it adds something."""
    out = [_sentence(exc.message)]
    for e in exc.errors:
        reason = _sentence(e.reason) if e.reason else ""
        if reason and reason.lower().rstrip(".") not in exc.message.lower() and reason not in out:
            out.append(reason)
    return out


@dataclass(frozen=True, slots=True)
class Outcome:
    """A run (or preview) for people: a title, counts per kind and change, the first changes."""

    title: str
    result: RunResult
    preview: bool

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        """Kinds with changes: label and one count per change of CHANGE_ORDER."""
        return [
            (KIND_LABELS.get(kind, kind), [counts.get(c, 0) for c in CHANGE_ORDER])
            for kind, counts in self.result.counts.items()
            if counts
        ]


@router.get("/publishing/static/publishing.css")
def stylesheet() -> Response:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/publishing")
def publishing_home(actor: PageActor) -> Response:
    status.require_staff(actor)
    if not permissions.can(actor, permissions.Permission.CONFIGURE):
        return RedirectResponse("/publishing/explain", status_code=303)
    return RedirectResponse("/publishing/schedules", status_code=303)


# ---------------------------------------------------------------- schedules


def _schedules_context(container: ContainerDep, env: EnvironmentInfo, **extra: Any) -> dict[str, Any]:
    today = _today(env)
    settings = status.settings_of(container.db, env.id)
    return {
        "schedules": config.list_schedules(container.db, env.id),
        "today": today,
        "latest": today + timedelta(days=MAX_DAYS_AHEAD),
        "until": (today + timedelta(days=MAX_DAYS_AHEAD)).isoformat(),
        "chosen": set(),
        "default_days": settings.default_days_ahead,
        "default_last": today + timedelta(days=settings.default_days_ahead),
        "max_days": MAX_DAYS_AHEAD,
        "outcomes": [],
        "problems": [],
        **extra,
    }


@router.get("/publishing/schedules")
def schedules_page(request: Request, container: ContainerDep, env: AdminEnv) -> Response:
    return _render(request, "publishing/schedules.html", "schedules", _schedules_context(container, env))


@router.post("/publishing/schedules")
def publish_schedules(
    request: Request,
    actor: PageActor,
    container: ContainerDep,
    env: AdminEnv,
    until: Annotated[str, Form()] = "",
    group: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults per request
    action: Annotated[str, Form()] = "preview",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    preview = action != "publish"
    chosen = [g[:MAX_FIELD] for g in group if g.strip()][:5000]
    problems: list[str] = []
    day: date | None = None
    try:
        day = date.fromisoformat(until.strip())
    except ValueError:
        problems.append(
            "Choose a publish date." if not until.strip() else f"“{until[:40]}” is not a date like 2025-03-14."
        )
    if not chosen:
        problems.append("Tick at least one group.")
    outcome = None
    if day is not None and not problems:
        try:
            result = config.do_publish_schedule(container.db, actor, env.id, chosen, day, preview=preview)
        except InvalidInput as exc:
            problems.extend(_problems(exc))
        else:
            outcome = Outcome(_schedule_title(chosen, day, preview=preview), result, preview)
            if not preview:
                return _flash(request, _summary(outcome), "/publishing/schedules")
    extra = {"outcomes": [outcome] if outcome else [], "problems": problems, "chosen": set(chosen)}
    if day is not None:
        extra["until"] = day.isoformat()
    elif until.strip():
        extra["until"] = until.strip()[:40]
    context = _schedules_context(container, env, **extra)
    if _is_htmx(request):
        return _render(request, "publishing/_outcome.html", "schedules", context)
    return _render(request, "publishing/schedules.html", "schedules", context, 422 if problems else 200)


def _schedule_title(groups: list[str], day: date, *, preview: bool) -> str:
    verb = "Publishing" if preview else "Published"
    return f"{verb} {', '.join(groups)} until {day.day} {day:%b %Y}"


def _summary(outcome: Outcome) -> str:
    """One sentence saying what a run changed."""
    if not outcome.result.changes:
        return f"{outcome.title}: nothing needed to change."
    parts = []
    for label, counts in outcome.rows:
        said = ", ".join(f"{n} {change}" for n, change in zip(counts, CHANGE_ORDER, strict=True) if n)
        parts.append(f"{label.lower()}: {said}")
    return f"{outcome.title}: " + "; ".join(parts) + "."


# ---------------------------------------------------------------- contracts


def _contracts_context(container: ContainerDep, env: EnvironmentInfo, **extra: Any) -> dict[str, Any]:
    contracts = config.list_contracts(container.db, env.id)
    return {
        "contracts": contracts,
        "ticked": {c.id for c in contracts if c.monitored},
        "outcomes": [],
        "problems": [],
        **extra,
    }


@router.get("/publishing/contracts")
def contracts_page(request: Request, container: ContainerDep, env: AdminEnv) -> Response:
    return _render(request, "publishing/contracts.html", "contracts", _contracts_context(container, env))


@router.post("/publishing/contracts")
def save_contracts(
    request: Request,
    actor: PageActor,
    container: ContainerDep,
    env: AdminEnv,
    monitored: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults per request
    shown: Annotated[list[str], Form()] = [],  # noqa: B006
    action: Annotated[str, Form()] = "preview",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    preview = action != "save"
    wanted, on_page = set(monitored), set(shown)
    # Only contracts shown on the page change: one added since it loaded is left as it is.
    # One service call, one transaction: ticks, unticks, their audit rows and the run commit together.
    try:
        saved = config.do_save_monitored(container.db, actor, env.id, sorted(on_page), sorted(wanted), preview=preview)
    except InvalidInput as exc:
        outcomes, problems = [], _problems(exc)
    else:
        outcomes, problems = ([Outcome(_contracts_title(saved, preview=preview), saved.result, preview)], [])
        if not saved.changed:
            outcomes = []
    if not preview and not problems:
        text = " ".join(_summary(o) for o in outcomes) if outcomes else "Nothing to save: no tick was changed."
        return _flash(request, text, "/publishing/contracts")
    extra: dict[str, Any] = {"outcomes": outcomes, "problems": problems, "ticked": wanted & on_page}
    if preview and not outcomes and not problems:
        extra["problems"] = ["No tick was changed, so nothing would change."]
    context = _contracts_context(container, env, **extra)
    if _is_htmx(request):
        return _render(request, "publishing/_outcome.html", "contracts", context)
    return _render(request, "publishing/contracts.html", "contracts", context, 422 if problems else 200)


def _contracts_title(saved: config.MonitoredSave, *, preview: bool) -> str:
    """``Ticked K1; unticked K2`` (``Ticking ...`` in a preview)."""
    parts = []
    for ids, verb in (
        (saved.ticked, "ticking" if preview else "ticked"),
        (saved.unticked, "unticking" if preview else "unticked"),
    ):
        if ids:
            parts.append(f"{verb} {', '.join(ids)}")
    title = "; ".join(parts)
    return title[:1].upper() + title[1:]


# ---------------------------------------------------------------- explain


@router.get("/publishing/explain")
def explain_page(request: Request, actor: PageActor, container: ContainerDep, env: StaffEnv) -> Response:
    raw_kind = request.query_params.get("kind", "").strip()
    raw_id = " ".join(request.query_params.get("id", "").split())
    kind = raw_kind if raw_kind in KINDS else "visit"
    context: dict[str, Any] = {"kinds": KINDS, "kind": kind, "record_id": raw_id[:MAX_FIELD], "problems": []}
    if raw_kind and raw_kind not in KINDS:
        context["problems"].append(
            f"“{raw_kind[:40]}” is not a record kind; choose client, worker, visit or plan visit."
        )
    elif len(raw_id) > MAX_FIELD or not raw_id.isprintable():
        context["problems"].append(f"An ID is at most {MAX_FIELD} printable characters.")
    elif raw_id:
        try:
            answer = explain.do_explain(container.db, actor, env.id, kind, raw_id)
        except NotFound as exc:
            context["problems"].append(_sentence(exc.message))
        else:
            context["answer"] = answer
            context["rules"] = BY_ID
            context["record_href"] = RECORD_PAGES[kind] + raw_id if kind in RECORD_PAGES and not answer.notes else None
    return _render(request, "publishing/explain.html", "explain", context)


# ---------------------------------------------------------------- health

CHART_HEIGHT = 160
CHART_DAY = 40
CHART_TOP = 30
CHART_ROW = 24  # the phone's chart: one row a day ...
CHART_ROW_BAR = 220  # ... its bars at most this long


@dataclass(frozen=True, slots=True)
class Bar:
    """One day of the chart, in SVG units."""

    x: int
    label: str
    weekday: str
    today: bool
    past: bool
    published: int
    cancelled: int
    published_y: float
    published_h: float
    cancelled_y: float
    cancelled_h: float
    published_w: float
    cancelled_w: float


def _ticks(top: int) -> tuple[int, int]:
    """A round step for the chart's grid (1, 2, 5, 10, 20, 50 ...) and the axis maximum, a multiple of it."""
    step = 1
    while top / step > 4:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return step, -(-top // step) * step


def _chart(days: list[status.DayCount], today: date) -> dict[str, Any]:
    """Bars for published and cancelled visits per day, scaled to the busiest day, with round grid lines."""
    step, top = _ticks(max([1, *(max(d.published, d.cancelled) for d in days)]))
    scale = (CHART_HEIGHT - CHART_TOP) / top
    bars = []
    for i, d in enumerate(days):
        ph, ch = d.published * scale, d.cancelled * scale
        bars.append(
            Bar(
                x=i * CHART_DAY,
                label=str(d.day.day),
                weekday=f"{d.day:%a}"[:2],
                today=d.day == today,
                past=d.day < today,
                published=d.published,
                cancelled=d.cancelled,
                published_y=round(CHART_HEIGHT - ph, 1),
                published_h=round(ph, 1),
                cancelled_y=round(CHART_HEIGHT - ch, 1),
                cancelled_h=round(ch, 1),
                published_w=round(d.published / top * CHART_ROW_BAR, 1),
                cancelled_w=round(d.cancelled / top * CHART_ROW_BAR, 1),
            )
        )
    return {
        "bars": bars,
        "width": CHART_DAY * len(days),
        "height": CHART_HEIGHT,
        "grid": [(round(CHART_HEIGHT - v * scale, 1), v) for v in range(step, top + 1, step)],
        "row": CHART_ROW,
        "rows_height": CHART_ROW * len(days) + 4,
        "row_grid": [(round(v / top * CHART_ROW_BAR, 1), v) for v in range(step, top + 1, step)],
    }


@router.get("/publishing/health")
def health_page(request: Request, actor: PageActor, container: ContainerDep, env: AdminEnv) -> Response:
    found = status.read_status(container.db, actor, env.id)
    today = _today(env)
    context = {
        "s": found,
        "chart": _chart(found.days, today),
        "today": today,
        "kinds": KIND_LABELS,
        "states": status.STATES,
        "TRIGGERS": TRIGGERS,
        "outcomes": [],
        "problems": [],
    }
    return _render(request, "publishing/health.html", "health", context)


@router.post("/publishing/reconcile")
def reconcile(
    request: Request,
    actor: PageActor,
    container: ContainerDep,
    env: AdminEnv,
    action: Annotated[str, Form()] = "preview",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    preview = action != "reconcile"
    result = config.do_reconcile(container.db, actor, env.id, preview=preview)
    outcome = Outcome("Reconcile" + (" would change" if preview else ""), result, preview)
    if not preview:
        return _flash(request, _summary(outcome), "/publishing/health")
    context = {"outcomes": [outcome], "problems": []}
    if _is_htmx(request):
        return _render(request, "publishing/_outcome.html", "health", context)
    return _flash(request, _summary(outcome), "/publishing/health")
