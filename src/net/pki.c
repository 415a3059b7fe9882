/* The cluster PKI (pki.h) on OpenSSL 3: Ed25519 keys, X.509 v3 certificates signed with the CA's
 * Ed25519 key, PEM files. Outputs are created with O_EXCL (never overwritten) and removed again
 * when an operation fails half-way; private key bytes only pass through wiped memory. */
#include "net/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "base/limits.h"
#include "base/mem.h"

#define CA_COMMON_NAME   "keyquorum cluster CA"
#define NODE_NAME_PREFIX "node-"
#define ADMIN_NAME       "admin"
/* Bits of a certificate serial: random, positive, within RFC 5280's 20 octets. */
#define SERIAL_BITS 128
/* Longest "node-<id>" name: the prefix and five digits. */
#define NODE_NAME_BYTES (sizeof NODE_NAME_PREFIX + 5)

KQ_STATIC_ASSERT(NODE_NAME_BYTES <= KQ_PKI_MAX_NAME_BYTES + 1, "node names are names");
KQ_STATIC_ASSERT(KQ_PKI_MAX_NODE_ID <= 99999, "node ids have at most five digits");

/* The certificate profiles of pki.h. */
enum profile { PROFILE_CA, PROFILE_NODE, PROFILE_CLIENT };

/* The CA that signs, held in memory. */
struct issuer {
    X509 *cert;
    EVP_PKEY *key;
};

bool kq_pki_client_name_ok(const char *name)
{
    KQ_ASSERT(name != NULL);
    size_t n = strnlen(name, KQ_PKI_MAX_NAME_BYTES + 1);
    if (n == 0 || n > KQ_PKI_MAX_NAME_BYTES)
        return false;
    if (strncmp(name, NODE_NAME_PREFIX, sizeof NODE_NAME_PREFIX - 1) == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- files ---- */

static enum kq_err errno_err(int e)
{
    return e == ENOENT ? KQ_ERR_NOT_FOUND : KQ_ERR_IO;
}

/* "dir/base" into out[PATH_MAX]; KQ_ERR_INVALID_ARG if it does not fit. */
static enum kq_err join_path(char *out, const char *dir, const char *base, const char *ext)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, base, ext);
    KQ_ENSURE(n > 0 && n < PATH_MAX, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

/* Creates path (which must not exist) with mode and contents data[0..len), synced to disk.
 * KQ_ERR_INVALID_ARG if it exists. On failure no file is left behind. */
static enum kq_err write_new_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return errno == EEXIST ? KQ_ERR_INVALID_ARG : errno_err(errno);
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    bool ok = done == len && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok)
        (void)unlink(path);
    return ok ? KQ_OK : KQ_ERR_IO;
}

/* Reads at most KQ_PKI_MAX_PEM_BYTES of path into a fresh guarded buffer (*out, wiped and freed
 * by the caller with kq_secure_free). KQ_ERR_LIMIT if the file is larger. */
static enum kq_err read_pem_file(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block the open */
    if (fd < 0)
        return errno_err(errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)close(fd);
        return KQ_ERR_IO;
    }
    uint8_t *buf = kq_secure_alloc(KQ_PKI_MAX_PEM_BYTES + 1);
    size_t n = 0;
    enum kq_err err = buf == NULL ? KQ_ERR_NOMEM : KQ_OK;
    while (err == KQ_OK && n <= KQ_PKI_MAX_PEM_BYTES) {
        ssize_t r = read(fd, buf + n, KQ_PKI_MAX_PEM_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            err = KQ_ERR_IO;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    (void)close(fd);
    if (err == KQ_OK && n > KQ_PKI_MAX_PEM_BYTES)
        err = KQ_ERR_LIMIT;
    if (err != KQ_OK) {
        kq_secure_free(buf);
        return err;
    }
    *out = buf;
    *len = n;
    return KQ_OK;
}

/* PEM-encodes cert (or, when cert is NULL, key) through a memory BIO and writes it as a new file;
 * the BIO's bytes are wiped. */
static enum kq_err write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    KQ_ENSURE(bio != NULL, KQ_ERR_NOMEM);
    int ok = cert != NULL ? PEM_write_bio_X509(bio, cert)
                          : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    BUF_MEM *mem = NULL;
    BIO_get_mem_ptr(bio, &mem);
    enum kq_err err = KQ_ERR_TLS;
    if (ok == 1 && mem != NULL)
        err = write_new_file(path, mem->data, mem->length, cert != NULL ? 0644 : 0600);
    if (mem != NULL && mem->data != NULL)
        OPENSSL_cleanse(mem->data, mem->max);
    BIO_free(bio);
    return err;
}

