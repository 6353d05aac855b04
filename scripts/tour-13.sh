# tour-13.sh: chapter 13 of the tour, your app on a Unix socket. Sourced by scripts/tour,
# which provides say, run, skip, need, start_server, stop_server, free_port,
# nginx_user_and_group, nginx_conf_in_work and $work.
#
# uvicorn serves a small ASGI app on a Unix socket: the mode it gives the file (0666, to
# every local user), the fix (a directory only nginx's group may pass through), curl
# through the socket, nginx in front, and what uvicorn leaves behind when it stops.

# work, dim and plain are scripts/tour's; nginx_user and group are set by nginx_user_and_group.
# shellcheck shell=bash disable=SC2154

# chapter_13_as_other CURL_ARGS...: curl as another user (daemon), who is neither the
# socket's owner nor in nginx's group: prints the status, or curl's exit status when it
# cannot connect.
chapter_13_as_other() {
    local status=0
    printf '%s$ setpriv --reuid=daemon --regid=daemon --clear-groups curl%s%s\n' "$dim" "$(printf ' %q' "$@")" "$plain"
    setpriv --reuid=daemon --regid=daemon --clear-groups curl -sS -o /dev/null -w '%{http_code}\n' "$@" 2>&1 || status=$?
    ((status == 0)) || echo "  curl exit status $status: daemon cannot connect"
}

chapter_13() {
    need nginx nginx-light
    need curl curl
    local port nginx_user group app=(/usr/bin/python3 -m uvicorn --app-dir "$root/scripts/bench-apps" asgi_app:app
                    --lifespan off --no-access-log)
    port=$(free_port)
    nginx_user_and_group  # as root also lets other users pass through $work (0711)

    say "Chapter 13: your app on a Unix socket. uvicorn serves an ASGI app on $work/open.sock:"
    start_server --connect "unix:$work/open.sock" open "${app[@]}" --uds "$work/open.sock"
    say "uvicorn sets the mode 0666 (the umask here is $(umask)): every local user may connect."
    run stat -c '%A %a %U:%G %n' "$work/open.sock"
    if [[ $(id -u) -eq 0 ]]; then
        say "Another user (daemon) gets in:"
        chapter_13_as_other --unix-socket "$work/open.sock" http://localhost/
    else
        skip "showing another user connect needs root (setpriv to the user daemon)"
    fi
    say "On SIGTERM uvicorn removes its socket file (it does not check the file is its own):"
    stop_server open
    run ls -A "$work"

    say "The fix: the socket in a directory only the owner and nginx's group ($group) may pass through."
    run mkdir -m 0750 "$work/app"
    run chgrp "$group" "$work/app"
    start_server --connect "unix:$work/app/app.sock" app "${app[@]}" --uds "$work/app/app.sock"
    run stat -c '%A %a %U:%G %n' "$work/app" "$work/app/app.sock"
    run curl -fsS -w '\n' --unix-socket "$work/app/app.sock" http://localhost/
    if [[ $(id -u) -eq 0 ]]; then
        say "daemon, not in $group, is stopped by the directory, whatever the socket's mode:"
        chapter_13_as_other --unix-socket "$work/app/app.sock" http://localhost/
    else
        skip "showing another user refused needs root (setpriv to the user daemon)"
    fi

    say "nginx in front (nginx/examples/unix-backend.conf, its upstream moved to $work/app/app.sock; port $port for 80):"
    nginx_conf_in_work "$port" "$work/app/app.sock"
    run nginx -e stderr -t -q -p "$work/nginx" -c "$work/nginx.conf"
    start_server --connect "127.0.0.1:$port" nginx13 nginx -e stderr -p "$work/nginx" -c "$work/nginx.conf" -g 'daemon off;'
    if [[ -n $nginx_user ]]; then
        echo "nginx's workers run as nobody, in the group $group: the directory lets them through."
    fi
    run curl -fsS -w '\n' "http://127.0.0.1:$port/"
    say "Stopping nginx, then uvicorn; the socket file goes with uvicorn:"
    stop_server nginx13 QUIT
    stop_server app
    run ls -A "$work/app"
    rm -rf "$work/app" "$work/nginx" "$work/snippets" "$work/nginx.conf"
}
