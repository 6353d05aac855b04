"""How long the tests wait for things, in seconds. Generous: a loaded machine, an ASan build
or two tests in parallel are no failure; a hang still is."""

READY_TIMEOUT = 10.0  # for a server to accept its first connection
STOP_TIMEOUT = 10.0  # for a server to exit after SIGTERM/SIGINT
RUN_TIMEOUT = 30.0  # for a one-shot program (a client, a demo) to finish
IO_TIMEOUT = 10.0  # that any single socket operation of a test may block
TEST_TIMEOUT = 90  # per test, if pytest-timeout is installed (CTest gives each file's run
# 120 s plus 30 s per test in it)
