#!/usr/bin/env bash
# End-to-end test of trent with the AWS CLI and boto3 (e2e/boto3_test.py).
#
# Starts `trent server --dev` on a free loopback port and a server without
# --dev on a data directory, then runs four sections at once (each AWS CLI
# call is a Python start-up of a second or more of CPU, so one after the
# other they took minutes): the main flows with `aws kms ... --endpoint-url`;
# asymmetric, HMAC and imported keys checked with OpenSSL; the boto3 script
# (in a region of its own); and, on the second server, the identities with
# `aws iam` and `aws sts` (users, access keys, inline policies, a role
# assumed with `aws sts assume-role`, keys made inactive and deleted) and
# KMS authorization with them. Prints each section's lines (one per check)
# when all have ended, then a final line `N passed, M failed`; exits non-zero
# on any failure. The servers are killed on exit.
#
# Environment: TRENT_BIN (a built trent binary; else this script builds one),
# AWS_CLI (default /usr/bin/aws, the Debian awscli, else `aws` on PATH),
# PYTHON (default /usr/bin/python3, with Debian's python3-boto3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
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

# start_trent LOG ARGS...: starts trent with ARGS, waits for its listening
# line and sets $url.
start_trent() {
	local log=$1 pid
	shift
	: >"$log" # exists before the background job opens it (sed below reads it at once)
	"$bin" "$@" 2>"$log" &
	pid=$!
	pids+=("$pid")
	url=""
	for _ in $(seq 1 300); do
		url=$(sed -n 's/.*trent: listening on \(https\{0,1\}:\/\/[^ ]*\).*/\1/p' "$log" | head -n 1)
		[ -n "$url" ] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "cli_test: trent exited before listening:" >&2
			cat "$log" >&2
			exit 1
		fi
		sleep 0.05
	done
	echo "cli_test: no listening line after 15s" >&2
	cat "$log" >&2
	exit 1
}
start_trent "$work/server.log" server --dev --addr 127.0.0.1:0
dev_url=$url
start_trent "$work/iam.log" server --data-dir "$work/data" --addr 127.0.0.1:0
iam_url=$url
echo "# trent at $dev_url and $iam_url, $("$awscli" --version 2>&1 | cut -d' ' -f1), python $("$python" -c 'import boto3; print("boto3", boto3.__version__)')"

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
# call runs "aws $tool" against the server ($tool is kms, then iam and sts).
tool=kms
call() {
	"$awscli" "$tool" --endpoint-url "$url" --output text "$@"
}
# expect_error NAME CODE aws-args...: the call must fail with CODE.
expect_error() {
	local name=$1 code=$2 out
	shift 2
	if out=$(call "$@" 2>&1); then
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
	if out=$(call "$@" 2>&1); then
		ok "$name"
	else
		fail "$name" "$out"
		out=""
	fi
}

printf 'hello from the aws cli' >"$work/pt"
printf 'signed by trent, checked by openssl' >"$work/msg"

