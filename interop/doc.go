// Package interop holds the interoperability tests of envelope and the trent
// CLI with the official AWS Encryption SDK for JavaScript
// (@aws-crypto/client-node, pinned in package.json and package-lock.json),
// through a real Trent server in dev mode. It has no code of its own: the
// node scripts beside this file (encrypt.js, decrypt.js, golden.js) drive the
// official SDK, and interop_test.go drives them, the trent binary and the
// envelope package.
//
// The tests need `npm ci` run in this directory. Without node_modules they
// are skipped, unless CI is set, where that is a failure.
package interop
