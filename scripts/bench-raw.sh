# shellcheck shell=bash disable=SC2154  # root, work, pin_server, pin_loader: scripts/bench's
# The raw suite of scripts/bench (chapter 11), which sources this file: Unix sockets against
# TCP with no protocol on top, measured by ipc_bench (raw_sockets/programs/ipc_bench.cpp).
#
#   suite_raw OUTDIR QUICK [IPC_BENCH_OPTION...]     QUICK: 1 for a smoke run (--quick), or 0
#
# writes
#   OUTDIR/raw.csv      ipc_bench's figures (test,transport,size_bytes,buffer,stat,value,unit,
#                       rounds,round_min,round_max), then the sockperf cross-check as rows
#   OUTDIR/raw.md       the tables: the Unix socket file beside TCP on 127.0.0.1 and their
#                       ratio, the other transports beside them; the sockperf cross-check
#   OUTDIR/latency.svg  median round trip by payload size, one line per transport (gnuplot)
#
# It checks ipc_bench's TCP round trip against an independent tool, sockperf ping-pong: two
# programs that agree are evidence that neither measures its own overhead. A disagreement is
# reported, not fatal: this is a measurement, not a test.
#
# From scripts/bench it uses say, die, print_machine, choose_cores (pin_server, pin_loader),
# $root, $work (a scratch directory that scripts/bench removes at exit; made here if empty)
# and, if set, $caller. IPC_BENCH=/path/to/ipc_bench measures that binary instead of
# building one.
# Everything it starts ends with it, also on Ctrl-C.

raw_sockperf_sizes=(16 4096)   # payloads for the sockperf cross-check (ipc_bench has both)
raw_agreement_percent=15        # how far apart the two medians may be and still agree

# Display names, in ipc_bench's order; the first and the fourth are the pair compared.
raw_transports=(unix_path unix_abstract socketpair tcp_ipv4 tcp_ipv6)
declare -A raw_label=([unix_path]='UDS (path)' [unix_abstract]='UDS (abstract)'
    [socketpair]='socketpair' [tcp_ipv4]='TCP 127.0.0.1' [tcp_ipv6]='TCP ::1')

