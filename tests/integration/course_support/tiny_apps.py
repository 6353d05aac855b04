"""The smallest app each of chapter 13's servers takes, each answering any request with its
pid; used by app_sockets.py, where only the socket file is measured. (No import of the rest
of course_support here: the servers import this module.)

    python3 -m uvicorn --uds S course_support.tiny_apps:asgi_app     (and hypercorn)
    python3 -m gunicorn --bind unix:S course_support.tiny_apps:wsgi_app
    python3 -m course_support.tiny_apps aiohttp S                    (web.UnixSite)
    python3 -m course_support.tiny_apps asyncio S                    (asyncio.start_unix_server)
"""
import asyncio
import os
import signal
import sys


async def asgi_app(scope, receive, send):
    """For uvicorn and hypercorn."""
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})


def wsgi_app(environ, start_response):
    """For gunicorn."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


def serve_aiohttp(path):
    """aiohttp's web.run_app on a Unix socket (a UnixSite); exits 0 on SIGTERM."""
    from aiohttp import web

    async def pid(request):
        return web.Response(text=str(os.getpid()))

    app = web.Application()
    app.router.add_get("/", pid)
    web.run_app(app, path=path, print=None)


async def answer(reader, writer):
    """One request per connection, answered with the pid."""
    await reader.readuntil(b"\r\n\r\n")
    body = str(os.getpid()).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    await writer.drain()
    writer.close()


async def serve_asyncio(path):
    """asyncio.start_unix_server; exits 0 on SIGTERM."""
    server = await asyncio.start_unix_server(answer, path=path)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    if sys.argv[1] == "aiohttp":
        serve_aiohttp(sys.argv[2])
    else:
        asyncio.run(serve_asyncio(sys.argv[2]))
