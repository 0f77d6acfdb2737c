"""Own accounts under attack, against a live server (SQLite, or PostgreSQL with
TEST_DATABASE_URL): parallel guesses never pass a limit, lockout is no weapon against a
device that signed in before, client addresses come from trusted proxies only."""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.databases import fresh_database
from tests.identity import helpers as identity_helpers
from tests.identity.helpers import PASSWORD, sign_in, sign_up
from tests.live_server import LiveServer, live_server

# Generous defaults for every limit a test does not look at.
OPEN = {
    "SIGNIN_MAX_FAILURES": "1000",
    "SIGNIN_MAX_FAILURES_PER_DAY": "1000",
    "SIGNIN_MAX_FAILURES_PER_CLIENT": "1000",
    "SIGNIN_MAX_PER_CLIENT_PER_MINUTE": "1000",
    "SIGNUP_MAX_PER_WINDOW": "1000",
    "USER_MAX_IN_FLIGHT": "50",
}


@pytest.fixture
def server_with(request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server on a fresh database with OPEN limits overridden by settings."""
    stack: list[Any] = []

    def start(**settings: str) -> LiveServer:
        database = fresh_database("tasks_throttle")
        url = database.__enter__()
        stack.append(database)
        server = live_server(url, **{**OPEN, **settings})
        running = server.__enter__()
        stack.append(server)
        return running

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


def client_at(server: LiveServer, address: str = "127.0.0.1") -> httpx.Client:
    return identity_helpers.client_at(server.url, address)


def all_at_once(count: int, call: Callable[[int], int]) -> Counter[int]:
    """`count` calls released together from as many threads; their statuses."""
    barrier = threading.Barrier(count)

    def run(number: int) -> int:
        barrier.wait()
        return call(number)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(run, range(count)))


def test_parallel_wrong_passwords_never_pass_the_limit(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="5")
    with client_at(server) as client:
        sign_up(client, "victim@example.com")
    clients = [client_at(server) for _ in range(20)]
    try:
        statuses = all_at_once(
            20, lambda n: sign_in(clients[n], "victim@example.com", "wrong guess 1").status_code
        )
    finally:
        for client in clients:
            client.close()
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[401] <= 5, statuses
    assert statuses[429] >= 15, statuses


def test_parallel_sign_ups_never_pass_the_limit(server_with: Callable[..., LiveServer]) -> None:
    server = server_with(SIGNUP_MAX_PER_WINDOW="10")
    clients = [client_at(server) for _ in range(30)]
    try:
        statuses = all_at_once(
            30,
            lambda n: (
                clients[n]
                .post(
                    "/api/auth/sign-up",
                    json={"email": f"user{n}@example.com", "password": PASSWORD, "name": "U"},
                )
                .status_code
            ),
        )
    finally:
        for client in clients:
            client.close()
    assert set(statuses) <= {201, 429}, statuses
    assert statuses[201] == 10, statuses


def test_parallel_current_password_checks_count_on_the_same_throttle(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="5")
    with client_at(server) as client:
        token = sign_up(client, "stolen@example.com")["access_token"]
    clients = [client_at(server) for _ in range(20)]

    def guess(number: int) -> int:
        return (
            clients[number]
            .patch(
                "/api/me",
                json={"current_password": f"guess number {number}", "password": "new long pass 99"},
                headers={"Authorization": f"Bearer {token}"},
            )
            .status_code
        )

    try:
        statuses = all_at_once(20, guess)
    finally:
        for client in clients:
            client.close()
    assert set(statuses) <= {403, 429}, statuses
    assert statuses[403] <= 5, statuses
    with client_at(server) as client:  # the account's sign-ins count the same guesses
        refused = sign_in(client, "stolen@example.com", "another guess")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1


def test_lockout_is_not_a_weapon_against_a_known_device(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="5")
    with client_at(server, "127.0.0.3") as victim:
        sign_up(victim, "victim@example.com")
        device = sign_in(victim, "victim@example.com", PASSWORD).json()["device_token"]
    with client_at(server, "127.0.0.2") as attacker:
        for _ in range(5):
            assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 401
        assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 429
    with client_at(server, "127.0.0.3") as victim:
        # Without its device token the victim is locked out like everyone else…
        assert sign_in(victim, "victim@example.com", PASSWORD).status_code == 429
        # …with it, the account's lockout does not apply: the device has its own limit.
        signed_in = sign_in(victim, "victim@example.com", PASSWORD, device_token=device)
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["device_token"] == device
        for _ in range(5):
            assert (
                sign_in(
                    victim, "victim@example.com", "wrong typo!", device_token=device
                ).status_code
                == 401
            )
        again = sign_in(victim, "victim@example.com", PASSWORD, device_token=device)
        assert again.status_code == 429


def test_a_trusted_device_signing_in_does_not_lift_the_lockout_for_others(
    server_with: Callable[..., LiveServer],
) -> None:
    # OWASP's device cookies: the owner's success on their device resets that device's own
    # counter; the lockout of every untrusted client runs its window.
    server = server_with(SIGNIN_MAX_FAILURES="5")
    with client_at(server, "127.0.0.3") as victim:
        device = sign_up(victim, "victim@example.com")["device_token"]
    with client_at(server, "127.0.0.2") as attacker:
        for _ in range(5):
            assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 401
        assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 429
    with client_at(server, "127.0.0.3") as victim:
        signed_in = sign_in(victim, "victim@example.com", PASSWORD, device_token=device)
        assert signed_in.status_code == 200, signed_in.text
    with client_at(server, "127.0.0.4") as stranger:  # an unknown third client
        assert sign_in(stranger, "victim@example.com", PASSWORD).status_code == 429
    with client_at(server, "127.0.0.2") as attacker:  # no fresh guesses either
        assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 429


def test_a_bogus_device_token_is_no_token_and_refusals_count_per_client(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="2", SIGNIN_MAX_PER_CLIENT_PER_MINUTE="6")
    with client_at(server, "127.0.0.3") as other:
        sign_up(other, "victim@example.com")
        sign_up(other, "mallory@example.com")
    with client_at(server, "127.0.0.2") as attacker:
        for _ in range(2):
            assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 401
        assert sign_in(attacker, "victim@example.com", "wrong guess").status_code == 429
        # A well-formed token of no device, a malformed one, none: all the same.
        for device in ({"device_token": "A" * 43}, {"device_token": "not-one-of-ours"}, {}):
            started = time.monotonic()
            refused = sign_in(attacker, "victim@example.com", "wrong guess", **device)
            assert refused.status_code == 429
            # Answered like a tokenless attempt on a locked email: after the pause.
            assert time.monotonic() - started >= 0.9
        # The refused attempts counted on the client's attempts (6 of 6 this minute):
        # even the right password of the attacker's own account is refused now…
        assert sign_in(attacker, "mallory@example.com", PASSWORD).status_code == 429
    with client_at(server, "127.0.0.4") as someone:  # …for that client only
        assert sign_in(someone, "mallory@example.com", PASSWORD).status_code == 200


def test_a_too_common_new_password_is_not_a_guess(server_with: Callable[..., LiveServer]) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="5")
    with client_at(server) as client:
        token = sign_up(client, "ada@example.com")["access_token"]

        def change(current: str, new: str) -> int:
            return client.patch(
                "/api/me",
                json={"current_password": current, "password": new},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code

        # The right current password and a weak new one, again and again: 422, no lockout.
        assert [change(PASSWORD, "password1") for _ in range(6)] == [422] * 6
        with client_at(server, "127.0.0.4") as other:
            assert sign_in(other, "ada@example.com", PASSWORD).status_code == 200
        # Wrong current passwords still count like failed sign-ins.
        wrong = [change("not my password", "a fine new passphrase") for _ in range(6)]
        assert wrong == [403] * 5 + [429]


def test_a_device_token_of_another_account_does_not_exempt(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="2")
    with client_at(server) as client:
        mallory = sign_up(client, "mallory@example.com")["device_token"]
        sign_up(client, "victim@example.com")
        for _ in range(2):
            wrong = sign_in(client, "victim@example.com", "wrong guess", device_token=mallory)
            assert wrong.status_code == 401
        locked = sign_in(client, "victim@example.com", "wrong guess", device_token=mallory)
        assert locked.status_code == 429


def test_a_password_change_ends_the_device_tokens(server_with: Callable[..., LiveServer]) -> None:
    server = server_with(SIGNIN_MAX_FAILURES="2")
    with client_at(server) as client:
        signed_up = sign_up(client, "ada@example.com")
        device, token = signed_up["device_token"], signed_up["access_token"]
        changed = client.patch(
            "/api/me",
            json={"current_password": PASSWORD, "password": "an entirely new passphrase"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert changed.status_code == 200, changed.text
        for _ in range(2):
            assert sign_in(client, "ada@example.com", "wrong guess").status_code == 401
        # The old device token is gone: the account's lockout applies to it too.
        old = sign_in(client, "ada@example.com", "an entirely new passphrase", device_token=device)
        assert old.status_code == 429


def test_sign_ins_are_limited_per_client_even_when_right(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_PER_CLIENT_PER_MINUTE="3")
    with client_at(server) as client:
        sign_up(client, "busy@example.com")
        statuses = [sign_in(client, "busy@example.com", PASSWORD).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
    with client_at(server, "127.0.0.4") as other:  # another client is not affected
        assert sign_in(other, "busy@example.com", PASSWORD).status_code == 200


def test_x_forwarded_for_is_ignored_without_trusted_proxies(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES_PER_CLIENT="3")
    with client_at(server) as client:
        statuses = [
            client.post(
                "/api/auth/sign-in",
                json={"email": f"user{n}@example.com", "password": "wrong guess"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(6)
        ]
    assert statuses == [401, 401, 401, 429, 429, 429]


def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(
    server_with: Callable[..., LiveServer],
) -> None:
    server = server_with(SIGNIN_MAX_FAILURES_PER_CLIENT="3", TRUSTED_PROXIES="127.0.0.1")

    def guess(client: httpx.Client, forwarded: str) -> int:
        return client.post(
            "/api/auth/sign-in",
            json={"email": "nobody@example.com", "password": "wrong guess"},
            headers={"X-Forwarded-For": forwarded},
        ).status_code

    with client_at(server) as proxy:
        assert [guess(proxy, "198.51.100.7") for _ in range(4)] == [401, 401, 401, 429]
        assert guess(proxy, "198.51.100.8") == 401  # another client behind the proxy
        # An IPv6 client counts by its /64: another address in it is the same client.
        assert [guess(proxy, f"2001:db8:1:2::{n}") for n in range(1, 5)] == [401, 401, 401, 429]
        # Whatever a proxy forwards, however long or odd, is never a 500.
        for forwarded in ("x" * 5000, "not an address", "::ffff:999.1.1.1", ",,,", "1.2.3.4" * 300):
            assert guess(proxy, forwarded) in (401, 429)
