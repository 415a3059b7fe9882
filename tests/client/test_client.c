/* libkeyquorum offline: what the public API (include/keyquorum.h only) refuses before or without
 * a cluster. Configuration errors are KQ_ERR_CONFIG / KQ_ERR_INVALID_ARG, never a network error;
 * an unreadable trust root stays refused on every call; an unreachable node is KQ_ERR_NET with a
 * message; nothing verified is ever reported without a trust root. */
#include <stdbool.h>
#include <unistd.h>

#include "../test_util.h"
#include "keyquorum.h"

/* the project's error codes as the header documents them (values of enum kq_err) */
#include "base/err.h"

static char g_dir[] = "/tmp/kq_test_client_XXXXXX";

static const char *tmp_file(const char *name, const char *content)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return p;
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* a client for an address where nothing listens (port 1), with the given genesis file */
static kq_client *offline_client(const char *genesis)
{
    struct kq_client_config cfg = {.url = "https://127.0.0.1:1",
                                   .ca_file = tmp_file("ca.pem", "not a certificate\n"),
                                   .token = "t",
                                   .genesis_file = genesis};
    kq_client *c = NULL;
    assert_int_equal(kq_client_open(&c, &cfg), KQ_OK);
    assert_non_null(c);
    return c;
}

static void test_open_requires_url_and_ca(void **state)
{
    (void)state;
    kq_client *c = (kq_client *)1;
    assert_int_equal(kq_client_open(&c, NULL), KQ_ERR_INVALID_ARG);
    assert_null(c);
    struct kq_client_config no_url = {.ca_file = "ca.pem"};
    c = (kq_client *)1;
    assert_int_equal(kq_client_open(&c, &no_url), KQ_ERR_INVALID_ARG);
    assert_null(c);
    struct kq_client_config no_ca = {.url = "https://127.0.0.1:1"};
    c = (kq_client *)1;
    assert_int_equal(kq_client_open(&c, &no_ca), KQ_ERR_INVALID_ARG);
    assert_null(c);
    /* the no-handle forms are safe */
    assert_string_equal(kq_client_error(NULL), "no client");
    kq_client_close(NULL);
    kq_free(NULL);
}

static int open_x25519(const char *content)
{
    struct kq_client_config cfg = {.url = "https://127.0.0.1:1",
                                   .ca_file = "ca.pem",
                                   .token = "t",
                                   .x25519_key_file = content != NULL ? tmp_file("x.key", content)
                                                                      : "/nonexistent/kq/x.key"};
    kq_client *c = NULL;
    int rc = kq_client_open(&c, &cfg);
    assert_true(rc == KQ_OK ? c != NULL : c == NULL);
    kq_client_close(c);
    return rc;
}