# --- AWS CLI -----------------------------------------------------------------
cli_kms() {
	url=$dev_url tool=kms
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

	# Multi-Region keys: the replica in eu-west-1 decrypts what the primary encrypted.
	run "cli create-key multi-region" create-key --multi-region \
		--query 'KeyMetadata.[KeyId,MultiRegionConfiguration.MultiRegionKeyType]'
	read -r mrk mrtype <<<"$out"
	check "cli multi-region primary" "${mrk:0:4} $mrtype" "mrk- PRIMARY"
	run "cli replicate-key" replicate-key --key-id "$mrk" --replica-region eu-west-1 \
		--query ReplicaKeyMetadata.MultiRegionConfiguration.MultiRegionKeyType
	check "cli replica type" "$out" "REPLICA"
	run "cli encrypt with the primary" encrypt --key-id "$mrk" --plaintext "fileb://$work/pt" --query CiphertextBlob
	base64 -d <<<"$out" >"$work/mrct" || true
	run "cli decrypt in the replica's region" decrypt --region eu-west-1 --ciphertext-blob "fileb://$work/mrct" --query Plaintext
	check "cli multi-region round trip" "$(base64 -d <<<"$out")" "hello from the aws cli"
	run "cli update-primary-region" update-primary-region --key-id "$mrk" --primary-region eu-west-1
	run "cli describe-key in the new primary's region" describe-key --region eu-west-1 --key-id "$mrk" \
		--query KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType
	check "cli new primary" "$out" "PRIMARY"

	# An external key store whose XKS proxy is this server: its proxy secret
	# is derived from the caller's (docs/xks.md), the external key is a key here.
	xks_secret=$(printf %s 'trent xks proxy credential v1' | openssl dgst -sha256 -hmac "$AWS_SECRET_ACCESS_KEY" -binary | base64)
	run "cli create-key for an external key" create-key --query KeyMetadata.KeyId
	ext=$out
	run "cli create-custom-key-store" create-custom-key-store --custom-key-store-name cli-xks \
		--custom-key-store-type EXTERNAL_KEY_STORE --xks-proxy-connectivity PUBLIC_ENDPOINT \
		--xks-proxy-uri-endpoint "$url" --xks-proxy-uri-path /cli/kms/xks/v1 \
		--xks-proxy-authentication-credential "{\"AccessKeyId\":\"$AWS_ACCESS_KEY_ID\",\"RawSecretAccessKey\":\"$xks_secret\"}" \
		--query CustomKeyStoreId
	cks=$out
	run "cli connect-custom-key-store" connect-custom-key-store --custom-key-store-id "$cks"
	run "cli describe-custom-key-stores" describe-custom-key-stores --custom-key-store-id "$cks" \
		--query 'CustomKeyStores[0].[ConnectionState,XksProxyConfiguration.AccessKeyId]'
	check "cli custom key store connected" "$out" "CONNECTED	$AWS_ACCESS_KEY_ID"
	run "cli create-key in the external key store" create-key --origin EXTERNAL_KEY_STORE --custom-key-store-id "$cks" \
		--xks-key-id "$ext" --query 'KeyMetadata.[KeyId,Origin,XksKeyConfiguration.Id]'
	read -r xk xorigin xid <<<"$out"
	check "cli external key store key" "$xorigin $xid" "EXTERNAL_KEY_STORE $ext"
	run "cli encrypt under the external key store" encrypt --key-id "$xk" --plaintext "fileb://$work/pt" --query CiphertextBlob
	base64 -d <<<"$out" >"$work/xksct" || true
	run "cli decrypt under the external key store" decrypt --ciphertext-blob "fileb://$work/xksct" --query Plaintext
	check "cli external key store round trip" "$(base64 -d <<<"$out")" "hello from the aws cli"
	run "cli disconnect-custom-key-store" disconnect-custom-key-store --custom-key-store-id "$cks"
	expect_error "cli decrypt under a disconnected store" KMSInvalidStateException decrypt --ciphertext-blob "fileb://$work/xksct"
	expect_error "cli delete a store with a key" CustomKeyStoreHasCMKsException delete-custom-key-store --custom-key-store-id "$cks"
}

