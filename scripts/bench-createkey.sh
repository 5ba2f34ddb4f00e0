#!/usr/bin/env bash
# Durable writes: CreateKey over HTTP (trent bench) at 1 and 16
# concurrent clients against
#   durable:  trent server --dev --data-dir (bbolt: every CreateKey fsynced;
#             concurrent ones share a commit);
#   memory:   trent server --dev (in memory: no disk);
#   base:     the same durable server built from BASE (a commit before group
#             commit, default ce69258^), when BASE is not empty.
# RUNS rounds alternate the servers so that background load hits them alike;
# prints one line per run and the medians. Loopback only; each run is bounded
# by DURATION. Audit is off in all three (--audit=false) so that the figures
# are the key store's alone.
#
# The client is trent bench --replay (pre-signed requests over raw
# connections, a few microseconds of client CPU per CreateKey), so that on 2
# cores the servers, not the client, are measured; CLIENT=sdk uses the AWS
# SDK for Go v2 instead, whose signing costs about as much CPU per CreateKey
# as the server (the durable server then shares its cores with ~200 us of
# client work per request and reaches about half the replay figure).
#
#   scripts/bench-createkey.sh               # RUNS=3 DURATION=5s BASE=ce69258^ CLIENT=replay
set -euo pipefail
runs=${RUNS:-3}
dur=${DURATION:-5s}
base=${BASE-ce69258^}
client=${CLIENT:-replay}
case $client in
replay) mode=(--replay) ;;
sdk) mode=() ;;
*) echo "CLIENT is replay or sdk" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; git -C "$root" worktree remove --force "$work/base-src" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/trent" ./cmd/trent)
kinds="durable memory"
if [ -n "$base" ]; then
	git -C "$root" worktree add --detach "$work/base-src" "$base" >/dev/null 2>&1
	(cd "$work/base-src" && go build -o "$work/trent-base" ./cmd/trent)
	kinds="durable memory base"
fi

port=18590
start() { # kind -> url on stdout
	local kind=$1 bin=$work/trent args=(--dev --audit=false)
	port=$((port + 1))
	case $kind in
	durable) args+=(--data-dir "$work/data-$port") ;;
	base) bin=$work/trent-base args+=(--data-dir "$work/data-$port") ;;
	esac
	"$bin" server "${args[@]}" --addr "127.0.0.1:$port" >/dev/null 2>"$work/server-$port.log" &
	echo $! >"$work/pid"
	for _ in $(seq 200); do
		grep -q "listening on" "$work/server-$port.log" && break
		sleep 0.1
	done
	echo "http://127.0.0.1:$port"
}

declare -A res
for r in $(seq "$runs"); do
	for c in 1 16; do
		for kind in $kinds; do
			url=$(start "$kind")
			pid=$(cat "$work/pid")
			out=$("$work/trent" bench --endpoint "$url" --op create-key "${mode[@]}" --concurrency "$c" --duration "$dur" --warmup 0)
			kill "$pid"
			wait "$pid" 2>/dev/null || true
			ops=$(sed -n 's/.* ops\/s=\([0-9.]*\).*/\1/p' <<<"$out")
			p99=$(sed -n 's/.* p99=\([0-9.]*ms\).*/\1/p' <<<"$out")
			echo "run $r c=$c $kind: $ops CreateKey/s, p99 $p99"
			res[$kind-$c]+="$ops "
		done
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo
echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), client $client, commit $(git -C "$root" rev-parse --short HEAD), base ${base:-none}, load average $(cut -d' ' -f1-3 /proc/loadavg); medians of $runs runs of $dur"
echo
echo "| server | c=1 CreateKey/s | c=16 CreateKey/s | c=16 / c=1 |"
echo "|---|---:|---:|---:|"
for kind in $kinds; do
	a=$(median <<<"${res[$kind-1]}")
	b=$(median <<<"${res[$kind-16]}")
	awk -v k="$kind" -v a="$a" -v b="$b" 'BEGIN { printf "| %s | %.0f | %.0f | %.1fx |\n", k, a, b, b / a }'
done