# raw_require PACKAGE:COMMAND...: installs through scripts/setup the Debian packages whose
# command is missing (it runs apt-get as root, and otherwise prints the command to run).
# Returns 1, having said what to install, if any command is still missing.
raw_require() {
    local pair missing=() still=()
    for pair in "$@"; do
        command -v "${pair#*:}" >/dev/null 2>&1 || missing+=("${pair%%:*}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "raw: missing the Debian package(s) ${missing[*]}; installing through scripts/setup"
    "$root/scripts/setup" "${missing[@]}" || true
    for pair in "$@"; do
        command -v "${pair#*:}" >/dev/null 2>&1 || still+=("${pair%%:*}")
    done
    [[ ${#still[@]} -eq 0 ]] && return 0
    echo "raw: still missing; install with: apt-get install ${still[*]}"
    return 1
}

# raw_interrupted: Ctrl-C came while a program that catches it ran (sockperf does, and so
# does ipc_bench, to clean up). Stop as if this shell had been interrupted itself, so that
# a script running it (in a subshell or not) stops too, with its own clean-up.
raw_interrupted() {
    kill -INT "$BASHPID"
    exit 130
}

# raw_build: sets raw_bin, building ipc_bench with the default preset unless IPC_BENCH names one.
raw_build() {
    if [[ -n "${IPC_BENCH:-}" ]]; then
        # Relative to where scripts/bench was started ($caller), not to $root it moved to.
        raw_bin=$(cd "${caller:-.}" && realpath -m -- "$IPC_BENCH")
        [[ -f "$raw_bin" && -x "$raw_bin" ]] || die "IPC_BENCH=$IPC_BENCH is not an executable file"
        return 0
    fi
    command -v cmake >/dev/null || die "cmake is missing: run ./scripts/setup first"
    echo "building ipc_bench: cmake --preset default && cmake --build --preset default --target ipc_bench"
    if ! (cd "$root" && cmake --preset default && cmake --build --preset default --target ipc_bench) \
        >"$work/raw-build.log" 2>&1; then
        tail -n 30 "$work/raw-build.log" >&2
        die "building ipc_bench failed (the last lines of the build are above)"
    fi
    raw_bin=$root/build/default/bin/ipc_bench
}

# raw_figure CSV TEST TRANSPORT SIZE BUFFER STAT: that figure's value, or nothing.
raw_figure() {
    awk -F, -v key="$2,$3,$4,$5,$6" '$1 "," $2 "," $3 "," $4 "," $5 == key { print $6; exit }' "$1"
}

# raw_free_port: a TCP port on 127.0.0.1 that nobody listens on right now (sockperf's server
# cannot be told to take port 0 and report it).
raw_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# raw_sockperf_check CSV SECONDS: runs sockperf ping-pong over TCP on 127.0.0.1 at each of
# raw_sockperf_sizes and compares its median round trip with ipc_bench's; appends the
# comparison to CSV as rows and to $work/raw-sockperf.md as a table.
raw_sockperf_check() {
    local csv=$1 seconds=$2 port server size out half rtt ours main rounds low high difference agree status
    local table=$work/raw-sockperf.md near=$work/raw-near.csv
    # A shared machine's speed drifts over minutes, so sockperf is compared with a short
    # ipc_bench run made just before it, not only with the main run's median of rounds.
    local near_options=(--only latency --transport tcp_ipv4 --quick --rounds 3)
    printf '%s$ ipc_bench %s > %s%s\n' "${dim:-}" "${near_options[*]}" "$near" "${plain:-}"
    status=0
    timeout --foreground --kill-after=10 120 "$raw_bin" "${near_options[@]}" \
        >"$near" 2>"$work/raw-near.log" || status=$?
    [[ $status -eq 130 ]] && raw_interrupted
    [[ $status -eq 0 ]] || { cat "$work/raw-near.log" >&2; die "ipc_bench failed (status $status)"; }
    port=$(raw_free_port)
    # setpriv --pdeathsig: if this shell dies however it dies, the server goes too; timeout
    # bounds it even so. Pinned like ipc_bench: server on the first core, client on the second.
    setpriv --pdeathsig TERM timeout 300 "${pin_server[@]}" \
        sockperf server -i 127.0.0.1 -p "$port" --tcp >"$work/sockperf-server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    printf '%s$ %s sockperf server -i 127.0.0.1 -p %s --tcp%s\n' "${dim:-}" "${pin_server[*]}" "$port" "${plain:-}"
    {
        echo "| payload | ipc_bench, main run | ipc_bench, just before sockperf | sockperf p50 \"latency\" (half a round trip) | sockperf × 2 | sockperf against ipc_bench just before | agree within ${raw_agreement_percent}%? |"
        echo "|---:|---:|---:|---:|---:|---:|:---|"
    } >"$table"
    for size in "${raw_sockperf_sizes[@]}"; do
        out=$work/sockperf-$size.out
        printf '%s$ %s sockperf ping-pong -i 127.0.0.1 -p %s --tcp -m %s -t %s%s\n' \
            "${dim:-}" "${pin_loader[*]}" "$port" "$size" "$seconds" "${plain:-}"
        status=0
        timeout --foreground --kill-after=5 $((seconds + 30)) "${pin_loader[@]}" \
            sockperf ping-pong -i 127.0.0.1 -p "$port" --tcp -m "$size" -t "$seconds" \
            >"$out" 2>&1 || status=$?
        # Ctrl-C: sockperf catches it, prints what it has and exits 0, so this shell would go on.
        if [[ $status -eq 130 ]] || grep -q 'interrupted by user' "$out"; then raw_interrupted; fi
        # sockperf prints, per observation, half the round trip as "latency" unless given
        # --full-rtt ("Summary: Latency is ..." says which), and then its percentiles:
        #   sockperf: ---> percentile 50.000 =   11.110
        # Halving every observation halves their median, so twice the 50th percentile is the
        # median round trip, which ipc_bench reports.
        half=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | sed -n 's/^sockperf: ---> percentile 50\.000 = *\([0-9.]*\).*/\1/p')
        if [[ $status -ne 0 || -z "$half" ]] || ! grep -q 'Summary: Latency is' "$out"; then
            sed 's/^/  sockperf: /' "$out" | tail -n 15
            echo "  the sockperf check at $size B did not run (status $status): see above"
            echo "| $size B | | | sockperf failed (status $status) | | | |" >>"$table"
            continue
        fi
        read -r main rounds low high < <(awk -F, -v size="$size" '
            $1 == "latency" && $2 == "tcp_ipv4" && $3 == size && $5 == "median" { print $6, $8, $9, $10 }' "$csv")
        ours=$(raw_figure "$near" latency tcp_ipv4 "$size" default median)
        read -r rtt difference agree < <(awk -v half="$half" -v ours="$ours" -v limit="$raw_agreement_percent" \
            'BEGIN { rtt = 2 * half; d = (rtt - ours) / ours * 100
                     printf "%.2f %+.1f %d\n", rtt, d, (d <= limit && d >= -limit) }')
        printf '  %6s B: ipc_bench %s us (main run %s us), sockperf %s us x 2 = %s us: %s%%, %s\n' \
            "$size" "$ours" "$main" "$half" "$rtt" "$difference" \
            "$([[ $agree -eq 1 ]] && echo "they agree within ${raw_agreement_percent}%" || echo "they DISAGREE (more than ${raw_agreement_percent}% apart)")"
        printf '| %s B | %s µs | %s µs | %s µs | %s µs | %s%% | %s |\n' "$size" "$main" "$ours" "$half" \
            "$rtt" "$difference" "$([[ $agree -eq 1 ]] && echo yes || echo '**no**')" >>"$table"
        {
            echo "sockperf_check,tcp_ipv4,$size,default,ipc_bench_rtt_median,$main,us,$rounds,$low,$high"
            echo "sockperf_check,tcp_ipv4,$size,default,ipc_bench_rtt_median_just_before,$ours,us,1,$ours,$ours"
            echo "sockperf_check,tcp_ipv4,$size,default,sockperf_half_rtt_p50,$half,us,1,$half,$half"
            echo "sockperf_check,tcp_ipv4,$size,default,sockperf_rtt_median,$rtt,us,1,$rtt,$rtt"
            echo "sockperf_check,tcp_ipv4,$size,default,difference,${difference#+},percent,1,${difference#+},${difference#+}"
            echo "sockperf_check,tcp_ipv4,$size,default,agree_within_${raw_agreement_percent}_percent,$agree,boolean,1,$agree,$agree"
        } >>"$csv"
    done
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true  # it ends by SIGTERM: status 143 is expected
}

# raw_markdown CSV: the tables of raw.md, from ipc_bench's CSV, on stdout.
raw_markdown() {
    local transport labels=''
    for transport in "${raw_transports[@]}"; do labels+="${raw_label[$transport]}"$'\t'; done
    awk -F, -v names="${raw_transports[*]}" -v labels="$labels" '
    function size_text(b) {
        if (b >= 1048576) return (b / 1048576) " MiB"
        if (b >= 1024) return (b / 1024) " KiB"
        return b " B"
    }
    function cell(t, key, digits) {
        return (t SUBSEP key) in v ? sprintf("%." digits "f", v[t, key]) : "–"
    }
    function ratio(key) {
        if (!(("unix_path" SUBSEP key) in v) || !(("tcp_ipv4" SUBSEP key) in v)) return "–"
        if (v["tcp_ipv4", key] == 0) return "–"
        return sprintf("%.2f", v["unix_path", key] / v["tcp_ipv4", key])
    }
    # The transports measured besides the compared pair; no socketpair among connections.
    function shown(i, connect) {
        return other[i] != "" && !(connect && other[i] == "socketpair")
    }
    # One table row: the pair and its ratio first, then the others (those measured).
    function row(first, key, digits,   line, i) {
        line = "| " first " | " cell("unix_path", key, digits) " | " cell("tcp_ipv4", key, digits)
        line = line " | " ratio(key)
        for (i = 1; i <= n; i++) if (shown(i, key ~ /^connect/)) line = line " | " cell(other[i], key, digits)
        print line " |"
    }
    function header(first, unit, align, connect,   line, rule, i) {
        line = "| " first " | " label["unix_path"] " " unit " | " label["tcp_ipv4"] " " unit " | UDS/TCP"
        rule = "|" align "|---:|---:|---:"
        for (i = 1; i <= n; i++) if (shown(i, connect)) {
            line = line " | " label[other[i]] " " unit; rule = rule "|---:"
        }
        print line " |"; print rule "|"
    }
    BEGIN {
        n = split(names, name, " "); split(labels, text, "\t")
        for (i = 1; i <= n; i++) label[name[i]] = text[i]
    }
    NR > 1 && $1 != "sockperf_check" {
        key = $1 SUBSEP $3 SUBSEP $4 SUBSEP $5
        v[$2, key] = $6; seen[$2] = 1; rounds = $8
        if ($1 == "throughput" && $4 != "default") raised = $4  # the buffer size asked for
        if (!(($1, $3) in size_seen)) { size_seen[$1, $3] = 1; sizes[$1] = sizes[$1] " " $3 }
    }
    END {
        for (i = 1; i <= n; i++) {
            paired = name[i] == "unix_path" || name[i] == "tcp_ipv4"
            other[i] = (name[i] in seen && !paired) ? name[i] : ""
        }
        print "Each figure is the median of " rounds " round(s); in each round every transport ran once,"
        print "in rotating order."
        print "UDS/TCP is the Unix socket file'"'"'s figure divided by TCP on 127.0.0.1'"'"'s."
        if (!("tcp_ipv6" in seen)) print "TCP over ::1 was not measured (no IPv6 loopback, or not asked for)."
        if (sizes["latency"] != "") {
            print "\n## Round-trip latency (µs; lower is better, so UDS/TCP < 1 favours UDS)\n"
            print "One message there and back: the client sends it, the server reads all of it and sends it back."
            print "median: the typical round trip; p99: 1 in 100 took at least this long; max: the slowest.\n"
            header("payload | stat", "µs", "---:|:---", 0)
            m = split(sizes["latency"], s, " ")
            for (j = 1; j <= m; j++) for (k = 1; k <= 3; k++) {
                stat = (k == 1 ? "median" : k == 2 ? "p99" : "max")
                row(size_text(s[j]) " | " stat, "latency" SUBSEP s[j] SUBSEP "default" SUBSEP stat, 1)
            }
        }
        if (sizes["throughput"] != "") {
            print "\n## One-way throughput (MB/s, 1 MB = 10^6 bytes; higher is better, so UDS/TCP > 1 favours UDS)\n"
            header("write size | buffers", "MB/s", "---:|:---", 0)
            m = split(sizes["throughput"], s, " ")
            for (b = 1; b <= 2; b++) for (j = 1; j <= m; j++) {
                buffer = (b == 1 ? "default" : raised)
                asked = (b == 1 ? "default" : size_text(raised) " asked")
                row(size_text(s[j]) " | " asked, "throughput" SUBSEP s[j] SUBSEP buffer SUBSEP "rate", 0)
            }
            print "\nSocket buffers the kernel gave, in KiB (getsockopt at the end of the transfer:"
            print "sender'"'"'s SO_SNDBUF / receiver'"'"'s SO_RCVBUF). Linux doubles what setsockopt() asks for"
            print "and caps it at net.core.wmem_max / rmem_max; with the defaults, TCP grows its buffers"
            print "during a transfer (autotuning).\n"
            line = "| write size | buffers"; rule = "|---:|:---"
            for (i = 1; i <= n; i++) if (name[i] in seen) { line = line " | " label[name[i]]; rule = rule "|---:" }
            print line " |"; print rule "|"
            for (b = 1; b <= 2; b++) for (j = 1; j <= m; j++) {
                buffer = (b == 1 ? "default" : raised)
                line = "| " size_text(s[j]) " | " (b == 1 ? "default" : size_text(raised) " asked")
                for (i = 1; i <= n; i++) if (name[i] in seen) {
                    key = "throughput" SUBSEP s[j] SUBSEP buffer
                    sent = v[name[i], key SUBSEP "sndbuf"]; got = v[name[i], key SUBSEP "rcvbuf"]
                    line = line " | " sprintf("%.0f / %.0f", sent / 1024, got / 1024)
                }
                print line " |"
            }
        }
        if (sizes["connect"] != "") {
            print "\n## Connection set-up (connect + accept + close per second, one at a time; higher is better)\n"
            print "A socketpair is born connected: it has no row here.\n"
            header("", "conn/s", ":---", 1)
            row("set-ups per second", "connect" SUBSEP "0" SUBSEP "default" SUBSEP "rate", 0)
        }
    }' "$1"
}

# raw_plot CSV SVG: median round trip by payload size, one line per transport measured.
raw_plot() {
    local csv=$1 svg=$2 data=$work/raw-latency.dat transport columns=() size line tics='' plot='' i
    local -a sizes
    local -A colour=([unix_path]='#1f5fbf' [unix_abstract]='#6aa6e8' [socketpair]='#2e9e4f'
        [tcp_ipv4]='#d0342c' [tcp_ipv6]='#f08a24')  # Unix sockets blue and green, TCP red
    mapfile -t sizes < <(awk -F, '$1 == "latency" && $5 == "median" && !seen[$3]++ { print $3 }' "$csv")
    for transport in "${raw_transports[@]}"; do
        [[ -n $(raw_figure "$csv" latency "$transport" "${sizes[0]}" default median) ]] && columns+=("$transport")
    done
    {
        line='size'
        for transport in "${columns[@]}"; do line+=" \"${raw_label[$transport]}\""; done
        echo "$line"
        for size in "${sizes[@]}"; do
            line=$size
            for transport in "${columns[@]}"; do line+=" $(raw_figure "$csv" latency "$transport" "$size" default median)"; done
            echo "$line"
        done
    } >"$data"
    for size in "${sizes[@]}"; do
        if ((size >= 1024)); then tics+="${tics:+, }'$((size / 1024)) KiB' $size"; else tics+="${tics:+, }'$size B' $size"; fi
    done
    for i in "${!columns[@]}"; do
        plot+="${plot:+, }'$data' using 1:$((i + 2)) with linespoints linewidth 2 pointtype $((i + 4))"
        plot+=" linecolor rgb '${colour[${columns[i]}]}' title columnheader($((i + 2)))"
    done
    gnuplot <<EOF
set encoding utf8
set terminal svg size 800,500 dynamic font 'sans,12' background rgb 'white'
set output '$svg'
set title 'Round-trip latency by payload size: median of $(awk -F, 'NR == 2 { print $8 }' "$csv") round(s), ipc\\_bench'
set logscale x 2
set xrange [${sizes[0]} / 2.0 : ${sizes[-1]} * 2.0]
set xtics ($tics)
set xlabel 'payload (log scale)'
set ylabel 'median round trip (µs)'
set yrange [0:*]
set grid
set key top left
plot $plot
EOF
}

suite_raw() {
    [[ $# -ge 2 && ($2 == 0 || $2 == 1) ]] || die "usage: suite_raw OUTDIR QUICK(0|1) [ipc_bench options]"
    local outdir=$1 quick=$2 started seconds status=0 limit rounds sockperf_seconds=3 i
    shift 2
    local options=("$@")
    [[ $quick -eq 1 ]] && options=(--quick "${options[@]}") sockperf_seconds=1
    rounds=$([[ $quick -eq 1 ]] && echo 3 || echo 5)
    for ((i = 0; i < ${#options[@]}; i++)); do
        [[ ${options[i]} == --rounds ]] && rounds=${options[i + 1]:-$rounds}
    done
    [[ $rounds =~ ^[1-9][0-9]*$ ]] || die "raw: --rounds needs a positive whole number"
    mkdir -p "$outdir"
    outdir=$(realpath -- "$outdir")
    if [[ -z "${work:-}" ]]; then work=$(mktemp -d /tmp/bench-XXXXXX); fi  # scripts/bench removes it

    say "Raw sockets: Unix domain sockets against TCP, no protocol on top (ipc_bench)"
    print_machine
    choose_cores >"$work/raw-pinning"  # not in a $(...): it sets pin_server and pin_loader here
    cat "$work/raw-pinning"
    raw_require util-linux:taskset util-linux:setpriv coreutils:timeout python3:python3 \
        || die "raw: the tools above are needed"
    raw_build
    echo "ipc_bench: $raw_bin"

    local csv=$outdir/raw.csv md=$outdir/raw.md svg=$outdir/latency.svg
    rm -f "$csv" "$md" "$svg"
    printf '%s$ ipc_bench%s > %s%s\n' "${dim:-}" "${options[*]:+ ${options[*]}}" "$csv" "${plain:-}"
    # ipc_bench pins its own two processes (the same two cores as choose_cores). Its counts are
    # fixed, so the deadline only guards against a hang.
    limit=$((120 + 60 * rounds))
    started=$(date +%s.%N)
    timeout --foreground --kill-after=10 "$limit" "$raw_bin" "${options[@]}" >"$csv" || status=$?
    seconds=$(awk -v start="$started" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - start }')
    [[ $status -eq 130 ]] && raw_interrupted  # Ctrl-C: ipc_bench has cleaned up after itself
    [[ $status -eq 124 || $status -eq 137 ]] && die "ipc_bench did not finish within $limit s"
    [[ $status -eq 0 ]] || die "ipc_bench failed (status $status); its messages are above"
    echo "ipc_bench took $seconds s"

    local has_latency=0 sockperf_note='' plot_note=''
    grep -q '^latency,tcp_ipv4,' "$csv" && has_latency=1
    if [[ $has_latency -eq 0 ]]; then
        sockperf_note='Not run: ipc_bench measured no latency (--only).'
    elif raw_require sockperf:sockperf; then
        say "Cross-check: ipc_bench's TCP round trip against sockperf ping-pong"
        raw_sockperf_check "$csv" "$sockperf_seconds"
    else
        sockperf_note='Not run: sockperf is not installed (Debian package sockperf).'
    fi

    {
        echo "# Raw sockets: Unix domain sockets against TCP (ipc_bench)"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(print_machine)"
        echo
        echo "$(sed 's/(taskset)/(sched_setaffinity in ipc_bench, taskset for sockperf)/' "$work/raw-pinning");" \
             "run: \`ipc_bench${options[*]:+ ${options[*]}}\` ($([[ $quick -eq 1 ]] && echo quick || echo full) counts), $seconds s."
        echo
        raw_markdown "$csv"
        echo
        echo "## Cross-check: TCP 127.0.0.1 round trip, ipc_bench against sockperf ping-pong"
        echo
        if [[ -n $sockperf_note ]]; then
            echo "$sockperf_note"
        else
            echo "\`sockperf ping-pong --tcp -m SIZE -t $sockperf_seconds\` (Nagle off, as in ipc_bench;" \
                 "server and client pinned to the same cores as ipc_bench's). sockperf reports half of" \
                 "each round trip as its \"latency\", so its median round trip is twice its 50th" \
                 "percentile. It is compared with a short ipc_bench run made just before it" \
                 "(\`--only latency --transport tcp_ipv4 --quick --rounds 3\`), since the speed of a" \
                 "shared machine drifts over the minutes of the main run. They agree when the two medians" \
                 "are within ${raw_agreement_percent}% of each other (of ipc_bench's); a disagreement is" \
                 "reported, not fatal."
            echo
            cat "$work/raw-sockperf.md"
        fi
    } >"$md"

    if [[ $has_latency -eq 1 ]] && raw_require gnuplot-nox:gnuplot; then
        raw_plot "$csv" "$svg" || plot_note="gnuplot failed: no latency.svg"
    else
        plot_note="no latency.svg ($([[ $has_latency -eq 0 ]] && echo 'no latency measured' || echo 'gnuplot is missing: Debian package gnuplot-nox'))"
    fi

    say "Result"
    sed -n '/^## /,$p' "$md"
    echo
    echo "wrote $csv, $md$([[ -s $svg ]] && echo ", $svg")"
    if [[ -n $plot_note ]]; then echo "note: $plot_note"; fi
    echo "A measurement, not a test: the machine is shared, so run it again before trusting a small difference."
}
