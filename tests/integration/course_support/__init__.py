"""What the integration tests share, beside conftest.py's fixtures:

timeouts    how long anything may take
polling     poll_until / wait_until: waiting against a deadline, never a fixed sleep
programs    where the built course programs are (COURSE_BIN_DIR), and whether they are built
sockets     addresses in the course syntax, client connections
processes   StartedProcess, "a process we started", and its Server; ServerStarter (behind
            the start_server fixture); running one-shot programs; what /proc says
http        raw HTTP/1.1 byte for byte, httpx clients, starting http_min
activation  handing a program an already listening socket (systemd, fd:3); systemd unit
            files read, verified and their sockets made as systemd makes them
managers    supervisord and other managers' logs, run for real; nothing_left_running
nginx       the real nginx on the course's configuration files; behind_nginx()
desync      sending a request-smuggling corpus entry and reading exactly what comes back
desync_corpus  the corpus itself: 159 requests with their classes (source and commit inside)
app_servers chapter 13's Python servers (uvicorn, gunicorn, hypercorn, aiohttp, asyncio) running
            the apps of lessons/13-your-app/apps: their command lines, start()
toy_app_server  a script, not a module: a server on a Unix socket that misbehaves on
            request (slow to listen, exits at once, ...), for chapter 13's fixture tests
uds         pytest fixtures: a server on a Unix socket and an httpx client over it, liftable
            into another project (see ../README.md); for a Python app, chapter 13's
            lessons/13-your-app/uds_app_fixture.py is the same in one standalone file

conftest.py calls pytest.register_assert_rewrite("course_support") before importing any of
it, so an assert in a helper shows the values that failed, as one in a test does.
"""
