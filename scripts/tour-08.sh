# tour-08.sh: chapter 08 of the tour, HTTP over a socket. Sourced by scripts/tour, which
# provides say, run, need, start_server, stop_server and $work.
#
# First the bytes: a request typed with printf and sent with socat, the answer shown with
# cat -A so that every CR is visible; then where a request ends (bare_http_head); then the
# same server through curl and httpx.

# work, dim and plain are scripts/tour's.
# shellcheck shell=bash disable=SC2154

# chapter_08_pipe COMMAND: shows a pipeline as the learner would type it, then runs it (run
# cannot show a pipeline: it quotes each word). $work holds no blank, so it needs no quotes.
chapter_08_pipe() {
    printf '%s$ %s%s\n' "$dim" "$1" "$plain"
    bash -o pipefail -c "$1"
}

chapter_08() {
    need curl curl
    need socat socat
    say "Chapter 08: HTTP over a socket. http_min listens on a Unix socket:"
    start_server http http_min --uds "$work/http.sock" --no-access-log
    say "HTTP/1.1 is bytes on a stream: a request by hand, with printf and socat."
    chapter_08_pipe "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | socat -t 5 - UNIX-CONNECT:$work/http.sock"
    echo
    say "A body, and the answer through cat -A: ^M is CR, \$ a line end; the body has neither."
    chapter_08_pipe "printf 'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\nhello' | socat -t 5 - UNIX-CONNECT:$work/http.sock | cat -A"
    echo
    say "Where a request ends: the empty line, then Content-Length bytes (bare_http_head):"
    chapter_08_pipe "printf 'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\nhelloGET / HTTP/1.1\\r\\n' | bare_http_head"
    say "curl speaks HTTP to it with --unix-socket; the host name in the URL only fills Host:"
    run curl -sS -w '\n' --unix-socket "$work/http.sock" http://localhost/
    run curl -sS -w '\n' --unix-socket "$work/http.sock" http://localhost/whoami
    run curl -sS -w '\n' --unix-socket "$work/http.sock" --data-binary 'hello body' http://localhost/echo
    say "Python's httpx has a Unix-socket transport:"
    run /usr/bin/python3 -c "import httpx; c = httpx.Client(transport=httpx.HTTPTransport(uds='$work/http.sock')); print(c.get('http://localhost/healthz').text)"
    say "HTTP/1.1 requires a Host header, even over a Unix socket: without one, 400."
    run curl -sS -i --unix-socket "$work/http.sock" -H 'Host:' http://localhost/
    stop_server http
}
