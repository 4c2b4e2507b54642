"""Evaluation: the asker's private code (given once when asking), hotline callbacks, the
public online evaluation (one vote per browser, flood-limited), and reopening once after
an unresolved, unsatisfying verdict."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from hub.errors import ActionForbidden, IllegalTransition, NotFound
from hub.followup import actions
from hub.followup.codes import hash_code, issue_code, normalise_code
from hub.followup.models import AskerCode, Evaluation, PublicVote, TaskState
from tests.followup_steps import accept, refresh, reply_and_publish

pytestmark = pytest.mark.django_db


def replied(w: Any, key: str = "lift") -> Any:
    accept(w, key)
    return reply_and_publish(w, key)


# --- the private code -------------------------------------------------------------------


def test_asking_on_the_web_returns_a_private_code_once_stored_only_as_a_hash(
    client: Client, live_session: Any
) -> None:
    response = client.post(
        f"/api/sessions/{live_session.slug}/questions",
        {"text": "小区门口的路灯坏了一个月了"},
        content_type="application/json",
    )
    assert response.status_code == 201
    code = response.json()["private_code"]
    assert len(normalise_code(code)) == 12 and code.count("-") == 2
    row = AskerCode.objects.get(question_id=response.json()["id"])
    assert row.code_hash == hash_code(code) and code not in row.code_hash
    # The code reads the question's state before it becomes a task.
    lookup = client.get(f"/api/followup/by-code/{code.lower().replace('-', ' ')}")
    assert lookup.status_code == 200
    assert lookup.json()["question_state"] == "pending" and lookup.json()["task"] is None


def test_a_retried_submission_gets_a_fresh_code_and_the_lost_one_stops_working(
    client: Client, live_session: Any
) -> None:
    url = f"/api/sessions/{live_session.slug}/questions"
    first = client.post(
        url,
        {"text": "公交站台没有遮雨棚"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    ).json()
    again = client.post(
        url,
        {"text": "公交站台没有遮雨棚"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    ).json()
    assert again["duplicate"] is True and again["id"] == first["id"]
    assert again["private_code"] != first["private_code"]
    assert client.get(f"/api/followup/by-code/{first['private_code']}").status_code == 404
    assert client.get(f"/api/followup/by-code/{again['private_code']}").status_code == 200


def test_the_asker_follows_the_task_and_evaluates_once_by_code(followup: Any) -> None:
    w = followup
    code = issue_code(w.questions["lift3"])  # a merged asker (microblog) of the lift task
    client = Client()
    before = client.get(f"/api/followup/by-code/{code}").json()
    assert before["task"]["id"] == w.tasks["lift"].pk and before["can_evaluate"] is False
    replied(w)
    view = client.get(f"/api/followup/by-code/{code}").json()
    assert view["can_evaluate"] is True
    assert view["task"]["replies"][0]["text"].startswith("经核实")
    answer = client.post(
        f"/api/followup/by-code/{code}/evaluation",
        {"resolved": "partly", "satisfaction": "basic", "comment": "希望尽快到账"},
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "task": w.tasks["lift"].pk,
        "round": 1,
        "resolved": "partly",
        "satisfaction": "basic",
        "reopen_requested": False,
    }
    evaluation = Evaluation.objects.get()
    assert evaluation.source == "code" and evaluation.department == w.housing
    twice = client.post(
        f"/api/followup/by-code/{code}/evaluation",
        {"resolved": "yes", "satisfaction": "satisfied"},
        content_type="application/json",
    )
    assert twice.status_code == 409 and twice.json()["code"] == "already_evaluated"
    assert client.get(f"/api/followup/by-code/{code}").json()["evaluated"] is True


def test_a_wrong_code_is_refused_with_a_clear_error(followup: Any) -> None:
    replied(followup)
    client = Client()
    for wrong in ("AAAA-BBBB-CCCC", "short", "K7QM-4XPR-92H0"):
        response = client.get(f"/api/followup/by-code/{wrong}")
        assert response.status_code == 404 and response.json()["code"] == "bad_code"
    with pytest.raises(NotFound):
        actions.do_evaluate_by_code("AAAA-BBBB-CCCC", "yes", "satisfied")


def test_a_bad_verdict_is_refused(followup: Any) -> None:
    replied(followup)
    code = issue_code(followup.questions["lift"])
    response = Client().post(
        f"/api/followup/by-code/{code}/evaluation",
        {"resolved": "maybe", "satisfaction": "satisfied"},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["code"] == "bad_resolved"
    assert not Evaluation.objects.exists()


@override_settings(HUB_FOLLOWUP_CODE_RATE_PER_IP="3/m")
def test_guessing_codes_is_rate_limited(followup: Any) -> None:
    client = Client()
    statuses = [client.get(f"/api/followup/by-code/AAAA-BBBB-CC{i}X").status_code for i in range(5)]
    assert statuses == [404, 404, 404, 429, 429]


def test_evaluating_before_any_reply_is_refused(followup: Any) -> None:
    accept(followup)
    code = issue_code(followup.questions["lift"])
    with pytest.raises(IllegalTransition) as refused:
        actions.do_evaluate_by_code(code, "yes", "satisfied")
    assert refused.value.code == "no_reply"


# --- callbacks (回访) -----------------------------------------------------------------------


def test_hotline_staff_record_a_callback_for_an_asker_without_a_code(followup: Any) -> None:
    w = followup
    task = replied(w)
    asker = task.askers.get(question=w.questions["lift3"])
    with pytest.raises(ActionForbidden):
        actions.do_record_callback(w.editor, task.pk, asker.pk, "yes", "satisfied")
    evaluation = actions.do_record_callback(
        w.staff, task.pk, asker.pk, "yes", "satisfied", "电话回访，群众表示已收到补贴"
    )
    assert evaluation.source == "callback" and evaluation.recorded_by == w.staff
    with pytest.raises(IllegalTransition):
        actions.do_record_callback(w.staff, task.pk, asker.pk, "no", "unsatisfied")
    other = w.tasks["bus"].askers.get()
    with pytest.raises(NotFound):
        actions.do_record_callback(w.staff, task.pk, other.pk, "yes", "satisfied")


# --- reopening once -------------------------------------------------------------------------


def test_an_unresolved_unsatisfied_verdict_asks_staff_to_reopen_once(followup: Any) -> None:
    w = followup
    task = replied(w)
    code = issue_code(w.questions["lift"])
    actions.do_evaluate_by_code(code, "no", "unsatisfied", "补贴至今未到账")
    task = refresh(task)
    assert task.reopen_requested is True and task.state == TaskState.REPLIED
    assert task.events.filter(action="reopen_requested").count() == 1
    actions.do_reopen_task(w.staff, task.pk, "回访核实未发放，重办")
    task = refresh(task)
    assert task.state == TaskState.IN_PROGRESS and task.reopen_requested is False
    task = reply_and_publish(w, text="经督促，补贴已于今日发放到账。")
    # The asker rates the new reply (round 2) with the same code; reopening is spent.
    actions.do_evaluate_by_code(code, "no", "unsatisfied", "还是没到")
    task = refresh(task)
    assert task.reopen_requested is False
    assert list(Evaluation.objects.order_by("id").values_list("reply__round", flat=True)) == [1, 2]
    with pytest.raises(IllegalTransition) as refused:
        actions.do_reopen_task(w.staff, task.pk, "再次重办")
    assert refused.value.code == "reopen_limit"


def test_a_partly_resolved_verdict_does_not_ask_for_a_reopening(followup: Any) -> None:
    w = followup
    task = replied(w)
    actions.do_evaluate_by_code(issue_code(w.questions["lift"]), "partly", "unsatisfied")
    assert refresh(task).reopen_requested is False


# --- the public online evaluation (网上评议) ------------------------------------------------


def viewer() -> Client:
    """A browser that loaded a page, as voters do: it holds a page-issued browser id
    (the minimum age, the caps and cookieless stuffing: tests/test_honest_counts.py)."""
    browser = Client()
    assert browser.get("/followup/").status_code == 200
    return browser


@pytest.fixture(autouse=True)
def _browser_ids_count_at_once(settings: Any) -> None:
    settings.HUB_BROWSER_MIN_AGE_SECONDS = 0


def test_anyone_votes_once_per_browser_on_a_published_reply(followup: Any) -> None:
    w = followup
    task = replied(w)
    alice, bob = viewer(), viewer()
    url = f"/api/followup/tasks/{task.pk}/vote"
    first = alice.post(url, {"verdict": "satisfied"}, content_type="application/json")
    assert first.status_code == 200 and first.json() == {
        "satisfied": 1,
        "basic": 0,
        "unsatisfied": 0,
    }
    again = alice.post(url, {"verdict": "unsatisfied"}, content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "already_voted"
    other = bob.post(url, {"verdict": "unsatisfied"}, content_type="application/json")
    assert other.json() == {"satisfied": 1, "basic": 0, "unsatisfied": 1}
    assert PublicVote.objects.count() == 2
    detail = viewer().get(f"/api/followup/tasks/{task.pk}").json()
    assert detail["replies"][0]["votes"] == {"satisfied": 1, "basic": 0, "unsatisfied": 1}


def test_votes_need_a_published_reply_on_a_public_task(followup: Any) -> None:
    w = followup
    accept(w)
    response = viewer().post(
        f"/api/followup/tasks/{w.tasks['lift'].pk}/vote",
        {"verdict": "satisfied"},
        content_type="application/json",
    )
    assert response.status_code == 409 and response.json()["code"] == "no_reply"
    private = viewer().post(
        f"/api/followup/tasks/{w.tasks['private'].pk}/vote",
        {"verdict": "satisfied"},
        content_type="application/json",
    )
    assert private.status_code == 404
    bad = viewer().post(
        f"/api/followup/tasks/{w.tasks['lift'].pk}/vote",
        {"verdict": "great"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "bad_verdict"


@override_settings(HUB_FOLLOWUP_VOTE_RATE_PER_BROWSER="3/m")
def test_a_vote_flood_from_one_browser_is_throttled(followup: Any) -> None:
    w = followup
    task = replied(w)
    flooder = viewer()
    statuses = [
        flooder.post(
            f"/api/followup/tasks/{task.pk}/vote",
            {"verdict": "unsatisfied"},
            content_type="application/json",
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 409, 409, 429, 429]
    assert PublicVote.objects.count() == 1
    # Another browser is not affected by the flooder.
    assert (
        viewer()
        .post(
            f"/api/followup/tasks/{task.pk}/vote",
            {"verdict": "satisfied"},
            content_type="application/json",
        )
        .status_code
        == 200
    )


@override_settings(HUB_FOLLOWUP_VOTE_RATE_PER_IP="4/m", HUB_FOLLOWUP_VOTE_RATE_PER_BROWSER="100/m")
def test_a_vote_flood_from_many_browsers_on_one_address_is_throttled(followup: Any) -> None:
    task = replied(followup)
    statuses = [
        viewer()
        .post(
            f"/api/followup/tasks/{task.pk}/vote",
            {"verdict": "unsatisfied"},
            content_type="application/json",
        )
        .status_code
        for _ in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
