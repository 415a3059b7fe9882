/* Tests for src/ledger/hash and src/ledger/smt: the tagged hash against raw SHA-256, tree roots
 * against a naive reference written here from the definition (docs/ledger-state.md), proofs of
 * inclusion and absence with every byte tampered, persistence of old versions, deletion, limits,
 * 10^5 random updates against a plain array, iteration in path order with paging, and the
 * differences between versions against a naive merge. */
#include "../test_util.h"

#include "base/buf.h"
#include "base/limits.h"
#include "base/mem.h"
#include "ledger/hash.h"
#include "ledger/smt.h"

/* --- Reference: raw SHA-256 with the tags spelled out, over a sorted-free set of leaves. */

static void ref_tagged(uint8_t out[32], const char *tag, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen)
{
    crypto_hash_sha256_state st;
    uint8_t n = (uint8_t)strlen(tag);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &n, 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, n);
    crypto_hash_sha256_update(&st, a, alen);
    crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
}

struct ref_leaf {
    uint8_t path[32];
    uint8_t leaf[32];
};

static void ref_leaf_make(struct ref_leaf *l, const uint8_t *key, size_t key_len,
                          const uint8_t *value, size_t value_len)
{
    uint8_t vh[32];
    ref_tagged(l->path, "kq-ledger-v1/smt-key", key, key_len, NULL, 0);
    ref_tagged(vh, "kq-ledger-v1/smt-value", value, value_len, NULL, 0);
    ref_tagged(l->leaf, "kq-ledger-v1/smt-leaf", l->path, 32, vh, 32);
}

static int ref_bit(const uint8_t *path, unsigned d)
{
    return (path[d / 8] >> (7 - d % 8)) & 1;
}

/* The root of the subtree at depth d holding leaves[0..n) (all share their first d bits): zero
 * if empty, the leaf if one, else H(node, left || right). Follows all 256 levels. */
static void ref_root(const struct ref_leaf *leaves, size_t n, unsigned d, uint8_t out[32])
{
    if (n == 0) {
        memset(out, 0, 32);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0].leaf, 32);
        return;
    }
    assert_true(d < 256);
    struct ref_leaf *side[2];
    size_t cnt[2] = {0, 0};
    side[0] = calloc(n, sizeof **side);
    side[1] = calloc(n, sizeof **side);
    assert_non_null(side[0]);
    assert_non_null(side[1]);
    for (size_t i = 0; i < n; i++) {
        int b = ref_bit(leaves[i].path, d);
        side[b][cnt[b]++] = leaves[i];
    }
    uint8_t l[32], r[32];
    ref_root(side[0], cnt[0], d + 1, l);
    ref_root(side[1], cnt[1], d + 1, r);
    ref_tagged(out, "kq-ledger-v1/smt-node", l, 32, r, 32);
    free(side[0]);
    free(side[1]);
}

/* --- Helpers */

static struct kq_smt *set_str(struct kq_smt *t, const char *k, const char *v)
{
    struct kq_smt *next = NULL;
    assert_int_equal(
        kq_smt_set(t, (const uint8_t *)k, strlen(k), (const uint8_t *)v, v ? strlen(v) : 0, &next),
        KQ_OK);
    assert_non_null(next);
    kq_smt_unref(t);
    return next;
}

static void root_of(const struct kq_smt *t, uint8_t out[32])
{
    kq_hash h;
    kq_smt_root(t, &h);
    memcpy(out, h.b, 32);
}

