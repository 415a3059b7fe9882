/* Tests for the keeper's sealing at rest (src/keeper/keeper_store.c): the record format that
 * docs/crypto.md §9 specifies (opened here with libsodium directly), the record key as associated
 * data, every restore rejection, epoch secrets persisted synced under the KEK, and shares that
 * open only under their epoch's sealing key. */
#include "../test_util.h"

#include "base/mem.h"
#include "keeper/keeper_internal.h"

static void fixed_random(void *ctx, uint8_t *out, size_t len)
{
    uint64_t *ctr = ctx;
    uint8_t seed[randombytes_SEEDBYTES] = {0};
    memcpy(seed, ctr, sizeof *ctr);
    (*ctr)++;
    randombytes_buf_deterministic(out, len, seed);
}

struct fx {
    struct keeper *k;
    struct kq_actions *acts;
    uint64_t ctr;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->k = calloc(1, sizeof *f->k);
    f->acts = malloc(sizeof *f->acts);
    assert_non_null(f->k);
    assert_non_null(f->acts);
    f->k->sec = kq_secure_alloc(sizeof *f->k->sec);
    assert_non_null(f->k->sec);
    memset(f->k->sec->kek, 0x4b, sizeof f->k->sec->kek);
    f->k->random = fixed_random;
    f->k->random_ctx = &f->ctr;
    f->k->magic = KS_MAGIC;
    kq_actions_reset(f->acts);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    kq_secure_free(f->k->sec);
    free(f->k);
    free(f->acts);
    free(f);
    return 0;
}

static const struct kq_action *find_persist(const struct kq_actions *a, const char *key)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i].kind == KQ_ACT_PERSIST && strcmp(a->items[i].record_key, key) == 0)
            return &a->items[i];
    return NULL;
}

static void open_with(const uint8_t *v, size_t len, const char *aad, const uint8_t key[32],
                      uint8_t out[32], int want)
{
    unsigned long long plen = 0;
    assert_int_equal(len, KS_WRAPBYTES);
    assert_int_equal(v[0], KS_WRAP_VERSION);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, v + 25, 48,
                                                                (const uint8_t *)aad, strlen(aad),
                                                                v + 1, key),
                     want);
}

static void test_record_keys(void **state)
{
    (void)state;
    char key[KQ_CORE_MAX_RECORD_KEY];
    ks_key_xsk(key, 7);
    assert_string_equal(key, "xsk/7");
    ks_key_ke(key, 18446744073709551615ULL);
    assert_string_equal(key, "ke/18446744073709551615");
    ks_key_share(key, "a.b-c_d", 4294967295u, 3);
    assert_string_equal(key, "share/a.b-c_d/4294967295/3");
}

static void test_epoch_generate(void **state)
{
    struct fx *f = *state;
    uint8_t x[32], ke[32], pk[32];
    assert_int_equal(ks_epoch_generate(f->k, 3, 77, f->acts), KQ_OK);
    const struct kq_action *ax = find_persist(f->acts, "xsk/3"),
                           *ak = find_persist(f->acts, "ke/3");
    assert_non_null(ax);
    assert_non_null(ak);
    assert_true(ax->sync && ak->sync);
    assert_int_equal(ax->write_token, 77);
    open_with(kq_action_payload(f->acts, ax), ax->payload_len, "xsk/3", f->k->sec->kek, x, 0);
    open_with(kq_action_payload(f->acts, ak), ak->payload_len, "ke/3", f->k->sec->kek, ke, 0);
    /* under another record key (another epoch) the same bytes do not open */
    uint8_t scratch[32];
    open_with(kq_action_payload(f->acts, ax), ax->payload_len, "xsk/4", f->k->sec->kek, scratch,
              -1);
    struct ks_epoch *e = ks_epoch_find(f->k, 3);
    assert_non_null(e);
    assert_false(e->durable);
    assert_int_equal(e->write_token, 77);
    crypto_scalarmult_base(pk, x);
    assert_memory_equal(pk, e->x_pk, 32);
    assert_memory_equal(f->k->sec->epochs[ks_epoch_at(f->k, e)].k_e, ke, 32);
    /* a second keeper restores both records: same secrets, durable */
    void *gs = NULL;
    setup(&gs);
    struct fx *gf = gs;
    assert_int_equal(ks_restore(gf->k, "xsk/3", kq_action_payload(f->acts, ax), ax->payload_len),
                     KQ_OK);
    assert_int_equal(ks_restore(gf->k, "ke/3", kq_action_payload(f->acts, ak), ak->payload_len),
                     KQ_OK);
    struct ks_epoch *ge = ks_epoch_find(gf->k, 3);
    assert_non_null(ge);
    assert_true(ge->durable && ge->has_x && ge->has_k);
    assert_memory_equal(ge->x_pk, pk, 32);
    teardown(&gs);
    sodium_memzero(x, sizeof x);
    sodium_memzero(ke, sizeof ke);
}

