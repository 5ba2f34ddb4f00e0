#!/usr/bin/env node
// Writes the golden messages of envelope/testdata/golden with the official
// AWS Encryption SDK for JavaScript and raw AES keyrings of fixed, public,
// test-only keys, then the manifest describing them. Every message is
// decrypted again with the SDK before it is written.
//
//   node golden.js ../envelope/testdata/golden
//
// Rerunning it makes new files (message IDs, IVs and signing keys are
// random), all equally valid: the Go test checks plaintext digests, not bytes.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const {
  buildClient,
  CommitmentPolicy,
  AlgorithmSuiteIdentifier: ASI,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  MultiKeyringNode
} = require('@aws-crypto/client-node')

// Fixed wrapping keys: SHA-256 of the phrases below. PUBLIC, TEST ONLY.
const KEYS = [
  {
    keyNamespace: 'trent-golden',
    keyName: 'golden-key-1',
    derivedFrom: 'SHA-256("trent envelope golden test key 1 (public, test only)")',
    hex: '18194c970de9ab276e3b64f653b741a189e0c6bf16220f28f22b4f255bbbe4d5'
  },
  {
    keyNamespace: 'trent-golden',
    keyName: 'golden-key-2',
    derivedFrom: 'SHA-256("trent envelope golden test key 2 (public, test only)")',
    hex: 'f8a89c04c9e748a01397b16f45f236dd01137040c8068e3f41d867aa5eac064b'
  }
]
for (const k of KEYS) {
  const phrase = k.derivedFrom.slice('SHA-256("'.length, -2)
  if (crypto.createHash('sha256').update(phrase).digest('hex') !== k.hex) {
    throw new Error(`golden: key ${k.keyName} does not match its phrase`)
  }
}

function rawAES (k) {
  return new RawAesKeyringNode({
    keyNamespace: k.keyNamespace,
    keyName: k.keyName,
    unencryptedMasterKey: new Uint8Array(Buffer.from(k.hex, 'hex')),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING
  })
}

const PLAINTEXT_RULE = 'the first N bytes of SHA-256("trent-golden-plaintext" || uint32be(0)) || SHA-256("trent-golden-plaintext" || uint32be(1)) || ...'

// plaintext returns the deterministic plaintext of n bytes (PLAINTEXT_RULE).
function plaintext (n) {
  const blocks = []
  for (let i = 0; i * 32 < n; i++) {
    const ctr = Buffer.alloc(4)
    ctr.writeUInt32BE(i)
    blocks.push(crypto.createHash('sha256').update('trent-golden-plaintext').update(ctr).digest())
  }
  return Buffer.concat(blocks).subarray(0, n)
}

const SUITE_NAMES = {
  [ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY]: 'ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY',
  [ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384]: 'ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384',
  [ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384]: 'ALG_AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384',
  [ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256]: 'ALG_AES_256_GCM_IV12_TAG16_HKDF_SHA256'
}

function hex4 (id) { return '0x' + id.toString(16).padStart(4, '0') }

