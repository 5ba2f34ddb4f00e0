#!/usr/bin/env bash
# Trent against the bare stub (tools/kmsstub: net/http, encoding/json,
# AES-GCM and SigV4, nothing else) over loopback HTTP, side by side in one
# run: the hot operations (encrypt, decrypt, generate-data-key) at
# concurrency 1, 8, 32 and 128, with `trent bench` replaying pre-signed
# requests (the light client; MODE=sdk for the AWS SDK instead).
#
# Trent runs as in production: `trent server --data-dir` (bbolt, the audit
# log in batch mode, writing to disk), and the caller is an IAM user allowed
# by a grant (EncryptionContextSubset) on a key whose policy has 10
# statements, none of which allows it: SigV4, every statement, then the
# grant. The stub answers the development credentials.
#
# RUNS rounds alternate Trent and the stub for every cell, so that background
# load hits both alike; the report gives medians, the runs' spread, and the
# ratios Trent/stub of requests per second and of server CPU per request
# (the median over the rounds of each round's ratio).
# Loopback only; each run is bounded by DURATION (+ 1 s warm-up).
#
#   scripts/bench-server.sh                       # RUNS=3 DURATION=5s
#   OPS=encrypt CONC="32" RUNS=5 scripts/bench-server.sh
#   PROFILE=/tmp/prof OPS=encrypt CONC=32 RUNS=1 scripts/bench-server.sh
#   GOMAXPROCS=1 RUNS=5 CONC="8 32" scripts/bench-server.sh   # one P per server
#
# GOMAXPROCS from the environment reaches both servers alike, and the
# client too (whose default is one P); the report's header gives it.
#
# PIN=1 keeps the client off the servers' core: every server runs on CPU 0
# and every client on CPU 1 (taskset; the Go runtime then gives each server
# one P), so that the client's thread never takes the server's core in the
# middle of a request. Without it the servers' two threads and the client's
# share the two cores and the kernel's time slice shows in the p99.
#
# PROFILE=DIR: both servers serve pprof on loopback, and the first run of
# every cell takes a CPU profile of the server under load into
# DIR/SERVER-OP-C.pprof (go tool pprof -top DIR/trent-encrypt-32.pprof), with
# the binaries beside them.
#
# LOCALKMS=1 adds local-kms (github.com/nsmithuk/local-kms, the Go emulator
# many test suites run; built with `go install` from the Go module proxy at
# the version pinned below) as a third server in every round, with its
# defaults (in-memory keys on a LevelDB data directory, request logging to a
# file); its CPU time comes from /proc (`trent bench --server-pid`), since it
# has no /metrics. The report then has a second table, Trent against it.
#
# Needs: go, python3, the AWS CLI (AWS_CLI=path to pick one) for the IAM
# user and the grant (scripts/bench-lib.sh).
set -euo pipefail
runs=${RUNS:-3}
dur=${DURATION:-5s}
ops=${OPS:-"encrypt decrypt generate-data-key"}
concs=${CONC:-"1 8 32 128"}
mode=${MODE:-replay}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
log() { printf 'bench-server: %s\n' "$*" >&2; }
. "$root/scripts/bench-lib.sh"

log "building trent and kmsstub"
(cd "$root" && go build -o "$work/trent" ./cmd/trent && go build -o "$work/kmsstub" ./tools/kmsstub)
servers="trent stub"
localkms_version=v0.0.0-20260228092603-2a5e92d09ab6
if [ -n "${LOCALKMS:-}" ]; then
	log "building local-kms $localkms_version"
	(cd "$work" && GOBIN=$work GOFLAGS=-mod=mod go install "github.com/nsmithuk/local-kms@$localkms_version")
	servers="trent stub local-kms"
fi

port=${PORT:-18390}
url=http://127.0.0.1:$port
stub=http://127.0.0.1:$((port + 1))
prof=${PROFILE:-}
pprof_trent=() pprof_stub=()
on_server=() on_client=()
[ -z "${PIN:-}" ] || on_server=(taskset -c 0) on_client=(taskset -c 1)
if [ -n "$prof" ]; then
	mkdir -p "$prof" && cp "$work/trent" "$work/kmsstub" "$prof/"
	pprof_trent=(--pprof-addr "127.0.0.1:$((port + 2))") pprof_stub=(-pprof-addr "127.0.0.1:$((port + 3))")
fi
"${on_server[@]}" "$work/trent" server --data-dir "$work/data" --addr "127.0.0.1:$port" "${pprof_trent[@]}" 2>"$work/server.log" &
"${on_server[@]}" "$work/kmsstub" -addr "127.0.0.1:$((port + 1))" "${pprof_stub[@]}" 2>"$work/stub.log" &
localkms=http://127.0.0.1:$((port + 4))
if [ -n "${LOCALKMS:-}" ]; then
	mkdir "$work/local-kms-data"
	PORT=$((port + 4)) KMS_REGION=us-east-1 KMS_ACCOUNT_ID=111122223333 KMS_DATA_PATH=$work/local-kms-data \
		"${on_server[@]}" "$work/local-kms" >"$work/local-kms.log" 2>&1 &
	localkms_pid=$!
fi
for _ in $(seq 300); do
	grep -q "listening on" "$work/server.log" && grep -q "listening on" "$work/stub.log" &&
		{ [ -z "${LOCALKMS:-}" ] || curl -s -o /dev/null "$localkms"; } && break
	sleep 0.1
done
grep -q "listening on" "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
[ -z "${LOCALKMS:-}" ] || curl -s -o /dev/null "$localkms" || { cat "$work/local-kms.log" >&2; exit 1; }

unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$work/no-config AWS_SHARED_CREDENTIALS_FILE=$work/no-credentials
log "IAM user, 10-statement key policy, grant"
read -r user_id user_secret key <<<"$(bench_caller "$work/data" "$url")"

replay=()
[ "$mode" = replay ] && replay=(--replay)
# one SERVER OP C RUN: runs trent bench, appends its JSON line to results.
one() {
	local server=$1 op=$2 c=$3 r=$4 out profiling=""
	if [ -n "$prof" ] && [ "$r" = 1 ]; then
		local pport=$((port + 2)) secs=${dur%s}
		[ "$server" = stub ] && pport=$((port + 3))
		curl -sS -o "$prof/$server-$op-$c.pprof" "http://127.0.0.1:$pport/debug/pprof/profile?seconds=$((secs > 1 ? secs - 1 : 1))" &
		profiling=$!
	fi
	local dev=("${on_client[@]}" env AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "$work/trent" bench)
	local common=(--context app=bench --op "$op" --concurrency "$c" --duration "$dur" "${replay[@]}" --json)
	case $server in
	trent) out=$(AWS_ACCESS_KEY_ID=$user_id AWS_SECRET_ACCESS_KEY=$user_secret "${on_client[@]}" "$work/trent" bench --endpoint "$url" --key "$key" "${common[@]}") ;;
	stub) out=$("${dev[@]}" --endpoint "$stub" "${common[@]}") ;;
	local-kms) out=$("${dev[@]}" --endpoint "$localkms" --server-pid "$localkms_pid" "${common[@]}") ;;
	esac
	[ -z "$profiling" ] || wait "$profiling"
	python3 -c 'import json,sys; d=json.load(sys.stdin); d["server"]=sys.argv[1]; d["run"]=int(sys.argv[2]); print(json.dumps(d))' \
		"$server" "$r" <<<"$out" >>"$work/results.jsonl"
	log "$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); print("%s %s c=%d run %d: %.0f ops/s, p50 %.2f ms, p99 %.2f ms, server %.1f us/req, errors %d, wrong %d" % (d["server"], d["op"], d["concurrency"], d["run"], d["opsPerSec"], d["latencyMs"]["p50"], d["latencyMs"]["p99"], d["serverCpuPerRequestUs"], d["errors"], d["wrong"]))' <"$work/results.jsonl")"
}

for r in $(seq "$runs"); do
	for op in $ops; do
		for c in $concs; do
			order=$servers
			[ $(((r + c) % 2)) = 0 ] || order=$(tr ' ' '\n' <<<"$servers" | tac | tr '\n' ' ') # alternate who goes first
			for server in $order; do
				one "$server" "$op" "$c" "$r"
			done
		done
	done
done

"$work/trent" audit verify --data-dir "$work/data" >/dev/null || { log "audit verify failed"; exit 1; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores ($cpu),"
echo "$(cd "$root" && go version | cut -d' ' -f3), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); client mode $mode, servers' GOMAXPROCS ${GOMAXPROCS:-default}${PIN:+, servers pinned to CPU 0 and clients to CPU 1}, $runs runs of $dur per cell, medians."
echo
python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs): return statistics.median(xs) if xs else float("nan")
cells = {}
for d in rows:
    cells.setdefault((d["op"], d["concurrency"]), {}).setdefault(d["server"], []).append(d)
order = ["encrypt", "decrypt", "generate-data-key", "re-encrypt", "describe-key"]
refs = [r for r in ["stub", "local-kms"] if any(d["server"] == r for d in rows)]
for ref in refs:
    if ref != refs[0]:
        print()
    print("| operation | clients | Trent ops/s | %s ops/s | ratio | Trent p50 / p99 (ms) | %s p50 / p99 (ms) | Trent CPU/req (us) | %s CPU/req (us) | ratio | errors |" % (ref, ref, ref))
    print("|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|")
    for (op, c) in sorted(cells, key=lambda k: (order.index(k[0]) if k[0] in order else 9, k[1])):
        t, s = cells[(op, c)].get("trent", []), cells[(op, c)].get(ref, [])
        f = lambda xs, k: med([x[k] for x in xs])
        lat = lambda xs, k: med([x["latencyMs"][k] for x in xs])
        to, so = f(t, "opsPerSec"), f(s, "opsPerSec")
        tc, sc = f(t, "serverCpuPerRequestUs"), f(s, "serverCpuPerRequestUs")
        # Ratios are the medians of each round's ratio (the servers ran back
        # to back in it), so that background load that drifts between rounds
        # cancels out.
        byrun = lambda xs: {x["run"]: x for x in xs}
        tr, sr = byrun(t), byrun(s)
        pair = lambda k: med([tr[r][k] / sr[r][k] for r in tr if r in sr and sr[r][k]])
        errs = sum(x["errors"] + x["wrong"] for x in t + s)
        spread = lambda xs: "%.0f-%.0f" % (min(x["opsPerSec"] for x in xs), max(x["opsPerSec"] for x in xs)) if xs else ""
        print("| %s | %d | %.0f (%s) | %.0f (%s) | %.2f | %.2f / %.2f | %.2f / %.2f | %.1f | %.1f | %.2f | %d |" % (
            op, c, to, spread(t), so, spread(s), pair("opsPerSec"), lat(t, "p50"), lat(t, "p99"), lat(s, "p50"), lat(s, "p99"), tc, sc, pair("serverCpuPerRequestUs"), errs))
PY
