/* Tests for src/net/pki.c and src/net/tls.c: a PKI built with the API in a temporary directory,
 * real TLS 1.3 handshakes between two SSL objects over a socketpair (nonblocking, stepped in
 * turn), and every acceptance rule: chains, validity, purposes, names, node key pinning. */
#include "../test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/limits.h"
#include "base/mem.h"
#include "net/pki.h"
#include "net/tls.h"

/* Handshake steps (one SSL_do_handshake per side each) before a test gives up: a TLS 1.3
 * handshake needs a handful; a loop that never ends is a bug in the test. */
#define MAX_HANDSHAKE_STEPS 200
/* Nodes in the test PKI. */
#define TEST_NODES 3

static char g_dir[64];

/* dir/base, from a ring of buffers so that several can be live in one call. */
static const char *p(const char *base)
{
    static char ring[8][PATH_MAX];
    static unsigned next;
    char *out = ring[next++ % 8];
    snprintf(out, PATH_MAX, "%s/%s", g_dir, base);
    return out;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void issue(enum kq_pki_kind kind, uint32_t node_id, const char *name, const char *ca,
                  const char *base, const char *key_in, int64_t nb, int64_t na)
{
    char ca_cert[64], ca_key[64], cert[64], key[64];
    snprintf(ca_cert, sizeof ca_cert, "%s.crt", ca);
    snprintf(ca_key, sizeof ca_key, "%s.key", ca);
    snprintf(cert, sizeof cert, "%s.crt", base);
    snprintf(key, sizeof key, "%s.key", base);
    struct kq_pki_request req = {kind,   node_id, name,   p(ca_cert), p(ca_key),
                                 key_in, p(cert), p(key), nb,         na};
    assert_int_equal(kq_pki_issue(&req), KQ_OK);
}

/* A certificate the cluster CA would never issue, for the identity and purpose checks: the given
 * CNs (0..2), EKU (NULL: none), an EC P-256 key instead of Ed25519, with or without AKI, signed
 * by dir/<issuer>.crt/.key (NULL: the cluster CA), an intermediate CA if ca is set. */
struct forge {
    const char *cn[2];
    const char *eku;
    bool ec_key;
    bool no_aki;
    const char *issuer;
    bool ca;
};

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static X509 *forge(const struct forge *f, const char *base)
{
    X509 *ca = NULL, *x = X509_new();
    EVP_PKEY *ca_key = NULL;
    EVP_PKEY *key = f->ec_key ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                              : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char issuer[64];
    snprintf(issuer, sizeof issuer, "%s.crt", f->issuer != NULL ? f->issuer : "ca");
    assert_int_equal(kq_pki_load_cert(p(issuer), &ca), KQ_OK);
    snprintf(issuer, sizeof issuer, "%s.key", f->issuer != NULL ? f->issuer : "ca");
    assert_int_equal(kq_pki_load_key(p(issuer), &ca_key), KQ_OK);
    assert_non_null(x);
    assert_non_null(key);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    for (size_t i = 0; i < 2 && f->cn[i] != NULL; i++)
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
                                                    V_ASN1_UTF8STRING, /* no length table */
                                                    (const unsigned char *)f->cn[i], -1, -1, 0),
                         1);
    if (f->cn[0] == NULL) /* a subject without a CN */
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_UTF8,
                                                    (const unsigned char *)"acme", -1, -1, 0),
                         1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ca)), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
    add_ext(x, &v3, NID_basic_constraints, f->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, &v3, NID_key_usage, f->ca ? "critical,keyCertSign" : "critical,digitalSignature");
    if (f->ca)
        add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (!f->no_aki)
        add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
    if (f->eku != NULL)
        add_ext(x, &v3, NID_ext_key_usage, f->eku);
    assert_true(X509_sign(x, ca_key, NULL) > 0);
    if (base != NULL) {
        char name[64];
        snprintf(name, sizeof name, "%s.crt", base);
        FILE *fc = fopen(p(name), "w");
        snprintf(name, sizeof name, "%s.key", base);
        FILE *fk = fopen(p(name), "w");
        assert_non_null(fc);
        assert_non_null(fk);
        assert_int_equal(PEM_write_X509(fc, x), 1);
        assert_int_equal(PEM_write_PrivateKey(fk, key, NULL, NULL, 0, NULL, NULL), 1);
        fclose(fc);
        fclose(fk);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return x;
}