static void test_share_seal(void **state)
{
    struct fx *f = *state;
    uint8_t s[32], ke[32], opened[32];
    kq_sc_random(s);
    assert_int_equal(ks_epoch_generate(f->k, 2, 5, f->acts), KQ_OK);
    memcpy(f->k->sec->share, s, 32);
    /* no sealing key for epoch 9 */
    assert_int_equal(ks_share_store(f->k, "k1", 1, 9, f->acts), KQ_ERR_NOT_FOUND);
    assert_int_equal(ks_share_store(f->k, "k1", 1, 2, f->acts), KQ_OK);
    kq_wipe(f->k->sec->share, 32);
    const struct kq_action *a = find_persist(f->acts, "share/k1/1/2");
    assert_non_null(a);
    assert_true(a->sync);
    const uint8_t *v = kq_action_payload(f->acts, a);
    struct ks_epoch *e = ks_epoch_find(f->k, 2);
    memcpy(ke, f->k->sec->epochs[ks_epoch_at(f->k, e)].k_e, 32);
    open_with(v, a->payload_len, "share/k1/1/2", ke, opened, 0);
    assert_memory_equal(opened, s, 32);
    open_with(v, a->payload_len, "share/k1/2/2", ke, opened, -1);
    open_with(v, a->payload_len, "share/k1/1/2", f->k->sec->kek, opened, -1); /* not the KEK */
    struct ks_share *sh = ks_share_find(f->k, "k1", 1, 2);
    assert_non_null(sh);
    assert_int_equal(ks_share_open(f->k, sh), KQ_OK);
    assert_memory_equal(f->k->sec->share, s, 32);
    kq_wipe(f->k->sec->share, 32);
    /* once K_E is gone the share no longer opens */
    ks_epoch_drop_k(f->k, e);
    assert_int_equal(ks_share_open(f->k, sh), KQ_ERR_NOT_FOUND);
    assert_int_equal(ks_share_erase(f->k, sh, f->acts), KQ_OK);
    assert_null(ks_share_find(f->k, "k1", 1, 2));
    assert_int_equal(f->k->n_shares, 0);
    sodium_memzero(s, sizeof s);
    sodium_memzero(ke, sizeof ke);
}

static void test_restore_rejects(void **state)
{
    struct fx *f = *state;
    uint8_t good[KS_WRAPBYTES], bad[KS_WRAPBYTES + 1], pt[32] = {1};
    ks_wrap(f->k, f->k->sec->kek, "ke/5", pt, good);
    assert_int_equal(ks_restore(f->k, "hb/incarnation", good, 3), KQ_OK); /* not ours */
    assert_int_equal(ks_restore(f->k, "ke/5", good, sizeof good), KQ_OK);
    assert_true(ks_epoch_find(f->k, 5)->has_k);
    memcpy(bad, good, sizeof good);
    bad[40] ^= 1;
    assert_int_equal(ks_restore(f->k, "ke/6", good, sizeof good), KQ_ERR_AUTH); /* other aad */
    assert_null(ks_epoch_find(f->k, 6));
    assert_int_equal(ks_restore(f->k, "ke/5", bad, sizeof good), KQ_ERR_AUTH);
    assert_true(ks_epoch_find(f->k, 5)->has_k); /* the key restored before survives */
    assert_int_equal(f->k->sec->epochs[ks_epoch_at(f->k, ks_epoch_find(f->k, 5))].k_e[0], 1);
    assert_int_equal(ks_restore(f->k, "ke/5", good, sizeof good - 1), KQ_ERR_TRUNCATED);
    memcpy(bad, good, sizeof good);
    bad[sizeof good] = 0;
    assert_int_equal(ks_restore(f->k, "ke/5", bad, sizeof good + 1), KQ_ERR_FORMAT);
    bad[0] = 2;
    assert_int_equal(ks_restore(f->k, "ke/5", bad, sizeof good), KQ_ERR_VERSION);
    assert_int_equal(ks_restore(f->k, "ke/", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "ke/0", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "ke/5x", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "ke/-5", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "xsk/5", good, sizeof good), KQ_ERR_AUTH);
    /* shares: canonical keys only, kept sealed */
    assert_int_equal(ks_restore(f->k, "share/k/1/5", good, sizeof good), KQ_OK);
    assert_non_null(ks_share_find(f->k, "k", 1, 5));
    assert_int_equal(ks_restore(f->k, "share/k/01/5", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "share/k/1", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "share//1/5", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "share/k/0/5", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "share/k/1/0", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "share/k/4294967296/5", good, sizeof good), KQ_ERR_FORMAT);
    assert_int_equal(ks_restore(f->k, "share/k/1/5", good, 10), KQ_ERR_FORMAT);
    bad[0] = 2;
    assert_int_equal(ks_restore(f->k, "share/k/2/5", bad, sizeof good), KQ_ERR_VERSION);
    /* a share that does not open under K_E is refused when used */
    struct ks_share *sh = ks_share_find(f->k, "k", 1, 5);
    assert_int_equal(ks_share_open(f->k, sh), KQ_ERR_AUTH);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_keys),
        cmocka_unit_test_setup_teardown(test_epoch_generate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_share_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_rejects, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
