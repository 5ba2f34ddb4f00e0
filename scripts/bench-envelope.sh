#!/usr/bin/env bash
# Benchmarks `trent encrypt` / `trent decrypt` on large files against a local
# dev server: wall time, throughput and peak RSS (median of RUNS runs), for a
# 64 MiB and a 1 GiB random file, next to age on the same files and the raw
# AES-256-GCM rate of the envelope package's benchmark. Each tool runs file
# to file, and file to standard output sent to /dev/null (no disk writes).
# Right before each signed run to /dev/null it measures SHA-384 alone over
# one stream of the same size (BenchmarkSHA384, the bound of the signed
# suite), so that the signed suite's rate is given as a fraction of it
# measured seconds apart, under the same load: the ratio reported is the
# median of the runs' ratios. Prints a Markdown
# report on stdout (progress on stderr) for docs/benchmarks.md.
#
#   scripts/bench-envelope.sh            # 64 MiB and 1 GiB, 3 runs each
#   SIZES_MIB="64" RUNS=1 scripts/bench-envelope.sh   # quick check
#
# Needs: go, curl (SigV4 to create the key), /usr/bin/time (Debian package
# time), age and age-keygen (package age). Temporary files go under TMPDIR
# (about 4x the largest size) and are deleted at the end. MB = 10^6 bytes.
set -euo pipefail

SIZES_MIB=${SIZES_MIB:-"64 1024"}
RUNS=${RUNS:-3}
BENCH=${BENCH:-BenchmarkRawAESGCM}

repo=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'bench-envelope: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in go curl age age-keygen; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install age curl; Go from go.dev)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

work=$(mktemp -d "${TMPDIR:-/tmp}/trent-bench-envelope.XXXXXX")
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

log "building trent and the envelope benchmarks"
(cd "$repo" && go build -o "$work/trent" ./cmd/trent && go test -c -o "$work/envelope.test" ./envelope)
trent=$work/trent

# Dev server on a free loopback port.
mkdir "$work/server"
(cd "$work/server" && exec env -u AWS_ENDPOINT_URL "$trent" server --dev --addr 127.0.0.1:0) 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 100); do
	url=$(sed -n 's/.*trent: listening on \(https\?:\/\/[^ ]*\).*/\1/p' "$work/server.log" | head -n1)
	[ -n "$url" ] && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "server exited"; }
	sleep 0.1
done
[ -n "$url" ] || { cat "$work/server.log" >&2; die "server did not start"; }
log "server at $url"

export AWS_ENDPOINT_URL=$url AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
# The server is plain HTTP on loopback: a CA bundle from the environment
# (AWS_CA_BUNDLE) would only add its parsing (~20 ms here) to every run.
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE
export AWS_CONFIG_FILE=$work/no-config AWS_SHARED_CREDENTIALS_FILE=$work/no-credentials