static int setup(void **state)
{
    (void)state;
    if (kq_init(0) != KQ_OK)
        return -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/kq_test_tls.XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    if (kq_pki_init(g_dir, TEST_NODES) != KQ_OK)
        return -1;
    if (kq_pki_make_ca(p("other-ca.crt"), p("other-ca.key")) != KQ_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- handshakes ---- */

struct conn {
    SSL *s, *c;
    int fd[2];
    bool ok; /* both sides finished the handshake */
};

static void nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    assert_true(flags >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

/* One handshake step of ssl: 1 done, 0 wants more, -1 failed. */
static int step(SSL *ssl)
{
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* Runs a handshake between a server on sctx and a client on cctx; ERR queue left empty. */
static void handshake(struct conn *k, SSL_CTX *sctx, SSL_CTX *cctx)
{
    memset(k, 0, sizeof *k);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, k->fd), 0);
    nonblocking(k->fd[0]);
    nonblocking(k->fd[1]);
    k->s = SSL_new(sctx);
    k->c = SSL_new(cctx);
    assert_non_null(k->s);
    assert_non_null(k->c);
    assert_int_equal(SSL_set_fd(k->s, k->fd[0]), 1);
    assert_int_equal(SSL_set_fd(k->c, k->fd[1]), 1);
    SSL_set_accept_state(k->s);
    SSL_set_connect_state(k->c);
    int s = 0, c = 0;
    for (int i = 0; i < MAX_HANDSHAKE_STEPS && s >= 0 && c >= 0 && (s == 0 || c == 0); i++) {
        if (c == 0)
            c = step(k->c);
        if (s == 0 && c >= 0)
            s = step(k->s);
    }
    assert_true(s < 0 || c < 0 || (s == 1 && c == 1)); /* an outcome, not the step bound */
    k->ok = s == 1 && c == 1;
    if (k->ok) { /* the channel carries data both ways */
        char buf[8] = {0};
        assert_int_equal(SSL_write(k->c, "ping", 4), 4);
        assert_int_equal(SSL_read(k->s, buf, sizeof buf), 4);
        assert_int_equal(SSL_write(k->s, "pong", 4), 4);
        assert_int_equal(SSL_read(k->c, buf + 4, sizeof buf - 4), 4);
        assert_memory_equal(buf, "pingpong", 8);
        assert_int_equal(SSL_version(k->s), TLS1_3_VERSION);
    }
    ERR_clear_error();
}

static void conn_free(struct conn *k)
{
    SSL_free(k->s);
    SSL_free(k->c);
    close(k->fd[0]);
    close(k->fd[1]);
}

static SSL_CTX *ctx(enum kq_tls_role role, const char *ca, const char *base)
{
    char cert[64], key[64];
    enum kq_err err = KQ_ERR_STATE;
    snprintf(cert, sizeof cert, "%s.crt", base != NULL ? base : "");
    snprintf(key, sizeof key, "%s.key", base != NULL ? base : "");
    SSL_CTX *c = kq_tls_ctx_new(role, p(ca), base != NULL ? p(cert) : NULL,
                                base != NULL ? p(key) : NULL, &err);
    assert_int_equal(err, KQ_OK);
    assert_non_null(c);
    return c;
}

/* Handshake of a server (role, credentials srv) with a client (credentials cli, may be NULL),
 * both trusting ca.crt; returns whether it succeeded and, on failure, the server's verify
 * result in *verify (X509_V_OK when the server did not get as far as verifying). */
static bool try_pair(enum kq_tls_role role, const char *srv, const char *cli, long *verify)
{
    SSL_CTX *sctx = ctx(role, "ca.crt", srv), *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", cli);
    struct conn k;
    handshake(&k, sctx, cctx);
    if (verify != NULL)
        *verify = SSL_get_verify_result(k.s);
    bool ok = k.ok;
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return ok;
}

static void read_pk(const char *base, uint8_t pk[32])
{
    assert_int_equal(kq_pki_read_public(p(base), pk), KQ_OK);
}

static void test_node_mutual(void **state)
{
    (void)state;
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", "node-2");
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_true(k.ok);
    struct kq_tls_identity id, sid;
    uint8_t pk1[32], pk2[32], pk2_key[32], fp[32];
    read_pk("node-1.crt", pk1);
    read_pk("node-2.crt", pk2);
    read_pk("node-2.key", pk2_key);
    assert_memory_equal(pk2, pk2_key, 32);
    assert_int_equal(kq_tls_peer_identity(k.s, &id), KQ_OK);
    assert_string_equal(id.name, "node-2");
    assert_true(id.is_node);
    assert_int_equal(id.node_id, 2);
    assert_true(id.has_ed25519);
    assert_memory_equal(id.ed25519_pk, pk2, 32);
    X509 *cert = NULL;
    unsigned char *der = NULL;
    assert_int_equal(kq_pki_load_cert(p("node-2.crt"), &cert), KQ_OK);
    int der_len = i2d_X509(cert, &der);
    assert_true(der_len > 0);
    crypto_hash_sha256(fp, der, (unsigned long long)der_len);
    assert_memory_equal(id.fingerprint, fp, 32);
    OPENSSL_free(der);
    X509_free(cert);
    assert_int_equal(kq_tls_check_node(&id, 2, pk2), KQ_OK);
    assert_int_equal(kq_tls_check_node(&id, 0, pk2), KQ_OK);
    assert_int_equal(kq_tls_check_node(&id, 3, pk2), KQ_ERR_PEER_IDENTITY);
    assert_int_equal(kq_tls_check_node(&id, 2, pk1), KQ_ERR_PEER_IDENTITY);
    /* and the client sees node 1 */
    assert_int_equal(kq_tls_peer_identity(k.c, &sid), KQ_OK);
    assert_true(sid.is_node);
    assert_int_equal(sid.node_id, 1);
    assert_int_equal(kq_tls_check_node(&sid, 1, pk1), KQ_OK);
    /* the server named the CA in its request, and issued no session ticket */
    assert_int_equal(sk_X509_NAME_num(SSL_get0_peer_CA_list(k.c)), 1);
    SSL_SESSION *sess = SSL_get1_session(k.c);
    assert_non_null(sess);
    assert_false(SSL_SESSION_has_ticket(sess));
    SSL_SESSION_free(sess);
    /* an identity is only read from a verified certificate */
    SSL_set_verify_result(k.s, X509_V_ERR_CERT_REJECTED);
    assert_int_equal(kq_tls_peer_identity(k.s, &id), KQ_ERR_TLS);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

/* Moves the bytes pending in from (all but hold_back of them) into to. */
static void pump(BIO *from, BIO *to, size_t hold_back)
{
    char buf[16384];
    size_t pending = BIO_ctrl_pending(from);
    assert_true(pending >= hold_back && pending - hold_back <= sizeof buf);
    int n = BIO_read(from, buf, (int)(pending - hold_back));
    if (n > 0)
        assert_int_equal(BIO_write(to, buf, n), n);
}

/* Over memory BIOs: the server has verified the client's certificate but not yet its Finished,
 * and kq_tls_peer_identity still refuses. */
static void test_identity_needs_finished_handshake(void **state)
{
    (void)state;
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", "node-2");
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    assert_non_null(s);
    assert_non_null(c);
    SSL_set_bio(s, s_in, s_out);
    SSL_set_bio(c, c_in, c_out);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    struct kq_tls_identity id;
    assert_int_equal(step(c), 0); /* ClientHello */
    pump(c_out, s_in, 0);
    assert_int_equal(step(s), 0); /* ServerHello .. Finished */
    pump(s_out, c_in, 0);
    assert_int_equal(step(c), 1); /* Certificate, CertificateVerify, Finished */
    pump(c_out, s_in, 1);         /* all but the last byte of the client's Finished */
    assert_int_equal(step(s), 0);
    assert_non_null(SSL_get0_peer_certificate(s));
    assert_int_equal(SSL_get_verify_result(s), X509_V_OK);
    assert_int_equal(kq_tls_peer_identity(s, &id), KQ_ERR_TLS);
    pump(c_out, s_in, 0);
    assert_int_equal(step(s), 1);
    assert_int_equal(kq_tls_peer_identity(s, &id), KQ_OK);
    assert_int_equal(id.node_id, 2);
    SSL_free(s);
    SSL_free(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_peer_server_requires_client_cert(void **state)
{
    (void)state;
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", NULL);
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_false(k.ok);
    struct kq_tls_identity id;
    assert_int_equal(kq_tls_peer_identity(k.s, &id), KQ_ERR_TLS);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_other_ca_refused(void **state)
{
    (void)state;
    long v = X509_V_OK;
    issue(KQ_PKI_NODE, 2, NULL, "other-ca", "other-node-2", NULL, -60, 3600);
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "node-1", "other-node-2", &v));
    assert_int_not_equal(v, X509_V_OK);
    assert_false(try_pair(KQ_TLS_API_SERVER, "node-1", "other-node-2", &v));
    assert_int_not_equal(v, X509_V_OK);
    /* a client refuses a server certified by another CA */
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "other-node-2", "node-1", &v));
    assert_false(try_pair(KQ_TLS_API_SERVER, "other-node-2", NULL, &v));
    /* while trusting that CA, the same certificate is accepted: the CA is the difference */
    SSL_CTX *sctx = ctx(KQ_TLS_API_SERVER, "other-ca.crt", "other-node-2");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "other-ca.crt", NULL);
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_true(k.ok);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_validity_period(void **state)
{
    (void)state;
    long v = X509_V_OK;
    issue(KQ_PKI_NODE, 2, NULL, "ca", "expired-2", NULL, -7200, -3600);
    issue(KQ_PKI_NODE, 2, NULL, "ca", "future-2", NULL, 3600, 7200);
    issue(KQ_PKI_NODE, 2, NULL, "ca", "current-2", NULL, -3600, 3600);
    assert_true(try_pair(KQ_TLS_PEER_SERVER, "node-1", "current-2", &v));
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "node-1", "expired-2", &v));
    assert_int_equal(v, X509_V_ERR_CERT_HAS_EXPIRED);
    assert_false(try_pair(KQ_TLS_API_SERVER, "node-1", "expired-2", &v));
    assert_int_equal(v, X509_V_ERR_CERT_HAS_EXPIRED);
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "node-1", "future-2", &v));
    assert_int_equal(v, X509_V_ERR_CERT_NOT_YET_VALID);
    /* a client refuses an expired server */
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "expired-2", "node-1", &v));
}

