"""The core log parser's fast paths read a line as the general patterns do."""

from __future__ import annotations

import pytest

from toygrpc.capture.corelog import API_CALL, LINE, LINE_FIELDS, _api_call

MESSAGES = [
    "grpc_call_start_batch(call=0x1, ops=0x2, nops=6, tag=0x3, reserved=0)",
    "grpc_init(void)",
    "grpc_cut_short(call=0x1, ops=0x2",  # the core cut the line: no closing parenthesis
    "f()", "f(", "f())", "f(a)(b)", "f(a) ", "f(a)\r", "f(a)\n", "f(a\nb)", "f(a\n",
    "(no name)", "1f(a)", "_f9(a)", "f g(a)", "f-g(a)", "f\u00e9(a)", "caf\u00e9", "",
    "RETURN_EVENT[0x1]: OP_COMPLETE: tag:0x2 OK", "no parenthesis at all", "f(\u0663)",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_an_api_call_is_read_as_its_pattern_reads_it(message: str) -> None:
    call = API_CALL.match(message)
    assert _api_call(message) == (None if call is None else call.groups())


LINES = [
    "I1207 12:55:47.825062   22073 log.cc:110] Log level DEBUG",
    "I1207 12:55:47.825062123   22073 log.cc:110]    padded message  ",  # gpr_log's ns
    "E0101 00:00:00.000000 1 a.cc:1] x",
    "I0000 00:00:1795572788.271930   14985 call.cc:466] epoch seconds",
    "I1207 12:55:47.82506 22073 log.cc:110] five digits",
    "I1207 12:55:47.825062 22073 log.cc:110]no space",
    "I1207 12:55:47.825062 22073 log cc:110] x", "X1207 12:55:47.825062 1 a.cc:1] x",
    "I\u0661\u066207 12:55:47.825062 1 a.cc:1] other digits", "plain stderr",
]


@pytest.mark.parametrize("line", LINES)
def test_a_line_is_matched_as_line_matches_it_with_the_fields_the_parser_reads(
        line: str) -> None:
    full, fields = LINE.match(line), LINE_FIELDS.match(line)
    assert (full is None) == (fields is None)
    if full is not None and fields is not None:
        assert fields.groups() == full.groups()[6:]
        assert line[1:3] == full.group(2) and line[1:14] == "{}{} {}:{}:{}".format(
            *full.groups()[1:6])
