"""The documented protocol is the one the code speaks."""

from __future__ import annotations

from django.core.management import call_command

from hub import protocol


def test_protocol_document_embeds_the_current_schemas() -> None:
    call_command("protocol_schema", "--check")


def test_every_stored_event_type_is_a_documented_viewer_frame() -> None:
    documented = {
        option["properties"]["type"]["const"]
        for option in protocol.viewer_frame_adapter.json_schema()["$defs"].values()
        if "type" in option.get("properties", {}) and "const" in option["properties"]["type"]
    }
    assert protocol.STORED_EVENT_TYPES <= documented
    assert {"snapshot", "heartbeat"} <= documented
