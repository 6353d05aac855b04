"""The WSGI app scripts/bench runs under gunicorn: http_min's GET / and nothing else.

    gunicorn --chdir scripts/bench-apps --workers 1 --bind unix:/tmp/app.sock wsgi_app:app

As small as a WSGI app gets, so that what is measured is gunicorn, not the app.
"""

BODY = b'{"msg":"hey yourself","from":"http_min"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
