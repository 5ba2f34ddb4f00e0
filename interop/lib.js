// Shared helpers of the interop scripts: argument parsing, input/output and
// the KMS client pointed at a Trent (or AWS KMS) endpoint.
'use strict'

const fs = require('node:fs')
const { parseArgs } = require('node:util')
const {
  AlgorithmSuiteIdentifier,
  KmsKeyringNode,
  getClient,
  KMS
} = require('@aws-crypto/client-node')

// Suite names accepted by --suite, with the official identifiers.
const SUITES = {
  committing: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  '0478': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  '0x0478': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  signed: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
  '0578': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
  '0x0578': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
  // Version 1, non-committing (written under FORBID_ENCRYPT_ALLOW_DECRYPT),
  // to test that readers refuse them unless allowed.
  'v1-signed': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
  '0378': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
  '0x0378': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
}

// committing reports whether a suite ID is one of the key-committing ones.
function committing (suiteId) {
  return suiteId === AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY ||
    suiteId === AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
}

function fail (msg) {
  process.stderr.write(`interop: ${msg}\n`)
  process.exit(1)
}

// parse parses process.argv with the given extra options plus the common
// ones (--endpoint, --region, --context, --out, --help).
function parse (options, usage) {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        endpoint: { type: 'string' },
        region: { type: 'string' },
        context: { type: 'string', multiple: true, short: 'c' },
        out: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
        ...options
      }
    })
  } catch (err) {
    fail(`${err.message}\n${usage}`)
  }
  if (parsed.values.help) {
    process.stdout.write(usage + '\n')
    process.exit(0)
  }
  if (parsed.positionals.length > 1) fail(`at most one input file\n${usage}`)
  return parsed
}

// contextOf turns repeated k=v flags into an encryption context object.
function contextOf (pairs) {
  const ec = {}
  for (const p of pairs || []) {
    const i = p.indexOf('=')
    if (i <= 0) fail(`--context ${JSON.stringify(p)}: want key=value`)
    const k = p.slice(0, i)
    if (Object.prototype.hasOwnProperty.call(ec, k)) fail(`--context: duplicate key ${JSON.stringify(k)}`)
    ec[k] = p.slice(i + 1)
  }
  return ec
}

function readInput (positionals) {
  const name = positionals[0]
  if (name === undefined || name === '-') return fs.readFileSync(0)
  return fs.readFileSync(name)
}

function writeOutput (out, data) {
  if (out === undefined || out === '-') {
    fs.writeSync(1, data)
    return
  }
  fs.writeFileSync(out, data)
}

// kmsClientProvider returns the keyring's client supplier: a KMS client of
// the AWS SDK for JavaScript v3 for the asked region, sent to the endpoint of
// --endpoint or AWS_ENDPOINT_URL (the SDK's own default otherwise), with the
// SDK's default credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, profiles), as the aws CLI.
function kmsClientProvider (values) {
  const endpoint = values.endpoint || process.env.AWS_ENDPOINT_URL_KMS || process.env.AWS_ENDPOINT_URL
  const region = values.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION
  const config = { maxAttempts: 3 }
  if (endpoint) config.endpoint = endpoint
  if (region) config.region = region
  return getClient(KMS, config)
}

// kmsKeyring returns a KMS keyring of the given keys (the first generates
// the data key) or, with discovery, one that opens data keys of any key.
function kmsKeyring (values, keys, discovery) {
  const clientProvider = kmsClientProvider(values)
  if (discovery) return new KmsKeyringNode({ clientProvider, discovery: true })
  if (!keys || keys.length === 0) fail('--key is required (or --discovery to decrypt)')
  const [generatorKeyId, ...keyIds] = keys
  return new KmsKeyringNode({ clientProvider, generatorKeyId, keyIds })
}

// headerJSON describes a parsed message header for the tests.
function headerJSON (h) {
  return {
    version: h.version,
    suiteId: h.suiteId,
    suiteIdHex: '0x' + h.suiteId.toString(16).padStart(4, '0'),
    frameLength: h.frameLength,
    encryptionContext: h.encryptionContext,
    encryptedDataKeys: h.encryptedDataKeys.map(k => ({
      providerId: k.providerId,
      providerInfo: k.providerInfo
    }))
  }
}

module.exports = {
  SUITES,
  committing,
  fail,
  parse,
  contextOf,
  readInput,
  writeOutput,
  kmsKeyring,
  headerJSON
}
