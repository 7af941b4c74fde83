from core.events import event_epoch, format_ts, new_event, new_event_id, parse_ts, pipeline_error_event


def test_timestamps_round_trip_in_utc():
    text = format_ts(1764080743.123456)
    assert text == "2025-11-25T14:25:43.123456Z"
    assert abs(parse_ts(text) - 1764080743.123456) < 1e-6
    assert parse_ts("2025-11-25T22:25:43.5+08:00") == 1764080743.5


def test_new_event_is_a_flat_dotted_dict():
    event = new_event("nginx.access", message="GET /", source__ip="203.0.113.7",
                      timestamp="2025-11-25T14:25:43.000000Z")
    assert event["source.ip"] == "203.0.113.7"
    assert event["event.dataset"] == "nginx.access"
    assert event["event.kind"] == "event"
    assert event_epoch(event) == 1764080743.0
    assert all(isinstance(key, str) and "__" not in key for key in event)


def test_event_ids_are_unique():
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_pipeline_error_event_names_component_and_stage():
    event = pipeline_error_event("auth_log", "parse", "invalid UTF-8", original="\ufffd")
    assert event["event.kind"] == "pipeline_error"
    assert event["shouwang.component"] == "auth_log"
    assert event["error.message"] == "invalid UTF-8"
    assert event["event.original"] == "\ufffd"
