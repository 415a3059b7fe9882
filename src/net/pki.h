/* The cluster PKI: one Ed25519 CA that certifies node and client keys. A node's certificate key
 * IS its Ed25519 identity key (peers pin the raw 32-byte public key, not the certificate), and
 * OpenSSL's raw Ed25519 private key is libsodium's crypto_sign seed. Private keys are written as
 * PKCS#8 PEM with mode 0600 and never overwrite an existing file; docs/pki.md has the profiles. */
#ifndef KQ_NET_PKI_H
#define KQ_NET_PKI_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/types.h>

#include "base/assert.h"

/* Raw Ed25519 public keys and seeds. */
#define KQ_PKI_PUBLICKEYBYTES 32
#define KQ_PKI_SEEDBYTES      32
/* Default validity of the CA and of node and client certificates, and how far notBefore is set
 * back so that a peer whose clock lags a little still accepts a fresh certificate. */
#define KQ_PKI_CA_VALIDITY_S   (3650LL * 24 * 3600)
#define KQ_PKI_LEAF_VALIDITY_S (730LL * 24 * 3600)
#define KQ_PKI_BACKDATE_S      300LL
/* Nodes `kq_pki_init` provisions by default (the CLI's --nodes default). */
#define KQ_PKI_DEFAULT_NODES 4

enum kq_pki_kind {
    KQ_PKI_NODE,   /* CN "node-<id>", SAN localhost/127.0.0.1, EKU serverAuth + clientAuth */
    KQ_PKI_CLIENT, /* CN = client name, EKU clientAuth only */
};

struct kq_pki_request {
    enum kq_pki_kind kind;
    uint32_t node_id;     /* KQ_PKI_NODE: 1..KQ_PKI_MAX_NODE_ID */
    const char *name;     /* KQ_PKI_CLIENT: see kq_pki_client_name_ok */
    const char *ca_cert;  /* PEM CA certificate of the issuer (else KQ_ERR_INVALID_ARG) */
    const char *ca_key;   /* PEM private key of the issuer (else KQ_ERR_TLS) */
    const char *key_in;   /* NULL: generate a fresh key into key_out; else certify this key */
    const char *cert_out; /* created, must not exist */
    const char *key_out;  /* created (mode 0600), must not exist; ignored when key_in is set */
    int64_t not_before_s; /* offsets from now in seconds; negative allowed (not_after_s < 0 */
    int64_t not_after_s;  /* makes an expired certificate); not_before_s < not_after_s */
};

/* True iff name is 1..KQ_PKI_MAX_NAME_BYTES characters of [A-Za-z0-9._-] and does not start
 * with the reserved "node-". */
bool kq_pki_client_name_ok(const char *name);

/* Creates dir (mode 0700) if missing, then writes ca.crt, ca.key, node-<i>.crt/.key for
 * i = 1..nodes, admin.crt/.key and nodes.json ({"nodes":[{"id":1,"name":"node-1",
 * "identity":"<hex public key>"},...]}). nodes is 1..KQ_PKI_MAX_INIT_NODES. Existing files are
 * never touched: KQ_ERR_INVALID_ARG if dir/ca.key (then nothing is written) or any other output
 * already exists. On any failure every file this call wrote is removed again. */
KQ_MUST_USE enum kq_err kq_pki_init(const char *dir, unsigned nodes);

/* Issues a client certificate from dir/ca.crt and dir/ca.key into dir/<name>.crt and
 * dir/<name>.key. KQ_ERR_INVALID_ARG for a bad name or an existing output, KQ_ERR_NOT_FOUND if
 * the CA files are missing. On failure no output is left behind. */
KQ_MUST_USE enum kq_err kq_pki_issue_client(const char *dir, const char *name);

/* General issuance (tests and tools): see struct kq_pki_request. On failure no output is left
 * behind. */
KQ_MUST_USE enum kq_err kq_pki_issue(const struct kq_pki_request *req);

/* A fresh self-signed cluster CA (CN "keyquorum cluster CA", 10 years) into cert_out and key_out,
 * neither of which may exist. On failure no output is left behind. */
KQ_MUST_USE enum kq_err kq_pki_make_ca(const char *cert_out, const char *key_out);

/* The raw Ed25519 public key of a PEM certificate, private key or public key file into pk.
 * KQ_ERR_NOT_FOUND / KQ_ERR_IO for an unreadable file, KQ_ERR_FORMAT if it holds no Ed25519
 * certificate or key; pk is zeroed on failure. */
KQ_MUST_USE enum kq_err kq_pki_read_public(const char *pem_file, uint8_t pk[KQ_PKI_PUBLICKEYBYTES]);

/* The 32-byte seed (libsodium's crypto_sign_seed_keypair input) of a PEM Ed25519 private key into
 * caller memory, which the caller wipes. Errors as kq_pki_read_public; seed zeroed on failure. */
KQ_MUST_USE enum kq_err kq_pki_read_seed(const char *key_file, uint8_t seed[KQ_PKI_SEEDBYTES]);

/* Loaders shared with tls.c: read at most KQ_PKI_MAX_PEM_BYTES of PEM from a regular file (keys
 * only through wiped guarded memory; an encrypted key is KQ_ERR_FORMAT, never a prompt). *out is
 * set on success (caller frees with X509_free / EVP_PKEY_free) and NULL on failure. Errors as
 * kq_pki_read_public. Any key type is returned by kq_pki_load_key. */
KQ_MUST_USE enum kq_err kq_pki_load_cert(const char *path, X509 **out);
KQ_MUST_USE enum kq_err kq_pki_load_key(const char *path, EVP_PKEY **out);
/* SHA-256 of a PEM certificate's DER encoding: what a ledger client record binds (tx_client.h).
 * Errors as kq_pki_load_cert, KQ_ERR_FORMAT if it does not re-encode. */
KQ_MUST_USE enum kq_err kq_pki_cert_sha256(const char *path, uint8_t out[32]);

#endif
