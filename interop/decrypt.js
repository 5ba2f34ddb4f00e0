#!/usr/bin/env node
// Decrypts a message with the official AWS Encryption SDK for JavaScript and
// a KMS keyring pointed at a Trent server (or any KMS endpoint).
'use strict'

const fs = require('node:fs')
const { buildClient, CommitmentPolicy } = require('@aws-crypto/client-node')
const { fail, parse, contextOf, readInput, writeOutput, kmsKeyring, headerJSON } = require('./lib')

const usage = `usage: node decrypt.js (--key KEY ... | --discovery) [--context k=v ...]
       [--header-out FILE] [--allow-non-committing] [--endpoint URL] [--region R]
       [IN|-] [-o OUT|-]

With --key, only data keys wrapped under those keys (ARNs) are opened; with
--discovery, any KMS key the credentials may use. Each --context pair must be
in the message's encryption context, otherwise nothing is written and the exit
status is 1. --header-out writes the message's suite, frame length,
encryption context and encrypted data keys as JSON.`

async function main () {
  const { values, positionals } = parse({
    key: { type: 'string', multiple: true, short: 'k' },
    discovery: { type: 'boolean' },
    'header-out': { type: 'string' },
    'allow-non-committing': { type: 'boolean' }
  }, usage)
  if (values.discovery && values.key) fail(`--key and --discovery exclude each other\n${usage}`)
  const want = contextOf(values.context)
  const keyring = kmsKeyring(values, values.key, values.discovery)
  const ciphertext = readInput(positionals)
  const policy = values['allow-non-committing']
    ? CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    : CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
  const { decrypt } = buildClient(policy)
  const { plaintext, messageHeader } = await decrypt(keyring, ciphertext)
  for (const [k, v] of Object.entries(want)) {
    if (messageHeader.encryptionContext[k] !== v) {
      fail(`decrypt: encryption context mismatch for key ${JSON.stringify(k)}`)
    }
  }
  if (values['header-out']) {
    fs.writeFileSync(values['header-out'], JSON.stringify(headerJSON(messageHeader), null, 2) + '\n')
  }
  writeOutput(values.out, plaintext)
}

main().catch(err => fail(`decrypt: ${err && err.stack ? err.stack : err}`))
