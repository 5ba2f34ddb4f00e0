// Package iam holds Trent's identities: accounts, their principals and access
// keys. For now each account has one administrator principal; users, roles and
// policies come with the access-control issue.
package iam

// Principal is an authenticated caller, as resolved by SigV4 verification.
type Principal struct {
	AccountID   string // 12 digits
	ARN         string // e.g. arn:aws:iam::111122223333:root
	AccessKeyID string
	// Admin is true for the account's administrator (all that exists for now).
	Admin bool
}
