/* `keyquorum frost`: dealer-sign (trusted-dealer keys, T of N signers run both FROST rounds, every
 * share verified, aggregate verified) and verify (plain Schnorr check of R || z). All values are
 * hex on the command line and stdout; errors go to stderr and never carry key material. Exit
 * codes per cli.h: 0 success / valid, 1 invalid signature or failed run, 2 usage or input error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "crypto/frost.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_USAGE = 2 };

/* Largest hex argument: the longest message we sign. */
#define FROST_CLI_MAX_HEX_CHARS (2 * (size_t)KQ_MAX_SIGN_MESSAGE_BYTES)

static void usage(void)
{
    fprintf(stderr,
            "usage: keyquorum frost dealer-sign -t T -n N --msg HEX\n"
            "       keyquorum frost verify --pubkey HEX --sig HEX --msg HEX\n"
            "  dealer-sign prints 'pubkey HEX' and 'sig HEX'; 1 <= T <= N <= %d, the\n"
            "  message at most %d bytes. verify exits 0 if the signature is valid, 1 if\n"
            "  not, 2 on a usage error.\n",
            KQ_MAX_PARTICIPANTS, KQ_MAX_SIGN_MESSAGE_BYTES);
}

/* Decodes hex (exactly, no separators) into out[0..max); *len receives the byte count. */
static int parse_hex(const char *name, const char *hex, uint8_t *out, size_t max, size_t *len)
{
    size_t n = strlen(hex);
    const char *end = NULL;
    if (n > FROST_CLI_MAX_HEX_CHARS || n % 2 != 0 || n / 2 > max) {
        fprintf(stderr, "keyquorum frost: %s: bad hex length\n", name);
        return -1;
    }
    if (sodium_hex2bin(out, max, hex, n, NULL, len, &end) != 0 || end != hex + n) {
        fprintf(stderr, "keyquorum frost: %s: not hex\n", name);
        return -1;
    }
    return 0;
}

/* Decodes hex that must be exactly n bytes. */
static int parse_hex_exact(const char *name, const char *hex, uint8_t *out, size_t n)
{
    size_t len = 0;
    if (parse_hex(name, hex, out, n, &len) != 0)
        return -1;
    if (len != n) {
        fprintf(stderr, "keyquorum frost: %s: expected %zu bytes\n", name, n);
        return -1;
    }
    return 0;
}

static int parse_count(const char *name, const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 || v > KQ_MAX_PARTICIPANTS) {
        fprintf(stderr, "keyquorum frost: %s must be in 1..%d\n", name, KQ_MAX_PARTICIPANTS);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* Options given as `--name value` pairs: each name at most once, none unknown. */
struct opts {
    const char *names[3];
    const char *values[3];
    size_t count;
};

static int parse_opts(struct opts *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i += 2) {
        size_t k = 0;
        while (k < o->count && strcmp(argv[i], o->names[k]) != 0)
            k++;
        if (k == o->count || i + 1 >= argc || o->values[k] != NULL) {
            fprintf(stderr, "keyquorum frost: unexpected, repeated or valueless option '%s'\n",
                    argv[i]);
            return -1;
        }
        o->values[k] = argv[i + 1];
    }
    for (size_t k = 0; k < o->count; k++) {
        if (o->values[k] == NULL) {
            fprintf(stderr, "keyquorum frost: missing option %s\n", o->names[k]);
            return -1;
        }
    }
    return 0;
}

static void print_hex(const char *label, const uint8_t *b, size_t n)
{
    char hex[2 * KQ_FROST_SIGBYTES + 1];
    KQ_ASSERT(n <= KQ_FROST_SIGBYTES);
    sodium_bin2hex(hex, sizeof hex, b, n);
    printf("%s %s\n", label, hex);
}

static int cmd_verify(int argc, char **argv)
{
    struct opts o = {{"--pubkey", "--sig", "--msg"}, {NULL, NULL, NULL}, 3};
    uint8_t pk[KQ_POINTBYTES], sig[KQ_FROST_SIGBYTES];
    uint8_t *msg = malloc(KQ_MAX_SIGN_MESSAGE_BYTES);
    size_t msg_len = 0;
    int rc = EXIT_USAGE;
    if (msg == NULL) {
        fprintf(stderr, "keyquorum frost verify: out of memory\n");
        return EXIT_USAGE;
    }
    if (parse_opts(&o, argc, argv) != 0 ||
        parse_hex_exact("--pubkey", o.values[0], pk, sizeof pk) ||
        parse_hex_exact("--sig", o.values[1], sig, sizeof sig) ||
        parse_hex("--msg", o.values[2], msg, KQ_MAX_SIGN_MESSAGE_BYTES, &msg_len)) {
        usage();
        goto out;
    }
    enum kq_err err = kq_frost_verify(sig, pk, msg, msg_len);
    if (err == KQ_OK) {
        rc = EXIT_VALID;
    } else {
        fprintf(stderr, "keyquorum frost verify: %s: %s\n",
                err == KQ_ERR_BAD_POINT ? "invalid public key" : "invalid signature",
                kq_strerror(err));
        rc = EXIT_INVALID;
    }
out:
    free(msg);
    return rc;
}

