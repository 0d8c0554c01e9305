"""The warm worker's handshake: the assignment line and the standby's ready line."""

from __future__ import annotations

import io
import json

import pytest

from livedub.proc.standby import (
    MAX_LINE_BYTES,
    Assignment,
    AssignmentError,
    StandbyState,
    read_assignment,
    standby_state,
)

ASSIGNMENT = Assignment("cam-1", "rtmp://127.0.0.1:1935/live/cam-1/in", "rtmp://127.0.0.1:1935/live/cam-1/out", "r1")


def test_an_assignment_travels_as_one_line_and_comes_back_equal() -> None:
    line = ASSIGNMENT.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert read_assignment(io.StringIO(line.decode())) == ASSIGNMENT


def test_end_of_file_means_not_needed() -> None:
    assert read_assignment(io.StringIO("")) is None


@pytest.mark.parametrize("line", [
    "not json\n",
    "[1, 2]\n",
    '{"stream_id": "cam-1"}\n',
    json.dumps({**json.loads(ASSIGNMENT.to_line()), "extra": "x"}) + "\n",
    json.dumps({**json.loads(ASSIGNMENT.to_line()), "run_id": 7}) + "\n",
    ASSIGNMENT.to_line().decode().rstrip("\n"),  # unfinished: the launcher died mid-write
    "x" * (MAX_LINE_BYTES + 10) + "\n",
])
def test_anything_else_is_refused(line: str) -> None:
    with pytest.raises(AssignmentError):
        read_assignment(io.StringIO(line))


def test_the_ready_line_is_read_from_the_standby_log() -> None:
    ready = json.dumps({"level": "info", "msg": "standby worker ready", "standby": "ready"})
    failed = json.dumps({"level": "error", "msg": "standby worker cannot dub", "standby": "failed", "reason": "x"})
    assert standby_state(ready) is StandbyState.ready
    assert standby_state(failed) is StandbyState.failed
    assert standby_state(json.dumps({"msg": "worker standing by", "stsMode": "real"})) is None
    assert standby_state('{"standby": "loading"}') is None  # only the end of the load is reported
    assert standby_state('a plain line saying "standby"') is None
