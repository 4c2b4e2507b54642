"""A URL conf for the scanner's own check: the product's routes plus two new public ones
that nobody added to any list, one leaking a question's stored text unmasked, one whose
parameter no planted object fills. The crawl must find the leak and report the other."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from hub.models import Question
from hub.urls import urlpatterns as product_patterns


def leaky_question(request: HttpRequest, question_id: int) -> JsonResponse:
    question = Question.objects.get(pk=question_id)
    return JsonResponse({"text": question.original_text, "contact": question.contact})


def widget(request: HttpRequest, widget_key: str) -> JsonResponse:
    return JsonResponse({"widget": widget_key})


urlpatterns = [
    path("new-feature/questions/<int:question_id>.json", leaky_question),
    path("new-feature/widgets/<str:widget_key>", widget),
    *product_patterns,
]
