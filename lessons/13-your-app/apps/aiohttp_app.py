"""An aiohttp app, which is its own server: web.UnixSite for a Unix socket, web.TCPSite for
TCP, both on one runner if you ask for both. From this folder:

    /usr/bin/python3 aiohttp_app.py --uds /tmp/app.sock
    /usr/bin/python3 aiohttp_app.py --uds /tmp/app.sock --port 8000

then `curl --unix-socket /tmp/app.sock http://app/whoami`. The answers: answers.py.
It prints "listening on ADDRESS" for each listener (with --port 0, the port the kernel
chose) and stops on SIGTERM or SIGINT.
"""
import asyncio

from aiohttp import web

import answers

SERVER = "aiohttp"


async def hello(request):
    return web.json_response(answers.hello(SERVER, "aiohttp_app"))


async def whoami(request):
    # request.remote: the peer's IP address, or what the transport gives for a Unix socket.
    return web.json_response(answers.whoami(SERVER, request.remote, request.scheme,
                                            request.headers.get("X-Forwarded-For")))


async def pid(request):
    return web.Response(text=answers.pid_text())


def make_app():
    app = web.Application()
    app.add_routes([web.get("/", hello), web.get("/whoami", whoami), web.get("/pid", pid)])
    return app


async def serve(args):
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    sites = []
    # [sites]
    if args.uds:
        sites.append(web.UnixSite(runner, args.uds))
    if args.port is not None:
        sites.append(web.TCPSite(runner, "127.0.0.1", args.port))
    for site in sites:
        await site.start()
    # [sites]
    for address in runner.addresses:  # a path, or (host, port) with the real port
        print("listening on", f"unix:{address}" if isinstance(address, str)
              else "%s:%d" % address[:2], flush=True)
    await answers.until_stopped()
    await runner.cleanup()  # what it does to the socket file is the chapter's subject


def main():
    asyncio.run(serve(answers.listen_arguments(__doc__.splitlines()[0])))


if __name__ == "__main__":
    main()
