/* TLS contexts and peer identities (tls.h) on OpenSSL 3. Every context is TLS 1.3 only and
 * trusts exactly one CA; identities are read only from certificates OpenSSL has verified, and a
 * certificate's CN is accepted only in the narrow form the cluster CA issues. */
#include "net/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/mem.h"
#include "net/pki.h"

#define NODE_NAME_PREFIX "node-"
/* Digits of the largest node id, KQ_PKI_MAX_NODE_ID. */
#define NODE_ID_MAX_DIGITS 5
/* Bytes of the one-line error description. */
#define LAST_ERROR_BYTES 256

KQ_STATIC_ASSERT(KQ_PKI_MAX_NODE_ID <= 99999, "node ids fit NODE_ID_MAX_DIGITS");
KQ_STATIC_ASSERT(sizeof(((struct kq_tls_identity *)0)->ed25519_pk) == KQ_PKI_PUBLICKEYBYTES,
                 "identity keys are raw Ed25519 keys");

/* ---- contexts ---- */

static int verify_mode(enum kq_tls_role role)
{
    switch (role) {
    case KQ_TLS_PEER_SERVER:
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case KQ_TLS_API_SERVER:
        return SSL_VERIFY_PEER;
    case KQ_TLS_CLIENT:
        return SSL_VERIFY_PEER;
    }
    KQ_ASSERT(!"unknown TLS role");
    return SSL_VERIFY_PEER;
}

/* Protocol, options and verification settings common to every role. */
static enum kq_err configure(SSL_CTX *ctx, enum kq_tls_role role)
{
    KQ_ENSURE(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1, KQ_ERR_TLS);
    KQ_ENSURE(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1, KQ_ERR_TLS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    KQ_ENSURE(SSL_CTX_set_num_tickets(ctx, 0) == 1, KQ_ERR_TLS);
    SSL_CTX_set_verify(ctx, verify_mode(role), NULL);
    SSL_CTX_set_verify_depth(ctx, KQ_TLS_MAX_INTERMEDIATES); /* OpenSSL counts intermediates */
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    KQ_ENSURE(X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT) == 1, KQ_ERR_TLS);
    /* The purpose needs no setting: OpenSSL verifies a client's chain for "ssl_client" (EKU
     * clientAuth) and a server's for "ssl_server" (serverAuth), which tests/net checks. */
    return KQ_OK;
}

/* ca as the one trust anchor; servers also name it in their certificate requests. */
static enum kq_err set_trust(SSL_CTX *ctx, enum kq_tls_role role, const char *ca_file)
{
    X509 *ca = NULL;
    KQ_GUARD(kq_pki_load_cert(ca_file, &ca));
    bool ok = X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) == 1;
    if (ok && role != KQ_TLS_CLIENT)
        ok = SSL_CTX_add_client_CA(ctx, ca) == 1;
    X509_free(ca);
    return ok ? KQ_OK : KQ_ERR_TLS;
}

static enum kq_err set_credentials(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    enum kq_err err = kq_pki_load_cert(cert_file, &cert);
    if (err == KQ_OK)
        err = kq_pki_load_key(key_file, &key);
    /* The certificate first: SSL_CTX_use_PrivateKey then refuses a key that does not match. */
    if (err == KQ_OK &&
        (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1))
        err = KQ_ERR_TLS;
    X509_free(cert);
    EVP_PKEY_free(key); /* the context holds its own reference */
    return err;
}

