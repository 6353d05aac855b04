"""Chapter 13, your app on a Unix socket: who the app thinks the client is.

Over a Unix socket the peer has no IP address. Each server reports something else as the
client, and believes (or ignores) X-Forwarded-For and X-Forwarded-Proto its own way:
measured here, directly and through nginx, with a client that forges the headers. The fix,
nginx/snippets/proxy-headers-app.conf, is checked against both forgeries: the client's
address (uvicorn --forwarded-allow-ips='*') and the scheme (gunicorn).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from pathlib import Path
from typing import Optional

import hypercorn.middleware
import pytest

from course_support import app_servers
from course_support.app_servers import AppServer
from course_support.nginx import EXAMPLES, SNIPPETS, read

FORGED_FOR = ("X-Forwarded-For", "6.6.6.6")
FORGED_PROTO = ("X-Forwarded-Proto", "https")
# gunicorn 20.1's secure_scheme_headers: each of these alone makes a request https.
FORGED_SCHEMES = [FORGED_PROTO, ("X-Forwarded-Ssl", "on"), ("X-Forwarded-Protocol", "ssl")]

# The chapter's nginx.conf for one app on a Unix socket (its upstream is /run/app/app.sock,
# which becomes short_dir/app.sock), with the header snippet it includes swapped.
APP_EXAMPLE = EXAMPLES / "app-unix.conf"
SHIPPED_HEADERS = "proxy-headers.conf"

# The servers as started here: the name, then options.
OPTIONS = {"uvicorn --forwarded-allow-ips='*'": ["--forwarded-allow-ips", "*"]}


@pytest.fixture
def start_app(short_dir):
    """`start_app(name) -> AppServer`: app_servers.start for server `name` ("uvicorn",
    "uvicorn --forwarded-allow-ips='*'", ...) on short_dir/app.sock, ended at teardown."""
    with contextlib.ExitStack() as stack:
        def start(name: str) -> AppServer:
            return stack.enter_context(app_servers.start(
                name.split()[0], uds=os.path.join(short_dir, "app.sock"),
                extra=OPTIONS.get(name, [])))

        yield start


def behind_nginx(start_app, nginx, short_dir: str, name: str, snippet: Optional[str]):
    """The app under server `name`, behind the chapter's nginx.conf with the header snippet
    `snippet` in place of proxy-headers.conf (None: an empty file, so no proxy_set_header at
    all: nginx's defaults)."""
    start_app(name)
    if snippet is None:
        replacement = os.path.join(short_dir, "no-headers.conf")
        Path(replacement).write_text("# no proxy_set_header: nginx's defaults\n")
    else:
        replacement = str(SNIPPETS / snippet)
    return nginx.start(read(APP_EXAMPLE), sockets=short_dir,
                       snippets={SHIPPED_HEADERS: replacement},
                       what=f"{APP_EXAMPLE.name} with {snippet} for {SHIPPED_HEADERS}")


def get_through(proxy, headers=()):
    return proxy.get("/whoami", headers=list(headers))


def whoami_through(proxy, headers=()) -> dict:
    response = get_through(proxy, headers)
    assert response.status == 200, response
    return response.json()


# What each server tells the app about a client on its Unix socket that sends
# X-Forwarded-For: 6.6.6.6 and X-Forwarded-Proto: https: (client, scheme).
BELIEVED_FROM_A_UNIX_PEER = {
    "uvicorn": (None, "http"),  # no client at all, headers ignored
    "uvicorn --forwarded-allow-ips='*'": (["6.6.6.6", 0], "https"),  # both believed
    "gunicorn": ("", "https"),  # REMOTE_ADDR empty, the scheme believed
    "hypercorn": (None, "http"),  # no proxy-header support at all
    "aiohttp": ("", "http"),  # request.remote empty, headers ignored
    "asyncio": ("", "http"),  # the chapter's handler: the peer as asyncio gives it, no headers
}


@pytest.mark.parametrize("name", BELIEVED_FROM_A_UNIX_PEER)
def test_what_each_server_believes_from_a_unix_peer(start_app, name):
    server = start_app(name)
    plain = server.whoami()
    forged = server.whoami([FORGED_FOR, FORGED_PROTO])
    assert forged["forwarded_for"] == "6.6.6.6"  # the app receives the header either way
    assert (forged["client"], forged["scheme"]) == BELIEVED_FROM_A_UNIX_PEER[name], forged
    unbelieved = BELIEVED_FROM_A_UNIX_PEER["uvicorn" if name.startswith("uvicorn") else name]
    assert (plain["client"], plain["scheme"]) == (unbelieved[0], "http"), plain


def test_hypercorn_0_13_has_no_proxy_headers_middleware():
    # Newer hypercorn versions add hypercorn.middleware.ProxyFixMiddleware; 0.13 (Debian 12)
    # has none, and no option: the app must read the headers itself.
    assert importlib.metadata.version("hypercorn").startswith("0.13.")
    assert not hasattr(hypercorn.middleware, "ProxyFixMiddleware")


# --------------------------------------------------------------------------------------
# uvicorn behind nginx: the client's address


def test_uvicorn_behind_nginx_sees_the_client_and_cannot_be_spoofed(
        start_app, nginx, short_dir):
    proxy = behind_nginx(start_app, nginx, short_dir, "uvicorn --forwarded-allow-ips='*'",
                         "proxy-headers-app.conf")
    assert whoami_through(proxy)["client"] == ["127.0.0.1", 0]
    forged = whoami_through(proxy, [FORGED_FOR, FORGED_PROTO])
    assert (forged["client"], forged["scheme"]) == (["127.0.0.1", 0], "http"), forged
    assert forged["forwarded_for"] == "127.0.0.1"  # nginx overwrote the client's value


def test_with_proxy_add_x_forwarded_for_a_client_spoofs_its_address_to_uvicorn(
        start_app, nginx, short_dir):
    # Chapter 10's proxy-headers.conf appends: "6.6.6.6, 127.0.0.1". http_min takes the last
    # entry; uvicorn with '*' takes the first, the one the client wrote.
    proxy = behind_nginx(start_app, nginx, short_dir, "uvicorn --forwarded-allow-ips='*'",
                         "proxy-headers.conf")
    forged = whoami_through(proxy, [FORGED_FOR])
    assert forged["forwarded_for"] == "6.6.6.6, 127.0.0.1", forged
    assert forged["client"] == ["6.6.6.6", 0], forged


def test_uvicorn_without_forwarded_allow_ips_ignores_nginx_headers(
        start_app, nginx, short_dir):
    proxy = behind_nginx(start_app, nginx, short_dir, "uvicorn", "proxy-headers-app.conf")
    answer = whoami_through(proxy)
    assert answer["forwarded_for"] == "127.0.0.1"
    assert answer["client"] is None, answer


# --------------------------------------------------------------------------------------
# gunicorn behind nginx: the scheme


def test_gunicorn_believes_a_forged_scheme_from_behind_a_plain_proxy_pass(
        start_app, nginx, short_dir):
    # No proxy_set_header: nginx passes the client's headers on as they are, and gunicorn
    # believes any of the three from its Unix peer.
    proxy = behind_nginx(start_app, nginx, short_dir, "gunicorn", None)
    assert whoami_through(proxy)["scheme"] == "http"
    for forged in FORGED_SCHEMES:
        assert whoami_through(proxy, [forged])["scheme"] == "https", forged


def test_behind_proxy_headers_conf_a_forged_ssl_header_makes_gunicorn_answer_400(
        start_app, nginx, short_dir):
    # Chapter 10's snippet overwrites X-Forwarded-Proto with $scheme but passes the other two
    # on: gunicorn then sees "http" and "on" and refuses the request. Not a spoof, but any
    # client can make any request fail.
    proxy = behind_nginx(start_app, nginx, short_dir, "gunicorn", "proxy-headers.conf")
    assert whoami_through(proxy, [FORGED_PROTO])["scheme"] == "http"
    for forged in FORGED_SCHEMES[1:]:
        response = get_through(proxy, [forged])
        assert response.status == 400, (forged, response)
        assert b"Contradictory scheme headers" in response.body, response


def test_behind_proxy_headers_app_conf_gunicorn_sees_the_real_scheme(
        start_app, nginx, short_dir):
    proxy = behind_nginx(start_app, nginx, short_dir, "gunicorn", "proxy-headers-app.conf")
    for forged in FORGED_SCHEMES:
        assert whoami_through(proxy, [forged])["scheme"] == "http", forged
    assert whoami_through(proxy, FORGED_SCHEMES)["scheme"] == "http"
