"""The plain asyncio server scripts/bench runs: http_min's GET / and nothing else, over a
Unix socket (asyncio.start_unix_server) and TCP (asyncio.start_server) at once.

    python3 scripts/bench-apps/asyncio_app.py --path /tmp/app.sock --port 0

No framework and no HTTP library: what a Python server costs with the least Python between
the socket and the response. It reads one request head at a time (GET, no body) and keeps
the connection open unless the client asks to close it. Like the course's programs it
prints "listening on ADDRESS" for each listener, so that scripts/bench learns the TCP port.
"""
import argparse
import asyncio
import os
import signal

BODY = b'{"msg":"hey yourself","from":"http_min"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
MAX_HEAD = 16384


async def serve(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            writer.write(RESPONSE)
            await writer.drain()
            if b"\r\nconnection: close" in head.lower():
                return
    finally:
        writer.close()


async def main(args):
    servers = []
    if args.path:
        servers.append(await asyncio.start_unix_server(serve, args.path, limit=MAX_HEAD))
        print(f"listening on unix:{args.path}", flush=True)
    if args.port is not None:
        server = await asyncio.start_server(serve, "127.0.0.1", args.port, limit=MAX_HEAD)
        servers.append(server)
        print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        if args.path:
            os.unlink(args.path)  # close() leaves the file: chapter 01


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", help="a Unix socket to listen on")
    parser.add_argument("--port", type=int, help="a TCP port on 127.0.0.1 (0: any free one)")
    arguments = parser.parse_args()
    if not arguments.path and arguments.port is None:
        parser.error("give --path, --port or both")
    asyncio.run(main(arguments))