key=$(curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:kms" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.CreateKey' \
	-d '{"Description":"bench-envelope"}' "$url/" | sed -n 's/.*"Arn":"\([^"]*\)".*/\1/p')
[ -n "$key" ] || die "CreateKey returned no key ARN"
log "key $key"

age-keygen -o "$work/age.key" 2>/dev/null
recipient=$(age-keygen -y "$work/age.key")

# timed LABEL CMD...: runs CMD under /usr/bin/time -v (for the peak RSS) and
# appends "LABEL WALL_SECONDS MAXRSS_KB" to $work/results. The wall time is
# taken here, in nanoseconds (time -v only has centiseconds).
timed() {
	local label=$1 start end
	shift
	start=$(date +%s%N)
	/usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null
	end=$(date +%s%N)
	awk -v label="$label" -v ns="$((end - start))" '
		/Maximum resident set size/ { rss = $NF }
		END { printf "%s %.4f %d\n", label, ns / 1e9, rss }
	' "$work/time.txt" >>"$work/results"
}

# sha384 OP MIB: SHA-384 alone over MIB MiB in one stream, in 16 MiB
# iterations of BenchmarkSHA384; appends "sha384-OP-MIB MB/s".
sha384() {
	(cd "$repo/envelope" && "$work/envelope.test" -test.run x -test.bench 'BenchmarkSHA384$' -test.benchtime "$(((${2} + 15) / 16))x") |
		awk -v label="sha384-$1-$2" '/^BenchmarkSHA384/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "MB/s") print label, $i }' >>"$work/results"
}

# ratio OP MIB: the rate of the signed OP to /dev/null just timed over that
# of SHA-384 alone just before it; appends "ratio-OP-MIB RATIO".
ratio() {
	awk -v op="$1" -v mib="$2" '
		$1 == "sha384-" op "-" mib { sha = $2 }
		$1 == "trent-signed-" op "null-" mib { wall = $2 }
		END { printf "ratio-%s-%s %.4f\n", op, mib, mib * 1048576 / 1e6 / wall / sha }
	' "$work/results" >>"$work/results"
}

# median LABEL FIELD: median of a field (2 = wall, 3 = RSS KB) over runs.
median() {
	awk -v label="$1" -v f="$2" '$1 == label { print $f }' "$work/results" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

: >"$work/results"
for mib in $SIZES_MIB; do
	bytes=$((mib * 1024 * 1024))
	pt=$work/pt.$mib
	log "creating a ${mib} MiB random file"
	head -c "$bytes" /dev/urandom >"$pt"
	want=$(sha256sum <"$pt" | cut -d' ' -f1)
	for run in $(seq 1 "$RUNS"); do
		log "${mib} MiB run $run/$RUNS: trent encrypt/decrypt (signed, unsigned), SHA-384 alone, age -r, age -d"
		# To a file (trent syncs it before renaming it into place; age does
		# not sync), and to standard output sent to /dev/null.
		for suite in signed unsigned; do
			flag=()
			[ "$suite" = unsigned ] && flag=(--unsigned)
			timed "trent-$suite-encrypt-$mib" "$trent" encrypt --key "$key" "${flag[@]}" --context bench=envelope -o "$work/msg" "$pt"
			timed "trent-$suite-decrypt-$mib" "$trent" decrypt --key "$key" --context bench=envelope -o "$work/out" "$work/msg"
			[ "$suite" = signed ] && sha384 decrypt "$mib"
			timed "trent-$suite-decryptnull-$mib" "$trent" decrypt --key "$key" --context bench=envelope "$work/msg"
			[ "$suite" = signed ] && ratio decrypt "$mib"
			[ "$suite" = signed ] && sha384 encrypt "$mib"
			timed "trent-$suite-encryptnull-$mib" "$trent" encrypt --key "$key" "${flag[@]}" --context bench=envelope "$pt"
			[ "$suite" = signed ] && ratio encrypt "$mib"
			if [ "$run" = 1 ]; then
				[ "$(sha256sum <"$work/out" | cut -d' ' -f1)" = "$want" ] || die "trent ($suite) round trip of ${mib} MiB differs"
			fi
			rm -f "$work/msg" "$work/out"
		done
		timed "age-age-encrypt-$mib" age -r "$recipient" -o "$work/age" "$pt"
		timed "age-age-decrypt-$mib" age -d -i "$work/age.key" -o "$work/out" "$work/age"
		timed "age-age-decryptnull-$mib" age -d -i "$work/age.key" "$work/age"
		timed "age-age-encryptnull-$mib" age -r "$recipient" "$pt"
		if [ "$run" = 1 ]; then
			[ "$(sha256sum <"$work/out" | cut -d' ' -f1)" = "$want" ] || die "age round trip of ${mib} MiB differs"
		fi
		rm -f "$work/age" "$work/out"
	done
	rm -f "$pt"
done

log "go test -run x -bench $BENCH -count $RUNS ./envelope"
(cd "$repo" && go test -run x -bench "$BENCH" -count "$RUNS" ./envelope) >"$work/gobench.txt" 2>&1 || {
	cat "$work/gobench.txt" >&2
	die "go benchmark failed"
}
grep -q "^$BENCH" "$work/gobench.txt" || { cat "$work/gobench.txt" >&2; die "no benchmark named $BENCH"; }

# Report.
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown),"
echo "$(nproc) cores ($cpu), $(go version | cut -d' ' -f3), $(age --version 2>/dev/null | head -n1 | sed 's/^/age /'). Median of $RUNS runs; MB = 10^6 bytes."
echo
echo "| size | tool | operation | wall (s) | MB/s | max RSS (MiB) |"
echo "| ---: | --- | --- | ---: | ---: | ---: |"
for mib in $SIZES_MIB; do
	bytes=$((mib * 1024 * 1024))
	for t in trent-signed-encrypt trent-signed-decrypt trent-unsigned-encrypt trent-unsigned-decrypt age-age-encrypt age-age-decrypt \
		trent-signed-encryptnull trent-signed-decryptnull trent-unsigned-encryptnull trent-unsigned-decryptnull age-age-encryptnull age-age-decryptnull; do
		wall=$(median "$t-$mib" 2)
		rss=$(median "$t-$mib" 3)
		awk -v mib="$mib" -v t="$t" -v wall="$wall" -v rss="$rss" -v bytes="$bytes" 'BEGIN {
			split(t, p, "-")
			tool = "`age` (X25519, ChaCha20-Poly1305)"
			if (p[2] == "signed") tool = "`trent` (default, 0x0578 signed)"
			if (p[2] == "unsigned") tool = "`trent --unsigned` (0x0478)"
			op = p[3]
			if (op == "encrypt" || op == "decrypt") op = op " file to file"
			else { sub("null", "", op); op = op " to /dev/null" }
			mbs = (wall > 0) ? bytes / 1e6 / wall : 0
			printf "| %s MiB | %s | %s | %.3f | %.0f | %.1f |\n", mib, tool, op, wall, mbs, rss / 1024
		}'
	done
done
echo
echo "Signed suite against SHA-384 alone over one stream of the same size (BenchmarkSHA384, measured right before each"
echo "signed run; the ratio is the median of the runs' ratios; target: 0.85x or more):"
echo
echo "| size | signed encrypt to /dev/null | SHA-384 alone before it | ratio | signed decrypt to /dev/null | SHA-384 alone before it | ratio | ratios of the runs (encrypt; decrypt) |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for mib in $SIZES_MIB; do
	bytes=$((mib * 1024 * 1024))
	enc=$(median "trent-signed-encryptnull-$mib" 2)
	dec=$(median "trent-signed-decryptnull-$mib" 2)
	shae=$(median "sha384-encrypt-$mib" 2)
	shad=$(median "sha384-decrypt-$mib" 2)
	re=$(median "ratio-encrypt-$mib" 2)
	rd=$(median "ratio-decrypt-$mib" 2)
	runs=$(awk -v mib="$mib" '$1 == "ratio-encrypt-" mib { e = e sep sprintf("%.2f", $2); sep = " " } $1 == "ratio-decrypt-" mib { d = d sepd sprintf("%.2f", $2); sepd = " " } END { print e "; " d }' "$work/results")
	awk -v mib="$mib" -v enc="$enc" -v dec="$dec" -v shae="$shae" -v shad="$shad" -v re="$re" -v rd="$rd" -v runs="$runs" -v bytes="$bytes" 'BEGIN {
		printf "| %s MiB | %.0f MB/s | %.0f MB/s | %.2fx | %.0f MB/s | %.0f MB/s | %.2fx | %s |\n", mib, bytes / 1e6 / enc, shae, re, bytes / 1e6 / dec, shad, rd, runs
	}'
done
echo
echo "Raw AES-256-GCM (\`go test -run x -bench $BENCH -count $RUNS ./envelope\`):"
echo
echo '```'
grep -E "^($BENCH|cpu:|goos|goarch)" "$work/gobench.txt"
echo '```'
awk -v b="$BENCH" '$1 ~ "^"b { for (i = 1; i <= NF; i++) if ($(i + 1) == "MB/s") print $1, $i }' "$work/gobench.txt" |
	sort -k1,1 -k2,2g | awk '
		{ n[$1]++; v[$1, n[$1]] = $2 }
		END { for (k in n) printf "median %s: %s MB/s\n", k, v[k, int((n[k] + 1) / 2)] }' | sort
