#!/usr/bin/env node
// Encrypts a file with the official AWS Encryption SDK for JavaScript and a
// KMS keyring pointed at a Trent server (or any KMS endpoint).
'use strict'

const { buildClient, CommitmentPolicy } = require('@aws-crypto/client-node')
const { SUITES, committing, fail, parse, contextOf, readInput, writeOutput, kmsKeyring } = require('./lib')

const usage = `usage: node encrypt.js --key KEY [--key KEY2 ...] [--context k=v ...]
       [--suite committing|signed] [--frame-size N] [--endpoint URL] [--region R]
       [IN|-] [-o OUT|-]

The first --key generates the data key, each further --key wraps it too.
Endpoint, region and credentials default to the environment as for the aws CLI
(AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
--suite: committing = 0x0478 (ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY),
signed = 0x0578 (..._COMMIT_KEY_ECDSA_P384, the default); v1-signed = 0x0378
(version 1, non-committing ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
written under FORBID_ENCRYPT_ALLOW_DECRYPT, for tests of readers' policies).`

async function main () {
  const { values, positionals } = parse({
    key: { type: 'string', multiple: true, short: 'k' },
    suite: { type: 'string', default: 'signed' },
    'frame-size': { type: 'string' }
  }, usage)
  const suiteId = SUITES[values.suite]
  if (suiteId === undefined) fail(`--suite ${values.suite}: want committing, signed or v1-signed\n${usage}`)
  const op = { suiteId, encryptionContext: contextOf(values.context) }
  if (values['frame-size'] !== undefined) {
    const n = Number(values['frame-size'])
    if (!Number.isSafeInteger(n) || n <= 0) fail(`--frame-size ${values['frame-size']}: want a positive integer`)
    op.frameLength = n
  }
  const keyring = kmsKeyring(values, values.key, false)
  const plaintext = readInput(positionals)
  const { encrypt } = buildClient(committing(suiteId)
    ? CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    : CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
  const { result } = await encrypt(keyring, plaintext, op)
  writeOutput(values.out, result)
}

main().catch(err => fail(`encrypt: ${err && err.stack ? err.stack : err}`))