static void test_pinned_key_mismatch(void **state)
{
    (void)state;
    /* node 2's name from the right CA, but another key: the chain is fine, the pin is not */
    issue(KQ_PKI_NODE, 2, NULL, "ca", "impostor-2", NULL, -60, 3600);
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", "impostor-2");
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_true(k.ok);
    struct kq_tls_identity id;
    uint8_t pinned[32], impostor[32];
    read_pk("node-2.crt", pinned);
    read_pk("impostor-2.key", impostor);
    assert_int_equal(kq_tls_peer_identity(k.s, &id), KQ_OK);
    assert_true(id.is_node);
    assert_int_equal(id.node_id, 2);
    assert_int_equal(kq_tls_check_node(&id, 2, pinned), KQ_ERR_PEER_IDENTITY);
    assert_int_equal(kq_tls_check_node(&id, 0, pinned), KQ_ERR_PEER_IDENTITY);
    assert_int_equal(kq_tls_check_node(&id, 2, impostor), KQ_OK);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_client_cert_is_not_node(void **state)
{
    (void)state;
    assert_int_equal(kq_pki_issue_client(g_dir, "bob"), KQ_OK);
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", "bob");
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_true(k.ok);
    struct kq_tls_identity id;
    uint8_t bob[32];
    read_pk("bob.crt", bob);
    assert_int_equal(kq_tls_peer_identity(k.s, &id), KQ_OK);
    assert_string_equal(id.name, "bob");
    assert_false(id.is_node);
    assert_int_equal(id.node_id, 0);
    assert_true(id.has_ed25519);
    assert_memory_equal(id.ed25519_pk, bob, 32);
    assert_int_equal(kq_tls_check_node(&id, 0, bob), KQ_ERR_PEER_IDENTITY);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    /* a client certificate (EKU clientAuth only) cannot serve */
    long v = X509_V_OK;
    assert_false(try_pair(KQ_TLS_API_SERVER, "bob", NULL, &v));
}

static void test_api_server(void **state)
{
    (void)state;
    SSL_CTX *sctx = ctx(KQ_TLS_API_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", NULL);
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_true(k.ok); /* no client certificate: bearer tokens will authenticate */
    struct kq_tls_identity id;
    assert_int_equal(kq_tls_peer_identity(k.s, &id), KQ_ERR_TLS);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    long v = X509_V_OK;
    assert_true(try_pair(KQ_TLS_API_SERVER, "node-1", "admin", &v));
    issue(KQ_PKI_CLIENT, 0, "mallory", "other-ca", "mallory", NULL, -60, 3600);
    assert_false(try_pair(KQ_TLS_API_SERVER, "node-1", "mallory", &v));
    assert_int_not_equal(v, X509_V_OK);
}

static void test_tls12_refused(void **state)
{
    (void)state;
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    assert_non_null(old);
    assert_int_equal(SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_use_certificate_file(old, p("node-2.crt"), SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(old, p("node-2.key"), SSL_FILETYPE_PEM), 1);
    struct conn k;
    handshake(&k, sctx, old);
    assert_false(k.ok);
    conn_free(&k);
    /* and our client refuses a TLS 1.2-only server */
    SSL_CTX *old_srv = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", "node-2");
    assert_non_null(old_srv);
    assert_int_equal(SSL_CTX_set_max_proto_version(old_srv, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_use_certificate_file(old_srv, p("node-1.crt"), SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(old_srv, p("node-1.key"), SSL_FILETYPE_PEM), 1);
    handshake(&k, old_srv, cctx);
    assert_false(k.ok);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(old);
    SSL_CTX_free(old_srv);
    SSL_CTX_free(cctx);
}

/* Purpose and strictness: certificates from the right CA that the CA would never issue. */
static void test_purpose_and_strict(void **state)
{
    (void)state;
    long v = X509_V_OK;
    struct forge server_only = {.cn = {"node-3", NULL}, .eku = "serverAuth"};
    struct forge no_aki = {.cn = {"carol", NULL}, .eku = "clientAuth", .no_aki = true};
    struct forge fine = {.cn = {"dave", NULL}, .eku = "clientAuth"};
    X509_free(forge(&server_only, "server-only"));
    X509_free(forge(&no_aki, "no-aki"));
    X509_free(forge(&fine, "dave"));
    assert_true(try_pair(KQ_TLS_PEER_SERVER, "node-1", "dave", &v)); /* the forge itself works */
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "node-1", "server-only", &v));
    assert_int_equal(v, X509_V_ERR_INVALID_PURPOSE);
    assert_false(try_pair(KQ_TLS_PEER_SERVER, "node-1", "no-aki", &v));
    assert_int_equal(v, X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER);
}

/* A chain through an intermediate CA is longer than the verify depth allows. */
static void test_chain_depth(void **state)
{
    (void)state;
    struct forge inter = {.cn = {"intermediate", NULL}, .eku = NULL, .ca = true};
    struct forge leaf = {.cn = {"erin", NULL}, .eku = "clientAuth", .issuer = "inter"};
    X509 *inter_cert = forge(&inter, "inter");
    X509_free(forge(&leaf, "erin"));
    SSL_CTX *sctx = ctx(KQ_TLS_PEER_SERVER, "ca.crt", "node-1");
    SSL_CTX *cctx = ctx(KQ_TLS_CLIENT, "ca.crt", "erin");
    assert_int_equal(SSL_CTX_add1_chain_cert(cctx, inter_cert), 1);
    struct conn k;
    handshake(&k, sctx, cctx);
    assert_false(k.ok);
    assert_int_equal(SSL_get_verify_result(k.s), X509_V_ERR_CERT_CHAIN_TOO_LONG);
    conn_free(&k);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    X509_free(inter_cert);
}

static enum kq_err identity_of(const struct forge *f, struct kq_tls_identity *id)
{
    X509 *x = forge(f, NULL);
    enum kq_err err = kq_tls_cert_identity(x, id);
    X509_free(x);
    return err;
}

static void test_cert_identity_forms(void **state)
{
    (void)state;
    struct kq_tls_identity id;
    static const uint8_t zero[32];
#define both "serverAuth,clientAuth"
    const char *long_name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *too_long = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct forge ok_node = {.cn = {"node-65535", NULL}, .eku = both};
    assert_int_equal(identity_of(&ok_node, &id), KQ_OK);
    assert_true(id.is_node);
    assert_int_equal(id.node_id, 65535);
    struct forge ok_long = {.cn = {long_name, NULL}, .eku = "clientAuth"};
    assert_int_equal(identity_of(&ok_long, &id), KQ_OK);
    assert_string_equal(id.name, long_name);
    static const struct forge bad[] = {
        {.cn = {"node-3", NULL}, .eku = "clientAuth"}, /* node name without serverAuth */
        {.cn = {"node-3", NULL}, .eku = NULL},         /* node name without any EKU */
        {.cn = {"node-0", NULL}, .eku = both},
        {.cn = {"node-03", NULL}, .eku = both},
        {.cn = {"node-65536", NULL}, .eku = both},
        {.cn = {"node-123456", NULL}, .eku = both},
        {.cn = {"node-", NULL}, .eku = both},
        {.cn = {"node-1x", NULL}, .eku = both},
        {.cn = {"a b", NULL}, .eku = "clientAuth"},
        {.cn = {"bob/..", NULL}, .eku = "clientAuth"},
        {.cn = {"", NULL}, .eku = "clientAuth"},
        {.cn = {NULL, NULL}, .eku = "clientAuth"},   /* no CN */
        {.cn = {"bob", "eve"}, .eku = "clientAuth"}, /* two CNs */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&id, 0xa5, sizeof id);
        assert_int_equal(identity_of(&bad[i], &id), KQ_ERR_PEER_IDENTITY);
        assert_false(id.is_node); /* zeroed */
        assert_int_equal(id.name[0], '\0');
    }
    struct forge long_cn = {.cn = {too_long, NULL}, .eku = "clientAuth"};
    assert_int_equal(identity_of(&long_cn, &id), KQ_ERR_PEER_IDENTITY);
    /* a node certificate with a non-Ed25519 key never passes the pin, even against zeros */
    struct forge ec_node = {.cn = {"node-3", NULL}, .eku = both, .ec_key = true};
    assert_int_equal(identity_of(&ec_node, &id), KQ_OK);
    assert_true(id.is_node);
    assert_false(id.has_ed25519);
    assert_memory_equal(id.ed25519_pk, zero, 32);
    assert_int_equal(kq_tls_check_node(&id, 3, zero), KQ_ERR_PEER_IDENTITY);
    id.has_ed25519 = true; /* the key check alone would pass: has_ed25519 is what refuses */
    assert_int_equal(kq_tls_check_node(&id, 3, zero), KQ_OK);
#undef both
}

static void test_ctx_errors(void **state)
{
    (void)state;
    enum kq_err err = KQ_OK;
    assert_null(kq_tls_ctx_new(KQ_TLS_PEER_SERVER, p("ca.crt"), NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_INVALID_ARG);
    assert_null(kq_tls_ctx_new(KQ_TLS_API_SERVER, p("ca.crt"), NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_INVALID_ARG);
    assert_null(kq_tls_ctx_new(KQ_TLS_CLIENT, p("ca.crt"), p("node-1.crt"), NULL, &err));
    assert_int_equal(err, KQ_ERR_INVALID_ARG);
    assert_null(kq_tls_ctx_new(KQ_TLS_CLIENT, p("missing.crt"), NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_NOT_FOUND);
    assert_null(kq_tls_ctx_new(KQ_TLS_CLIENT, p("nodes.json"), NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_FORMAT);
    assert_null(
        kq_tls_ctx_new(KQ_TLS_PEER_SERVER, p("ca.crt"), p("node-1.crt"), p("node-2.key"), &err));
    assert_int_equal(err, KQ_ERR_TLS);
    assert_null(
        kq_tls_ctx_new(KQ_TLS_PEER_SERVER, p("ca.crt"), p("node-1.key"), p("node-1.key"), &err));
    assert_int_equal(err, KQ_ERR_FORMAT);
    /* a file larger than any PEM object is refused before parsing */
    FILE *f = fopen(p("big.pem"), "w");
    assert_non_null(f);
    for (size_t i = 0; i <= KQ_PKI_MAX_PEM_BYTES; i++)
        fputc('A', f);
    fclose(f);
    assert_null(kq_tls_ctx_new(KQ_TLS_CLIENT, p("big.pem"), NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_LIMIT);
    /* an encrypted key is refused (never a passphrase prompt); so are a directory and a FIFO */
    EVP_PKEY *key = NULL;
    assert_int_equal(kq_pki_load_key(p("node-1.key"), &key), KQ_OK);
    f = fopen(p("encrypted.key"), "w");
    assert_non_null(f);
    assert_int_equal(
        PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), (const unsigned char *)"pw", 2, NULL, NULL),
        1);
    fclose(f);
    EVP_PKEY_free(key);
    assert_int_equal(kq_pki_load_key(p("encrypted.key"), &key), KQ_ERR_FORMAT);
    assert_null(key);
    assert_null(kq_tls_ctx_new(KQ_TLS_CLIENT, g_dir, NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_IO);
    assert_int_equal(mkfifo(p("fifo.crt"), 0600), 0); /* refused, and without blocking */
    assert_null(kq_tls_ctx_new(KQ_TLS_CLIENT, p("fifo.crt"), NULL, NULL, &err));
    assert_int_equal(err, KQ_ERR_IO);
    /* the error text helper: something after a failure, then a clean queue */
    ERR_raise(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED);
    assert_string_not_equal(kq_tls_last_error(), "no TLS error");
    assert_string_equal(kq_tls_last_error(), "no TLS error");
}

static void test_init_refuses_and_modes(void **state)
{
    (void)state;
    struct stat st;
    uint8_t before[32], after[32];
    read_pk("ca.crt", before);
    assert_int_equal(kq_pki_init(g_dir, TEST_NODES), KQ_ERR_INVALID_ARG);
    read_pk("ca.crt", after);
    assert_memory_equal(before, after, 32);
    assert_int_equal(stat(g_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    const char *keys[] = {"ca.key", "node-1.key", "node-2.key", "node-3.key", "admin.key"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        assert_int_equal(stat(p(keys[i]), &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    assert_int_equal(stat(p("ca.crt"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(kq_pki_init(p("sub"), 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_pki_init(p("sub"), KQ_PKI_MAX_INIT_NODES + 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(stat(p("sub"), &st), -1); /* nothing created */
    /* a stray output without ca.key is refused too, and nothing is written */
    assert_int_equal(mkdir(p("sub"), 0700), 0);
    int fd = open(p("sub/node-2.key"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(kq_pki_init(p("sub"), 2), KQ_ERR_INVALID_ARG);
    assert_int_equal(stat(p("sub/ca.key"), &st), -1); /* what the run wrote is removed */
    assert_int_equal(stat(p("sub/node-1.key"), &st), -1);
    assert_int_equal(stat(p("sub/node-2.key"), &st), 0); /* what was there stays */
    assert_int_equal(kq_pki_init(p("sub"), 1), KQ_OK);   /* node-2 is not an output of one node */
    assert_int_equal(stat(p("sub/node-1.key"), &st), 0);
    /* a directory init creates is private */
    assert_int_equal(kq_pki_init(p("fresh"), 1), KQ_OK);
    assert_int_equal(stat(p("fresh"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_nodes_json(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(p("nodes.json"), JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(root);
    json_t *nodes = json_object_get(root, "nodes");
    assert_int_equal(json_array_size(nodes), TEST_NODES);
    for (size_t i = 0; i < TEST_NODES; i++) {
        json_t *n = json_array_get(nodes, i);
        char name[16], file[32], hex[65];
        uint8_t pk[32];
        snprintf(name, sizeof name, "node-%zu", i + 1);
        snprintf(file, sizeof file, "%s.crt", name);
        read_pk(file, pk);
        sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
        assert_int_equal(json_integer_value(json_object_get(n, "id")), i + 1);
        assert_string_equal(json_string_value(json_object_get(n, "name")), name);
        assert_string_equal(json_string_value(json_object_get(n, "identity")), hex);
    }
    json_decref(root);
}

static size_t count_entries(void)
{
    DIR *d = opendir(g_dir);
    size_t n = 0;
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void test_client_names(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a",
        "x.y_z-1",
        "nodes",
        "NODE-1",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    static const char *const bad[] = {
        "",
        "node-1",
        "node-",
        "node-x",
        "a b",
        "a/b",
        "../x",
        "bob$",
        "\xc3\xa9t\xc3\xa9",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "tab\t",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(kq_pki_client_name_ok(good[i]));
        assert_int_equal(kq_pki_issue_client(g_dir, good[i]), KQ_OK);
    }
    size_t entries = count_entries();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(kq_pki_client_name_ok(bad[i]));
        assert_int_equal(kq_pki_issue_client(g_dir, bad[i]), KQ_ERR_INVALID_ARG);
        assert_int_equal(count_entries(), entries); /* nothing written */
    }
    /* existing outputs are never overwritten; a missing CA is NOT_FOUND */
    assert_int_equal(kq_pki_issue_client(g_dir, "a"), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_pki_issue_client(g_dir, "admin"), KQ_ERR_INVALID_ARG);
    assert_int_equal(count_entries(), entries);
    assert_int_equal(kq_pki_issue_client(p("nowhere"), "zed"), KQ_ERR_NOT_FOUND);
}

/* A fresh private key of OpenSSL type `type` ("X25519", "ED448", ...) into dir/base. */
static void write_key(const char *base, const char *type)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, type);
    FILE *f = fopen(p(base), "w");
    assert_non_null(key);
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(key);
}

/* Paths that must stay valid across many p() calls. */
struct paths {
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], other_key[PATH_MAX], node1_crt[PATH_MAX];
    char node1_key[PATH_MAX];
    char node3_key[PATH_MAX], x_crt[PATH_MAX], x_key[PATH_MAX], y_crt[PATH_MAX], y_key[PATH_MAX];
};

static void test_issue_errors(void **state)
{
    (void)state;
    struct stat st;
    static struct paths f;
    snprintf(f.ca_crt, PATH_MAX, "%s", p("ca.crt"));
    snprintf(f.ca_key, PATH_MAX, "%s", p("ca.key"));
    snprintf(f.other_key, PATH_MAX, "%s", p("other-ca.key"));
    snprintf(f.node1_crt, PATH_MAX, "%s", p("node-1.crt"));
    snprintf(f.node1_key, PATH_MAX, "%s", p("node-1.key"));
    snprintf(f.node3_key, PATH_MAX, "%s", p("node-3.key"));
    snprintf(f.x_crt, PATH_MAX, "%s", p("x.crt"));
    snprintf(f.x_key, PATH_MAX, "%s", p("x.key"));
    snprintf(f.y_crt, PATH_MAX, "%s", p("y.crt"));
    struct kq_pki_request req = {KQ_PKI_NODE, 1,       NULL,    f.ca_crt, f.ca_key,
                                 NULL,        f.x_crt, f.x_key, 0,        0};
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_INVALID_ARG); /* empty validity */
    req.not_after_s = 60;
    req.node_id = 0;
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_INVALID_ARG);
    req.node_id = KQ_PKI_MAX_NODE_ID + 1;
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_INVALID_ARG);
    req.node_id = 1;
    req.ca_key = f.other_key; /* not ca.crt's key */
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_TLS);
    req.ca_cert = f.node1_crt; /* not a CA certificate, though with its own key */
    req.ca_key = f.node1_key;
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_INVALID_ARG);
    req.ca_cert = f.ca_crt;
    req.ca_key = f.ca_key;
    req.cert_out = f.node1_crt; /* exists: refused, and the new key is not left behind */
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_INVALID_ARG);
    assert_int_equal(stat(f.x_key, &st), -1);
    req.kind = KQ_PKI_CLIENT;
    req.name = "node-9";
    req.cert_out = f.x_crt;
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_INVALID_ARG);
    assert_int_equal(stat(f.x_crt, &st), -1);
    /* certify an existing key: the certificate carries exactly that key; no key is written */
    uint8_t pk_key[32], pk_cert[32];
    req.kind = KQ_PKI_NODE;
    req.node_id = 3;
    req.key_in = f.node3_key;
    assert_int_equal(kq_pki_issue(&req), KQ_OK);
    read_pk("node-3.key", pk_key);
    read_pk("x.crt", pk_cert);
    assert_memory_equal(pk_key, pk_cert, 32);
    assert_int_equal(stat(f.x_key, &st), -1);
    req.key_in = f.x_crt; /* a certificate is not a key */
    req.cert_out = f.y_crt;
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_FORMAT);
    assert_int_equal(stat(f.y_crt, &st), -1);
    write_key("x25519.key", "X25519");
    snprintf(f.y_key, PATH_MAX, "%s", p("x25519.key"));
    req.key_in = f.y_key; /* only Ed25519 keys are certified */
    assert_int_equal(kq_pki_issue(&req), KQ_ERR_FORMAT);
    assert_int_equal(stat(f.y_crt, &st), -1);
    assert_int_equal(kq_pki_make_ca(f.ca_crt, f.x_key), KQ_ERR_INVALID_ARG);
    assert_int_equal(stat(f.x_key, &st), -1);
}

static void test_seed_interop(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], sodium_pk[32], sk[64], sig[64], zero[32] = {0};
    static const uint8_t msg[] = "keyquorum";
    assert_int_equal(kq_pki_read_seed(p("node-1.key"), seed), KQ_OK);
    read_pk("node-1.crt", pk);
    assert_int_equal(crypto_sign_seed_keypair(sodium_pk, sk, seed), 0);
    assert_memory_equal(pk, sodium_pk, 32);
    /* a libsodium signature verifies under the certificate's key in OpenSSL */
    assert_int_equal(crypto_sign_detached(sig, NULL, msg, sizeof msg, sk), 0);
    X509 *cert = NULL;
    assert_int_equal(kq_pki_load_cert(p("node-1.crt"), &cert), KQ_OK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, NULL, NULL, X509_get0_pubkey(cert)), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sizeof sig, msg, sizeof msg), 1);
    EVP_MD_CTX_free(md);
    X509_free(cert);
    kq_wipe(seed, sizeof seed);
    kq_wipe(sk, sizeof sk);
    /* errors: a certificate has no seed; a missing file; outputs zeroed */
    memset(seed, 0xa5, sizeof seed);
    assert_int_equal(kq_pki_read_seed(p("node-1.crt"), seed), KQ_ERR_FORMAT);
    assert_memory_equal(seed, zero, 32);
    assert_int_equal(kq_pki_read_seed(p("missing.key"), seed), KQ_ERR_NOT_FOUND);
    memset(pk, 0xa5, sizeof pk);
    assert_int_equal(kq_pki_read_public(p("nodes.json"), pk), KQ_ERR_FORMAT);
    assert_memory_equal(pk, zero, 32);
    /* public keys read from a PUBLIC KEY file too, and a non-Ed25519 key is FORMAT */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    FILE *f = fopen(p("ec.key"), "w");
    assert_non_null(ec);
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(ec);
    assert_int_equal(kq_pki_read_public(p("ec.key"), pk), KQ_ERR_FORMAT);
    assert_int_equal(kq_pki_read_seed(p("ec.key"), seed), KQ_ERR_FORMAT);
    /* X25519 keys have 32 raw bytes too, but are not identities */
    write_key("x.key", "X25519");
    assert_int_equal(kq_pki_read_public(p("x.key"), pk), KQ_ERR_FORMAT);
    assert_int_equal(kq_pki_read_seed(p("x.key"), seed), KQ_ERR_FORMAT);
    EVP_PKEY *ed = NULL;
    assert_int_equal(kq_pki_load_key(p("node-1.key"), &ed), KQ_OK);
    f = fopen(p("node-1.pub"), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, ed), 1);
    fclose(f);
    EVP_PKEY_free(ed);
    assert_int_equal(kq_pki_read_public(p("node-1.pub"), sodium_pk), KQ_OK);
    read_pk("node-1.crt", pk);
    assert_memory_equal(pk, sodium_pk, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_mutual),
        cmocka_unit_test(test_identity_needs_finished_handshake),
        cmocka_unit_test(test_peer_server_requires_client_cert),
        cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_validity_period),
        cmocka_unit_test(test_pinned_key_mismatch),
        cmocka_unit_test(test_client_cert_is_not_node),
        cmocka_unit_test(test_api_server),
        cmocka_unit_test(test_tls12_refused),
        cmocka_unit_test(test_purpose_and_strict),
        cmocka_unit_test(test_chain_depth),
        cmocka_unit_test(test_cert_identity_forms),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_init_refuses_and_modes),
        cmocka_unit_test(test_nodes_json),
        cmocka_unit_test(test_client_names),
        cmocka_unit_test(test_issue_errors),
        cmocka_unit_test(test_seed_interop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
