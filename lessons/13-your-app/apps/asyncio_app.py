"""A plain asyncio HTTP server: one handler, served by asyncio.start_unix_server and by
asyncio.start_server; only the listening call differs. From this folder:

    /usr/bin/python3 asyncio_app.py --uds /tmp/app.sock
    /usr/bin/python3 asyncio_app.py --uds /tmp/app.sock --port 8000

then `curl --unix-socket /tmp/app.sock http://app/whoami`. The answers: answers.py.
It speaks just enough HTTP/1.1 for them: one request per connection (it answers with
Connection: close), no request body. It prints "listening on ADDRESS" for each listener
and stops on SIGTERM or SIGINT.
"""
import asyncio
import json

import answers

SERVER = "asyncio"
MAX_HEAD = 16 * 1024  # a longer request head is refused: bounds are part of the lesson


def route(target, peer, headers):
    """(status, content type, body) for a GET of `target` from `peer`."""
    if target == "/":
        return "200 OK", "application/json", json.dumps(answers.hello(SERVER, "asyncio_app"))
    if target == "/whoami":
        return "200 OK", "application/json", json.dumps(
            answers.whoami(SERVER, peer, "http", headers.get("x-forwarded-for")))
    if target == "/pid":
        return "200 OK", "text/plain", answers.pid_text()
    return "404 Not Found", "text/plain", "not found"


async def handle(reader, writer):
    """One connection, one request. The same coroutine serves both listeners."""
    # peername: ("127.0.0.1", 50000) over TCP; over a Unix socket the client's socket
    # address, which is "" because clients rarely bind one.
    peer = writer.get_extra_info("peername")
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = {}
        for line in filter(None, lines):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method == "GET":
            status, content_type, body = route(target, peer, headers)
        else:
            status, content_type, body = "405 Method Not Allowed", "text/plain", "GET only"
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        status, content_type, body = "400 Bad Request", "text/plain", "bad request"
    data = body.encode()
    writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    try:
        await writer.drain()
    finally:
        writer.close()


async def serve(args):
    servers = []
    # [listeners]
    if args.uds:
        servers.append(await asyncio.start_unix_server(handle, path=args.uds, limit=MAX_HEAD))
        print("listening on", f"unix:{args.uds}", flush=True)
    if args.port is not None:
        servers.append(await asyncio.start_server(handle, "127.0.0.1", args.port,
                                                  limit=MAX_HEAD))
        print("listening on", "127.0.0.1:%d" % servers[-1].sockets[0].getsockname()[1],
              flush=True)
    # [listeners]
    await answers.until_stopped()
    for server in servers:
        server.close()  # what that does to the socket file is the chapter's subject
        await server.wait_closed()


def main():
    asyncio.run(serve(answers.listen_arguments(__doc__.splitlines()[0])))


if __name__ == "__main__":
    main()
