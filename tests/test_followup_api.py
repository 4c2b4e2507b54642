"""The follow-up HTTP API: the public board never exposes private data, work endpoints
check login, role, department and CSRF, and tasks read as Open311 GeoReport v2."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from django.test import Client

from hub.followup import actions
from hub.followup.models import TaskState
from tests.followup_steps import accept, assign, reply_and_publish

pytestmark = pytest.mark.django_db

PRIVATE_BITS = ("张先生", "13812345678", "13900001111", "bid:", "违建", "消防通道")


def logged_in(user: Any, **kw: Any) -> Client:
    client = Client(**kw)
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, body or {}, content_type="application/json")


# --- public -------------------------------------------------------------------------------


def test_the_public_board_lists_public_tasks_without_private_data(followup: Any) -> None:
    w = followup
    accept(w)
    actions.do_wait_for_citizen(w.editor, w.tasks["lift"].pk, "请张先生补充 13812345678 的材料")
    response = Client().get("/api/followup/tasks")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2  # lift and bus; the private question never shows
    ids = {item["id"] for item in body["items"]}
    assert ids == {w.tasks["lift"].pk, w.tasks["bus"].pk}
    lift = next(i for i in body["items"] if i["id"] == w.tasks["lift"].pk)
    assert lift["askers"] == 3 and lift["reply_paused"] is True
    assert lift["lead_department"]["name"] == "市住房和城乡建设局"
    detail = Client().get(f"/api/followup/tasks/{w.tasks['lift'].pk}")
    raw = detail.content.decode()
    for secret in PRIVATE_BITS:
        assert secret not in raw and secret not in response.content.decode()
    actions_seen = [e["action"] for e in detail.json()["timeline"]]
    assert actions_seen == ["create", "assign", "accept", "wait"]
    assert all(e["note"] == "" for e in detail.json()["timeline"])


def test_a_private_task_is_not_found_publicly(followup: Any) -> None:
    response = Client().get(f"/api/followup/tasks/{followup.tasks['private'].pk}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_the_public_detail_shows_the_reply_with_its_three_signatures(followup: Any) -> None:
    w = followup
    accept(w)
    reply_and_publish(w)
    reply = Client().get(f"/api/followup/tasks/{w.tasks['lift'].pk}").json()["replies"][0]
    assert reply["department"] == "市住房和城乡建设局"
    assert [reply[k]["name"] for k in ("editor", "section_head", "leader")] == [
        "dept",
        "Sectionhead",
        "Deptleader",
    ]
    assert reply["tone_overridden"] is False


def test_the_public_board_filters_and_searches(followup: Any) -> None:
    w = followup
    assign(w)
    client = Client()
    by_state = client.get("/api/followup/tasks", {"state": "dispatched"}).json()
    assert [i["id"] for i in by_state["items"]] == [w.tasks["lift"].pk]
    by_department = client.get("/api/followup/tasks", {"department": w.housing.pk}).json()
    assert by_department["count"] == 1
    by_text = client.get("/api/followup/tasks", {"q": "公交"}).json()
    assert [i["id"] for i in by_text["items"]] == [w.tasks["bus"].pk]
    closed = client.get("/api/followup/tasks", {"open": "false"}).json()
    assert closed["count"] == 0
    bad = client.get("/api/followup/tasks", {"state": "lost"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad_state"
    page = client.get("/api/followup/tasks", {"limit": 0})
    assert page.status_code == 400 and page.json()["code"] == "bad_page"


# --- work endpoints ---------------------------------------------------------------------------


def test_work_endpoints_need_a_login_and_a_follow_up_role(followup: Any) -> None:
    anonymous = Client().get("/api/followup/work/tasks")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "login_required"
    host = logged_in(followup.host).get("/api/followup/work/tasks")
    assert host.status_code == 403 and host.json()["code"] == "forbidden"


def test_staff_see_every_task_a_department_only_its_own(followup: Any) -> None:
    w = followup
    actions.do_assign_task(
        w.staff,
        w.tasks["lift"].pk,
        lead_department_id=w.housing.pk,
        assisting_department_ids=[w.transport.pk],
    )
    actions.do_assign_task(w.staff, w.tasks["bus"].pk, lead_department_id=w.county.pk)
    staff = logged_in(w.staff).get("/api/followup/work/tasks").json()
    assert staff["count"] == 3
    housing = logged_in(w.editor).get("/api/followup/work/tasks").json()
    assert [i["id"] for i in housing["items"]] == [w.tasks["lift"].pk]
    # An assisting department reads the task too.
    transport = logged_in(w.outsider).get("/api/followup/work/tasks").json()
    assert [i["id"] for i in transport["items"]] == [w.tasks["lift"].pk]
    hidden = logged_in(w.editor).get(f"/api/followup/work/tasks/{w.tasks['bus'].pk}")
    assert hidden.status_code == 404
    detail = logged_in(w.editor).get(f"/api/followup/work/tasks/{w.tasks['lift'].pk}").json()
    # Work views show askers, masked.
    contacts = sorted(a["contact"] for a in detail["askers_detail"])
    assert contacts == ["", "", "138****5678"]


def test_a_task_is_worked_through_the_api_from_assignment_to_closing(followup: Any) -> None:
    w = followup
    lift = w.tasks["lift"].pk
    staff, editor = logged_in(w.staff), logged_in(w.editor)
    section, leader = logged_in(w.section), logged_in(w.leader)
    base = f"/api/followup/work/tasks/{lift}"
    suggestions = staff.get(f"{base}/suggestions").json()
    assert suggestions[0]["department"]["id"] == w.housing.pk
    assigned = post(staff, f"{base}/assign", {"lead_department": w.housing.pk})
    assert assigned.status_code == 200 and assigned.json()["state"] == "dispatched"
    assert post(editor, f"{base}/accept").json()["state"] == "in_progress"
    ext = post(editor, f"{base}/request-extension", {"days": 2, "reason": "需要现场勘察"})
    assert ext.json()["state"] == "extension_requested"
    assert post(staff, f"{base}/approve-extension", {}).json()["extension_days"] == 2
    waiting = post(editor, f"{base}/wait", {"reason": "等待业主提交签字材料"})
    assert waiting.json()["reply_paused"] is True
    assert post(editor, f"{base}/resume", {"note": ""}).json()["state"] == "in_progress"
    saved = post(editor, f"{base}/reply", {"text": "经核实，补贴将于本月底前发放到位。"})
    assert saved.json()["replies"][0]["stage"] == "drafting"
    post(editor, f"{base}/reply/editor-approve")
    post(section, f"{base}/reply/section-approve")
    signed = post(leader, f"{base}/reply/sign-off")
    assert signed.status_code == 200 and signed.json()["state"] == "replied"
    asker = signed.json()["askers_detail"][0]["id"]
    callback = post(
        staff, f"{base}/callback", {"asker": asker, "resolved": "yes", "satisfaction": "satisfied"}
    )
    assert callback.status_code == 200
    closed = post(staff, f"{base}/close", {"resolved": True, "note": "回访满意"})
    assert closed.json()["state"] == TaskState.CLOSED_RESOLVED


def test_work_actions_answer_with_coded_errors(followup: Any) -> None:
    w = followup
    lift = w.tasks["lift"].pk
    editor = logged_in(w.editor)
    forbidden = post(editor, f"/api/followup/work/tasks/{lift}/assign", {"lead_department": 1})
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
    staff = logged_in(w.staff)
    illegal = post(staff, f"/api/followup/work/tasks/{lift}/close", {"resolved": True})
    assert illegal.status_code == 409 and illegal.json()["code"] == "illegal_transition"
    missing = post(staff, "/api/followup/work/tasks/999999/dismiss", {"reason": "x"})
    assert missing.status_code == 404
    malformed = post(staff, f"/api/followup/work/tasks/{lift}/assign", {"lead": "housing"})
    assert malformed.status_code == 422 and malformed.json()["code"] == "invalid"
    no_reason = post(staff, f"/api/followup/work/tasks/{lift}/dismiss", {"reason": ""})
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "reason_required"


def test_work_writes_need_the_csrf_token(followup: Any) -> None:
    w = followup
    strict = logged_in(w.staff, enforce_csrf_checks=True)
    refused = post(
        strict,
        f"/api/followup/work/tasks/{w.tasks['lift'].pk}/assign",
        {"lead_department": w.housing.pk},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    assert w.tasks["lift"].events.filter(action="assign").count() == 0


def test_staff_list_failed_notices(followup: Any) -> None:
    w = followup
    notice = w.tasks["lift"].notices.get()
    notice.status = "failed"
    notice.last_error = "ConnectionError: gateway down"
    notice.save()
    rows = logged_in(w.staff).get("/api/followup/work/notices").json()
    assert [(r["id"], r["last_error"]) for r in rows] == [
        (notice.pk, "ConnectionError: gateway down")
    ]
    assert logged_in(w.editor).get("/api/followup/work/notices").status_code == 403


def test_the_work_page_renders_for_staff_and_asks_others_to_log_in(followup: Any) -> None:
    page = logged_in(followup.staff).get("/followup/work/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="work-list"' in html and "followup/work.js" in html
    config = json.loads(html.split('id="page-config" type="application/json">')[1].split("<")[0])
    assert "assign" in config["permissions"]
    assert Client().get("/followup/work/").status_code == 302


# --- Open311 GeoReport v2 ------------------------------------------------------------------

REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def test_open311_services_list_the_sectors(followup: Any) -> None:
    services = Client().get("/open311/v2/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"housing", "transport", "education", "other"} <= codes
    assert set(services[0]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert all(s["metadata"] is False and s["type"] == "batch" for s in services)


def test_open311_requests_have_exactly_the_georeport_fields(followup: Any) -> None:
    w = followup
    accept(w)
    reply_and_publish(w)
    actions.do_close_task(w.staff, w.tasks["lift"].pk, True)
    response = Client().get("/open311/v2/requests.json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    rows = response.json()
    assert {r["service_request_id"] for r in rows} == {
        str(w.tasks["lift"].pk),
        str(w.tasks["bus"].pk),
    }
    lift = next(r for r in rows if r["service_request_id"] == str(w.tasks["lift"].pk))
    assert set(lift) == REQUEST_FIELDS
    assert lift["status"] == "closed"
    assert lift["agency_responsible"] == "市住房和城乡建设局"
    assert lift["service_code"] == "housing"
    assert "补贴将于本月底前发放到位" in lift["status_notes"]
    assert datetime.fromisoformat(lift["requested_datetime"]).tzinfo is not None  # W3C, zoned
    assert lift["lat"] is None and lift["long"] is None and lift["media_url"] is None
    for secret in PRIVATE_BITS:
        assert secret not in response.content.decode()


def test_open311_filters_by_status_code_ids_and_dates(followup: Any) -> None:
    w = followup
    accept(w)
    reply_and_publish(w)
    actions.do_close_task(w.staff, w.tasks["lift"].pk, True)
    client = Client()
    get = lambda **q: client.get("/open311/v2/requests.json", q)  # noqa: E731
    assert [r["service_request_id"] for r in get(status="open").json()] == [str(w.tasks["bus"].pk)]
    assert [r["service_request_id"] for r in get(status="closed").json()] == [
        str(w.tasks["lift"].pk)
    ]
    assert len(get(status="open,closed").json()) == 2
    ids = f"{w.tasks['lift'].pk},{w.tasks['private'].pk}"
    assert [r["service_request_id"] for r in get(service_request_id=ids).json()] == [
        str(w.tasks["lift"].pk)
    ]
    assert get(service_code="housing").json()[0]["service_code"] == "housing"
    assert get(start_date="2000-01-01T00:00:00Z", end_date="2000-02-01T00:00:00Z").json() == []
    assert len(get(start_date="2000-01-01T00:00:00+08:00").json()) == 2
    bad = get(start_date="yesterday")
    assert bad.status_code == 400
    assert bad.json()[0]["code"] == 400 and "start_date" in bad.json()[0]["description"]
    assert get(status="lost").status_code == 400
    assert get(service_code="moon").status_code == 400


def test_open311_one_request_is_a_one_element_list_and_private_ones_are_not_found(
    followup: Any,
) -> None:
    w = followup
    one = Client().get(f"/open311/v2/requests/{w.tasks['bus'].pk}.json")
    assert one.status_code == 200 and len(one.json()) == 1
    assert one.json()[0]["status"] == "open" and one.json()[0]["agency_responsible"] is None
    private = Client().get(f"/open311/v2/requests/{w.tasks['private'].pk}.json")
    assert private.status_code == 404 and private.json()[0]["code"] == 404
