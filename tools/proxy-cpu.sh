#!/usr/bin/env bash
# What each process spends, in CPU microseconds per answered request, while
# `possim load` drives `possim host` directly or through `possim proxy`.
#
#   tools/proxy-cpu.sh BIN SCENARIO direct|proxy [PURCHASES]
#
# BIN is a possim binary (a release build); SCENARIO has one link and no
# faults (BENCHMARKS.md, "Through the fault proxy", shows how to make one).
# The user and system times come from /proc/PID/stat, sampled from when the
# host has used its first 30 ms of CPU on the traffic (the load has recorded
# its requests and connected by then) until the load exits. With `nstat`
# installed it also counts the TCP segments the machine sent meanwhile.
set -euo pipefail
BIN=$1 SCENARIO=$2 MODE=$3 PURCHASES=${4:-100000}
case "$MODE" in direct | proxy) ;; *) echo "MODE is direct or proxy, not '$MODE'" >&2; exit 2 ;; esac
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

addr() { # the address a server printed once ready
    for _ in $(seq 100); do
        a=$(grep -oE '127\.0\.0\.1:[0-9]+' "$1" | head -1 || true)
        [ -n "$a" ] && { echo "$a"; return; }
        sleep 0.1
    done
    echo "no address in $1" >&2; exit 1
}
ticks() { awk '{print $14, $15}' "/proc/$1/stat" 2>/dev/null || true; } # user, system

"$BIN" host --scenario "$SCENARIO" --listen 127.0.0.1:0 -q >"$OUT/host" 2>&1 &
HOST=$!
TARGET=$(addr "$OUT/host")
PROXY=
if [ "$MODE" = proxy ]; then
    "$BIN" proxy --scenario "$SCENARIO" --listen 127.0.0.1:0 --upstream "$TARGET" >"$OUT/proxy" 2>&1 &
    PROXY=$!
    TARGET=$(addr "$OUT/proxy")
fi
command -v nstat >/dev/null && nstat -n
"$BIN" load --scenario "$SCENARIO" --purchases "$PURCHASES" --connect "$TARGET" >"$OUT/load" 2>&1 &
LOAD=$!
hz=$(getconf CLK_TCK)
read -r hu hs < <(ticks $HOST)
# Wait for the host's first 30 ms of CPU on the traffic (or the load's end).
while kill -0 $LOAD 2>/dev/null && read -r u s < <(ticks $HOST) \
    && [ $((u + s)) -lt $((hu + hs + (3 * hz + 99) / 100)) ]; do sleep 0.02; done
command -v nstat >/dev/null && nstat -n
declare -A first last
for p in load:$LOAD host:$HOST ${PROXY:+proxy:$PROXY}; do
    first[${p%%:*}]=$(ticks ${p#*:}); last[${p%%:*}]=${first[${p%%:*}]}
done
while kill -0 $LOAD 2>/dev/null; do
    for p in load:$LOAD host:$HOST ${PROXY:+proxy:$PROXY}; do
        t=$(ticks ${p#*:}); [ -n "$t" ] && last[${p%%:*}]=$t
    done
    sleep 0.02
done
wait $LOAD || true
cat "$OUT/load"
answered=$(grep -oE '[0-9]+ answered' "$OUT/load" | grep -oE '[0-9]+' || true)
if [ -z "$answered" ] || [ "$answered" -eq 0 ] || [ -z "${first[load]}" ]; then
    echo "the load answered nothing, or ended before it could be measured" >&2
    exit 1
fi
for p in load host ${PROXY:+proxy}; do
    read -r u0 s0 <<<"${first[$p]}"
    read -r u1 s1 <<<"${last[$p]}"
    awk -v p=$p -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$answered" -v hz="$hz" \
        'BEGIN { printf "%-6s %5.1f us user %5.1f us system per answered request\n", p, u*1e6/hz/n, s*1e6/hz/n }'
done
command -v nstat >/dev/null && nstat TcpOutSegs TcpExtTCPPureAcks | tail -n +2 \
    | awk -v n="$answered" '{ printf "%s %d (%.2f per answered request)\n", $1, $2, $2/n }'
kill -INT $HOST ${PROXY:-} 2>/dev/null || true
wait 2>/dev/null || true
