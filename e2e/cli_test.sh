#!/usr/bin/env bash
# End-to-end test of trent with the AWS CLI and boto3 (e2e/boto3_test.py).
#
# Starts `trent server --dev` on a free loopback port, drives the main flows
# with `aws kms ... --endpoint-url`, then runs the boto3 script against the same
# server. Prints one line per check and a final line `N passed, M failed`;
# exits non-zero on any failure. The server is killed on exit.
#
# Environment: TRENT_BIN (a built trent binary; else this script builds one),
# AWS_CLI (default /usr/bin/aws, the Debian awscli, else `aws` on PATH),
# PYTHON (default /usr/bin/python3, with Debian's python3-boto3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

bin=${TRENT_BIN:-}
if [ -z "$bin" ]; then
	(cd "$root" && go build -o "$work/trent" ./cmd/trent)
	bin=$work/trent
fi
awscli=${AWS_CLI:-}
if [ -z "$awscli" ]; then
	if [ -x /usr/bin/aws ]; then awscli=/usr/bin/aws; else awscli=$(command -v aws); fi
fi
python=${PYTHON:-/usr/bin/python3}

# Isolate the CLI and boto3 from any user configuration.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS AWS_CA_BUNDLE
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=1

"$bin" server --dev --addr 127.0.0.1:0 2>"$work/server.log" &
pid=$!
url=""
for _ in $(seq 1 300); do
	url=$(sed -n 's/.*trent: listening on \(https\{0,1\}:\/\/[^ ]*\).*/\1/p' "$work/server.log" | head -n 1)
	[ -n "$url" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "cli_test: trent exited before listening:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.05
done
if [ -z "$url" ]; then
	echo "cli_test: no listening line after 15s" >&2
	cat "$work/server.log" >&2
	exit 1
fi
echo "# trent at $url, $("$awscli" --version 2>&1 | cut -d' ' -f1), python $("$python" -c 'import boto3; print("boto3", boto3.__version__)')"

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok   - $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1${2:+: $2}"
}
# check NAME GOT WANT (an empty WANT, from an earlier failure, never passes)
check() {
	if [ -n "$3" ] && [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi
}
kms() {
	"$awscli" kms --endpoint-url "$url" --output text "$@"
}
# expect_error NAME CODE aws-args...: the call must fail with CODE.
expect_error() {
	local name=$1 code=$2 out
	shift 2
	if out=$(kms "$@" 2>&1); then
		fail "$name" "succeeded, want $code"
	elif grep -q "($code)" <<<"$out"; then
		ok "$name"
	else
		fail "$name" "want $code, got: $out"
	fi
}
# run NAME aws-args...: the call must succeed; its output is in $out.
out=""
run() {
	local name=$1
	shift
	if out=$(kms "$@" 2>&1); then
		ok "$name"
	else
		fail "$name" "$out"
		out=""
	fi
}

# --- AWS CLI -----------------------------------------------------------------
run "cli create-key" create-key --description "cli key" --tags TagKey=team,TagValue=cli \
	--query 'KeyMetadata.[KeyId,KeyState,KeyUsage]'
read -r key state usage <<<"$out"
check "cli create-key state and usage" "$state $usage" "Enabled ENCRYPT_DECRYPT"

run "cli describe-key" describe-key --key-id "$key" --query 'KeyMetadata.[Description,Arn]'
check "cli describe-key fields" "$out" "$(printf 'cli key\tarn:aws:kms:us-east-1:111122223333:key/%s' "$key")"
expect_error "cli describe-key unknown" NotFoundException describe-key --key-id 11111111-2222-3333-4444-555555555555

run "cli create-alias" create-alias --alias-name alias/cli-app --target-key-id "$key"
run "cli describe-key by alias" describe-key --key-id alias/cli-app --query KeyMetadata.KeyId
check "cli alias resolves" "$out" "$key"
expect_error "cli duplicate alias" AlreadyExistsException create-alias --alias-name alias/cli-app --target-key-id "$key"
expect_error "cli alias without prefix" ValidationException create-alias --alias-name cli-app --target-key-id "$key"
run "cli list-aliases" list-aliases --key-id "$key" --query 'Aliases[].AliasName'
check "cli list-aliases names" "$out" "alias/cli-app"

printf 'hello from the aws cli' >"$work/pt"
run "cli encrypt with context" encrypt --key-id alias/cli-app --plaintext "fileb://$work/pt" \
	--encryption-context purpose=cli,team=e2e --query CiphertextBlob
base64 -d <<<"$out" >"$work/ct" || true
run "cli decrypt with context" decrypt --ciphertext-blob "fileb://$work/ct" \
	--encryption-context purpose=cli,team=e2e --query Plaintext
check "cli decrypt round trip" "$(base64 -d <<<"$out")" "hello from the aws cli"
expect_error "cli decrypt wrong context" InvalidCiphertextException decrypt --ciphertext-blob "fileb://$work/ct" \
	--encryption-context purpose=other,team=e2e
head -c 4097 /dev/zero >"$work/big"
expect_error "cli encrypt 4097 bytes" ValidationException encrypt --key-id "$key" --plaintext "fileb://$work/big"

run "cli generate-data-key" generate-data-key --key-id "$key" --key-spec AES_256 --query '[Plaintext,CiphertextBlob]'
read -r dk_plain dk_blob <<<"$out"
check "cli data key length" "$(base64 -d <<<"$dk_plain" | wc -c | tr -d ' ')" "32"
base64 -d <<<"$dk_blob" >"$work/dk" || true
run "cli decrypt data key" decrypt --ciphertext-blob "fileb://$work/dk" --query Plaintext
check "cli data key decrypts" "$out" "$dk_plain"
expect_error "cli generate-random 1025" ValidationException generate-random --number-of-bytes 1025

run "cli enable-key-rotation" enable-key-rotation --key-id "$key"
run "cli get-key-rotation-status" get-key-rotation-status --key-id "$key" --query KeyRotationEnabled
check "cli rotation enabled" "$out" "True"

run "cli tag-resource" tag-resource --key-id "$key" --tags TagKey=env,TagValue=dev
run "cli list-resource-tags" list-resource-tags --key-id "$key" --query 'Tags[?TagKey==`env`].TagValue'
check "cli tag value" "$out" "dev"
expect_error "cli reserved tag" TagException tag-resource --key-id "$key" --tags TagKey=aws:x,TagValue=y

expect_error "cli deletion window 6" ValidationException schedule-key-deletion --key-id "$key" --pending-window-in-days 6
run "cli schedule-key-deletion" schedule-key-deletion --key-id "$key" --pending-window-in-days 7 --query KeyState
check "cli pending deletion" "$out" "PendingDeletion"
expect_error "cli encrypt pending deletion" KMSInvalidStateException encrypt --key-id "$key" --plaintext "fileb://$work/pt"
run "cli cancel-key-deletion" cancel-key-deletion --key-id "$key"
expect_error "cli encrypt after cancel is disabled" DisabledException encrypt --key-id "$key" --plaintext "fileb://$work/pt"

# --- boto3 -------------------------------------------------------------------
# run_boto3 PYTHON REGION: runs boto3_test.py and adds its counts.
run_boto3() {
	local py=$1 region=$2 status summary
	set +e
	AWS_DEFAULT_REGION=$region AWS_REGION=$region "$py" "$here/boto3_test.py" "$url" | tee "$work/boto3.out"
	status=${PIPESTATUS[0]}
	set -e
	summary=$(tail -n 1 "$work/boto3.out")
	if [[ $summary =~ ^boto3:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		if [ "$status" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then fail "boto3 script exit status" "$status"; fi
	else
		fail "boto3 script ($py)" "exit $status, no summary line"
	fi
}
run_boto3 "$python" us-east-1
# A newer boto3 on PATH (e.g. pip's) also covers RotateKeyOnDemand, ListKeyRotations,
# RotationPeriodInDays and DryRun, which Debian's botocore predates.
newer=${PYTHON_NEWER:-$(command -v python3 || true)}
if [ -n "$newer" ] && [ "$newer" != "$python" ] && [ "$(readlink -f "$newer")" != "$(readlink -f "$python")" ] &&
	"$newer" -c 'import boto3, sys; sys.exit(0 if "RotateKeyOnDemand" in boto3.client("kms", region_name="us-east-1").meta.service_model.operation_names else 1)' 2>/dev/null; then
	run_boto3 "$newer" us-west-2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
