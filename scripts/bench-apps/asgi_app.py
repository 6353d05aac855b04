"""The ASGI app scripts/bench runs under uvicorn and hypercorn: http_min's GET / and nothing else.

    uvicorn --app-dir scripts/bench-apps asgi_app:app --uds /tmp/app.sock
    hypercorn --bind unix:/tmp/app.sock scripts/bench-apps/asgi_app:app

As small as an ASGI app gets, so that what is measured is the server, not the app.
"""

BODY = b'{"msg":"hey yourself","from":"http_min"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":  # "lifespan" at start-up: nothing to set up
        return
    # Read the request (its end, since GET has no body): hypercorn 0.13 closes the connection
    # after a response to a request the app never read, and the load would then measure
    # connecting instead of requests.
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
