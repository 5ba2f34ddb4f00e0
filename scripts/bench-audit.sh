#!/usr/bin/env bash
# The cost of the audit log: Encrypt throughput and server CPU per request
# with the audit log off, --audit-sync=batch and --audit-sync=always, Go SDK
# client (trent bench) at concurrency 32, RUNS rounds that alternate the
# three modes so that background load hits them alike. Prints one line per
# run and the medians. Loopback only; each run is bounded by DURATION.
#
#   scripts/bench-audit.sh            # RUNS=3 DURATION=8s C=32; REPLAY=1 for the light client
set -euo pipefail
runs=${RUNS:-3}
dur=${DURATION:-8s}
conc=${C:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/trent" ./cmd/trent)

port=18190
run_one() { # mode -> prints "rps cpu_us"
	local mode=$1 args=() dir="$work/data-$mode-$RANDOM"
	case $mode in
	off) args=(--audit=false) ;;
	batch) args=(--audit-sync=batch) ;;
	always) args=(--audit-sync=always) ;;
	esac
	port=$((port + 1))
	"$work/trent" server --dev --data-dir "$dir" --addr "127.0.0.1:$port" "${args[@]}" 2>"$work/server.log" &
	local pid=$!
	for _ in $(seq 100); do
		grep -q "listening on" "$work/server.log" && break
		sleep 0.1
	done
	local out
	out=$("$work/trent" bench --endpoint "http://127.0.0.1:$port" --op encrypt --concurrency "$conc" --duration "$dur" ${REPLAY:+--replay})
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	local rps cpu
	rps=$(sed -n 's/.* ops\/s=\([0-9.]*\).*/\1/p' <<<"$out")
	cpu=$(sed -n 's/.*server_cpu_per_request=\([0-9.]*\)us.*/\1/p' <<<"$out")
	if [ "$mode" != off ]; then
		"$work/trent" audit verify --data-dir "$dir" >/dev/null || { echo "audit verify failed for $mode" >&2; exit 1; }
	fi
	rm -rf "$dir"
	echo "$rps $cpu"
}

declare -A rps cpu
for r in $(seq "$runs"); do
	for mode in off batch always; do
		read -r a b < <(run_one "$mode")
		rps[$mode]+="$a "
		cpu[$mode]+="$b "
		echo "run $r $mode: ${a} req/s, ${b} us server CPU per request"
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo
echo "mode    req/s(median)  CPU/req(median)  runs(req/s)"
for mode in off batch always; do
	printf "%-7s %13s  %15s  %s\n" "$mode" "$(median <<<"${rps[$mode]}")" "$(median <<<"${cpu[$mode]}")us" "${rps[$mode]}"
done
