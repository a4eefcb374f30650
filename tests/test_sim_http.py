"""The sim server's own request parsing (zeb/sim/serving.py QuickHandler) keeps HTTP's rules: keep-alive on
1.1, close on 1.0 and `Connection: close`, 431 for oversized headers, the stdlib's answer to odd requests."""

from __future__ import annotations

import re
import socket

import pytest

from zeb.sim.clock import ManualClock
from zeb.sim.scenarios import load_scenario
from zeb.sim.server import SimServer


@pytest.fixture
def server():
    market = load_scenario("default", ManualClock(), api_key="k")
    srv = SimServer(market)
    url = srv.start()
    host, port = url.split("//")[1].split(":")
    yield host, int(port.rstrip("/"))
    srv.stop()


def _exchange(addr, raw: bytes, answers: int = 1) -> tuple[list[int], bool]:
    """The status codes of the answers, and whether the server kept the connection open after them."""
    with socket.create_connection(addr, timeout=5) as s:
        s.sendall(raw)
        data = b""
        while len(re.findall(rb"HTTP/1\.[01] \d{3}", data)) < answers:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.settimeout(0.3)
        still_open = False
        try:
            while chunk := s.recv(65536):
                data += chunk
        except TimeoutError:
            still_open = True
        return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3})", data)], still_open


GET = b"GET /api/v0/users/current/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"


def test_keep_alive_serves_two_requests_on_one_connection(server):
    assert _exchange(server, GET + GET, answers=2) == ([200, 200], True)


@pytest.mark.parametrize("raw", [
    b"GET /api/v0/users/current/ HTTP/1.0\r\nAuthorization: Bearer k\r\n\r\n",
    b"GET /api/v0/users/current/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n\r\n",
])
def test_http_1_0_and_connection_close_end_the_connection(server, raw):
    assert _exchange(server, raw) == ([200], False)


def test_an_oversized_header_is_431_and_an_unknown_method_501(server):
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n"
    assert _exchange(server, big)[0] == [431]
    assert _exchange(server, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")[0] == [501]
