"""The aiohttp server scripts/bench runs: http_min's GET / and nothing else.

    python3 scripts/bench-apps/aiohttp_app.py --path /tmp/app.sock
    python3 scripts/bench-apps/aiohttp_app.py --port 0

aiohttp is its own server (no separate ASGI or WSGI server), so this file starts it too.
Like the course's programs it prints "listening on ADDRESS" once it listens: with --port 0
the kernel picks the port, and that line is how scripts/bench learns it.
"""
import argparse
import os
import socket

from aiohttp import web

BODY = b'{"msg":"hey yourself","from":"http_min"}'


async def hello(request):
    # body= rather than text=, so that aiohttp adds no "; charset=utf-8" to the Content-Type.
    return web.Response(body=BODY, content_type="application/json")


def listen(args):
    """The listening socket, bound here rather than by run_app, which cannot report port 0."""
    if args.path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(args.path)
        name = f"unix:{args.path}"
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        name = "127.0.0.1:%d" % sock.getsockname()[1]
    sock.listen(socket.SOMAXCONN)
    return sock, name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--path", help="a Unix socket to listen on")
    where.add_argument("--port", type=int, help="a TCP port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    sock, name = listen(args)
    print("listening on", name, flush=True)
    try:
        # No access log: the C++ servers and nginx are measured without one too. SIGTERM
        # ends run_app; connections still open get a second, not aiohttp's default minute.
        web.run_app(app, sock=sock, access_log=None, print=None, shutdown_timeout=1)
    finally:
        if args.path:
            os.unlink(args.path)  # bind() made the file and close() leaves it: chapter 01


if __name__ == "__main__":
    main()