static void check_value(const struct kq_smt *t, const char *k, const char *v)
{
    const uint8_t *p;
    size_t n;
    enum kq_err e = kq_smt_get(t, (const uint8_t *)k, strlen(k), &p, &n);
    if (v == NULL) {
        assert_int_equal(e, KQ_ERR_NOT_FOUND);
        assert_null(p);
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(e, KQ_OK);
    assert_int_equal(n, strlen(v));
    assert_memory_equal(p, v, n);
}

/* Proof of k in t; returns its length in buf. */
static size_t prove(const struct kq_smt *t, const char *k, uint8_t *buf, size_t cap)
{
    struct kq_buf w;
    kq_buf_writer(&w, buf, cap);
    assert_int_equal(kq_smt_prove(t, (const uint8_t *)k, strlen(k), &w), KQ_OK);
    return kq_buf_len(&w);
}

static enum kq_err verify(const kq_hash *root, const char *k, const char *v, const uint8_t *p,
                          size_t n)
{
    return kq_smt_verify(root, (const uint8_t *)k, strlen(k), (const uint8_t *)v, v ? strlen(v) : 0,
                         p, n);
}

/* The terminal kind of an encoded proof (0 empty, 1 the key's leaf, 2 another leaf). */
static uint8_t proof_terminal(const uint8_t *proof)
{
    unsigned depth = (unsigned)proof[1] << 8 | proof[2];
    size_t bm = (depth + 7) / 8, present = 0;
    for (unsigned i = 0; i < depth; i++)
        present += (proof[3 + i / 8] >> (7 - i % 8)) & 1;
    return proof[3 + bm + 32 * present];
}

/* --- Tests */

static void test_hash(void **state)
{
    (void)state;
    kq_hash h, h2;
    uint8_t want[32];
    ref_tagged(want, "kq-ledger-v1/x", (const uint8_t *)"abc", 3, NULL, 0);
    kq_hash_tagged(&h, "kq-ledger-v1/x", "abc", 3);
    assert_memory_equal(h.b, want, 32);
    struct kq_hasher st; /* the incremental form and its integer and length encodings */
    kq_hasher_init(&st, "kq-ledger-v1/x");
    kq_hasher_put_u32(&st, 0x01020304u);
    kq_hasher_put_u64(&st, 0x05060708090a0b0cull);
    kq_hasher_put_var(&st, "xy", 2);
    kq_hasher_final(&st, &h);
    static const uint8_t raw[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 2, 'x', 'y'};
    ref_tagged(want, "kq-ledger-v1/x", raw, sizeof raw, NULL, 0);
    assert_memory_equal(h.b, want, 32);
    kq_hash_tagged(&h2, "kq-ledger-v1/y", "abc", 3); /* the tag separates */
    kq_hash_tagged(&h, "kq-ledger-v1/x", "abc", 3);
    assert_false(kq_hash_eq(&h, &h2));
    char hex[KQ_HASH_HEX_BYTES];
    kq_hash_hex(&h, hex);
    assert_int_equal(strlen(hex), 64);
    assert_int_equal(kq_hash_from_hex(&h2, hex, 64), KQ_OK);
    assert_true(kq_hash_eq(&h, &h2));
    hex[0] = 'g';
    assert_int_equal(kq_hash_from_hex(&h2, hex, 64), KQ_ERR_FORMAT);
    assert_true(kq_hash_is_zero(&h2));
    kq_hash_hex(&h, hex);
    hex[63] = 'z';
    assert_int_equal(kq_hash_from_hex(&h2, hex, 64), KQ_ERR_FORMAT);
    assert_int_equal(kq_hash_from_hex(&h2, hex, 63), KQ_ERR_FORMAT);
    kq_hash_hex(&h, hex);
    for (int i = 0; i < 64; i++)
        hex[i] = (char)((hex[i] >= 'a') ? hex[i] - 'a' + 'A' : hex[i]);
    assert_int_equal(kq_hash_from_hex(&h2, hex, 64), KQ_OK);
    assert_true(kq_hash_eq(&h, &h2));
}

/* Keys "k<i>" with values "v<i>" for i < n, compared with the reference after each insert. */
static void test_reference_small(void **state)
{
    (void)state;
    struct kq_smt *t = kq_smt_new();
    struct ref_leaf leaves[40];
    uint8_t got[32], want[32];
    assert_non_null(t);
    root_of(t, got);
    ref_root(leaves, 0, 0, want);
    assert_memory_equal(got, want, 32);
    for (size_t i = 0; i < 40; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "k%zu", i);
        snprintf(v, sizeof v, "v%zu", i);
        t = set_str(t, k, v);
        ref_leaf_make(&leaves[i], (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
        root_of(t, got);
        ref_root(leaves, i + 1, 0, want);
        assert_memory_equal(got, want, 32);
        assert_int_equal(kq_smt_count(t), i + 1);
    }
    if (1) { /* a single leaf is the root */
        struct kq_smt *one = set_str(kq_smt_new(), "k0", "v0");
        root_of(one, got);
        assert_memory_equal(got, leaves[0].leaf, 32);
        kq_smt_unref(one);
    }
    kq_smt_unref(t);
}

/* Two keys whose paths share their first `bits` bits: found by search. */
static void find_close_keys(unsigned bits, char a[32], char b[32])
{
    kq_hash p0, p;
    snprintf(a, 32, "close-0");
    kq_smt_path((const uint8_t *)a, strlen(a), &p0);
    for (unsigned i = 1;; i++) {
        snprintf(b, 32, "close-%u", i);
        kq_smt_path((const uint8_t *)b, strlen(b), &p);
        unsigned c = 0;
        while (c < bits && ref_bit(p.b, c) == ref_bit(p0.b, c))
            c++;
        if (c == bits)
            return;
    }
}

/* Long shared prefixes make chains of one-child nodes; roots and proofs still match. */
static void test_reference_chains(void **state)
{
    (void)state;
    char a[32], b[32];
    uint8_t got[32], want[32], proof[KQ_SMT_MAX_PROOF_BYTES];
    find_close_keys(18, a, b);
    struct kq_smt *t = set_str(set_str(set_str(kq_smt_new(), a, "A"), b, "B"), "other", "O");
    struct ref_leaf leaves[3];
    ref_leaf_make(&leaves[0], (const uint8_t *)a, strlen(a), (const uint8_t *)"A", 1);
    ref_leaf_make(&leaves[1], (const uint8_t *)b, strlen(b), (const uint8_t *)"B", 1);
    ref_leaf_make(&leaves[2], (const uint8_t *)"other", 5, (const uint8_t *)"O", 1);
    root_of(t, got);
    ref_root(leaves, 3, 0, want);
    assert_memory_equal(got, want, 32);
    kq_hash root;
    kq_smt_root(t, &root);
    size_t n = prove(t, a, proof, sizeof proof);
    assert_true(((size_t)proof[1] << 8 | proof[2]) >= 19); /* depth: below the shared prefix */
    assert_int_equal(verify(&root, a, "A", proof, n), KQ_OK);
    assert_int_equal(verify(&root, a, "B", proof, n), KQ_ERR_BAD_PROOF);
    t = set_str(t, b, NULL); /* the chain collapses back */
    root_of(t, got);
    ref_root((struct ref_leaf[]){leaves[0], leaves[2]}, 2, 0, want);
    assert_memory_equal(got, want, 32);
    kq_smt_unref(t);
}

static void test_get_set_delete(void **state)
{
    (void)state;
    struct kq_smt *t = kq_smt_new();
    uint8_t r0[32], r1[32], r2[32], r3[32];
    root_of(t, r0);
    t = set_str(t, "alpha", "1");
    t = set_str(t, "beta", "2");
    root_of(t, r1);
    check_value(t, "alpha", "1");
    check_value(t, "beta", "2");
    check_value(t, "gamma", NULL);
    assert_int_equal(kq_smt_bytes(t), 5 + 1 + 4 + 1);
    struct kq_smt *old = kq_smt_ref(t);
    t = set_str(t, "alpha", "one"); /* replace */
    check_value(t, "alpha", "one");
    check_value(old, "alpha", "1"); /* the old version is unchanged */
    root_of(t, r2);
    assert_memory_not_equal(r1, r2, 32);
    root_of(old, r3);
    assert_memory_equal(r1, r3, 32);
    assert_int_equal(kq_smt_bytes(t), 5 + 3 + 4 + 1);
    t = set_str(t, "gamma", ""); /* an empty value is a value */
    check_value(t, "gamma", "");
    assert_int_equal(kq_smt_count(t), 3);
    t = set_str(t, "gamma", NULL); /* deleting returns to the previous root */
    root_of(t, r3);
    assert_memory_equal(r2, r3, 32);
    t = set_str(t, "absent", NULL); /* deleting an absent key changes nothing */
    root_of(t, r3);
    assert_memory_equal(r2, r3, 32);
    assert_int_equal(kq_smt_count(t), 2);
    t = set_str(t, "alpha", "1");
    root_of(t, r3);
    assert_memory_equal(r1, r3, 32);
    t = set_str(set_str(t, "alpha", NULL), "beta", NULL);
    root_of(t, r3);
    assert_memory_equal(r0, r3, 32);
    assert_int_equal(kq_smt_count(t), 0);
    assert_int_equal(kq_smt_bytes(t), 0);
    kq_smt_unref(old);
    kq_smt_unref(t);
}

static void test_limits(void **state)
{
    (void)state;
    static uint8_t big[KQ_LEDGER_MAX_VALUE_BYTES + 1];
    static uint8_t key[KQ_LEDGER_MAX_KEY_BYTES + 1];
    struct kq_smt *t = kq_smt_new(), *out = (struct kq_smt *)1;
    const uint8_t *p = (const uint8_t *)1;
    size_t n = 1;
    memset(key, 'k', sizeof key);
    assert_int_equal(kq_smt_set(t, key, 0, big, 1, &out), KQ_ERR_LIMIT);
    assert_null(out);
    assert_int_equal(kq_smt_set(t, key, sizeof key, big, 1, &out), KQ_ERR_LIMIT);
    assert_int_equal(kq_smt_set(t, key, 1, big, sizeof big, &out), KQ_ERR_LIMIT);
    assert_null(out);
    assert_int_equal(kq_smt_get(t, key, sizeof key, &p, &n), KQ_ERR_LIMIT);
    assert_null(p);
    assert_int_equal(n, 0);
    assert_int_equal(kq_smt_set(t, key, sizeof key - 1, big, sizeof big - 1, &out), KQ_OK);
    kq_smt_unref(t);
    t = out;
    kq_hash root;
    uint8_t proof[KQ_SMT_MAX_PROOF_BYTES];
    kq_smt_root(t, &root);
    assert_int_equal(kq_smt_verify(&root, key, sizeof key, NULL, 0, proof, 4), KQ_ERR_LIMIT);
    assert_int_equal(kq_smt_verify(&root, key, 1, big, sizeof big, proof, 4), KQ_ERR_LIMIT);
    struct kq_buf w;
    kq_buf_writer(&w, proof, sizeof proof);
    assert_int_equal(kq_smt_prove(t, key, 0, &w), KQ_ERR_LIMIT);
    kq_smt_unref(t);

    /* key count and state bytes, with small bounds */
    t = kq_smt_new_bounded(2, 100);
    t = set_str(t, "a", "1");
    t = set_str(t, "b", "2");
    assert_int_equal(kq_smt_set(t, (const uint8_t *)"c", 1, (const uint8_t *)"3", 1, &out),
                     KQ_ERR_LIMIT);
    assert_null(out);
    t = set_str(t, "a", NULL);
    t = set_str(t, "c", "3"); /* room again, inherited bounds */
    assert_int_equal(kq_smt_set(t, (const uint8_t *)"c", 1, big, 98, &out), KQ_ERR_LIMIT);
    t = set_str(t, "c", NULL);
    assert_int_equal(kq_smt_set(t, (const uint8_t *)"c", 1, big, 96, &out), KQ_OK);
    assert_int_equal(kq_smt_bytes(out), 2 + 1 + 96);
    kq_smt_unref(out);
    kq_smt_unref(t);
}

/* Proves every key of a tree with present and absent keys; both absence forms appear. */
static void test_proofs(void **state)
{
    (void)state;
    struct kq_smt *t = kq_smt_new();
    uint8_t proof[KQ_SMT_MAX_PROOF_BYTES];
    kq_hash root, empty_root;
    kq_smt_root(t, &empty_root);
    size_t n = prove(t, "x", proof, sizeof proof);
    assert_int_equal(n, 4); /* version, depth 0, terminal empty */
    assert_int_equal(verify(&empty_root, "x", NULL, proof, n), KQ_OK);
    assert_int_equal(verify(&empty_root, "x", "v", proof, n), KQ_ERR_BAD_PROOF);
    for (int i = 0; i < 64; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "key%d", i);
        snprintf(v, sizeof v, "val%d", i);
        t = set_str(t, k, v);
    }
    kq_smt_root(t, &root);
    int kinds[3] = {0, 0, 0};
    for (int i = 0; i < 200; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "key%d", i);
        snprintf(v, sizeof v, "val%d", i);
        n = prove(t, k, proof, sizeof proof);
        if (i < 64) {
            assert_int_equal(verify(&root, k, v, proof, n), KQ_OK);
            assert_int_equal(verify(&root, k, "wrong", proof, n), KQ_ERR_BAD_PROOF);
            assert_int_equal(verify(&root, k, NULL, proof, n), KQ_ERR_BAD_PROOF);
            assert_int_equal(verify(&root, "key999", v, proof, n), KQ_ERR_BAD_PROOF);
            assert_int_equal(verify(&empty_root, k, v, proof, n), KQ_ERR_BAD_PROOF);
            assert_int_equal(proof_terminal(proof), 1);
            kinds[1]++;
        } else {
            assert_int_equal(verify(&root, k, NULL, proof, n), KQ_OK);
            assert_int_equal(verify(&root, k, v, proof, n), KQ_ERR_BAD_PROOF);
            assert_int_equal(verify(&root, "key0", NULL, proof, n), KQ_ERR_BAD_PROOF);
            uint8_t kind = proof_terminal(proof);
            assert_true(kind == 0 || kind == 2);
            kinds[kind]++;
        }
    }
    assert_true(kinds[0] > 0);
    assert_true(kinds[2] > 0);
    kq_smt_unref(t);
}