/* ---- loading ---- */

/* Keys are never encrypted: refuse a passphrase rather than let OpenSSL prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Which PEM object load_pem looks for. */
enum pem_kind { PEM_CERT, PEM_PRIVATE_KEY, PEM_PUBLIC_KEY };

static enum kq_err load_pem(const char *path, enum pem_kind kind, X509 **cert, EVP_PKEY **key)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    KQ_GUARD(read_pem_file(path, &buf, &len));
    KQ_ASSERT(len <= KQ_PKI_MAX_PEM_BYTES && KQ_PKI_MAX_PEM_BYTES <= INT_MAX);
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL && kind == PEM_CERT)
        *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    else if (bio != NULL && kind == PEM_PRIVATE_KEY)
        *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    else if (bio != NULL)
        *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    kq_secure_free(buf); /* wipes */
    if (bio == NULL)
        return KQ_ERR_NOMEM;
    ERR_clear_error(); /* a failed parse is reported as FORMAT, not left in the queue */
    bool found = kind == PEM_CERT ? *cert != NULL : *key != NULL;
    return found ? KQ_OK : KQ_ERR_FORMAT;
}

enum kq_err kq_pki_cert_sha256(const char *path, uint8_t out[32])
{
    X509 *x = NULL;
    KQ_GUARD(kq_pki_load_cert(path, &x));
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    X509_free(x);
    KQ_ENSURE(len > 0, KQ_ERR_FORMAT);
    crypto_hash_sha256(out, der, (unsigned long long)len);
    OPENSSL_free(der);
    return KQ_OK;
}

enum kq_err kq_pki_load_cert(const char *path, X509 **out)
{
    KQ_ASSERT(path != NULL && out != NULL);
    *out = NULL;
    return load_pem(path, PEM_CERT, out, NULL);
}

enum kq_err kq_pki_load_key(const char *path, EVP_PKEY **out)
{
    KQ_ASSERT(path != NULL && out != NULL);
    *out = NULL;
    return load_pem(path, PEM_PRIVATE_KEY, NULL, out);
}

static enum kq_err load_ed25519_key(const char *path, EVP_PKEY **out)
{
    KQ_GUARD(kq_pki_load_key(path, out));
    if (EVP_PKEY_is_a(*out, "ED25519"))
        return KQ_OK;
    EVP_PKEY_free(*out);
    *out = NULL;
    return KQ_ERR_FORMAT;
}