static void test_x25519_key_file(void **state)
{
    (void)state;
    const char *good = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(open_x25519(good), KQ_OK);
    char with_nl[80];
    snprintf(with_nl, sizeof with_nl, "%s\n", good);
    assert_int_equal(open_x25519(with_nl), KQ_OK);
    assert_int_equal(open_x25519(NULL), KQ_ERR_CONFIG);               /* missing file */
    assert_int_equal(open_x25519(""), KQ_ERR_CONFIG);                 /* empty */
    assert_int_equal(open_x25519("0123456789abcdef"), KQ_ERR_CONFIG); /* short */
    /* 64 characters, not hex */
    assert_int_equal(
        open_x25519("zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        KQ_ERR_CONFIG);
    /* too long */
    char longer[80];
    snprintf(longer, sizeof longer, "%s00", good);
    assert_int_equal(open_x25519(longer), KQ_ERR_CONFIG);
}

static void test_open_env_missing_file(void **state)
{
    (void)state;
    kq_client *c = (kq_client *)1;
    assert_int_equal(kq_client_open_env(&c, "/nonexistent/kq/dev.env"), KQ_ERR_CONFIG);
    assert_null(c);
}

/* Without a genesis nothing verified is returned, and no request is needed to say so. */
static void test_verified_reads_need_a_trust_root(void **state)
{
    (void)state;
    kq_client *c = offline_client(NULL);
    uint8_t pk[KQ_PUBLIC_KEY_BYTES], dek[KQ_DEK_BYTES], sig[KQ_SIGNATURE_BYTES] = {0};
    uint32_t v = 7;
    char *ct = NULL;
    assert_int_equal(kq_key_public(c, "k1", 0, pk, &v), KQ_ERR_CONFIG);
    assert_non_null(strstr(kq_client_error(c), "genesis"));
    assert_int_equal(v, 7);
    assert_int_equal(kq_datakey_local(c, "k1", NULL, 0, dek, &ct), KQ_ERR_CONFIG);
    assert_null(ct);
    assert_int_equal(kq_encrypt_local(c, "k1", NULL, 0, (const uint8_t *)"x", 1, &ct),
                     KQ_ERR_CONFIG);
    assert_null(ct);
    /* a signature is never reported valid when the key cannot be verified */
    assert_int_not_equal(kq_verify(c, "k1", 0, (const uint8_t *)"m", 1, sig), KQ_OK);
    kq_client_close(c);
}

static void test_bad_key_name_refused_before_any_request(void **state)
{
    (void)state;
    kq_client *c = offline_client(NULL);
    uint8_t pk[KQ_PUBLIC_KEY_BYTES];
    assert_int_equal(kq_key_public(c, "bad name/../x", 0, pk, NULL), KQ_ERR_INVALID_ARG);
    assert_non_null(strstr(kq_client_error(c), "key name"));
    assert_int_equal(kq_key_public(c, "", 0, pk, NULL), KQ_ERR_INVALID_ARG);
    kq_client_close(c);
}

/* An unreadable or invalid genesis is a configuration error, on every call (nothing
 * half-loaded is later taken for a trust root). */
static void test_bad_genesis_stays_refused(void **state)
{
    (void)state;
    const char *files[] = {"/nonexistent/kq/genesis.bin", tmp_file("genesis.bin", "garbage")};
    for (size_t i = 0; i < 2; i++) {
        kq_client *c = offline_client(files[i]);
        uint8_t pk[KQ_PUBLIC_KEY_BYTES];
        for (int round = 0; round < 2; round++) {
            assert_int_equal(kq_key_public(c, "k1", 0, pk, NULL), KQ_ERR_CONFIG);
            assert_non_null(strstr(kq_client_error(c), "genesis"));
        }
        kq_client_close(c);
    }
}

/* Nothing listens: a network error with a message, and no result. */
static void test_unreachable_node(void **state)
{
    (void)state;
    kq_client *c = offline_client(NULL);
    char *json = NULL;
    assert_int_equal(kq_key_show(c, "k1", &json), KQ_ERR_NET);
    assert_null(json);
    assert_true(strlen(kq_client_error(c)) > 0);
    assert_int_equal(kq_key_list(c, &json), KQ_ERR_NET);
    assert_null(json);
    uint8_t dek[KQ_DEK_BYTES];
    char *ct = NULL;
    assert_int_equal(kq_datakey(c, "k1", NULL, 0, dek, &ct), KQ_ERR_NET);
    assert_null(ct);
    uint8_t *pt = NULL;
    size_t len = 0;
    assert_int_not_equal(kq_decrypt(c, "k1", NULL, 0, "kq:v1:AAAA", &pt, &len), KQ_OK);
    assert_null(pt);
    kq_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_requires_url_and_ca),
        cmocka_unit_test(test_x25519_key_file),
        cmocka_unit_test(test_open_env_missing_file),
        cmocka_unit_test(test_verified_reads_need_a_trust_root),
        cmocka_unit_test(test_bad_key_name_refused_before_any_request),
        cmocka_unit_test(test_bad_genesis_stays_refused),
        cmocka_unit_test(test_unreachable_node),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
