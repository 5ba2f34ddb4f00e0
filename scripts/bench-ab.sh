#!/usr/bin/env bash
# Two Trent servers, A and B, side by side under the same load, with the bias
# of the server slot cancelled. On this project's 2-core VM a slot can be
# favoured: a three-server script gave the *same* binary 5-7% more
# requests/s in one slot than in the other, in every round; this script's own
# A/A run, 1-2% (docs/benchmarks.md). So it runs two sessions: in the first,
# A takes the first slot and B the second; in the second, the other way
# round. Each session starts both servers fresh (`trent server --data-dir`,
# the audit log in batch mode on disk), makes the caller of bench-server.sh
# on each (an IAM user allowed by a grant on a key with a 10-statement
# policy), and alternates which server goes first every round. The report
# gives each session's median of the rounds' B/A ratios and their geometric
# mean, in which a slot's bias cancels.
#
#   ARGS_B=--audit=false scripts/bench-ab.sh      # the audit log's cost
#   BIN_B=/tmp/trent-new scripts/bench-ab.sh      # another build against this tree
#   OP=decrypt C=8 RUNS=12 DURATION=4s scripts/bench-ab.sh
#
# BIN_A, BIN_B: trent binaries (default: built from this tree; BIN_A's
# `trent bench --replay` is the client for both). ARGS_A, ARGS_B: more server
# flags. OP (encrypt), C (32 connections), RUNS (8 rounds per session),
# DURATION (3s per run, + 1 s warm-up). Loopback only.
#
# Needs: go, python3, the AWS CLI (scripts/bench-lib.sh).
set -euo pipefail
runs=${RUNS:-8} dur=${DURATION:-3s} op=${OP:-encrypt} c=${C:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
log() { printf 'bench-ab: %s\n' "$*" >&2; }
. "$root/scripts/bench-lib.sh"

if [ -z "${BIN_A:-}" ] || [ -z "${BIN_B:-}" ]; then
	log "building trent"
	(cd "$root" && go build -o "$work/trent" ./cmd/trent)
fi
BIN_A=${BIN_A:-$work/trent} BIN_B=${BIN_B:-$work/trent}
port=${PORT:-18420}
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_CA_BUNDLE
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$work/no-config AWS_SHARED_CREDENTIALS_FILE=$work/no-credentials

# session S FIRST SECOND: session S with server FIRST (A or B) in the first
# slot and SECOND in the other; appends a JSON line per run to results.
session() {
	local s=$1 slot n bin args dir url pids=()
	declare -A urls ids secrets keys
	shift
	for slot in 0 1; do
		n=${*:slot+1:1} dir=$work/s$s-$slot url=http://127.0.0.1:$((port + slot))
		if [ "$n" = A ]; then bin=$BIN_A args=${ARGS_A:-}; else bin=$BIN_B args=${ARGS_B:-}; fi
		# shellcheck disable=SC2086 # ARGS_A and ARGS_B are lists of flags
		"$bin" server --data-dir "$dir" --addr "127.0.0.1:$((port + slot))" $args 2>"$dir.log" &
		pids+=($!)
		for _ in $(seq 300); do
			grep -q "listening on" "$dir.log" 2>/dev/null && break
			sleep 0.1
		done
		grep -q "listening on" "$dir.log" || { cat "$dir.log" >&2; exit 1; }
		read -r "ids[$n]" "secrets[$n]" "keys[$n]" <<<"$(bench_caller "$dir" "$url")"
		urls[$n]=$url
	done
	for r in $(seq "$runs"); do
		local order="A B"
		[ $((r % 2)) = 0 ] && order="B A"
		for n in $order; do
			AWS_ACCESS_KEY_ID=${ids[$n]} AWS_SECRET_ACCESS_KEY=${secrets[$n]} "$BIN_A" bench --endpoint "${urls[$n]}" \
				--key "${keys[$n]}" --context app=bench --op "$op" --concurrency "$c" --duration "$dur" --replay --json |
				python3 -c 'import json,sys; d=json.load(sys.stdin); d.update(server=sys.argv[1], session=int(sys.argv[2]), run=int(sys.argv[3])); print(json.dumps(d))' \
					"$n" "$s" "$r" >>"$work/results.jsonl"
			log "$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); print("session %d (A in slot %d) run %d %s: %.0f ops/s, p99 %.2f ms, server %.1f us/req, errors %d, wrong %d" % (d["session"], 1 if d["session"] == 1 else 2, d["run"], d["server"], d["opsPerSec"], d["latencyMs"]["p99"], d["serverCpuPerRequestUs"], d["errors"], d["wrong"]))' <"$work/results.jsonl")"
		done
	done
	kill "${pids[@]}"
	wait "${pids[@]}" 2>/dev/null || true
}

session 1 A B
session 2 B A

echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores,"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $op at $c connections, $runs rounds of $dur per session."
echo "A: ${BIN_A} ${ARGS_A:-}; B: ${BIN_B} ${ARGS_B:-}"
echo
python3 - "$work/results.jsonl" <<'PY'
import json, math, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
print("| | A ops/s | B ops/s | B/A ops/s | A CPU/req (us) | B CPU/req (us) | B/A CPU/req | rounds B faster | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios = {"opsPerSec": [], "serverCpuPerRequestUs": []}
for s, label in ((1, "session 1 (A first slot)"), (2, "session 2 (B first slot)")):
    by = {(d["server"], d["run"]): d for d in rows if d["session"] == s}
    rs = sorted({r for (_, r) in by})
    ratio = lambda k: [by[("B", r)][k] / by[("A", r)][k] for r in rs if ("A", r) in by and ("B", r) in by]
    q, cpu = ratio("opsPerSec"), ratio("serverCpuPerRequestUs")
    ratios["opsPerSec"].append(med(q)); ratios["serverCpuPerRequestUs"].append(med(cpu))
    val = lambda n, k: med([by[(n, r)][k] for r in rs if (n, r) in by])
    errs = sum(d["errors"] + d["wrong"] for d in by.values())
    print("| %s | %.0f | %.0f | %.3f | %.1f | %.1f | %.3f | %d of %d | %d |" % (label, val("A", "opsPerSec"), val("B", "opsPerSec"), med(q),
        val("A", "serverCpuPerRequestUs"), val("B", "serverCpuPerRequestUs"), med(cpu), sum(x > 1 for x in q), len(q), errs))
g = lambda xs: math.sqrt(xs[0] * xs[1])
print("| **both (geometric mean)** | | | **%.3f** | | | **%.3f** | | |" % (g(ratios["opsPerSec"]), g(ratios["serverCpuPerRequestUs"])))
print()
print("Slot bias (second slot over first, requests/s): %.3f" % math.sqrt(ratios["opsPerSec"][0] / ratios["opsPerSec"][1]))
PY
