"""The ASGI app scripts/bench runs under uvicorn: http_min's GET / and nothing else.

    uvicorn --app-dir scripts/bench-apps asgi_app:app --uds /tmp/app.sock

As small as an ASGI app gets, so that what is measured is uvicorn, not the app.
"""

BODY = b'{"msg":"hey yourself","from":"http_min"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":  # "lifespan" at start-up: nothing to set up
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
