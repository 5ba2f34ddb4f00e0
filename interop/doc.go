// Package interop holds the interoperability tests of envelope and the trent
// CLI with the official AWS Encryption SDK for JavaScript
// (@aws-crypto/client-node, pinned in package.json and package-lock.json),
// through a real Trent server in dev mode, and of the server with the AWS SDK
// for JavaScript v3 (@aws-sdk/client-kms, sdk.js: key types, signatures and
// OAEP checked with node:crypto, errors as the SDK parses them). It has no
// code of its own: the node scripts beside this file (encrypt.js,
// decrypt.js, golden.js, sdk.js) drive the official SDKs, and the tests drive
// them, the trent binary and the envelope package.
//
// The tests need `npm ci` run in this directory. Without node_modules they
// are skipped, unless CI is set, where that is a failure.
//
// Two more tools are modules of their own, so that trent's go.mod does not
// depend on them, and are built by their tests through the Go module proxy
// (a minute or two the first time: they run under CI, or when asked):
// esdk-go, the official AWS Encryption SDK for Go (TRENT_TEST_ESDK_GO=1), and
// sops, SOPS itself (TRENT_TEST_SOPS=1), pointed at the dev server with
// AWS_ENDPOINT_URL as a user would.
package interop
