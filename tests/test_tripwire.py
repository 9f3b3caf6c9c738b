"""The network tripwire itself: loopback connects work, anything else is refused before it is sent."""

from __future__ import annotations

import socket

import pytest
from conftest import NonLoopbackConnection, is_loopback


def test_loopback_addresses_pass_and_others_do_not() -> None:
    assert all(is_loopback(a) for a in [("127.0.0.1", 80), ("127.5.0.1", 1), ("::1", 80, 0, 0), ("::ffff:127.0.0.1", 80), ("localhost", 80)])
    assert not any(is_loopback(a) for a in [("10.0.0.1", 80), ("169.254.169.254", 80), ("93.184.216.34", 443), ("example.org", 80)])


def test_a_connect_to_a_private_address_is_refused_and_recorded(network_tripwire) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(NonLoopbackConnection):
            sock.connect(("10.0.0.1", 80))
    assert network_tripwire == [("10.0.0.1", 80)]
    network_tripwire.clear()  # this test wanted the attempt; others fail on it


def test_a_loopback_server_is_reachable(static_site, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    site = static_site(tmp_path)
    import urllib.request

    assert urllib.request.urlopen(f"{site.url}/a.txt", timeout=5).read() == b"hello"
