#!/usr/bin/env bash
# The cost of authorization: Encrypt throughput and server CPU per request
# over HTTP (trent bench: the Go SDK, real SigV4, concurrency C; REPLAY=1 for
# pre-signed replay, the light client) for
#   root:  the account root, its key under the default key policy;
#   grant: an IAM user allowed by a grant (EncryptionContextSubset) on a key
#          whose policy has 10 statements, none of which allows it (every
#          statement is evaluated, then the grant).
# One server (not --dev, audit off) holds both; RUNS rounds alternate the two
# so that background load hits them alike. Prints one line per run and the
# medians. Loopback only; each run is bounded by DURATION.
#
#   scripts/bench-authz.sh            # RUNS=3 DURATION=8s C=32
set -euo pipefail
runs=${RUNS:-3}
dur=${DURATION:-8s}
conc=${C:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bench-lib.sh"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/trent" ./cmd/trent)

port=${PORT:-18290}
url=http://127.0.0.1:$port
"$work/trent" server --data-dir "$work/data" --addr "127.0.0.1:$port" --audit=false 2>"$work/server.log" &
for _ in $(seq 200); do
	grep -q "listening on" "$work/server.log" && break
	sleep 0.1
done
admin_id=$(sed -n 's/^aws_access_key_id = //p' "$work/data/credentials")
admin_secret=$(sed -n 's/^aws_secret_access_key = //p' "$work/data/credentials")
export AWS_ACCESS_KEY_ID=$admin_id AWS_SECRET_ACCESS_KEY=$admin_secret AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
unset AWS_PROFILE AWS_SESSION_TOKEN
read -r user_id user_secret key <<<"$(bench_caller "$work/data" "$url")"

run_one() { # mode -> prints "rps cpu_us"
	local out
	case $1 in
	root) out=$(AWS_ACCESS_KEY_ID=$admin_id AWS_SECRET_ACCESS_KEY=$admin_secret "$work/trent" bench --endpoint "$url" \
		--op encrypt --concurrency "$conc" --duration "$dur" --context app=bench ${REPLAY:+--replay}) ;;
	grant) out=$(AWS_ACCESS_KEY_ID=$user_id AWS_SECRET_ACCESS_KEY=$user_secret "$work/trent" bench --endpoint "$url" \
		--key "$key" --op encrypt --concurrency "$conc" --duration "$dur" --context app=bench ${REPLAY:+--replay}) ;;
	esac
	if grep -q "errors=[1-9]\|wrong=[1-9]" <<<"$out"; then
		echo "bench-authz: $1 had failures: $out" >&2
		exit 1
	fi
	echo "$(sed -n 's/.* ops\/s=\([0-9.]*\).*/\1/p' <<<"$out") $(sed -n 's/.*server_cpu_per_request=\([0-9.]*\)us.*/\1/p' <<<"$out")"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A rps cpu
for r in $(seq "$runs"); do
	for mode in root grant; do
		read -r x y <<<"$(run_one "$mode")"
		echo "run $r $mode: rps=$x server_cpu_per_request=${y}us"
		rps[$mode]+="$x "
		cpu[$mode]+="$y "
	done
done
for mode in root grant; do
	echo "median $mode: rps=$(tr ' ' '\n' <<<"${rps[$mode]}" | grep . | median) server_cpu_per_request=$(tr ' ' '\n' <<<"${cpu[$mode]}" | grep . | median)us"
done
