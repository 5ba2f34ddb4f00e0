const { buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, AlgorithmSuiteIdentifier } = require('@aws-crypto/client-node')
const fs = require('fs')
const [mode, keyhex, a, b, c, inf, outf] = process.argv.slice(2)
const key = Buffer.from(keyhex, 'hex')
const keyring = new RawAesKeyringNode({ keyName: 'k1', keyNamespace: 'trent-test', unencryptedMasterKey: new Uint8Array(key), wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING })
async function main() {
  if (mode === 'enc') {
    const { encrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    const pt = fs.readFileSync(inf)
    const { result } = await encrypt(keyring, pt, { suiteId: parseInt(a), frameLength: parseInt(b), encryptionContext: JSON.parse(c) })
    fs.writeFileSync(outf, result)
  } else if (mode === 'encv1') {
    const { encrypt } = buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    const pt = fs.readFileSync(inf)
    const { result } = await encrypt(keyring, pt, { suiteId: parseInt(a), frameLength: parseInt(b), encryptionContext: JSON.parse(c) })
    fs.writeFileSync(outf, result)
  } else {
    const { decrypt } = buildClient(a === 'allow' ? CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT : CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    const msg = fs.readFileSync(b)
    const { plaintext, messageHeader } = await decrypt(keyring, msg)
    fs.writeFileSync(c, plaintext)
    console.log(JSON.stringify(messageHeader.encryptionContext))
  }
}
main().catch(e => { console.error('ERR', e.message); process.exit(1) })
