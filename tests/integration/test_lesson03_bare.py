"""Chapter 03's bare loops: bare_send_recv, a parent and child joined by socketpair(), one
sending with a send-all loop under a rain of SIGALRM, the other reading with a recv-exact
loop; then a half-close and an answer. Plain system calls, without the library."""

import re


def test_send_all_and_recv_exact_carry_every_byte_despite_signals(run_program):
    result = run_program("bare_send_recv", timeout=60)
    # Every assertion shows the whole run: this test once failed in CI without its output.
    whole = f"exit status {result.returncode}\nstdout:\n{result.stdout}stderr:\n{result.stderr}"

    assert result.returncode == 0, whole
    lines = result.stdout.splitlines()
    assert len(lines) == 4, whole
    received = re.fullmatch(r"parent: received 8388608 bytes in (\d+) recv\(\) calls, all in "
                            r"order", lines[0])
    assert received, whole
    # 8 MiB is more than the socket buffers hold: it is read in more than one recv().
    assert int(received.group(1)) > 1, whole
    assert lines[1] == "parent: recv() returned 0: end of stream", whole
    sent = re.fullmatch(r"child: sent 8388608 bytes in (\d+) send\(\) calls: (\d+) short "
                        r"counts, (\d+) EINTR", lines[2])
    assert sent, whole
    calls, shorts, eintrs = map(int, sent.groups())
    # Every call but the last one taken whole was either short or interrupted.
    assert calls == shorts + eintrs + 1, whole
    assert lines[3] == 'child: the parent answered "ok" after our half-close', whole


def test_a_small_transfer_takes_one_call_each_way(run_program):
    result = run_program("bare_send_recv", "1000")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "parent: received 1000 bytes in 1 recv() calls, all in order",
        "parent: recv() returned 0: end of stream",
        "child: sent 1000 bytes in 1 send() calls: 0 short counts, 0 EINTR",
        'child: the parent answered "ok" after our half-close']