/* Every single-byte change, truncation and extension of valid proofs is rejected. */
static void tamper_all(const kq_hash *root, const char *k, const char *v, uint8_t *proof, size_t n)
{
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    assert_int_equal(verify(root, k, v, proof, n), KQ_OK);
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            proof[i] ^= masks[m];
            assert_int_not_equal(verify(root, k, v, proof, n), KQ_OK);
            proof[i] ^= masks[m];
        }
    }
    for (size_t len = 0; len < n; len++)
        assert_int_not_equal(verify(root, k, v, proof, len), KQ_OK);
    proof[n] = 0;
    assert_int_equal(verify(root, k, v, proof, n + 1), KQ_ERR_FORMAT);
    assert_int_equal(verify(root, k, v, proof, n), KQ_OK);
}

static void test_tamper(void **state)
{
    (void)state;
    struct kq_smt *t = kq_smt_new();
    uint8_t proof[KQ_SMT_MAX_PROOF_BYTES + 1];
    kq_hash root;
    bool seen_other = false, seen_empty = false;
    for (int i = 0; i < 300; i++) {
        char k[32];
        snprintf(k, sizeof k, "t%d", i);
        t = set_str(t, k, "value");
    }
    kq_smt_root(t, &root);
    for (int i = 0; i < 320; i += 7) {
        char k[32];
        snprintf(k, sizeof k, "t%d", i);
        size_t n = prove(t, k, proof, sizeof proof - 1);
        tamper_all(&root, k, i < 300 ? "value" : NULL, proof, n);
    }
    for (int i = 0; i < 200 && !(seen_other && seen_empty); i++) {
        char k[32];
        snprintf(k, sizeof k, "absent%d", i);
        size_t n = prove(t, k, proof, sizeof proof - 1);
        bool other = proof_terminal(proof) == 2;
        if ((other && seen_other) || (!other && seen_empty))
            continue;
        tamper_all(&root, k, NULL, proof, n);
        if (!other) { /* an unknown terminal kind */
            proof[n - 1] = 3;
            assert_int_equal(verify(&root, k, NULL, proof, n), KQ_ERR_FORMAT);
        }
        seen_other |= other;
        seen_empty |= !other;
    }
    assert_true(seen_other && seen_empty);
    /* non-canonical encodings of a valid proof: a zero sibling marked present, unused bitmap bits
     */
    size_t n = prove(t, "t1", proof, sizeof proof);
    unsigned depth = (unsigned)proof[1] << 8 | proof[2];
    assert_true(depth > 0 && depth % 8 != 0);
    proof[3 + depth / 8] |= (uint8_t)(0x80u >> (depth % 8));
    assert_int_equal(verify(&root, "t1", "value", proof, n), KQ_ERR_FORMAT);
    kq_smt_unref(t);
    /* version byte */
    t = set_str(kq_smt_new(), "a", "b");
    kq_smt_root(t, &root);
    n = prove(t, "a", proof, sizeof proof);
    proof[0] = 2;
    assert_int_equal(verify(&root, "a", "b", proof, n), KQ_ERR_VERSION);
    proof[0] = 1;
    proof[1] = 1; /* depth 256 + 1 */
    proof[2] = 1;
    assert_int_equal(verify(&root, "a", "b", proof, n), KQ_ERR_FORMAT);
    kq_smt_unref(t);
}