# --- AWS CLI: asymmetric, HMAC and imported keys, checked with OpenSSL ------------
cli_asymmetric() {
	url=$dev_url tool=kms
	openssl=${OPENSSL:-$(command -v openssl || true)}
	if [ -z "$openssl" ]; then
		fail "cli asymmetric checks" "openssl not found (apt-get install openssl)"
	else
		run "cli create-key RSA_3072 SIGN_VERIFY" create-key --key-spec RSA_3072 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId
		rsa=$out
		run "cli get-public-key" get-public-key --key-id "$rsa" --query PublicKey
		base64 -d <<<"$out" | "$openssl" pkey -pubin -inform DER -out "$work/rsa.pem" 2>/dev/null || true
		run "cli sign PSS" sign --key-id "$rsa" --message "fileb://$work/msg" --message-type RAW \
			--signing-algorithm RSASSA_PSS_SHA_256 --query Signature
		base64 -d <<<"$out" >"$work/rsa.sig" || true
		if "$openssl" dgst -sha256 -verify "$work/rsa.pem" -signature "$work/rsa.sig" -sigopt rsa_padding_mode:pss \
			-sigopt rsa_pss_saltlen:-1 "$work/msg" >/dev/null 2>&1; then ok "cli PSS signature verifies in openssl"; else fail "cli PSS signature verifies in openssl"; fi
		run "cli verify" verify --key-id "$rsa" --message "fileb://$work/msg" --signature "fileb://$work/rsa.sig" \
			--signing-algorithm RSASSA_PSS_SHA_256 --query SignatureValid
		check "cli verify valid" "$out" "True"
		expect_error "cli verify other message" KMSInvalidSignatureException verify --key-id "$rsa" --message "fileb://$work/pt" \
			--signature "fileb://$work/rsa.sig" --signing-algorithm RSASSA_PSS_SHA_256

		run "cli create-key ECC_NIST_P256" create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId
		ec=$out
		run "cli get-public-key EC" get-public-key --key-id "$ec" --query PublicKey
		base64 -d <<<"$out" | "$openssl" pkey -pubin -inform DER -out "$work/ec.pem" 2>/dev/null || true
		"$openssl" dgst -sha256 -binary "$work/msg" >"$work/msg.sha256"
		run "cli sign ECDSA digest" sign --key-id "$ec" --message "fileb://$work/msg.sha256" --message-type DIGEST \
			--signing-algorithm ECDSA_SHA_256 --query Signature
		base64 -d <<<"$out" >"$work/ec.sig" || true
		if "$openssl" dgst -sha256 -verify "$work/ec.pem" -signature "$work/ec.sig" "$work/msg" >/dev/null 2>&1; then
			ok "cli ECDSA signature verifies in openssl"
		else fail "cli ECDSA signature verifies in openssl"; fi
		head -c 20 /dev/zero >"$work/short-digest"
		expect_error "cli sign digest of the wrong length" ValidationException sign --key-id "$ec" \
			--message "fileb://$work/short-digest" --message-type DIGEST --signing-algorithm ECDSA_SHA_256

		run "cli create-key RSA_2048 ENCRYPT_DECRYPT" create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT --query KeyMetadata.KeyId
		rsae=$out
		run "cli get-public-key RSA encryption" get-public-key --key-id "$rsae" --query PublicKey
		base64 -d <<<"$out" | "$openssl" pkey -pubin -inform DER -out "$work/rsae.pem" 2>/dev/null || true
		"$openssl" pkeyutl -encrypt -pubin -inkey "$work/rsae.pem" -in "$work/pt" -out "$work/oaep.ct" \
			-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 2>/dev/null || true
		run "cli decrypt openssl OAEP" decrypt --key-id "$rsae" --ciphertext-blob "fileb://$work/oaep.ct" \
			--encryption-algorithm RSAES_OAEP_SHA_256 --query Plaintext
		check "cli OAEP round trip" "$(base64 -d <<<"$out")" "hello from the aws cli"
		head -c 215 /dev/zero >"$work/215"
		expect_error "cli encrypt 215 bytes under RSA_2048 OAEP SHA-1" ValidationException encrypt --key-id "$rsae" \
			--plaintext "fileb://$work/215" --encryption-algorithm RSAES_OAEP_SHA_1

		run "cli create-key HMAC_256" create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC --query KeyMetadata.KeyId
		hmac=$out
		run "cli generate-mac" generate-mac --key-id "$hmac" --message "fileb://$work/msg" --mac-algorithm HMAC_SHA_256 --query Mac
		base64 -d <<<"$out" >"$work/mac" || true
		run "cli verify-mac" verify-mac --key-id "$hmac" --message "fileb://$work/msg" --mac "fileb://$work/mac" \
			--mac-algorithm HMAC_SHA_256 --query MacValid
		check "cli verify-mac valid" "$out" "True"
		expect_error "cli verify-mac other message" KMSInvalidMacException verify-mac --key-id "$hmac" --message "fileb://$work/pt" \
			--mac "fileb://$work/mac" --mac-algorithm HMAC_SHA_256
		expect_error "cli generate-mac wrong algorithm" InvalidKeyUsageException generate-mac --key-id "$hmac" \
			--message "fileb://$work/msg" --mac-algorithm HMAC_SHA_512

		run "cli create-key for data key pairs" create-key --query KeyMetadata.KeyId
		pairkey=$out
		run "cli generate-data-key-pair" generate-data-key-pair --key-id "$pairkey" --key-pair-spec ECC_NIST_P384 \
			--query '[PrivateKeyPlaintext,PublicKey]'
		read -r pair_priv pair_pub <<<"$out"
		got=$(base64 -d <<<"$pair_priv" | "$openssl" pkey -inform DER -pubout -outform DER 2>/dev/null | base64 -w0 || true)
		check "cli data key pair private matches public" "$got" "$pair_pub"

		# Import: OpenSSL wraps 32 bytes of key material with RSA_AES_KEY_WRAP_SHA_256.
		run "cli create-key EXTERNAL" create-key --origin EXTERNAL --query KeyMetadata.[KeyId,KeyState]
		read -r ext ext_state <<<"$out"
		check "cli EXTERNAL key pending import" "$ext_state" "PendingImport"
		run "cli get-parameters-for-import" get-parameters-for-import --key-id "$ext" \
			--wrapping-algorithm RSA_AES_KEY_WRAP_SHA_256 --wrapping-key-spec RSA_3072 --query '[ImportToken,PublicKey]'
		read -r token wrap_pub <<<"$out"
		base64 -d <<<"$token" >"$work/token" || true
		base64 -d <<<"$wrap_pub" | "$openssl" pkey -pubin -inform DER -out "$work/wrap.pem" 2>/dev/null || true
		head -c 32 /dev/urandom >"$work/material"
		head -c 32 /dev/urandom >"$work/aes"
		"$openssl" pkeyutl -encrypt -pubin -inkey "$work/wrap.pem" -in "$work/aes" -out "$work/aes.wrapped" \
			-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 2>/dev/null || true
		"$openssl" enc -id-aes256-wrap-pad -K "$(od -An -tx1 -v "$work/aes" | tr -d ' \n')" -iv A65959A6 \
			-in "$work/material" -out "$work/material.wrapped" 2>/dev/null || true
		cat "$work/aes.wrapped" "$work/material.wrapped" >"$work/encrypted-material"
		run "cli import-key-material" import-key-material --key-id "$ext" --import-token "fileb://$work/token" \
			--encrypted-key-material "fileb://$work/encrypted-material" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
		run "cli imported key encrypts" encrypt --key-id "$ext" --plaintext "fileb://$work/pt" --query CiphertextBlob
		base64 -d <<<"$out" >"$work/ext.ct" || true
		run "cli imported key decrypts" decrypt --ciphertext-blob "fileb://$work/ext.ct" --query Plaintext
		check "cli imported key round trip" "$(base64 -d <<<"$out")" "hello from the aws cli"
		expect_error "cli import token used twice" InvalidImportTokenException import-key-material --key-id "$ext" \
			--import-token "fileb://$work/token" --encrypted-key-material "fileb://$work/encrypted-material" \
			--expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
		run "cli delete-imported-key-material" delete-imported-key-material --key-id "$ext"
		expect_error "cli encrypt after delete-imported-key-material" KMSInvalidStateException encrypt --key-id "$ext" \
			--plaintext "fileb://$work/pt"
	fi
}

