#!/usr/bin/python3
"""End-to-end checks of a running trent dev server with boto3.

Usage: boto3_test.py URL   (run by e2e/cli_test.sh; credentials and region
come from the environment it sets; every run in a fresh region). Prints one line per check and a final
line `boto3: N passed, M failed`; exits 1 on any failure.

Works with Debian's python3-boto3 (1.26), which predates RotationPeriodInDays,
RotateKeyOnDemand and DryRun: those are used only when the installed botocore
knows them.
"""

import base64
import hashlib
import hmac
import sys
import traceback

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

passed = 0
failed = 0


def ok(name):
    global passed
    passed += 1
    print(f"ok   - boto3 {name}")


def fail(name, why):
    global failed
    failed += 1
    print(f"FAIL - boto3 {name}: {why}")


def check(name, got, want):
    if got == want:
        ok(name)
    else:
        fail(name, f"got {got!r}, want {want!r}")


def expect_error(name, code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got == code:
            ok(name)
        else:
            fail(name, f"got {got} ({e.response['Error'].get('Message')!r}), want {code}")
        return
    except Exception as e:  # noqa: BLE001 - report anything else as a failure
        fail(name, f"got {type(e).__name__}: {e}, want {code}")
        return
    fail(name, f"succeeded, want {code}")


def step(name, fn):
    """Runs one check function; an unexpected exception is a failure."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        fail(name, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")


def has_op(client, name):
    return name in client.meta.service_model.operation_names


def has_member(client, op, member):
    return member in client.meta.service_model.operation_model(op).input_shape.members


def main():
    url = sys.argv[1]
    kms = boto3.client(
        "kms",
        endpoint_url=url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    other_region = boto3.client(
        "kms",
        endpoint_url=url,
        region_name="eu-central-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    region = kms.meta.region_name
    arn_prefix = f"arn:aws:kms:{region}:111122223333:key/"
    print(f"# boto3 {boto3.__version__} botocore {botocore.__version__} region {region}")
    state = {}

    def create():
        md = kms.create_key(
            Description="boto3 key",
            Tags=[{"TagKey": "team", "TagValue": "boto3"}],
        )["KeyMetadata"]
        state["key"] = md["KeyId"]
        state["arn"] = md["Arn"]
        check("create_key state", md["KeyState"], "Enabled")
        check("create_key arn", md["Arn"], arn_prefix + md["KeyId"])
        state["key2"] = kms.create_key(Description="boto3 second")["KeyMetadata"]["KeyId"]

    step("create_key", create)
    key, key2 = state.get("key", "missing"), state.get("key2", "missing")

    def describe():
        md = kms.describe_key(KeyId=key)["KeyMetadata"]
        check("describe_key description", md["Description"], "boto3 key")
        check("describe_key enabled", md["Enabled"], True)

    step("describe_key", describe)
    expect_error("describe_key unknown", "NotFoundException", kms.describe_key,
                 KeyId="11111111-2222-3333-4444-555555555555")
    expect_error("describe_key other region", "NotFoundException", other_region.describe_key, KeyId=key)

    def alias():
        kms.create_alias(AliasName="alias/boto3-app", TargetKeyId=key)
        check("alias resolves", kms.describe_key(KeyId="alias/boto3-app")["KeyMetadata"]["KeyId"], key)
        names = [a["AliasName"] for a in kms.list_aliases(KeyId=key)["Aliases"]]
        check("list_aliases", names, ["alias/boto3-app"])
        kms.update_alias(AliasName="alias/boto3-app", TargetKeyId=key2)
        check("update_alias", kms.describe_key(KeyId="alias/boto3-app")["KeyMetadata"]["KeyId"], key2)
        kms.update_alias(AliasName="alias/boto3-app", TargetKeyId=key)

    step("aliases", alias)
    expect_error("create_alias duplicate", "AlreadyExistsException", kms.create_alias,
                 AliasName="alias/boto3-app", TargetKeyId=key2)
    expect_error("create_alias bad characters", "ValidationException", kms.create_alias,
                 AliasName="alias/not valid!", TargetKeyId=key)

    ctx = {"purpose": "boto3", "tenant": "t1"}

    def round_trip():
        enc = kms.encrypt(KeyId="alias/boto3-app", Plaintext=b"hello from boto3", EncryptionContext=ctx)
        check("encrypt key arn", enc["KeyId"], state["arn"])
        state["blob"] = enc["CiphertextBlob"]
        dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=ctx)
        check("decrypt plaintext", dec["Plaintext"], b"hello from boto3")
        check("decrypt key arn", dec["KeyId"], state["arn"])

    step("encrypt/decrypt", round_trip)
    blob = state.get("blob", b"x")
    expect_error("decrypt without context", "InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
    expect_error("decrypt with wrong key", "IncorrectKeyException", kms.decrypt,
                 CiphertextBlob=blob, EncryptionContext=ctx, KeyId=key2)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    expect_error("decrypt tampered", "InvalidCiphertextException", kms.decrypt,
                 CiphertextBlob=bytes(tampered), EncryptionContext=ctx)
    expect_error("encrypt 4097 bytes", "ValidationException", kms.encrypt, KeyId=key, Plaintext=b"x" * 4097)

    def reencrypt():
        out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=key2)
        dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
        check("re_encrypt round trip", dec["Plaintext"], b"hello from boto3")

    step("re_encrypt", reencrypt)

    def data_keys():
        dk = kms.generate_data_key(KeyId=key, KeySpec="AES_128", EncryptionContext=ctx)
        check("generate_data_key length", len(dk["Plaintext"]), 16)
        dec = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)
        check("data key decrypts", dec["Plaintext"], dk["Plaintext"])
        wp = kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=48)
        check("without plaintext has no plaintext", "Plaintext" in wp, False)
        check("without plaintext decrypts", len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]), 48)
        check("generate_random", len(kms.generate_random(NumberOfBytes=64)["Plaintext"]), 64)

    step("data keys", data_keys)
    expect_error("generate_data_key both specs", "ValidationException", kms.generate_data_key,
                 KeyId=key, KeySpec="AES_256", NumberOfBytes=32)
    expect_error("generate_random 1025", "ValidationException", kms.generate_random, NumberOfBytes=1025)

    def rotation():
        kms.enable_key_rotation(KeyId=key)
        check("rotation enabled", kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"], True)
        if has_op(kms, "RotateKeyOnDemand"):
            kms.rotate_key_on_demand(KeyId=key)
            dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
            check("old ciphertext after rotation", dec["Plaintext"], b"hello from boto3")
            check("list_key_rotations", len(kms.list_key_rotations(KeyId=key)["Rotations"]), 1)
        else:
            print("# skip rotate_key_on_demand: botocore too old")
        kms.disable_key_rotation(KeyId=key)
        check("rotation disabled", kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"], False)

    step("rotation", rotation)
    if has_member(kms, "EnableKeyRotation", "RotationPeriodInDays"):
        expect_error("rotation period 2561", "ValidationException", kms.enable_key_rotation,
                     KeyId=key, RotationPeriodInDays=2561)
    if has_member(kms, "Encrypt", "DryRun"):
        expect_error("encrypt dry run", "DryRunOperationException", kms.encrypt,
                     KeyId=key, Plaintext=b"x", DryRun=True)

    def tags():
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "env", "TagValue": "dev"}])
        kms.untag_resource(KeyId=key, TagKeys=["team"])
        got = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key)["Tags"]}
        check("tags", got, {"env": "dev"})

    step("tags", tags)
    expect_error("reserved tag", "TagException", kms.tag_resource,
                 KeyId=key, Tags=[{"TagKey": "aws:x", "TagValue": "y"}])
    expect_error("duplicate tag keys", "TagException", kms.tag_resource, KeyId=key,
                 Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])

    def policy():
        got = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        check("default policy names the account root", "arn:aws:iam::111122223333:root" in got, True)
        check("list_key_policies", kms.list_key_policies(KeyId=key)["PolicyNames"], ["default"])

    step("policy", policy)
    expect_error("malformed policy", "MalformedPolicyDocumentException", kms.put_key_policy,
                 KeyId=key, PolicyName="default", Policy="{not json")

    def paging():
        before = len(kms.list_keys(Limit=1000)["Keys"])
        for i in range(3):
            kms.create_key(Description=f"page {i}")
        ids = []
        for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}):
            check("list_keys page size", len(page["Keys"]) <= 2, True)
            ids += [k["KeyId"] for k in page["Keys"]]
        check("list_keys paginator", len(ids), before + 3)
        check("list_keys unique", len(set(ids)), before + 3)

    step("paging", paging)
    expect_error("bad marker", "InvalidMarkerException", kms.list_keys, Marker="bogus")

    def deletion():
        out = kms.schedule_key_deletion(KeyId=key2, PendingWindowInDays=30)
        check("schedule_key_deletion state", out["KeyState"], "PendingDeletion")
        out = kms.cancel_key_deletion(KeyId=key2)
        check("cancel_key_deletion key arn", out["KeyId"], arn_prefix + key2)
        check("after cancel", kms.describe_key(KeyId=key2)["KeyMetadata"]["KeyState"], "Disabled")

    step("deletion", deletion)
    expect_error("deletion window 31", "ValidationException", kms.schedule_key_deletion,
                 KeyId=key2, PendingWindowInDays=31)
    expect_error("encrypt with disabled key", "DisabledException", kms.encrypt, KeyId=key2, Plaintext=b"x")

    asymmetric(kms)
    step("external key store", lambda: external_key_store(kms, url))

    print(f"boto3: {passed} passed, {failed} failed")
    return 1 if failed else 0


def asymmetric(kms):
    """Asymmetric, HMAC, key agreement and imported keys, checked with the
    cryptography package (a dependency of Debian's awscli)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
    except ImportError as e:
        fail("asymmetric checks", f"the cryptography package is missing: {e}")
        return
    import os

    def public(key_id):
        return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])

    def rsa_sign():
        kid = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        sig = kms.sign(KeyId=kid, Message=b"boto3 signs", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_384")["Signature"]
        public(kid).verify(sig, b"boto3 signs", padding.PKCS1v15(), hashes.SHA384())
        ok("RSA PKCS#1 signature verifies in cryptography")
        expect_error("verify another message", "KMSInvalidSignatureException", kms.verify, KeyId=kid, Message=b"other",
                     Signature=sig, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_384")
        expect_error("ECDSA algorithm on an RSA key", "InvalidKeyUsageException", kms.sign, KeyId=kid, Message=b"m",
                     SigningAlgorithm="ECDSA_SHA_256")

    step("RSA sign", rsa_sign)

    def secp256k1():
        kid = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        sig = kms.sign(KeyId=kid, Message=b"k1", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        public(kid).verify(sig, b"k1", ec.ECDSA(hashes.SHA256()))
        ok("secp256k1 signature verifies in cryptography")
        priv = ec.generate_private_key(ec.SECP256K1())
        theirs = priv.sign(b"from cryptography", ec.ECDSA(hashes.SHA256()))
        # Trent has no private key of theirs: verify against its own key must fail cleanly.
        expect_error("foreign signature", "KMSInvalidSignatureException", kms.verify, KeyId=kid,
                     Message=b"from cryptography", Signature=theirs, SigningAlgorithm="ECDSA_SHA_256")

    step("secp256k1", secp256k1)

    def oaep():
        kid = kms.create_key(KeySpec="RSA_4096", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        ct = public(kid).encrypt(b"oaep from python", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        pt = kms.decrypt(KeyId=kid, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"]
        check("OAEP from cryptography decrypts", pt, b"oaep from python")
        expect_error("OAEP plaintext too long", "ValidationException", kms.encrypt, KeyId=kid, Plaintext=b"x" * 471,
                     EncryptionAlgorithm="RSAES_OAEP_SHA_1")

    step("RSA OAEP", oaep)

    def mac():
        kid = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        m = kms.generate_mac(KeyId=kid, Message=b"mac me", MacAlgorithm="HMAC_SHA_512")["Mac"]
        check("mac length", len(m), 64)
        check("verify_mac", kms.verify_mac(KeyId=kid, Message=b"mac me", Mac=m, MacAlgorithm="HMAC_SHA_512")["MacValid"], True)
        expect_error("verify_mac other message", "KMSInvalidMacException", kms.verify_mac, KeyId=kid, Message=b"x",
                     Mac=m, MacAlgorithm="HMAC_SHA_512")

    step("HMAC", mac)

    if has_op(kms, "DeriveSharedSecret"):
        def derive():
            kid = kms.create_key(KeySpec="ECC_NIST_P521", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
            peer = ec.generate_private_key(ec.SECP521R1())
            der = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            z = kms.derive_shared_secret(KeyId=kid, KeyAgreementAlgorithm="ECDH", PublicKey=der)["SharedSecret"]
            check("ECDH secret equals cryptography's", z, peer.exchange(ec.ECDH(), public(kid)))

        step("DeriveSharedSecret", derive)
    else:
        print("# skip derive_shared_secret: botocore too old")

    def pair():
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        out = kms.generate_data_key_pair(KeyId=kid, KeyPairSpec="RSA_2048")
        priv = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
        der = priv.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        check("data key pair public key", der, out["PublicKey"])
        check("data key pair private key decrypts", kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"],
              out["PrivateKeyPlaintext"])

    step("GenerateDataKeyPair", pair)

    def import_material():
        kid = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        params = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_1", WrappingKeySpec="RSA_2048")
        wrap = serialization.load_der_public_key(params["PublicKey"])
        material, kek = os.urandom(32), os.urandom(32)
        wrapped = wrap.encrypt(kek, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
        wrapped += aes_key_wrap_with_padding(kek, material)
        out = kms.import_key_material(KeyId=kid, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                      ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        if "KeyId" in out:  # botocore before 2025 models an empty output
            check("import_key_material key", out["KeyId"].endswith(kid), True)
        blob = kms.encrypt(KeyId=kid, Plaintext=b"imported")["CiphertextBlob"]
        check("imported key round trip", kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"imported")
        expect_error("import token reused", "InvalidImportTokenException", kms.import_key_material, KeyId=kid,
                     ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        kms.delete_imported_key_material(KeyId=kid)
        check("after delete_imported_key_material", kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"], "PendingImport")

    step("import", import_material)


def external_key_store(kms, url):
    """A custom key store whose XKS proxy is this server, with the proxy
    secret derived from the caller's secret as docs/xks.md says."""
    creds = boto3.Session().get_credentials()
    secret = base64.b64encode(hmac.new(creds.secret_key.encode(), b"trent xks proxy credential v1", hashlib.sha256).digest()).decode()
    ext = kms.create_key()["KeyMetadata"]["KeyId"]
    cks = kms.create_custom_key_store(
        CustomKeyStoreName="boto3-xks", CustomKeyStoreType="EXTERNAL_KEY_STORE", XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint=url, XksProxyUriPath="/boto3/kms/xks/v1",
        XksProxyAuthenticationCredential={"AccessKeyId": creds.access_key, "RawSecretAccessKey": secret},
    )["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=cks)
    store = kms.describe_custom_key_stores(CustomKeyStoreName="boto3-xks")["CustomKeyStores"][0]
    check("custom key store connected", (store["CustomKeyStoreId"], store["ConnectionState"]), (cks, "CONNECTED"))
    md = kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=cks, XksKeyId=ext)["KeyMetadata"]
    check("external key store key", (md["Origin"], md["CustomKeyStoreId"], md["XksKeyConfiguration"]["Id"]),
          ("EXTERNAL_KEY_STORE", cks, ext))
    dk = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
    check("external key store data key", kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"], dk["Plaintext"])
    expect_error("external key already in use", "XksKeyAlreadyInUseException", kms.create_key,
                 Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=cks, XksKeyId=ext)
    kms.disconnect_custom_key_store(CustomKeyStoreId=cks)
    check("key of a disconnected store", kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"], "Unavailable")
    expect_error("delete a store with a key", "CustomKeyStoreHasCMKsException", kms.delete_custom_key_store, CustomKeyStoreId=cks)
    expect_error("http proxy elsewhere", "ValidationException", kms.create_custom_key_store,
                 CustomKeyStoreName="boto3-bad", CustomKeyStoreType="EXTERNAL_KEY_STORE", XksProxyConnectivity="PUBLIC_ENDPOINT",
                 XksProxyUriEndpoint="http://example.com", XksProxyUriPath="/kms/xks/v1",
                 XksProxyAuthenticationCredential={"AccessKeyId": creds.access_key, "RawSecretAccessKey": secret})


if __name__ == "__main__":
    sys.exit(main())