/* Encodings that fold to the right root but are not the canonical proof are refused: a zero
 * sibling marked present, a path one level too deep (its deepest sibling empty), and a claim
 * that a present key is absent because "another" leaf with its own path ends the path. */
static void test_noncanonical(void **state)
{
    (void)state;
    char a[32], b[32];
    find_close_keys(4, a, b);
    struct kq_smt *t = set_str(set_str(kq_smt_new(), a, "1"), b, "2");
    uint8_t proof[KQ_SMT_MAX_PROOF_BYTES], alt[KQ_SMT_MAX_PROOF_BYTES + 64];
    kq_hash root;
    kq_smt_root(t, &root);
    size_t n = prove(t, a, proof, sizeof proof);
    assert_int_equal(verify(&root, a, "1", proof, n), KQ_OK);
    unsigned depth = (unsigned)proof[1] << 8 | proof[2];
    size_t bm = (depth + 7) / 8;
    assert_true(depth >= 5 && depth <= 8 && bm == 1);
    assert_int_equal(proof[3], 0x80u >> (depth - 1)); /* one sibling: the other leaf */
    /* level 0 is empty: mark it present with a zero hash */
    memcpy(alt, proof, n);
    alt[3] |= 0x80;
    memmove(alt + 4 + 32, alt + 4, n - 4);
    memset(alt + 4, 0, 32);
    assert_int_equal(verify(&root, a, "1", alt, n + 32), KQ_ERR_FORMAT);
    /* one level deeper: same siblings, the deepest (new) one empty */
    memcpy(alt, proof, n);
    alt[2] = (uint8_t)(depth + 1);
    assert_int_equal(verify(&root, a, "1", alt, n), KQ_ERR_FORMAT);
    /* absence of a by its own leaf as "another" leaf */
    memcpy(alt, proof, n);
    alt[n - 1] = 2;
    kq_hash path, vh;
    kq_smt_path((const uint8_t *)a, strlen(a), &path);
    kq_hash_tagged(&vh, "kq-ledger-v1/smt-value", "1", 1);
    memcpy(alt + n, path.b, 32);
    memcpy(alt + n + 32, vh.b, 32);
    assert_int_equal(verify(&root, a, NULL, alt, n + 64), KQ_ERR_BAD_PROOF);
    kq_smt_unref(t);
}