static enum kq_err raw_public(const EVP_PKEY *key, uint8_t pk[KQ_PKI_PUBLICKEYBYTES])
{
    size_t len = KQ_PKI_PUBLICKEYBYTES;
    KQ_ENSURE(key != NULL && EVP_PKEY_is_a(key, "ED25519"), KQ_ERR_FORMAT);
    KQ_ENSURE(EVP_PKEY_get_raw_public_key(key, pk, &len) == 1, KQ_ERR_FORMAT);
    KQ_ENSURE(len == KQ_PKI_PUBLICKEYBYTES, KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_pki_read_public(const char *pem_file, uint8_t pk[KQ_PKI_PUBLICKEYBYTES])
{
    KQ_ASSERT(pem_file != NULL && pk != NULL);
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    memset(pk, 0, KQ_PKI_PUBLICKEYBYTES);
    enum kq_err err = load_pem(pem_file, PEM_CERT, &cert, NULL);
    if (err == KQ_ERR_FORMAT)
        err = load_pem(pem_file, PEM_PRIVATE_KEY, NULL, &key);
    if (err == KQ_ERR_FORMAT)
        err = load_pem(pem_file, PEM_PUBLIC_KEY, NULL, &key);
    if (err == KQ_OK)
        err = raw_public(cert != NULL ? X509_get0_pubkey(cert) : key, pk);
    if (err != KQ_OK)
        memset(pk, 0, KQ_PKI_PUBLICKEYBYTES);
    X509_free(cert);
    EVP_PKEY_free(key);
    return err;
}

enum kq_err kq_pki_read_seed(const char *key_file, uint8_t seed[KQ_PKI_SEEDBYTES])
{
    KQ_ASSERT(key_file != NULL && seed != NULL);
    EVP_PKEY *key = NULL;
    size_t len = KQ_PKI_SEEDBYTES;
    kq_wipe(seed, KQ_PKI_SEEDBYTES);
    enum kq_err err = load_ed25519_key(key_file, &key);
    if (err == KQ_OK &&
        (EVP_PKEY_get_raw_private_key(key, seed, &len) != 1 || len != KQ_PKI_SEEDBYTES))
        err = KQ_ERR_FORMAT;
    if (err != KQ_OK)
        kq_wipe(seed, KQ_PKI_SEEDBYTES);
    EVP_PKEY_free(key); /* OpenSSL clears the private key on free */
    return err;
}

/* ---- certificates ---- */

static enum kq_err new_ed25519_key(EVP_PKEY **out)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return *out != NULL ? KQ_OK : KQ_ERR_CRYPTO;
}

static enum kq_err set_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    enum kq_err err = KQ_ERR_TLS;
    /* Top bit set: exactly SERIAL_BITS bits, positive and never zero. */
    if (bn != NULL && BN_rand(bn, SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
        err = KQ_OK;
    BN_free(bn);
    return err;
}

static enum kq_err set_name(X509_NAME *name, const char *cn)
{
    int ok =
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    return ok == 1 ? KQ_OK : KQ_ERR_TLS;
}

/* Version, serial, validity, subject, issuer name and public key. issuer NULL: self-issued. */
static enum kq_err set_fields(X509 *x, const char *cn, EVP_PKEY *subject_key, X509 *issuer,
                              int64_t not_before_s, int64_t not_after_s)
{
    KQ_ENSURE(X509_set_version(x, X509_VERSION_3) == 1, KQ_ERR_TLS);
    KQ_GUARD(set_serial(x));
    KQ_ENSURE(X509_gmtime_adj(X509_getm_notBefore(x), (long)not_before_s) != NULL, KQ_ERR_TLS);
    KQ_ENSURE(X509_gmtime_adj(X509_getm_notAfter(x), (long)not_after_s) != NULL, KQ_ERR_TLS);
    KQ_GUARD(set_name(X509_get_subject_name(x), cn));
    X509_NAME *issuer_name =
        issuer != NULL ? X509_get_subject_name(issuer) : X509_get_subject_name(x);
    KQ_ENSURE(X509_set_issuer_name(x, issuer_name) == 1, KQ_ERR_TLS);
    KQ_ENSURE(X509_set_pubkey(x, subject_key) == 1, KQ_ERR_TLS);
    return KQ_OK;
}

static enum kq_err add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    KQ_ENSURE(ext != NULL, KQ_ERR_TLS);
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? KQ_OK : KQ_ERR_TLS;
}

/* The extensions of each profile (docs/pki.md). */
static enum kq_err add_extensions(X509 *x, X509 *issuer, enum profile p)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    if (p == PROFILE_CA) {
        KQ_GUARD(add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
        KQ_GUARD(add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign"));
        return add_ext(x, &v3, NID_subject_key_identifier, "hash");
    }
    KQ_GUARD(add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE"));
    KQ_GUARD(add_ext(x, &v3, NID_key_usage, "critical,digitalSignature"));
    KQ_GUARD(add_ext(x, &v3, NID_subject_key_identifier, "hash"));
    KQ_GUARD(add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"));
    if (p == PROFILE_CLIENT)
        return add_ext(x, &v3, NID_ext_key_usage, "clientAuth");
    KQ_GUARD(add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth"));
    return add_ext(x, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
}

/* Ed25519 signs the message itself: EVP_DigestSign with no digest. */
static enum kq_err sign_cert(X509 *x, EVP_PKEY *signer)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    enum kq_err err = KQ_ERR_TLS;
    if (md != NULL && EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, signer, NULL) == 1 &&
        X509_sign_ctx(x, md) > 0)
        err = KQ_OK;
    EVP_MD_CTX_free(md);
    return err;
}

/* A certificate for subject_key under profile p, signed by issuer (NULL: self-signed). */
static enum kq_err make_cert(X509 **out, enum profile p, const char *cn, EVP_PKEY *subject_key,
                             const struct issuer *issuer, int64_t not_before_s, int64_t not_after_s)
{
    *out = X509_new();
    KQ_ENSURE(*out != NULL, KQ_ERR_NOMEM);
    X509 *issuer_cert = issuer != NULL ? issuer->cert : NULL;
    EVP_PKEY *signer = issuer != NULL ? issuer->key : subject_key;
    enum kq_err err = set_fields(*out, cn, subject_key, issuer_cert, not_before_s, not_after_s);
    if (err == KQ_OK)
        err = add_extensions(*out, issuer_cert, p);
    if (err == KQ_OK)
        err = sign_cert(*out, signer);
    if (err != KQ_OK) {
        X509_free(*out);
        *out = NULL;
    }
    return err;
}

/* Writes a fresh key and its certificate; on failure neither file is left. */
static enum kq_err write_pair(const char *cert_out, const char *key_out, X509 *cert, EVP_PKEY *key)
{
    if (key_out != NULL)
        KQ_GUARD(write_pem(key_out, NULL, key));
    enum kq_err err = write_pem(cert_out, cert, NULL);
    if (err != KQ_OK && key_out != NULL)
        (void)unlink(key_out);
    return err;
}

/* What one issuance certifies. key_in NULL: a fresh key is generated and written to key_out. */
struct leaf {
    enum profile profile;
    const char *cn;
    EVP_PKEY *key_in;
    const char *cert_out, *key_out;
    int64_t not_before_s, not_after_s;
};

/* Issues one leaf; *pk (if not NULL) receives its public key. */
static enum kq_err issue_leaf(const struct issuer *ca, const struct leaf *l, uint8_t *pk)
{
    EVP_PKEY *key = l->key_in;
    X509 *cert = NULL;
    enum kq_err err = KQ_OK;
    if (key == NULL)
        KQ_TRY(new_ed25519_key(&key));
    if (pk != NULL)
        KQ_TRY(raw_public(key, pk));
    KQ_TRY(make_cert(&cert, l->profile, l->cn, key, ca, l->not_before_s, l->not_after_s));
    err = write_pair(l->cert_out, l->key_in == NULL ? l->key_out : NULL, cert, key);
out:
    X509_free(cert);
    if (key != l->key_in)
        EVP_PKEY_free(key);
    return err;
}

static void free_issuer(struct issuer *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
}

static enum kq_err load_issuer(struct issuer *ca, const char *cert_file, const char *key_file)
{
    ca->cert = NULL;
    ca->key = NULL;
    enum kq_err err = kq_pki_load_cert(cert_file, &ca->cert);
    if (err == KQ_OK)
        err = load_ed25519_key(key_file, &ca->key);
    if (err == KQ_OK && X509_check_ca(ca->cert) == 0)
        err = KQ_ERR_INVALID_ARG; /* its certificates would never verify */
    if (err == KQ_OK && X509_check_private_key(ca->cert, ca->key) != 1)
        err = KQ_ERR_TLS;
    if (err != KQ_OK)
        free_issuer(ca);
    ERR_clear_error();
    return err;
}

static void node_name(char out[NODE_NAME_BYTES], uint32_t id)
{
    KQ_ASSERT(id >= 1 && id <= KQ_PKI_MAX_NODE_ID);
    int n = snprintf(out, NODE_NAME_BYTES, NODE_NAME_PREFIX "%u", (unsigned)id);
    KQ_ASSERT(n > 0 && (size_t)n < NODE_NAME_BYTES);
}

enum kq_err kq_pki_issue(const struct kq_pki_request *req)
{
    KQ_ASSERT(req != NULL && req->ca_cert != NULL && req->ca_key != NULL);
    KQ_ASSERT(req->cert_out != NULL && (req->key_in != NULL || req->key_out != NULL));
    char cn[KQ_PKI_MAX_NAME_BYTES + 1];
    bool node = req->kind == KQ_PKI_NODE;
    KQ_ENSURE(req->not_before_s < req->not_after_s, KQ_ERR_INVALID_ARG);
    if (node) {
        KQ_ENSURE(req->node_id >= 1 && req->node_id <= KQ_PKI_MAX_NODE_ID, KQ_ERR_INVALID_ARG);
        node_name(cn, req->node_id);
    } else {
        KQ_ENSURE(req->name != NULL && kq_pki_client_name_ok(req->name), KQ_ERR_INVALID_ARG);
        memcpy(cn, req->name, strlen(req->name) + 1);
    }
    struct issuer ca;
    struct leaf l = {node ? PROFILE_NODE : PROFILE_CLIENT,
                     cn,
                     NULL,
                     req->cert_out,
                     req->key_out,
                     req->not_before_s,
                     req->not_after_s};
    enum kq_err err = load_issuer(&ca, req->ca_cert, req->ca_key);
    if (err == KQ_OK && req->key_in != NULL)
        err = load_ed25519_key(req->key_in, &l.key_in);
    if (err == KQ_OK)
        err = issue_leaf(&ca, &l, NULL);
    EVP_PKEY_free(l.key_in);
    free_issuer(&ca);
    return err;
}

enum kq_err kq_pki_issue_client(const char *dir, const char *name)
{
    KQ_ASSERT(dir != NULL && name != NULL);
    KQ_ENSURE(kq_pki_client_name_ok(name), KQ_ERR_INVALID_ARG);
    char ca_cert[PATH_MAX], ca_key[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
    KQ_GUARD(join_path(ca_cert, dir, "ca", ".crt"));
    KQ_GUARD(join_path(ca_key, dir, "ca", ".key"));
    KQ_GUARD(join_path(cert, dir, name, ".crt"));
    KQ_GUARD(join_path(key, dir, name, ".key"));
    struct kq_pki_request req = {
        .kind = KQ_PKI_CLIENT,
        .name = name,
        .ca_cert = ca_cert,
        .ca_key = ca_key,
        .cert_out = cert,
        .key_out = key,
        .not_before_s = -KQ_PKI_BACKDATE_S,
        .not_after_s = KQ_PKI_LEAF_VALIDITY_S,
    };
    return kq_pki_issue(&req);
}

/* A fresh CA in memory (ca->cert, ca->key). */
static enum kq_err new_ca(struct issuer *ca)
{
    ca->cert = NULL;
    KQ_GUARD(new_ed25519_key(&ca->key));
    enum kq_err err = make_cert(&ca->cert, PROFILE_CA, CA_COMMON_NAME, ca->key, NULL,
                                -KQ_PKI_BACKDATE_S, KQ_PKI_CA_VALIDITY_S);
    if (err != KQ_OK)
        free_issuer(ca);
    return err;
}

enum kq_err kq_pki_make_ca(const char *cert_out, const char *key_out)
{
    KQ_ASSERT(cert_out != NULL && key_out != NULL);
    struct issuer ca;
    KQ_GUARD(new_ca(&ca));
    enum kq_err err = write_pair(cert_out, key_out, ca.cert, ca.key);
    free_issuer(&ca);
    return err;
}

/* ---- kq_pki_init ---- */

/* The files kq_pki_init writes: these five, then node-<i>.crt and .key for each node. ca.key is
 * written first, so its O_EXCL creation serialises concurrent runs on one directory. */
enum { OUT_CA_KEY, OUT_CA_CERT, OUT_ADMIN_CERT, OUT_ADMIN_KEY, OUT_NODES_JSON, OUT_FIXED };
#define OUT_MAX (OUT_FIXED + 2 * KQ_PKI_MAX_INIT_NODES)

/* One run: which outputs it has created, so that a failure removes exactly those. */
struct init_run {
    const char *dir;
    unsigned nodes;
    bool created[OUT_MAX];
};

static size_t node_cert_index(unsigned id)
{
    KQ_ASSERT(id >= 1 && id <= KQ_PKI_MAX_INIT_NODES);
    return OUT_FIXED + 2 * (size_t)(id - 1); /* the key follows */
}

static enum kq_err output_path(char *out, const char *dir, size_t i)
{
    static const char *const fixed[OUT_FIXED][2] = {
        {"ca", ".key"},       {"ca", ".crt"},     {ADMIN_NAME, ".crt"},
        {ADMIN_NAME, ".key"}, {"nodes", ".json"},
    };
    KQ_ASSERT(i < OUT_MAX);
    if (i < OUT_FIXED)
        return join_path(out, dir, fixed[i][0], fixed[i][1]);
    char name[NODE_NAME_BYTES];
    node_name(name, (uint32_t)((i - OUT_FIXED) / 2 + 1));
    return join_path(out, dir, name, (i - OUT_FIXED) % 2 == 0 ? ".crt" : ".key");
}

static void remove_created(const struct init_run *run)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < OUT_MAX; i++)
        if (run->created[i] && output_path(path, run->dir, i) == KQ_OK)
            (void)unlink(path);
}

/* nodes.json from the identities of nodes 1..n. */
static enum kq_err write_nodes_json(const char *path, unsigned n,
                                    const uint8_t (*pks)[KQ_PKI_PUBLICKEYBYTES])
{
    json_t *arr = json_array();
    json_t *root = json_pack("{s:o}", "nodes", arr);
    KQ_ENSURE(root != NULL, KQ_ERR_NOMEM);
    bool ok = true;
    for (unsigned i = 0; i < n && ok; i++) {
        char name[NODE_NAME_BYTES], hex[2 * KQ_PKI_PUBLICKEYBYTES + 1];
        node_name(name, i + 1);
        sodium_bin2hex(hex, sizeof hex, pks[i], KQ_PKI_PUBLICKEYBYTES);
        ok = json_array_append_new(arr, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)(i + 1),
                                                  "name", name, "identity", hex)) == 0;
    }
    char *text = ok ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    KQ_ENSURE(text != NULL, KQ_ERR_NOMEM);
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the terminator: the file ends with a newline */
    enum kq_err err = write_new_file(path, text, len + 1, 0644);
    free(text);
    return err;
}

/* Issues the leaf whose certificate is output cert_index (its key is the next output). */
static enum kq_err init_leaf(const struct issuer *ca, struct init_run *run, enum profile p,
                             const char *cn, size_t cert_index, uint8_t *pk)
{
    char cert[PATH_MAX], key[PATH_MAX];
    KQ_GUARD(output_path(cert, run->dir, cert_index));
    KQ_GUARD(output_path(key, run->dir, cert_index + 1));
    struct leaf l = {p, cn, NULL, cert, key, -KQ_PKI_BACKDATE_S, KQ_PKI_LEAF_VALIDITY_S};
    KQ_GUARD(issue_leaf(ca, &l, pk));
    run->created[cert_index] = true;
    run->created[cert_index + 1] = true;
    return KQ_OK;
}

/* Every output but ca.key, which the caller has already written. */
static enum kq_err init_rest(const struct issuer *ca, struct init_run *run)
{
    char path[PATH_MAX], name[NODE_NAME_BYTES];
    uint8_t pks[KQ_PKI_MAX_INIT_NODES][KQ_PKI_PUBLICKEYBYTES];
    KQ_GUARD(output_path(path, run->dir, OUT_CA_CERT));
    KQ_GUARD(write_pem(path, ca->cert, NULL));
    run->created[OUT_CA_CERT] = true;
    for (unsigned i = 1; i <= run->nodes; i++) {
        node_name(name, i);
        KQ_GUARD(init_leaf(ca, run, PROFILE_NODE, name, node_cert_index(i), pks[i - 1]));
    }
    KQ_GUARD(init_leaf(ca, run, PROFILE_CLIENT, ADMIN_NAME, OUT_ADMIN_CERT, NULL));
    KQ_GUARD(output_path(path, run->dir, OUT_NODES_JSON));
    KQ_GUARD(write_nodes_json(path, run->nodes, (const uint8_t(*)[KQ_PKI_PUBLICKEYBYTES])pks));
    run->created[OUT_NODES_JSON] = true;
    return KQ_OK;
}

static enum kq_err sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    KQ_ENSURE(fd >= 0, KQ_ERR_IO);
    bool ok = fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    return ok ? KQ_OK : KQ_ERR_IO;
}

enum kq_err kq_pki_init(const char *dir, unsigned nodes)
{
    KQ_ASSERT(dir != NULL);
    KQ_ENSURE(nodes >= 1 && nodes <= KQ_PKI_MAX_INIT_NODES, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(dir[0] != '\0', KQ_ERR_INVALID_ARG);
    struct init_run run = {.dir = dir, .nodes = nodes};
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return errno_err(errno);
    struct issuer ca;
    KQ_GUARD(new_ca(&ca));
    char path[PATH_MAX];
    enum kq_err err = output_path(path, dir, OUT_CA_KEY);
    if (err == KQ_OK)
        err = write_pem(path, NULL, ca.key); /* INVALID_ARG if it exists */
    if (err == KQ_OK) {
        run.created[OUT_CA_KEY] = true;
        err = init_rest(&ca, &run);
    }
    if (err == KQ_OK)
        err = sync_dir(dir);
    if (err != KQ_OK)
        remove_created(&run);
    free_issuer(&ca);
    return err;
}
