"""A tiny web app, served five ways, for the fixture's own test: the same answers as an
ASGI app (uvicorn, hypercorn), a WSGI app (gunicorn), an aiohttp app run as
`python3 app.py aiohttp SOCKET_PATH`, and a plain asyncio server run as
`python3 app.py asyncio SOCKET_PATH`. (Not `python3 -m aiohttp.web --path`: besides the
socket, it listens on 127.0.0.1:8080, its default host and port.)

GET /     200 "hello"
GET /pid  200, the pid of the process that answered
"""

import asyncio
import os
import signal
import sys


def answer(path: str) -> tuple[int, bytes]:
    if path == "/":
        return 200, b"hello\n"
    if path == "/pid":
        return 200, str(os.getpid()).encode()
    return 404, b"not found\n"


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    status, body = answer(scope["path"])
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def wsgi(environ, start_response):
    status, body = answer(environ["PATH_INFO"])
    start_response(f"{status} {'OK' if status == 200 else 'Not Found'}",
                   [("Content-Type", "text/plain")])
    return [body]


def run_aiohttp(path: str) -> None:
    from aiohttp import web

    async def handle(request):
        status, body = answer(request.path)
        return web.Response(status=status, body=body, content_type="text/plain")

    application = web.Application()
    application.router.add_get("/{tail:.*}", handle)
    web.run_app(application, path=path)


async def handle_connection(reader, writer):
    request_line = await reader.readline()
    if not request_line:  # a connection that only checks we listen
        writer.close()
        return
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # the header fields: not needed here
    parts = request_line.split()
    status, body = answer(parts[1].decode() if len(parts) > 1 else "/")
    writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (status, b"OK" if status == 200 else b"Not Found", len(body), body))
    await writer.drain()
    writer.close()


async def serve(path: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_unix_server(handle_connection, path)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    if sys.argv[1] == "aiohttp":
        run_aiohttp(sys.argv[2])
    else:
        asyncio.run(serve(sys.argv[2]))