static void test_prove_room(void **state)
{
    (void)state;
    struct kq_smt *t = set_str(set_str(kq_smt_new(), "a", "1"), "b", "2");
    uint8_t buf[KQ_SMT_MAX_PROOF_BYTES];
    size_t n = prove(t, "a", buf, sizeof buf);
    struct kq_buf w;
    kq_buf_writer(&w, buf, n - 1);
    assert_int_equal(kq_smt_prove(t, (const uint8_t *)"a", 1, &w), KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 0);
    kq_smt_unref(t);
}

/* --- Random updates against a plain array of values, with old versions kept and rechecked. */

#define UNIVERSE 4000
#define UPDATES  100000
#define SNAPS    8

struct model {
    char val[UNIVERSE][12];
    bool present[UNIVERSE];
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void model_check(const struct kq_smt *t, const struct model *m)
{
    size_t count = 0;
    struct ref_leaf *leaves = calloc(UNIVERSE, sizeof *leaves);
    assert_non_null(leaves);
    for (size_t i = 0; i < UNIVERSE; i++) {
        char k[32];
        snprintf(k, sizeof k, "key/%zu", i);
        check_value(t, k, m->present[i] ? m->val[i] : NULL);
        if (m->present[i])
            ref_leaf_make(&leaves[count++], (const uint8_t *)k, strlen(k),
                          (const uint8_t *)m->val[i], strlen(m->val[i]));
    }
    assert_int_equal(kq_smt_count(t), count);
    uint8_t got[32], want[32];
    root_of(t, got);
    ref_root(leaves, count, 0, want);
    assert_memory_equal(got, want, 32);
    free(leaves);
}

static void test_random_updates(void **state)
{
    (void)state;
    struct model *m = calloc(1, sizeof *m);
    struct model *snap_model = calloc(SNAPS, sizeof *snap_model);
    struct kq_smt *snaps[SNAPS];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    struct kq_smt *t = kq_smt_new();
    assert_non_null(m);
    assert_non_null(snap_model);
    for (int u = 0; u < UPDATES; u++) {
        size_t i = (size_t)(rng_next(&seed) % UNIVERSE);
        char k[32];
        snprintf(k, sizeof k, "key/%zu", i);
        if (rng_next(&seed) % 4 == 0) {
            t = set_str(t, k, NULL);
            m->present[i] = false;
        } else {
            snprintf(m->val[i], sizeof m->val[i], "%llu",
                     (unsigned long long)(rng_next(&seed) % 1000000));
            t = set_str(t, k, m->val[i]);
            m->present[i] = true;
        }
        if (u % (UPDATES / SNAPS) == UPDATES / SNAPS - 1) {
            int s = u / (UPDATES / SNAPS);
            snaps[s] = kq_smt_ref(t);
            snap_model[s] = *m;
        }
    }
    model_check(t, m);
    for (int s = 0; s < SNAPS; s++) { /* persistence: every snapshot still as it was */
        model_check(snaps[s], &snap_model[s]);
        kq_smt_unref(snaps[s]);
    }
    kq_smt_unref(t);
    free(snap_model);
    free(m);
}

/* kq_smt_put: in place while the caller holds the only reference, copying otherwise. Driven like
 * test_random_updates, with roots read between updates (so reused nodes had hashes to forget) and
 * snapshots held (so paths are shared), against a tree built by kq_smt_set; the snapshots and the
 * final tree match the model, and a put past a limit leaves the tree as it was. */
static void test_put_in_place(void **state)
{
    (void)state;
    struct model *m = calloc(1, sizeof *m);
    struct model *snap_model = calloc(SNAPS, sizeof *snap_model);
    struct kq_smt *snaps[SNAPS];
    uint64_t seed = 0x243f6a8885a308d3ull;
    struct kq_smt *t = kq_smt_new(), *ref = kq_smt_new();
    assert_non_null(m);
    assert_non_null(snap_model);
    for (int u = 0; u < UPDATES / 4; u++) {
        size_t i = (size_t)(rng_next(&seed) % UNIVERSE);
        char k[32];
        snprintf(k, sizeof k, "key/%zu", i);
        const char *v = NULL;
        if (rng_next(&seed) % 4 != 0) {
            snprintf(m->val[i], sizeof m->val[i], "%llu",
                     (unsigned long long)(rng_next(&seed) % 1000000));
            v = m->val[i];
        }
        m->present[i] = v != NULL;
        assert_int_equal(kq_smt_put(&t, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                                    v != NULL ? strlen(v) : 0),
                         KQ_OK);
        ref = set_str(ref, k, v);
        if (rng_next(&seed) % 16 == 0) {
            uint8_t a[32], b[32];
            root_of(t, a);
            root_of(ref, b);
            assert_memory_equal(a, b, 32);
        }
        if (u % (UPDATES / 4 / SNAPS) == UPDATES / 4 / SNAPS - 1) {
            int s = u / (UPDATES / 4 / SNAPS);
            snaps[s] = kq_smt_ref(t);
            snap_model[s] = *m;
        }
    }
    model_check(t, m);
    for (int s = 0; s < SNAPS; s++) {
        model_check(snaps[s], &snap_model[s]);
        kq_smt_unref(snaps[s]);
    }
    kq_smt_unref(ref);
    kq_smt_unref(t);
    t = kq_smt_new_bounded(2, 100);
    uint8_t before[32], after[32];
    assert_int_equal(kq_smt_put(&t, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1), KQ_OK);
    assert_int_equal(kq_smt_put(&t, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1), KQ_OK);
    root_of(t, before);
    assert_int_equal(kq_smt_put(&t, (const uint8_t *)"c", 1, (const uint8_t *)"3", 1),
                     KQ_ERR_LIMIT);
    root_of(t, after);
    assert_memory_equal(before, after, 32);
    assert_int_equal(kq_smt_count(t), 2);
    check_value(t, "c", NULL);
    kq_smt_unref(t);
    free(snap_model);
    free(m);
}

/* --- Iteration */

struct collect {
    kq_hash paths[600];
    size_t n, stop_after;
};

static bool collect_fn(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len)
{
    struct collect *c = ctx;
    kq_hash p;
    kq_smt_path(key, key_len, &p);
    assert_true(kq_hash_eq(&p, path));
    assert_int_equal(value_len, 1);
    assert_int_equal(value[0], 'v');
    assert_true(c->n < 600);
    c->paths[c->n++] = *path;
    return c->n < c->stop_after;
}

static void test_foreach(void **state)
{
    (void)state;
    struct kq_smt *t = kq_smt_new();
    static struct collect all, page;
    all.n = 0;
    all.stop_after = SIZE_MAX;
    kq_smt_foreach(t, NULL, collect_fn, &all);
    assert_int_equal(all.n, 0);
    for (int i = 0; i < 500; i++) {
        char k[32];
        snprintf(k, sizeof k, "it%d", i);
        t = set_str(t, k, "v");
    }
    kq_smt_foreach(t, NULL, collect_fn, &all);
    assert_int_equal(all.n, 500);
    for (size_t i = 1; i < all.n; i++)
        assert_true(memcmp(all.paths[i - 1].b, all.paths[i].b, 32) < 0);
    /* paging: from each visited path (inclusive) and from just after it */
    for (size_t start = 0; start < 500; start += 37) {
        page.n = 0;
        page.stop_after = 10;
        kq_smt_foreach(t, &all.paths[start], collect_fn, &page);
        size_t want = 500 - start < 10 ? 500 - start : 10;
        assert_int_equal(page.n, want);
        assert_memory_equal(page.paths, &all.paths[start], want * sizeof(kq_hash));
        kq_hash after = all.paths[start];
        for (int b = 31; b >= 0 && ++after.b[b] == 0; b--)
            ;
        page.n = 0;
        page.stop_after = SIZE_MAX;
        kq_smt_foreach(t, &after, collect_fn, &page);
        assert_int_equal(page.n, 500 - start - 1);
        assert_memory_equal(page.paths, &all.paths[start + 1], page.n * sizeof(kq_hash));
    }
    kq_hash zero = {{0}}, max;
    memset(max.b, 0xff, 32);
    page.n = 0;
    page.stop_after = SIZE_MAX;
    kq_smt_foreach(t, &zero, collect_fn, &page);
    assert_int_equal(page.n, 500);
    page.n = 0;
    kq_smt_foreach(t, &max, collect_fn, &page);
    assert_int_equal(page.n, 0);
    kq_smt_unref(t);
}

/* --- kq_smt_diff against a naive merge of both versions' pairs. */

struct pairs {
    size_t n;
    kq_hash path[400];
    uint8_t key[400][8];
    uint8_t value[400][8];
    size_t value_len[400];
    bool removed[400];
};

static bool pairs_fn(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    struct pairs *p = ctx;
    assert_true(p->n < 400 && key_len <= 8 && value_len <= 8);
    p->path[p->n] = *path;
    memcpy(p->key[p->n], key, key_len);
    if (value != NULL)
        memcpy(p->value[p->n], value, value_len);
    p->value_len[p->n] = value_len;
    p->removed[p->n] = value == NULL;
    p->n++;
    return true;
}

static bool stop_fn(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                    const uint8_t *value, size_t value_len)
{
    (void)path, (void)key, (void)key_len, (void)value, (void)value_len;
    size_t *calls = ctx;
    return ++*calls < 2;
}

static void naive_diff(const struct kq_smt *a, const struct kq_smt *b, struct pairs *out)
{
    static struct pairs pa, pb;
    memset(&pa, 0, sizeof pa);
    memset(&pb, 0, sizeof pb);
    memset(out, 0, sizeof *out);
    kq_smt_foreach(a, NULL, pairs_fn, &pa);
    kq_smt_foreach(b, NULL, pairs_fn, &pb);
    size_t i = 0, j = 0;
    while (i < pa.n || j < pb.n) {
        int c = i == pa.n ? 1 : j == pb.n ? -1 : memcmp(pa.path[i].b, pb.path[j].b, 32);
        if (c < 0) { /* removed */
            (void)pairs_fn(out, &pa.path[i], pa.key[i], 8, NULL, 0);
            i++;
        } else if (c > 0) {
            (void)pairs_fn(out, &pb.path[j], pb.key[j], 8, pb.value[j], pb.value_len[j]);
            j++;
        } else {
            if (pa.value_len[i] != pb.value_len[j] ||
                memcmp(pa.value[i], pb.value[j], pa.value_len[i]) != 0)
                (void)pairs_fn(out, &pb.path[j], pb.key[j], 8, pb.value[j], pb.value_len[j]);
            i++, j++;
        }
    }
}

static struct kq_smt *set_u64(struct kq_smt *t, uint64_t k, uint64_t v, bool del)
{
    uint8_t key[8], val[8];
    struct kq_smt *next = NULL;
    for (int i = 0; i < 8; i++) {
        key[i] = (uint8_t)(k >> (8 * i));
        val[i] = (uint8_t)(v >> (8 * i));
    }
    assert_int_equal(kq_smt_set(t, key, 8, del ? NULL : val, del ? 0 : 8, &next), KQ_OK);
    kq_smt_unref(t);
    return next;
}

static void test_diff(void **state)
{
    (void)state;
    static struct pairs got, want;
    uint64_t rng = 0x243f6a8885a308d3ULL;
    for (int round = 0; round < 20; round++) {
        struct kq_smt *a = kq_smt_new();
        for (uint64_t k = 0; k < 150; k++)
            a = set_u64(a, k, k * 7, false);
        struct kq_smt *b = kq_smt_ref(a);
        int ops = round * 3; /* from no change to about 60 */
        for (int i = 0; i < ops; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t k = (rng >> 33) % 250; /* present and absent keys */
            b = set_u64(b, k, rng >> 40, (rng >> 20) % 3 == 0);
        }
        naive_diff(a, b, &want);
        memset(&got, 0, sizeof got);
        assert_true(kq_smt_diff(a, b, pairs_fn, &got));
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.path, want.path, got.n * sizeof(kq_hash));
        assert_memory_equal(got.removed, want.removed, got.n * sizeof(bool));
        for (size_t i = 0; i < got.n; i++) {
            assert_memory_equal(got.key[i], want.key[i], 8);
            if (!got.removed[i])
                assert_memory_equal(got.value[i], want.value[i], 8);
        }
        /* applying the diff to a gives b's root */
        struct kq_smt *c = kq_smt_ref(a);
        for (size_t i = 0; i < got.n; i++) {
            struct kq_smt *next = NULL;
            assert_int_equal(kq_smt_set(c, got.key[i], 8, got.removed[i] ? NULL : got.value[i],
                                        got.value_len[i], &next),
                             KQ_OK);
            kq_smt_unref(c);
            c = next;
        }
        kq_hash rb, rc;
        kq_smt_root(b, &rb);
        kq_smt_root(c, &rc);
        assert_memory_equal(rb.b, rc.b, 32);
        kq_smt_unref(c);
        kq_smt_unref(a);
        kq_smt_unref(b);
    }
    /* equal contents built apart share no node and still give no difference; a stop returns
     * false; from and to the empty tree every key is reported */
    struct kq_smt *x = kq_smt_new(), *y = kq_smt_new(), *e = kq_smt_new();
    for (uint64_t k = 0; k < 40; k++) {
        x = set_u64(x, k, k, false);
        y = set_u64(y, 39 - k, 39 - k, false);
    }
    memset(&got, 0, sizeof got);
    assert_true(kq_smt_diff(x, y, pairs_fn, &got));
    assert_int_equal(got.n, 0);
    size_t calls = 0;
    assert_false(kq_smt_diff(e, x, stop_fn, &calls));
    assert_int_equal(calls, 2);
    memset(&got, 0, sizeof got);
    assert_true(kq_smt_diff(x, e, pairs_fn, &got));
    assert_int_equal(got.n, 40);
    for (size_t i = 0; i < got.n; i++)
        assert_true(got.removed[i]);
    kq_smt_unref(x);
    kq_smt_unref(y);
    kq_smt_unref(e);
}

static int setup(void **state)
{
    (void)state;
    return kq_init(0) == KQ_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_reference_small),
        cmocka_unit_test(test_reference_chains),
        cmocka_unit_test(test_get_set_delete),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_proofs),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_noncanonical),
        cmocka_unit_test(test_prove_room),
        cmocka_unit_test(test_random_updates),
        cmocka_unit_test(test_put_in_place),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
