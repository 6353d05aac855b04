"""A Flask app (WSGI) for gunicorn. From this folder:

    /usr/bin/python3 -m gunicorn --bind unix:/tmp/app.sock flask_app:app

then `curl --unix-socket /tmp/app.sock http://app/whoami`. The answers: answers.py.
"""
from flask import Flask, Response, request

import answers

app = Flask(__name__)
SERVER = answers.server_name(("gunicorn",))


@app.get("/")
def hello():
    return answers.hello(SERVER, "flask_app")


@app.get("/whoami")
def whoami():
    # remote_addr is the WSGI environ's REMOTE_ADDR: over a Unix socket, whatever the
    # server chose to put there.
    return answers.whoami(SERVER, request.remote_addr, request.scheme,
                          request.headers.get("X-Forwarded-For"))


@app.get("/pid")
def pid():
    return Response(answers.pid_text(), mimetype="text/plain")
