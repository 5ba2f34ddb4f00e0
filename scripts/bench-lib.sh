# Shared by the bench-*.sh scripts that load a Trent server as an ordinary
# caller would be: source it, then call bench_caller.

# bench_caller DATA_DIR URL: on the Trent server at URL (whose data directory
# is DATA_DIR), as its administrator, creates the IAM user "bench", a key
# whose policy has 10 statements none of which allows that user (nine name
# the users other1..other9, created here: a key policy may name only users
# that exist), and a grant (EncryptionContextSubset app=bench) that does;
# prints the user's access key id, its secret and the key id. Needs the AWS
# CLI (AWS_CLI=path to pick one).
bench_caller() {
	local data=$1 url=$2 account stmts i key user_id user_secret
	account=$(sed -n 's/^# account //p' "$data/credentials")
	local -x AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
	local -x AWS_CONFIG_FILE=$data/no-config AWS_SHARED_CREDENTIALS_FILE=$data/no-credentials
	AWS_ACCESS_KEY_ID=$(sed -n 's/^aws_access_key_id = //p' "$data/credentials")
	AWS_SECRET_ACCESS_KEY=$(sed -n 's/^aws_secret_access_key = //p' "$data/credentials")
	local aws=("${AWS_CLI:-aws}" --endpoint-url "$url" --output text)
	"${aws[@]}" iam create-user --user-name bench >/dev/null
	read -r user_id user_secret <<<"$("${aws[@]}" iam create-access-key --user-name bench --query 'AccessKey.[AccessKeyId,SecretAccessKey]')"
	stmts="{\"Sid\":\"root\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::$account:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}"
	for i in 1 2 3 4 5 6 7 8 9; do
		"${aws[@]}" iam create-user --user-name "other$i" >/dev/null
		stmts+=",{\"Sid\":\"s$i\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::$account:user/other$i\"},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\",\"kms:GenerateDataKey*\"],\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"kms:EncryptionContext:app\":\"app$i\"},\"Bool\":{\"aws:SecureTransport\":\"false\"}}}"
	done
	printf '{"Version":"2012-10-17","Statement":[%s]}' "$stmts" >"$data/bench-policy.json"
	key=$("${aws[@]}" kms create-key --policy "file://$data/bench-policy.json" --query KeyMetadata.KeyId)
	"${aws[@]}" kms create-grant --key-id "$key" --grantee-principal "arn:aws:iam::$account:user/bench" \
		--operations Encrypt Decrypt GenerateDataKey --constraints 'EncryptionContextSubset={app=bench}' >/dev/null
	echo "$user_id $user_secret $key"
}