/* The signer set: t identifiers out of 1..n chosen uniformly (partial Fisher-Yates), sorted. */
static void choose_signers(uint32_t *ids, size_t t, size_t n)
{
    uint32_t perm[KQ_MAX_PARTICIPANTS];
    uint8_t chosen[KQ_MAX_PARTICIPANTS + 1] = {0};
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)(i + 1);
    for (size_t i = 0; i < t; i++) {
        size_t j = i + randombytes_uniform((uint32_t)(n - i));
        uint32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
        chosen[perm[i]] = 1;
    }
    size_t k = 0;
    for (uint32_t id = 1; id <= n; id++)
        if (chosen[id])
            ids[k++] = id;
    KQ_ASSERT(k == t);
}

/* Everything one dealer-sign run holds; secrets (key packages, nonces) in guarded memory. */
struct session {
    struct kq_frost_key_package pkgs[KQ_MAX_PARTICIPANTS];
    struct kq_frost_nonces nonces[KQ_MAX_PARTICIPANTS];
    struct kq_frost_public_package pub;
    struct kq_frost_commitment list[KQ_MAX_PARTICIPANTS];
    uint8_t shares[KQ_MAX_PARTICIPANTS][KQ_FROST_SHAREBYTES];
    uint32_t ids[KQ_MAX_PARTICIPANTS];
    uint8_t sig[KQ_FROST_SIGBYTES];
};

/* Both rounds for the chosen signers, each share verified, then aggregate (which verifies). */
static enum kq_err run_signing(struct session *s, size_t t, const uint8_t *msg, size_t msg_len)
{
    uint32_t culprit = 0;
    for (size_t k = 0; k < t; k++)
        KQ_GUARD(kq_frost_commit(&s->nonces[k], &s->list[k], &s->pkgs[s->ids[k] - 1]));
    for (size_t k = 0; k < t; k++)
        KQ_GUARD(kq_frost_sign(s->shares[k], &s->nonces[k], &s->pkgs[s->ids[k] - 1], s->list, t,
                               msg, msg_len));
    enum kq_err err = kq_frost_verify_shares(&s->pub, s->list, t,
                                             (const uint8_t(*)[KQ_FROST_SHAREBYTES])s->shares, msg,
                                             msg_len, &culprit);
    if (err != KQ_OK) {
        if (culprit != 0)
            fprintf(stderr, "keyquorum frost: signer %u sent an invalid share\n", culprit);
        return err;
    }
    KQ_GUARD(kq_frost_aggregate(s->sig, &s->pub, s->list, t,
                                (const uint8_t(*)[KQ_FROST_SHAREBYTES])s->shares, msg, msg_len,
                                &culprit));
    return kq_frost_verify(s->sig, s->pub.group_public_key, msg, msg_len);
}

static int cmd_dealer_sign(int argc, char **argv)
{
    struct opts o = {{"-t", "-n", "--msg"}, {NULL, NULL, NULL}, 3};
    struct session *s = kq_secure_alloc(sizeof *s);
    uint8_t *msg = malloc(KQ_MAX_SIGN_MESSAGE_BYTES);
    size_t t = 0, n = 0, msg_len = 0;
    int rc = EXIT_USAGE;
    if (s == NULL || msg == NULL) {
        fprintf(stderr, "keyquorum frost dealer-sign: out of memory\n");
        goto out;
    }
    if (parse_opts(&o, argc, argv) != 0 || parse_count("-t", o.values[0], &t) ||
        parse_count("-n", o.values[1], &n) ||
        parse_hex("--msg", o.values[2], msg, KQ_MAX_SIGN_MESSAGE_BYTES, &msg_len)) {
        usage();
        goto out;
    }
    if (t > n) {
        fprintf(stderr, "keyquorum frost dealer-sign: need T <= N\n");
        goto out;
    }
    enum kq_err err = kq_frost_keygen_dealer(s->pkgs, &s->pub, t, n);
    choose_signers(s->ids, t, n);
    if (err == KQ_OK)
        err = run_signing(s, t, msg, msg_len);
    if (err != KQ_OK) {
        fprintf(stderr, "keyquorum frost dealer-sign: %s\n", kq_strerror(err));
        rc = EXIT_INVALID;
        goto out;
    }
    print_hex("pubkey", s->pub.group_public_key, KQ_POINTBYTES);
    print_hex("sig", s->sig, KQ_FROST_SIGBYTES);
    rc = fflush(stdout) == 0 ? EXIT_VALID : EXIT_INVALID;
out:
    kq_secure_free(s); /* wipes key packages and nonces */
    free(msg);
    return rc;
}

int kq_cli_frost(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "dealer-sign") == 0)
        return cmd_dealer_sign(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0)) {
        usage();
        return EXIT_VALID;
    }
    usage();
    return EXIT_USAGE;
}
