"""A FastAPI app (ASGI) for uvicorn and hypercorn. From this folder:

    /usr/bin/python3 -m uvicorn --uds /tmp/app.sock --loop asyncio --http h11 fastapi_app:app
    /usr/bin/python3 -m hypercorn --bind unix:/tmp/app.sock fastapi_app:app

then `curl --unix-socket /tmp/app.sock http://app/whoami`. The answers: answers.py.
(--loop asyncio --http h11: Debian's uvicorn would pick uvloop and httptools if they were
installed; naming them keeps every run the same.)
"""
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

import answers

app = FastAPI()
SERVER = answers.server_name(("uvicorn", "hypercorn"))


@app.get("/")
def hello():
    return answers.hello(SERVER, "fastapi_app")


@app.get("/whoami")
def whoami(request: Request):
    # request.client is the ASGI scope's "client": (host, port), or None when the server
    # has no address to give (a Unix socket's peer usually has none).
    client = list(request.client) if request.client else None
    return answers.whoami(SERVER, client, request.url.scheme,
                          request.headers.get("x-forwarded-for"))


@app.get("/pid", response_class=PlainTextResponse)
def pid():
    return answers.pid_text()