function cases () {
  const out = []
  const committing = [
    ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
    ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
  ]
  for (const suiteId of committing) {
    for (const frame of [128, 4096]) {
      for (const size of [0, 1, frame, frame + 1, 10240]) {
        out.push({ suiteId, frame, size, policy: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT' })
      }
    }
  }
  const c = ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
  const s = ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
  // One-byte frames: many frames, sequence numbers past 1.
  out.push({ suiteId: c, frame: 1, size: 10, policy: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT' })
  // No encryption context at all.
  out.push({ suiteId: c, frame: 4096, size: 100, policy: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT', noContext: true })
  out.push({ suiteId: s, frame: 4096, size: 100, policy: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT', noContext: true })
  // Two encrypted data keys: key 1 generates, key 2 wraps too.
  out.push({ suiteId: s, frame: 4096, size: 4097, policy: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT', twoKeys: true })
  // Version 1, non-committing: readable only when non-committing messages are allowed.
  out.push({ suiteId: ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, frame: 128, size: 1000, policy: 'FORBID_ENCRYPT_ALLOW_DECRYPT' })
  out.push({ suiteId: ASI.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256, frame: 4096, size: 5000, policy: 'FORBID_ENCRYPT_ALLOW_DECRYPT' })
  return out
}

async function main () {
  const dir = process.argv[2]
  if (!dir) throw new Error('usage: node golden.js OUTDIR')
  fs.mkdirSync(dir, { recursive: true })
  const sdkVersion = require('@aws-crypto/client-node/package.json').version
  const messages = []
  for (const tc of cases()) {
    const v1 = tc.policy === 'FORBID_ENCRYPT_ALLOW_DECRYPT'
    let name = `${v1 ? 'v1' : 'v2'}-${hex4(tc.suiteId).slice(2)}-f${tc.frame}-n${tc.size}`
    if (tc.noContext) name += '-nocontext'
    if (tc.twoKeys) name += '-twokeys'
    const file = name + '.bin'
    const encryptionContext = tc.noContext
      ? {}
      : { purpose: 'trent-golden', case: name, 'tenant-ünïcødé': 'café ☕' }
    const keyring = tc.twoKeys
      ? new MultiKeyringNode({ generator: rawAES(KEYS[0]), children: [rawAES(KEYS[1])] })
      : rawAES(KEYS[0])
    const pt = plaintext(tc.size)
    const { encrypt } = buildClient(CommitmentPolicy[tc.policy])
    const { result, messageHeader } = await encrypt(keyring, pt, {
      suiteId: tc.suiteId,
      frameLength: tc.frame,
      encryptionContext
    })
    // Check with the SDK itself, under the most permissive policy needed.
    const { decrypt } = buildClient(v1 ? CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT : CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    const back = await decrypt(rawAES(tc.twoKeys ? KEYS[1] : KEYS[0]), result)
    if (!back.plaintext.equals(pt)) throw new Error(`golden: ${name} does not round-trip`)
    if (messageHeader.version !== (v1 ? 1 : 2)) throw new Error(`golden: ${name} has version ${messageHeader.version}`)
    fs.writeFileSync(path.join(dir, file), result)
    messages.push({
      file,
      messageVersion: messageHeader.version,
      suite: hex4(tc.suiteId),
      suiteName: SUITE_NAMES[tc.suiteId],
      committing: !v1,
      signed: 'aws-crypto-public-key' in messageHeader.encryptionContext,
      frameLength: tc.frame,
      plaintextLength: tc.size,
      plaintextSHA256: crypto.createHash('sha256').update(pt).digest('hex'),
      // What the caller passed; signed suites add "aws-crypto-public-key".
      encryptionContext,
      keys: (tc.twoKeys ? KEYS : [KEYS[0]]).map(k => k.keyName),
      encryptCommitmentPolicy: tc.policy,
      requiresAllowNonCommitting: v1,
      ciphertextLength: result.length,
      ciphertextSHA256: crypto.createHash('sha256').update(result).digest('hex')
    })
  }
  const manifest = {
    description: 'Golden AWS Encryption SDK messages made by the official SDK for JavaScript; envelope/golden_test.go decrypts every one with the raw AES keyring of envelope.',
    generator: {
      script: 'interop/golden.js',
      command: 'cd interop && npm ci && node golden.js ../envelope/testdata/golden',
      sdk: `@aws-crypto/client-node ${sdkVersion}`,
      node: process.version,
      generated: new Date().toISOString().slice(0, 10)
    },
    keyring: {
      type: 'raw AES (RawAesKeyringNode)',
      wrappingSuite: 'AES256_GCM_IV12_TAG16_NO_PADDING',
      warning: 'These keys are public and for tests only. Never use them for real data.',
      keys: KEYS
    },
    plaintext: PLAINTEXT_RULE,
    messages
  }
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  process.stderr.write(`golden: wrote ${messages.length} messages to ${dir}\n`)
}

main().catch(err => {
  process.stderr.write(`golden: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