# --- boto3 -------------------------------------------------------------------
# run_boto3 PYTHON REGION: runs boto3_test.py and adds its counts.
run_boto3() {
	local py=$1 region=$2 status summary
	set +e
	AWS_DEFAULT_REGION=$region AWS_REGION=$region "$py" "$here/boto3_test.py" "$url" | tee "$work/boto3-$region.out"
	status=${PIPESTATUS[0]}
	set -e
	summary=$(tail -n 1 "$work/boto3-$region.out")
	if [[ $summary =~ ^boto3:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		if [ "$status" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then fail "boto3 script exit status" "$status"; fi
	else
		fail "boto3 script ($py)" "exit $status, no summary line"
	fi
}
boto3_section() {
	url=$dev_url
	run_boto3 "$python" us-east-2
	# A newer boto3 on PATH (e.g. pip's) also covers RotateKeyOnDemand, ListKeyRotations,
	# RotationPeriodInDays and DryRun, which Debian's botocore predates.
	newer=${PYTHON_NEWER:-$(command -v python3 || true)}
	if [ -n "$newer" ] && [ "$newer" != "$python" ] && [ "$(readlink -f "$newer")" != "$(readlink -f "$python")" ] &&
		"$newer" -c 'import boto3, sys; sys.exit(0 if "RotateKeyOnDemand" in boto3.client("kms", region_name="us-east-1").meta.service_model.operation_names else 1)' 2>/dev/null; then
		run_boto3 "$newer" us-west-2
	fi
}

# --- AWS CLI: IAM and STS, on a server without --dev -----------------------------
cli_identities() {
	url=$iam_url
	admin_id=$(sed -n 's/^aws_access_key_id = //p' "$work/data/credentials")
	admin_secret=$(sed -n 's/^aws_secret_access_key = //p' "$work/data/credentials")
	account=$(sed -n 's/^# account //p' "$work/data/credentials")
	export AWS_ACCESS_KEY_ID=$admin_id AWS_SECRET_ACCESS_KEY=$admin_secret
	# as ID SECRET [TOKEN] CMD...: runs CMD with those credentials.
	as() {
		local id=$1 secret=$2 token=$3
		shift 3
		AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$token "$@"
	}

	tool=iam
	run "cli iam create-user" create-user --user-name cli-user --tags Key=team,Value=cli --query User.Arn
	check "cli iam user arn" "$out" "arn:aws:iam::$account:user/cli-user"
	expect_error "cli iam duplicate user" EntityAlreadyExists create-user --user-name CLI-USER
	expect_error "cli iam bad user name" ValidationError create-user --user-name "cli user"
	expect_error "cli iam unknown user" NoSuchEntity get-user --user-name nobody
	run "cli iam create-access-key" create-access-key --user-name cli-user --query 'AccessKey.[AccessKeyId,SecretAccessKey,Status]'
	read -r user_id user_secret user_status <<<"$out"
	check "cli iam new key active" "$user_status" "Active"
	run "cli iam list-access-keys" list-access-keys --user-name cli-user --query 'AccessKeyMetadata[].AccessKeyId'
	check "cli iam key listed" "$out" "$user_id"
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","iam:GetUser"],"Resource":"*"}]}' >"$work/user-policy.json"
	run "cli iam put-user-policy" put-user-policy --user-name cli-user --policy-name cli-policy --policy-document "file://$work/user-policy.json"
	run "cli iam get-user-policy" get-user-policy --user-name cli-user --policy-name cli-policy --query 'PolicyDocument.Statement[0].Effect'
	check "cli iam policy document round trip" "$out" "Allow"
	expect_error "cli iam malformed policy" MalformedPolicyDocument put-user-policy --user-name cli-user --policy-name bad --policy-document '{"Statement":'
	run "cli iam list-user-policies" list-user-policies --user-name cli-user --query 'PolicyNames'
	check "cli iam policy listed" "$out" "cli-policy"
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}' "$account" >"$work/trust.json"
	run "cli iam create-role" create-role --role-name cli-role --assume-role-policy-document "file://$work/trust.json" --max-session-duration 7200 --query Role.Arn
	check "cli iam role arn" "$out" "arn:aws:iam::$account:role/cli-role"
	run "cli iam get-role" get-role --role-name cli-role --query 'Role.[MaxSessionDuration,AssumeRolePolicyDocument.Statement[0].Action]'
	check "cli iam get-role fields" "$out" "$(printf '7200\tsts:AssumeRole')"
	run "cli iam tag-role" tag-role --role-name cli-role --tags Key=env,Value=test
	run "cli iam list-roles" list-roles --query 'Roles[].RoleName'
	check "cli iam role listed" "$out" "cli-role"

	tool=sts
	run "cli sts get-caller-identity (root)" get-caller-identity --query Arn
	check "cli sts root arn" "$out" "arn:aws:iam::$account:root"
	out=$(as "$user_id" "$user_secret" "" call get-caller-identity --query Arn 2>&1) || true
	check "cli sts user arn" "$out" "arn:aws:iam::$account:user/cli-user"
	out=$(as "$user_id" "$user_secret" "" call assume-role --role-arn "arn:aws:iam::$account:role/cli-role" \
		--role-session-name cli-session --duration-seconds 900 --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' 2>&1) || true
	read -r s_id s_secret s_token <<<"$out"
	check "cli sts assume-role session key" "${s_id:0:4}" "ASIA"
	out=$(as "$s_id" "$s_secret" "$s_token" call get-caller-identity --query Arn 2>&1) || true
	check "cli sts session arn" "$out" "arn:aws:sts::$account:assumed-role/cli-role/cli-session"
	out=$(as "$s_id" "$s_secret" "forged$s_token" call get-caller-identity 2>&1) || true
	check "cli sts forged session token" "$(grep -o '(InvalidClientTokenId)' <<<"$out")" "(InvalidClientTokenId)"
	out=$(as "$user_id" "$user_secret" "" call assume-role --role-arn "arn:aws:iam::$account:role/cli-role" \
		--role-session-name cli-session --duration-seconds 7201 2>&1) || true
	check "cli sts duration above the maximum" "$(grep -o '(ValidationError)' <<<"$out")" "(ValidationError)"
	expect_error "cli sts root may not assume roles" AccessDenied assume-role --role-arn "arn:aws:iam::$account:role/cli-role" --role-session-name root

	# --- KMS authorization with IAM identities (key policy, identity policies, conditions) ---
	tool=kms
	run "cli authz create-key" create-key --query KeyMetadata.KeyId
	authz_key=$out
	authz_arn="arn:aws:kms:us-east-1:$account:key/$authz_key"
	printf 'secret' >"$work/authz-pt"
	# as_kms ID SECRET TOKEN ARGS...: a KMS call as those credentials; output (and error) in $out.
	as_kms() {
		local id=$1 secret=$2 token=$3
		shift 3
		out=$(as "$id" "$secret" "$token" call "$@" 2>&1) || true
	}
	denied() { grep -o '(AccessDeniedException)' <<<"$1" || true; }
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --query KeyId
	check "cli authz user denied by the default key policy" "$(denied "$out")" "(AccessDeniedException)"
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/cli-user"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}}]}' "$account" "$account" >"$work/key-policy.json"
	run "cli authz put-key-policy naming the user" put-key-policy --key-id "$authz_key" --policy-name default --policy "file://$work/key-policy.json"
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --encryption-context tenant=acme --query KeyId
	check "cli authz user allowed by the key policy" "$out" "$authz_arn"
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --encryption-context tenant=globex --query KeyId
	check "cli authz condition on kms:EncryptionContext:tenant" "$(denied "$out")" "(AccessDeniedException)"
	tool=iam
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}' >"$work/deny.json"
	run "cli authz put-user-policy deny" put-user-policy --user-name cli-user --policy-name cli-deny --policy-document "file://$work/deny.json"
	tool=kms
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --encryption-context tenant=acme --query KeyId
	check "cli authz identity Deny beats the key policy Allow" "$(denied "$out")" "(AccessDeniedException)"
	tool=iam
	run "cli authz delete-user-policy deny" delete-user-policy --user-name cli-user --policy-name cli-deny
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"%s"}]}' "$authz_arn" >"$work/role-kms.json"
	tool=kms
	as_kms "$s_id" "$s_secret" "$s_token" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --query KeyId
	check "cli authz role session without a policy denied" "$(denied "$out")" "(AccessDeniedException)"
	tool=iam
	run "cli authz put-role-policy" put-role-policy --role-name cli-role --policy-name cli-kms --policy-document "file://$work/role-kms.json"
	tool=kms
	as_kms "$s_id" "$s_secret" "$s_token" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --query KeyId
	check "cli authz role session allowed by its role's policy" "$out" "$authz_arn"
	tool=iam
	run "cli authz delete-role-policy" delete-role-policy --role-name cli-role --policy-name cli-kms
	tool=kms
	run "cli authz create-grant" create-grant --key-id "$authz_key" --grantee-principal "arn:aws:iam::$account:user/cli-user" \
		--operations Encrypt --constraints 'EncryptionContextSubset={tenant=globex}' --query GrantId
	grant_id=$out
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --encryption-context tenant=globex --query KeyId
	check "cli authz grant allows" "$out" "$authz_arn"
	run "cli authz revoke-grant" revoke-grant --key-id "$authz_key" --grant-id "$grant_id"
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --encryption-context tenant=globex --query KeyId
	check "cli authz revoked grant denies" "$(denied "$out")" "(AccessDeniedException)"

	# A key made inactive, then deleted, is refused on the very next request.
	tool=iam
	run "cli iam deactivate key" update-access-key --user-name cli-user --access-key-id "$user_id" --status Inactive
	tool=sts
	out=$(as "$user_id" "$user_secret" "" call get-caller-identity 2>&1) || true
	check "cli inactive key refused" "$(grep -o '(InvalidClientTokenId)' <<<"$out")" "(InvalidClientTokenId)"
	tool=iam
	run "cli iam reactivate key" update-access-key --user-name cli-user --access-key-id "$user_id" --status Active
	out=$(as "$user_id" "$user_secret" "" call get-user --query User.UserName 2>&1) || true
	check "cli reactivated key works" "$out" "cli-user"
	expect_error "cli iam delete user with a key" DeleteConflict delete-user --user-name cli-user
	run "cli iam delete-access-key" delete-access-key --user-name cli-user --access-key-id "$user_id"
	out=$(as "$user_id" "$user_secret" "" call get-user 2>&1) || true
	check "cli deleted key refused" "$(grep -o '(InvalidClientTokenId)' <<<"$out")" "(InvalidClientTokenId)"
	tool=kms
	as_kms "$user_id" "$user_secret" "" encrypt --key-id "$authz_key" --plaintext "fileb://$work/authz-pt" --encryption-context tenant=acme
	check "cli deleted key refused by KMS" "$(grep -o '(UnrecognizedClientException)' <<<"$out")" "(UnrecognizedClientException)"
	tool=iam
	run "cli iam delete-user-policy" delete-user-policy --user-name cli-user --policy-name cli-policy
	run "cli iam delete-user" delete-user --user-name cli-user
	expect_error "cli iam deleted user" NoSuchEntity get-user --user-name cli-user
}

# section NAME FUNCTION: runs FUNCTION in the background with counts of its
# own; its output goes to $work/NAME.out, its counts (when it ends without
# an error) to $work/NAME.counts.
names=()
section_pids=()
section() {
	local name=$1 fn=$2
	(
		passed=0 failed=0 start=$SECONDS
		"$fn"
		echo "# $name: $((SECONDS - start)) s"
		echo "$passed $failed" >"$work/$name.counts"
	) >"$work/$name.out" 2>&1 &
	names+=("$name")
	section_pids+=($!)
}
section aws-kms cli_kms
section aws-kms-asymmetric cli_asymmetric
section boto3 boto3_section
section aws-iam-sts-authz cli_identities
for i in "${!names[@]}"; do
	name=${names[$i]}
	status=0
	wait "${section_pids[$i]}" || status=$?
	echo "# --- $name"
	cat "$work/$name.out"
	if [ "$status" -eq 0 ] && [ -f "$work/$name.counts" ]; then
		read -r p f <"$work/$name.counts"
		passed=$((passed + p))
		failed=$((failed + f))
	else
		fail "section $name" "exit status $status"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
