// sdk.js drives Trent with the AWS SDK for JavaScript v3 (@aws-sdk/client-kms,
// pinned in package.json) beyond what the Encryption SDK uses: key types,
// signatures and OAEP checked with node:crypto against the key's public key,
// MACs, key metadata (dates as Date objects), pagination and errors (names,
// HTTP status, messages) as the SDK parses them. Each check prints a line;
// the last line is `sdk: N checks passed` (exit 0) or the first failure
// (exit 1). The endpoint, region and credentials come from the environment
// (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
'use strict'

const crypto = require('node:crypto')
const assert = require('node:assert/strict')
const kms = require('@aws-sdk/client-kms')

const client = new kms.KMSClient({ maxAttempts: 1 })
let passed = 0

async function check (name, fn) {
  try {
    await fn()
  } catch (err) {
    process.stderr.write(`sdk: FAIL ${name}: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  }
  passed++
  process.stdout.write(`ok ${name}\n`)
}

// rejects runs fn and checks that it fails with the exception name, HTTP
// status and a message matching re.
async function rejects (fn, name, status, re) {
  let err
  try {
    await fn()
  } catch (e) {
    err = e
  }
  assert.ok(err, `no error, want ${name}`)
  assert.equal(err.name, name, `error ${err.name}: ${err.message}`)
  // The SDK's class of the exception, or its base class for an exception
  // that KMS's model does not list (NotAuthorizedException).
  assert.ok(err instanceof (kms[name] || kms.KMSServiceException), `${name}: not of the SDK's class`)
  assert.equal(err.$metadata.httpStatusCode, status)
  assert.match(err.message, re)
}

const send = cmd => client.send(cmd)

async function createKey (input) {
  const out = await send(new kms.CreateKeyCommand(input))
  return out.KeyMetadata
}

async function main () {
  const start = Date.now()
  let sym
  await check('CreateKey and DescribeKey: metadata, dates as Date', async () => {
    sym = await createKey({ Description: 'js sdk', Tags: [{ TagKey: 'team', TagValue: 'js' }] })
    assert.equal(sym.KeySpec, 'SYMMETRIC_DEFAULT')
    assert.equal(sym.KeyState, 'Enabled')
    assert.match(sym.Arn, /^arn:aws:kms:[a-z0-9-]+:\d{12}:key\//)
    const d = (await send(new kms.DescribeKeyCommand({ KeyId: sym.Arn }))).KeyMetadata
    assert.ok(d.CreationDate instanceof Date, 'CreationDate is not a Date')
    assert.ok(Math.abs(d.CreationDate.getTime() - start) < 5 * 60 * 1000, `CreationDate ${d.CreationDate.toISOString()}`)
    assert.deepEqual(d.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT'])
  })

  await check('Encrypt and Decrypt with an encryption context', async () => {
    const ec = { tenant: 'acme', purpose: 'test' }
    const pt = crypto.randomBytes(100)
    const enc = await send(new kms.EncryptCommand({ KeyId: sym.KeyId, Plaintext: pt, EncryptionContext: ec }))
    assert.ok(enc.CiphertextBlob instanceof Uint8Array)
    const dec = await send(new kms.DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec }))
    assert.deepEqual(Buffer.from(dec.Plaintext), pt)
    assert.equal(dec.KeyId, sym.Arn)
    await rejects(() => send(new kms.DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 'other' } })),
      'InvalidCiphertextException', 400, /.*/)
  })

  await check('GenerateDataKey: the plaintext decrypts from the blob', async () => {
    const dk = await send(new kms.GenerateDataKeyCommand({ KeyId: sym.KeyId, KeySpec: 'AES_256' }))
    assert.equal(dk.Plaintext.length, 32)
    const dec = await send(new kms.DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))
    assert.deepEqual(Buffer.from(dec.Plaintext), Buffer.from(dk.Plaintext))
  })

  for (const [spec, alg, nodeAlg] of [
    ['ECC_NIST_P256', 'ECDSA_SHA_256', 'sha256'],
    ['ECC_NIST_P384', 'ECDSA_SHA_384', 'sha384'],
    ['RSA_2048', 'RSASSA_PSS_SHA_256', 'sha256'],
    ['RSA_3072', 'RSASSA_PKCS1_V1_5_SHA_384', 'sha384']
  ]) {
    await check(`Sign ${spec} ${alg}: node:crypto verifies with GetPublicKey's key`, async () => {
      const k = await createKey({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' })
      const msg = Buffer.from(`message for ${spec}`)
      const sig = (await send(new kms.SignCommand({ KeyId: k.KeyId, Message: msg, SigningAlgorithm: alg }))).Signature
      const pub = await send(new kms.GetPublicKeyCommand({ KeyId: k.KeyId }))
      assert.ok(pub.SigningAlgorithms.includes(alg))
      const key = crypto.createPublicKey({ key: Buffer.from(pub.PublicKey), format: 'der', type: 'spki' })
      const opts = alg.startsWith('RSASSA_PSS')
        ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }
        : { key }
      assert.ok(crypto.verify(nodeAlg, msg, opts, Buffer.from(sig)), 'node:crypto rejects the signature')
      const v = await send(new kms.VerifyCommand({ KeyId: k.KeyId, Message: msg, Signature: sig, SigningAlgorithm: alg }))
      assert.equal(v.SignatureValid, true)
      await rejects(() => send(new kms.VerifyCommand({ KeyId: k.KeyId, Message: Buffer.from('another'), Signature: sig, SigningAlgorithm: alg })),
        'KMSInvalidSignatureException', 400, /.*/)
      // A digest is signed as it is, not hashed again.
      const digest = crypto.createHash(nodeAlg).update(msg).digest()
      const dsig = (await send(new kms.SignCommand({ KeyId: k.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: alg }))).Signature
      assert.ok(crypto.verify(nodeAlg, msg, opts, Buffer.from(dsig)), 'node:crypto rejects the signature of the digest')
    })
  }

  await check('RSA_2048 ENCRYPT_DECRYPT: node:crypto OAEP-SHA-256 encrypts, Decrypt opens', async () => {
    const k = await createKey({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' })
    const pub = await send(new kms.GetPublicKeyCommand({ KeyId: k.KeyId }))
    const key = crypto.createPublicKey({ key: Buffer.from(pub.PublicKey), format: 'der', type: 'spki' })
    const pt = Buffer.from('secret for rsa')
    const ct = crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, pt)
    const dec = await send(new kms.DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))
    assert.deepEqual(Buffer.from(dec.Plaintext), pt)
  })

  await check('HMAC_256: GenerateMac and VerifyMac', async () => {
    const k = await createKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' })
    const msg = Buffer.from('mac me')
    const mac = (await send(new kms.GenerateMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: 'HMAC_SHA_256' }))).Mac
    assert.equal(mac.length, 32)
    const v = await send(new kms.VerifyMacCommand({ KeyId: k.KeyId, Message: msg, Mac: mac, MacAlgorithm: 'HMAC_SHA_256' }))
    assert.equal(v.MacValid, true)
    await rejects(() => send(new kms.VerifyMacCommand({ KeyId: k.KeyId, Message: Buffer.from('other'), Mac: mac, MacAlgorithm: 'HMAC_SHA_256' })),
      'KMSInvalidMacException', 400, /.*/)
  })

  await check('aliases: paginateListAliases with Limit 1', async () => {
    const names = ['alias/js-a', 'alias/js-b', 'alias/js-c']
    for (const n of names) await send(new kms.CreateAliasCommand({ AliasName: n, TargetKeyId: sym.KeyId }))
    const seen = []
    let pages = 0
    for await (const page of kms.paginateListAliases({ client, pageSize: 1 }, { KeyId: sym.KeyId })) {
      pages++
      for (const a of page.Aliases) seen.push(a.AliasName)
    }
    assert.deepEqual(seen.sort(), names)
    assert.equal(pages, 3)
    const d = (await send(new kms.DescribeKeyCommand({ KeyId: 'alias/js-b' }))).KeyMetadata
    assert.equal(d.KeyId, sym.KeyId)
  })

  await check('rotation: RotateKeyOnDemand, old ciphertexts decrypt, ListKeyRotations', async () => {
    const old = await send(new kms.EncryptCommand({ KeyId: sym.KeyId, Plaintext: Buffer.from('before') }))
    await send(new kms.RotateKeyOnDemandCommand({ KeyId: sym.KeyId }))
    const r = await send(new kms.ListKeyRotationsCommand({ KeyId: sym.KeyId }))
    assert.equal(r.Rotations.length, 1)
    assert.equal(r.Rotations[0].RotationType, 'ON_DEMAND')
    assert.ok(r.Rotations[0].RotationDate instanceof Date)
    const dec = await send(new kms.DecryptCommand({ CiphertextBlob: old.CiphertextBlob }))
    assert.equal(Buffer.from(dec.Plaintext).toString(), 'before')
  })

  await check('external key store: a store whose XKS proxy is the server, a data key, Unavailable', async () => {
    // The proxy secret of the caller's access key (docs/xks.md).
    const secret = crypto.createHmac('sha256', process.env.AWS_SECRET_ACCESS_KEY)
      .update('trent xks proxy credential v1').digest('base64')
    const ext = await createKey({})
    const { CustomKeyStoreId: cks } = await send(new kms.CreateCustomKeyStoreCommand({
      CustomKeyStoreName: 'js-xks',
      CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
      XksProxyConnectivity: 'PUBLIC_ENDPOINT',
      XksProxyUriEndpoint: process.env.AWS_ENDPOINT_URL,
      XksProxyUriPath: '/js/kms/xks/v1',
      XksProxyAuthenticationCredential: { AccessKeyId: process.env.AWS_ACCESS_KEY_ID, RawSecretAccessKey: secret }
    }))
    await send(new kms.ConnectCustomKeyStoreCommand({ CustomKeyStoreId: cks }))
    const { CustomKeyStores: [store] } = await send(new kms.DescribeCustomKeyStoresCommand({ CustomKeyStoreId: cks }))
    assert.equal(store.ConnectionState, 'CONNECTED')
    assert.ok(store.CreationDate instanceof Date)
    assert.equal(store.XksProxyConfiguration.AccessKeyId, process.env.AWS_ACCESS_KEY_ID)
    const md = await createKey({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: cks, XksKeyId: ext.KeyId })
    assert.equal(md.XksKeyConfiguration.Id, ext.KeyId)
    const dk = await send(new kms.GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' }))
    const back = await send(new kms.DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))
    assert.deepEqual(Buffer.from(back.Plaintext), Buffer.from(dk.Plaintext))
    await rejects(() => send(new kms.CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: cks, XksKeyId: ext.KeyId })),
      'XksKeyAlreadyInUseException', 400, /already associated/)
    await send(new kms.DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: cks }))
    const { KeyMetadata: after } = await send(new kms.DescribeKeyCommand({ KeyId: md.KeyId }))
    assert.equal(after.KeyState, 'Unavailable')
    await rejects(() => send(new kms.DeleteCustomKeyStoreCommand({ CustomKeyStoreId: cks })),
      'CustomKeyStoreHasCMKsException', 400, /still has/)
  })

  await check('errors: names, classes, HTTP status and messages', async () => {
    await rejects(() => send(new kms.DescribeKeyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' })),
      'NotFoundException', 400, /is not found|does not exist/)
    await rejects(() => send(new kms.DecryptCommand({ CiphertextBlob: crypto.randomBytes(64) })),
      'InvalidCiphertextException', 400, /.*/)
    await rejects(() => send(new kms.CreateAliasCommand({ AliasName: 'alias/aws/js', TargetKeyId: sym.KeyId })),
      'NotAuthorizedException', 400, /.*/)
    await rejects(() => send(new kms.GenerateDataKeyCommand({ KeyId: sym.KeyId, NumberOfBytes: 2000 })),
      'ValidationException', 400, /numberOfBytes/)
    await send(new kms.DisableKeyCommand({ KeyId: sym.KeyId }))
    await rejects(() => send(new kms.EncryptCommand({ KeyId: sym.KeyId, Plaintext: Buffer.from('x') })),
      'DisabledException', 400, /is disabled/)
    const del = await send(new kms.ScheduleKeyDeletionCommand({ KeyId: sym.KeyId, PendingWindowInDays: 7 }))
    assert.ok(del.DeletionDate instanceof Date)
    assert.equal(del.KeyState, 'PendingDeletion')
    await rejects(() => send(new kms.DecryptCommand({ CiphertextBlob: crypto.randomBytes(8), KeyId: sym.KeyId })),
      'InvalidCiphertextException', 400, /.*/)
    await rejects(() => send(new kms.EncryptCommand({ KeyId: sym.KeyId, Plaintext: Buffer.from('x') })),
      'KMSInvalidStateException', 400, /pending deletion/)
  })

  process.stdout.write(`sdk: ${passed} checks passed\n`)
}

main().catch(err => {
  process.stderr.write(`sdk: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