SSL_CTX *kq_tls_ctx_new(enum kq_tls_role role, const char *ca_file, const char *cert_file,
                        const char *key_file, enum kq_err *err)
{
    KQ_ASSERT(ca_file != NULL && err != NULL);
    bool has_cert = cert_file != NULL, has_key = key_file != NULL;
    *err = KQ_ERR_INVALID_ARG;
    if (has_cert != has_key || (role != KQ_TLS_CLIENT && !has_cert))
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(role == KQ_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
    *err = ctx != NULL ? KQ_OK : KQ_ERR_TLS;
    if (*err == KQ_OK)
        *err = configure(ctx, role);
    if (*err == KQ_OK)
        *err = set_trust(ctx, role, ca_file);
    if (*err == KQ_OK && has_cert)
        *err = set_credentials(ctx, cert_file, key_file);
    if (*err != KQ_OK) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- identities ---- */

static bool name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* The single CN of cert into name[KQ_PKI_MAX_NAME_BYTES + 1]. */
static enum kq_err read_cn(X509 *cert, char *name)
{
    const X509_NAME *subject = X509_get_subject_name(cert);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    KQ_ENSURE(at >= 0, KQ_ERR_PEER_IDENTITY);
    KQ_ENSURE(X509_NAME_get_index_by_NID(subject, NID_commonName, at) < 0, KQ_ERR_PEER_IDENTITY);
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, s);
    bool ok = len >= 1 && len <= KQ_PKI_MAX_NAME_BYTES;
    for (int i = 0; ok && i < len; i++)
        ok = name_char_ok(utf8[i]);
    if (ok) {
        memcpy(name, utf8, (size_t)len);
        name[len] = '\0';
    }
    OPENSSL_free(utf8);
    return ok ? KQ_OK : KQ_ERR_PEER_IDENTITY;
}

/* Node id of a "node-<id>" name: decimal 1..KQ_PKI_MAX_NODE_ID without a leading zero; 0 if
 * the name is not of that form. */
static uint32_t parse_node_id(const char *name)
{
    const char *d = name + sizeof NODE_NAME_PREFIX - 1;
    size_t n = strlen(d);
    if (n == 0 || n > NODE_ID_MAX_DIGITS || d[0] == '0')
        return 0;
    uint32_t id = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return 0;
        id = id * 10 + (uint32_t)(d[i] - '0');
    }
    return id <= KQ_PKI_MAX_NODE_ID ? id : 0;
}

static bool has_server_auth(X509 *cert)
{
    /* Without the extension, X509_get_extended_key_usage allows every use: require it. */
    if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0)
        return false;
    return (X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) != 0;
}

static enum kq_err read_identity(X509 *cert, struct kq_tls_identity *out)
{
    KQ_GUARD(read_cn(cert, out->name));
    if (strncmp(out->name, NODE_NAME_PREFIX, sizeof NODE_NAME_PREFIX - 1) == 0) {
        out->node_id = parse_node_id(out->name);
        KQ_ENSURE(out->node_id != 0 && has_server_auth(cert), KQ_ERR_PEER_IDENTITY);
        out->is_node = true;
    }
    const EVP_PKEY *pk = X509_get0_pubkey(cert);
    size_t len = sizeof out->ed25519_pk;
    if (pk != NULL && EVP_PKEY_is_a(pk, "ED25519")) {
        KQ_ENSURE(EVP_PKEY_get_raw_public_key(pk, out->ed25519_pk, &len) == 1 &&
                      len == sizeof out->ed25519_pk,
                  KQ_ERR_PEER_IDENTITY);
        out->has_ed25519 = true;
    }
    unsigned int md_len = 0;
    KQ_ENSURE(X509_digest(cert, EVP_sha256(), out->fingerprint, &md_len) == 1 &&
                  md_len == sizeof out->fingerprint,
              KQ_ERR_TLS);
    return KQ_OK;
}

enum kq_err kq_tls_cert_identity(X509 *cert, struct kq_tls_identity *out)
{
    KQ_ASSERT(cert != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    enum kq_err err = read_identity(cert, out);
    if (err != KQ_OK)
        memset(out, 0, sizeof *out);
    ERR_clear_error();
    return err;
}

enum kq_err kq_tls_peer_identity(SSL *ssl, struct kq_tls_identity *out)
{
    KQ_ASSERT(ssl != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    KQ_ENSURE(SSL_is_init_finished(ssl), KQ_ERR_TLS);
    X509 *cert = SSL_get0_peer_certificate(ssl);
    KQ_ENSURE(cert != NULL, KQ_ERR_TLS);
    KQ_ENSURE(SSL_get_verify_result(ssl) == X509_V_OK, KQ_ERR_TLS);
    return kq_tls_cert_identity(cert, out);
}

enum kq_err kq_tls_check_node(const struct kq_tls_identity *id, uint32_t expected_node_id,
                              const uint8_t pinned_pk[32])
{
    KQ_ASSERT(id != NULL && pinned_pk != NULL);
    KQ_ENSURE(id->is_node && id->has_ed25519, KQ_ERR_PEER_IDENTITY);
    KQ_ASSERT(id->node_id >= 1 && id->node_id <= KQ_PKI_MAX_NODE_ID);
    KQ_ENSURE(expected_node_id == 0 || id->node_id == expected_node_id, KQ_ERR_PEER_IDENTITY);
    KQ_ENSURE(kq_ct_eq(id->ed25519_pk, pinned_pk, sizeof id->ed25519_pk), KQ_ERR_PEER_IDENTITY);
    return KQ_OK;
}

const char *kq_tls_last_error(void)
{
    static _Thread_local char buf[LAST_ERROR_BYTES];
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, sizeof buf, "no TLS error");
    else
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}
