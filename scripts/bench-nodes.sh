#!/usr/bin/env bash
# One and two Trent nodes, on bbolt and on one PostgreSQL, side by side:
# requests per second and server CPU per request of Encrypt (crypto: memory
# only) and CreateKey (a durable write), and the change feed's delay (commit
# on one node to application on the other: the revocation latency) under
# that load.
#
#   bolt x1   one node, its own bbolt file
#   bolt x2   two independent nodes (two bbolt files, nothing shared): what
#             two processes get from the same cores, the baseline of pg x2
#   pg x1     one node on PostgreSQL
#   pg x2     two nodes on one PostgreSQL (sharing keys, following each other)
#
# The load is `trent bench --replay` (pre-signed requests: a light client),
# CONC clients in all, split evenly over the nodes of a cell (each node's
# bench creates its own key). RUNS rounds alternate the four cells for every
# op, so that background load hits them alike; the report gives the medians
# of requests/s (summed over the nodes of a cell) and of server CPU per
# request (the nodes' CPU over their requests), and the runs. PostgreSQL
# (Debian's, its defaults: fsync and synchronous_commit on) runs on the
# same machine, on loopback; every node writes its audit log to disk.
#
#   scripts/bench-nodes.sh                         # RUNS=3 DURATION=5s CONC=32
#   OPS=encrypt RUNS=5 scripts/bench-nodes.sh
#   OPS= scripts/bench-nodes.sh                    # the idle change feed only
#
# Before the load, the change feed's delay at idle: IDLE (10) DisableKey and
# EnableKey pairs on the first PostgreSQL node, one AWS CLI call at a time,
# as the second node's trent_cache_apply_delay_seconds sees them.
#
# Needs: go, python3, the AWS CLI (AWS_CLI=path), PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin
# or PATH; as root the database runs as the postgres user).
set -euo pipefail
runs=${RUNS:-3}
dur=${DURATION:-5s}
conc=${CONC:-32}
ops=${OPS-"encrypt create-key"}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pgbin=${pgbin:-$(dirname "$(command -v initdb)")}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	[ -f "$work/pg/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
log() { printf 'bench-nodes: %s\n' "$*" >&2; }

log "building trent"
(cd "$root" && go build -o "$work/trent" ./cmd/trent)

port=${PORT:-18450}
pgport=$((port + 9))
log "PostgreSQL on 127.0.0.1:$pgport"
mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
	-o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres trent
pgurl="postgres://postgres@127.0.0.1:$pgport/trent?sslmode=disable"

# start NAME PORT [flags]: a node with its own data directory.
start() {
	local name=$1 p=$2
	shift 2
	"$work/trent" server --data-dir "$work/$name" --addr "127.0.0.1:$p" "$@" 2>"$work/$name.log" &
	for _ in $(seq 600); do
		grep -q "listening on" "$work/$name.log" && return
		sleep 0.1
	done
	cat "$work/$name.log" >&2
	exit 1
}
start b1 "$port"
start b2 $((port + 1))
start p1 $((port + 2)) --storage postgres --postgres-url "$pgurl" --root-key-file "$work/root.key" --node-id p1
start p2 $((port + 3)) --storage postgres --postgres-url "$pgurl" --root-key-file "$work/root.key" --node-id p2

# creds DIR: the administrator's credentials the node wrote at its first start.
creds() { sed -n 's/^aws_access_key_id = //p; s/^aws_secret_access_key = //p' "$work/$1/credentials" | paste -sd' '; }
declare -A cred=([b1]="$(creds b1)" [b2]="$(creds b2)" [p1]="$(creds p1)" [p2]="$(creds p1)")
declare -A portOf=([b1]=$port [b2]=$((port + 1)) [p1]=$((port + 2)) [p2]=$((port + 3)))
declare -A cells=([bolt-x1]="b1" [bolt-x2]="b1 b2" [pg-x1]="p1" [pg-x2]="p1 p2")
export AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_CONFIG_FILE=$work/no-config AWS_SHARED_CREDENTIALS_FILE=$work/no-credentials

# delay NODE: the apply-delay histogram of a node's /metrics, as "le count ..." lines.
delay() { curl -s "http://127.0.0.1:${portOf[$1]}/metrics" | sed -n 's/^trent_cache_apply_delay_seconds_bucket{le="\([^"]*\)"} \(.*\)/\1 \2/p'; }

# result RUN OP CELL FILES...: one JSON line of a cell's run (its nodes summed).
result() {
	python3 - "$@" <<'EOF'
import json, sys
run, op, cell, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rs = [json.load(open(f)) for f in files]
bad = sum(r["errors"] + r["wrong"] for r in rs)
rps = sum(r["opsPerSec"] for r in rs)
cpu = sum(r["serverCpuSeconds"] for r in rs) / max(1, sum(r["requests"] + r["errors"] for r in rs)) * 1e6
p99 = max(r["latencyMs"]["p99"] for r in rs)
print(json.dumps({"run": run, "op": op, "cell": cell, "rps": rps, "cpu_us": cpu, "p99_ms": p99, "bad": bad}))
EOF
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "idle change feed: ${IDLE:-10} DisableKey/EnableKey pairs on p1"
read -r id secret <<<"${cred[p1]}"
awsp1() { AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=$secret command "${AWS_CLI:-aws}" --endpoint-url "http://127.0.0.1:${portOf[p1]}" --output text "$@"; }
idkey=$(awsp1 kms create-key --query KeyMetadata.KeyId)
sleep 1
delay p2 >"$work/delay-before"
for _ in $(seq "${IDLE:-10}"); do
	awsp1 kms disable-key --key-id "$idkey"
	awsp1 kms enable-key --key-id "$idkey"
done
sleep 1
delay p2 >"$work/delay-after"
paste -d' ' "$work/delay-before" "$work/delay-after" | awk '{print "idle", $1, $4 - $2}' >>"$work/delays"
for run in $(seq "$runs"); do
	for op in $ops; do
		for cell in bolt-x1 bolt-x2 pg-x1 pg-x2; do
			nodes=(${cells[$cell]})
			per=$((conc / ${#nodes[@]}))
			[ "$cell" = pg-x2 ] && delay p2 >"$work/delay-before"
			pids=()
			for n in "${nodes[@]}"; do
				read -r id secret <<<"${cred[$n]}"
				AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=$secret "$work/trent" bench --replay --json \
					--endpoint "http://127.0.0.1:${portOf[$n]}" --op "$op" --concurrency "$per" \
					--duration "$dur" >"$work/out-$n" &
				pids+=($!)
			done
			wait "${pids[@]}"
			if [ "$cell" = pg-x2 ]; then
				delay p2 >"$work/delay-after"
				paste -d' ' "$work/delay-before" "$work/delay-after" | awk -v op="$op" '{print op, $1, $4 - $2}' >>"$work/delays"
			fi
			result "$run" "$op" "$cell" "${nodes[@]/#/$work/out-}" >>"$work/results"
			log "run $run $op $cell: $(tail -1 "$work/results")"
		done
	done
done

load="$load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
python3 - "$work/results" "$work/delays" "$load" <<'EOF'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])] if os.path.exists(sys.argv[1]) else []
print(f"load average (1, 5, 15 min): {sys.argv[3]}; {len(set(r['run'] for r in rows))} runs per cell\n")
print("| op | cell | requests/s (runs) | median | server CPU per request (median) | p99 ms (median) | errors |")
print("|---|---|---|---:|---:|---:|---:|")
for op in dict.fromkeys(r["op"] for r in rows):
    for cell in ("bolt-x1", "bolt-x2", "pg-x1", "pg-x2"):
        rs = [r for r in rows if r["op"] == op and r["cell"] == cell]
        if not rs:
            continue
        runs = ", ".join(f"{r['rps']:.0f}" for r in rs)
        print(f"| {op} | {cell} | {runs} | {statistics.median(r['rps'] for r in rs):.0f} | "
              f"{statistics.median(r['cpu_us'] for r in rs):.0f} us | {statistics.median(r['p99_ms'] for r in rs):.1f} | "
              f"{sum(r['bad'] for r in rs)} |")
# The apply delay on node p2 during the pg-x2 runs (cumulative buckets).
hist = {}
for line in open(sys.argv[2]):
    op, le, n = line.split()
    hist.setdefault(op, {}).setdefault(le, 0)
    hist[op][le] += float(n)
print("\nchange feed delay on p2 (commit on any node to applied on p2), idle and during pg-x2:")
for op, h in hist.items():
    total = h.get("+Inf", 0)
    if not total:
        print(f"  {op}: no change applied")
        continue
    def q(p):
        for le, n in sorted((float(k), v) for k, v in h.items()):
            if n >= p * total:
                return f"<= {le * 1000:g} ms"
    print(f"  {op}: {total:.0f} changes; p50 {q(.5)}, p90 {q(.9)}, p99 {q(.99)}")
EOF
