/* libkeyquorum: the client library of keyquorum (docs/api.md "Client library").
 *
 * A client talks HTTPS to any node (mutual TLS with a client certificate, or a bearer token; the
 * cluster CA is the only trust anchor) and trusts nothing a node says about keys without checking
 * it: public keys, keepers' identities and public shares are read with inclusion proofs against
 * certified block headers, following validator-set changes from the genesis file it is given.
 * With a verified public key it wraps data keys and payloads locally, with no round trip. When the
 * client's ledger record holds an X25519 key (and the config names its secret), keepers seal their
 * partials to it and kq_decrypt combines them here: no server sees the data key.
 *
 * Every function returns 0 (KQ_OK) or a positive error code (the values of the project's enum
 * kq_err; kq_client_error() says what went wrong in words). Buffers the library returns are freed
 * with kq_free (secrets are wiped first). The handle is not thread-safe: one per thread. */
#ifndef KEYQUORUM_H
#define KEYQUORUM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KQ_API __attribute__((visibility("default")))

#define KQ_DEK_BYTES         32
#define KQ_PUBLIC_KEY_BYTES  32
#define KQ_SIGNATURE_BYTES   64
#define KQ_DERIVED_KEY_BYTES 32

typedef struct kq_client kq_client;

struct kq_client_config {
    const char *url;       /* "https://host:port" of any node (required) */
    const char *ca_file;   /* the cluster CA certificate, PEM (required) */
    const char *cert_file; /* client certificate and key (mutual TLS), or ... */
    const char *key_file;
    const char *token;           /* ... a bearer token */
    const char *genesis_file;    /* the trust root of verified reads (required for them) */
    const char *x25519_key_file; /* optional: hex X25519 secret for sealed delivery */
};

/* One encryption-context pair (UTF-8 strings). */
struct kq_context_pair {
    const char *key;
    const char *value;
};

enum kq_key_usage_name { KQ_USAGE_ENCRYPT = 1, KQ_USAGE_SIGN = 2, KQ_USAGE_DERIVE = 3 };

/* Opens a client. */
KQ_API int kq_client_open(kq_client **out, const struct kq_client_config *cfg);
/* Opens a client from a dev cluster's env file (KQ_ADDR, KQ_CACERT, KQ_CLIENT_CERT,
 * KQ_CLIENT_KEY, KQ_TOKEN, KQ_DEV_DIR for the genesis; KQ_X25519_KEY optional); NULL: $KQ_ENV
 * and the KQ_* variables. */
KQ_API int kq_client_open_env(kq_client **out, const char *env_file);
KQ_API void kq_client_close(kq_client *c);
/* The last error's description (never NULL). */
KQ_API const char *kq_client_error(const kq_client *c);
/* Frees what the library returned (wiping it). */
KQ_API void kq_free(void *p);

/* ---- verified reads ---- */

/* The public key of version `version` of key `name` (0: the active version), read with its
 * inclusion proof against a certified header; *version_out (may be NULL) the version. */
KQ_API int kq_key_public(kq_client *c, const char *name, uint32_t version,
                         uint8_t public_key[KQ_PUBLIC_KEY_BYTES], uint32_t *version_out);

/* ---- local wrapping: no round trip once the public key is fetched and verified ---- */

/* A fresh data key and its ciphertext ("kq:v<N>:...", kq_free it) under the active version. */
KQ_API int kq_datakey_local(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                            size_t n_ctx, uint8_t dek[KQ_DEK_BYTES], char **ciphertext);
/* A payload's ciphertext of type data under the active version. */
KQ_API int kq_encrypt_local(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                            size_t n_ctx, const uint8_t *plaintext, size_t len, char **ciphertext);

/* ---- through the cluster ---- */

KQ_API int kq_datakey(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                      size_t n_ctx, uint8_t dek[KQ_DEK_BYTES], char **ciphertext);
KQ_API int kq_encrypt(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                      size_t n_ctx, const uint8_t *plaintext, size_t len, char **ciphertext);
/* Decrypts; with sealed delivery the keepers' sealed partials are opened, verified and combined
 * here. *plaintext (kq_free it) and *len. */
KQ_API int kq_decrypt(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                      size_t n_ctx, const char *ciphertext, uint8_t **plaintext, size_t *len);
/* Moves a ciphertext to the active version (the server never returns its plaintext). */
KQ_API int kq_rewrap(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                     size_t n_ctx, const char *ciphertext, char **out);
/* A FROST signature (Schnorr over ristretto255, RFC 9591) and the version that made it. */
KQ_API int kq_sign(kq_client *c, const char *name, const uint8_t *msg, size_t len,
                   uint8_t sig[KQ_SIGNATURE_BYTES], uint32_t *version);
/* Verifies locally under the verified public key of `version` (0: active): 0 when valid,
 * KQ_ERR_BAD_SIGNATURE (19) when not. */
KQ_API int kq_verify(kq_client *c, const char *name, uint32_t version, const uint8_t *msg,
                     size_t len, const uint8_t sig[KQ_SIGNATURE_BYTES]);
/* A key derived for the context (version 0: active); *version_out the version used. */
KQ_API int kq_derive(kq_client *c, const char *name, uint32_t version,
                     const struct kq_context_pair *ctx, size_t n_ctx,
                     uint8_t key[KQ_DERIVED_KEY_BYTES], uint32_t *version_out);

/* ---- key administration (admin role) and listings: JSON text results (kq_free them) ---- */

KQ_API int kq_key_create(kq_client *c, const char *name, int usage, uint32_t n, uint32_t t,
                         uint64_t period_s, uint64_t max_ops, char **json);
KQ_API int kq_key_show(kq_client *c, const char *name, char **json);
KQ_API int kq_key_list(kq_client *c, char **json);
KQ_API int kq_key_rotate(kq_client *c, const char *name, char **json);
KQ_API int kq_key_delete(kq_client *c, const char *name, char **json);
KQ_API int kq_key_cancel_deletion(kq_client *c, const char *name, char **json);
KQ_API int kq_key_min_version(kq_client *c, const char *name, uint32_t version, char **json);
/* Any API call: method, path, JSON body (or NULL) -> HTTP status and JSON reply text. */
KQ_API int kq_request(kq_client *c, const char *method, const char *path, const char *body,
                      long *status, char **json);

#ifdef __cplusplus
}
#endif
#endif
