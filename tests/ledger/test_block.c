/* Tests for src/ledger/{block,valset}.c and src/wire/ledger_msg.c: round trips of every codec,
 * rejection of each malformed field, truncation and trailing bytes; vote and proposal signatures;
 * certificates that verify and each way one fails (wrong block, height, unknown or too few signers,
 * a tampered signature or timestamp); the BFT median; quorum arithmetic; the proposer schedule. */
#include "../test_util.h"

#include "base/buf.h"
#include "ledger/block.h"
#include "ledger/valset.h"
#include "wire/ledger_msg.h"

#define NV 4

struct keys {
    uint8_t sk[NV][crypto_sign_SECRETKEYBYTES];
    struct kq_valset vs;
    kq_hash chain;
};

static struct keys *keys_new(void)
{
    struct keys *k = calloc(1, sizeof *k);
    struct kq_validator v[NV];
    assert_non_null(k);
    for (uint32_t i = 0; i < NV; i++) {
        uint8_t seed[32] = {(uint8_t)(i + 1)};
        v[i].id = 10 * (NV - i); /* unsorted input */
        assert_int_equal(crypto_sign_seed_keypair(v[i].pk, k->sk[i], seed), 0);
    }
    assert_int_equal(kq_valset_init(&k->vs, v, NV), KQ_OK);
    memset(k->chain.b, 0xc1, 32);
    return k;
}

/* The secret key of validator id. */
static struct kq_ledger_crypto crypto_for(struct keys *k, uint32_t id)
{
    struct kq_ledger_crypto c = {kq_ledger_ed25519_sign, NULL, kq_ledger_ed25519_verify, NULL};
    c.sign_ctx = k->sk[NV - id / 10];
    return c;
}

static void make_votes(struct keys *k, struct kq_cert *c, uint64_t h, uint32_t round,
                       const kq_hash *blk, uint32_t count, uint8_t type)
{
    memset(c, 0, sizeof *c);
    c->height = h;
    c->round = round;
    c->block = *blk;
    c->count = count;
    for (uint32_t i = 0; i < count; i++) {
        struct kq_vote v = {.type = type,
                            .height = h,
                            .round = round,
                            .has_block = true,
                            .block = *blk,
                            .timestamp_ms = 1000 + 7 * i,
                            .validator = k->vs.v[i].id};
        struct kq_ledger_crypto cr = crypto_for(k, v.validator);
        kq_vote_sign(&v, &k->chain, &cr);
        c->sigs[i].validator = v.validator;
        c->sigs[i].timestamp_ms = v.timestamp_ms;
        memcpy(c->sigs[i].sig, v.sig, 64);
    }
}

static void make_cert(struct keys *k, struct kq_cert *c, uint64_t h, const kq_hash *blk,
                      uint32_t count)
{
    make_votes(k, c, h, 2, blk, count, KQ_VOTE_PRECOMMIT);
}

static void test_valset(void **unused)
{
    (void)unused;
    struct keys *k = keys_new();
    assert_int_equal(k->vs.n, NV);
    for (uint32_t i = 0; i < NV; i++)
        assert_int_equal(k->vs.v[i].id, 10 * (i + 1));
    assert_int_equal(kq_valset_index(&k->vs, 30), 2);
    assert_int_equal(kq_valset_index(&k->vs, 31), -1);
    struct kq_valset vs;
    static const uint32_t q[] = {0, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7};
    static const uint32_t f[] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3};
    struct kq_validator v[10];
    for (uint32_t n = 1; n <= 10; n++) {
        for (uint32_t i = 0; i < n; i++)
            v[i] = (struct kq_validator){.id = i + 1};
        assert_int_equal(kq_valset_init(&vs, v, n), KQ_OK);
        assert_int_equal(kq_valset_quorum(&vs), q[n]);
        assert_int_equal(kq_valset_faulty(&vs), f[n]);
        assert_true(2 * q[n] >= n + f[n] + 1); /* two quorums share an honest validator */
    }
    v[1].id = v[0].id;
    assert_int_equal(kq_valset_init(&vs, v, 3), KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(vs.n, 0);
    v[1].id = 0;
    assert_int_equal(kq_valset_init(&vs, v, 3), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_valset_init(&vs, v, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_valset_init(&vs, v, KQ_LEDGER_MAX_VALIDATORS + 1), KQ_ERR_LIMIT);
    kq_hash h1, h2;
    kq_valset_hash(&k->vs, &h1);
    k->vs.v[0].pk[0] ^= 1;
    kq_valset_hash(&k->vs, &h2);
    assert_false(kq_hash_eq(&h1, &h2));
    free(k);
}

static void test_schedule(void **unused)
{
    (void)unused;
    struct keys *k = keys_new();
    uint32_t counts[NV] = {0, 9, 2, 1}, w[NV];
    kq_valset_weights(&k->vs, counts, w);
    assert_int_equal(w[0], KQ_LEDGER_WEIGHT_FLOOR);
    assert_int_equal(w[1], KQ_LEDGER_WEIGHT_CAP);
    assert_int_equal(w[2], 2);
    uint32_t total = w[0] + w[1] + w[2] + w[3];
    kq_hash seed;
    kq_hash_tagged(&seed, "test", "x", 1);
    uint32_t seen[NV] = {0};
    for (uint32_t r = 0; r < total; r++) {
        uint32_t p = kq_valset_proposer(&k->vs, w, &seed, r);
        assert_int_equal(p, kq_valset_proposer(&k->vs, w, &seed, r));         /* deterministic */
        assert_int_equal(p, kq_valset_proposer(&k->vs, w, &seed, r + total)); /* periodic */
        int32_t idx = kq_valset_index(&k->vs, p);
        assert_true(idx >= 0);
        seen[idx]++;
    }
    for (uint32_t i = 0; i < NV; i++) /* every validator proposes its weight's share */
        assert_int_equal(seen[i], w[i]);
    free(k);
}

static void test_header_vote(void **unused)
{
    (void)unused;
    struct keys *k = keys_new();
    struct kq_header h = {.chain_id = k->chain,
                          .height = 7,
                          .round = 3,
                          .proposer = 20,
                          .time_ms = 123456,
                          .tx_count = 0};
    memset(h.state_root.b, 5, 32);
    uint8_t mem[KQ_HEADER_BYTES + 1];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    assert_int_equal(kq_header_encode(&h, &b), KQ_OK);
    assert_int_equal(kq_buf_len(&b), KQ_HEADER_BYTES);
    struct kq_header d;
    assert_int_equal(kq_header_decode(&d, mem, KQ_HEADER_BYTES), KQ_OK);
    uint8_t again[KQ_HEADER_BYTES];
    struct kq_buf b2;
    kq_buf_writer(&b2, again, sizeof again);
    assert_int_equal(kq_header_encode(&d, &b2), KQ_OK);
    assert_memory_equal(again, mem, KQ_HEADER_BYTES);
    assert_int_equal(d.height, 7);
    assert_int_equal(d.time_ms, 123456);
    assert_int_equal(kq_header_decode(&d, mem, KQ_HEADER_BYTES - 1), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_header_decode(&d, mem, KQ_HEADER_BYTES + 1), KQ_ERR_FORMAT);
    mem[0] = 2;
    assert_int_equal(kq_header_decode(&d, mem, KQ_HEADER_BYTES), KQ_ERR_VERSION);
    kq_hash a, c;
    kq_header_hash(&h, &a);
    h.time_ms++;
    kq_header_hash(&h, &c);
    assert_false(kq_hash_eq(&a, &c));

    struct kq_vote v = {.type = KQ_VOTE_PREVOTE,
                        .height = 7,
                        .round = 3,
                        .has_block = true,
                        .block = a,
                        .timestamp_ms = 99,
                        .validator = 20};
    struct kq_ledger_crypto cr = crypto_for(k, 20);
    kq_vote_sign(&v, &k->chain, &cr);
    assert_int_equal(kq_vote_verify(&v, &k->chain, k->vs.v[1].pk, &cr), KQ_OK);
    assert_int_equal(kq_vote_verify(&v, &k->chain, k->vs.v[0].pk, &cr), KQ_ERR_BAD_SIGNATURE);
    kq_hash other = k->chain;
    other.b[0] ^= 1;
    assert_int_equal(kq_vote_verify(&v, &other, k->vs.v[1].pk, &cr), KQ_ERR_BAD_SIGNATURE);
    uint8_t vm[KQ_VOTE_BYTES];
    kq_buf_writer(&b, vm, sizeof vm);
    assert_int_equal(kq_vote_encode(&v, &b), KQ_OK);
    struct kq_vote dv;
    assert_int_equal(kq_vote_decode(&dv, vm, sizeof vm), KQ_OK);
    assert_int_equal(kq_vote_verify(&dv, &k->chain, k->vs.v[1].pk, &cr), KQ_OK);
    for (size_t i = 1; i < sizeof vm; i++) { /* every signed byte matters */
        vm[i] ^= 0x01;
        if (kq_vote_decode(&dv, vm, sizeof vm) == KQ_OK)
            assert_int_equal(kq_vote_verify(&dv, &k->chain, k->vs.v[1].pk, &cr),
                             KQ_ERR_BAD_SIGNATURE);
        vm[i] ^= 0x01;
    }
    vm[1] = 3; /* unknown type */
    assert_int_equal(kq_vote_decode(&dv, vm, sizeof vm), KQ_ERR_FORMAT);
    vm[1] = KQ_VOTE_PREVOTE;
    vm[14] = 0; /* nil with a hash */
    assert_int_equal(kq_vote_decode(&dv, vm, sizeof vm), KQ_ERR_FORMAT);
    vm[14] = 2;
    assert_int_equal(kq_vote_decode(&dv, vm, sizeof vm), KQ_ERR_FORMAT);
    assert_int_equal(kq_vote_decode(&dv, vm, sizeof vm - 1), KQ_ERR_TRUNCATED);
    free(k);
}

static void test_cert(void **unused)
{
    (void)unused;
    struct keys *k = keys_new();
    struct kq_ledger_crypto cr = crypto_for(k, 10);
    kq_hash blk, other;
    memset(blk.b, 0xab, 32);
    memset(other.b, 0xac, 32);
    struct kq_cert *c = calloc(1, sizeof *c), *d = calloc(1, sizeof *d);
    make_cert(k, c, 5, &blk, 3);
    assert_int_equal(kq_cert_verify(c, &k->chain, 5, &blk, &k->vs, &cr), KQ_OK);
    assert_int_equal(kq_cert_verify(c, &k->chain, 6, &blk, &k->vs, &cr), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_cert_verify(c, &k->chain, 5, &other, &k->vs, &cr), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_cert_median_time(c), 1007);
    uint8_t mem[KQ_CERT_BYTES(NV)];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    assert_int_equal(kq_cert_encode(c, &b), KQ_OK);
    size_t len = kq_buf_len(&b);
    assert_int_equal(len, KQ_CERT_BYTES(3));
    assert_int_equal(kq_cert_decode(d, mem, len), KQ_OK);
    assert_int_equal(kq_cert_verify(d, &k->chain, 5, &blk, &k->vs, &cr), KQ_OK);
    kq_hash h1, h2;
    kq_cert_hash(c, &h1);
    kq_cert_hash(d, &h2);
    assert_true(kq_hash_eq(&h1, &h2));
    for (size_t i = 47; i < len; i++) { /* any tampered signer byte fails */
        mem[i] ^= 0x10;
        enum kq_err e = kq_cert_decode(d, mem, len);
        if (e == KQ_OK)
            assert_int_not_equal(kq_cert_verify(d, &k->chain, 5, &blk, &k->vs, &cr), KQ_OK);
        mem[i] ^= 0x10;
    }
    assert_int_equal(kq_cert_decode(d, mem, len - 1), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_cert_decode(d, mem, len + 1), KQ_ERR_FORMAT);
    c->count = 2; /* below q(4) = 3 */
    assert_int_equal(kq_cert_verify(c, &k->chain, 5, &blk, &k->vs, &cr), KQ_ERR_THRESHOLD);
    make_cert(k, c, 5, &blk, 3);
    c->sigs[2].timestamp_ms++;
    assert_int_equal(kq_cert_verify(c, &k->chain, 5, &blk, &k->vs, &cr), KQ_ERR_BAD_SIGNATURE);
    make_cert(k, c, 5, &blk, 3);
    c->sigs[2].validator = 35; /* not in the set */
    assert_int_equal(kq_cert_verify(c, &k->chain, 5, &blk, &k->vs, &cr), KQ_ERR_BAD_SIGNATURE);
    make_cert(k, c, 5, &blk, 3);
    c->sigs[2] = c->sigs[1]; /* one signer twice */
    assert_int_equal(kq_cert_verify(c, &k->chain, 5, &blk, &k->vs, &cr), KQ_ERR_FORMAT);
    kq_buf_writer(&b, mem, sizeof mem);
    assert_int_equal(kq_cert_encode(c, &b), KQ_OK);
    assert_int_equal(kq_cert_decode(d, mem, kq_buf_len(&b)), KQ_ERR_FORMAT);
    free(c);
    free(d);
    free(k);
}

static void test_block_proposal(void **unused)
{
    (void)unused;
    struct keys *k = keys_new();
    struct kq_ledger_crypto cr = crypto_for(k, 30);
    struct kq_block *b = calloc(1, sizeof *b), *d = calloc(1, sizeof *d);
    static const uint8_t t1[] = "first tx", t2[] = "second";
    b->header =
        (struct kq_header){.chain_id = k->chain, .height = 2, .proposer = 30, .tx_count = 2};
    b->n_txs = 2;
    b->txs[0] = (struct kq_tx_view){t1, sizeof t1};
    b->txs[1] = (struct kq_tx_view){t2, sizeof t2};
    assert_int_equal(kq_block_tx_root(b, &b->header.tx_root), KQ_OK);
    kq_hash parent = {{1}};
    make_cert(k, &b->last_commit, 1, &parent, 4);
    b->has_last_commit = true;
    size_t cap = 4096;
    uint8_t *mem = malloc(cap);
    struct kq_buf w;
    kq_buf_writer(&w, mem, cap);
    assert_int_equal(kq_block_encode(b, &w), KQ_OK);
    size_t len = kq_buf_len(&w);
    assert_int_equal(kq_block_decode(d, mem, len), KQ_OK);
    assert_int_equal(d->n_txs, 2);
    assert_memory_equal(d->txs[1].data, t2, sizeof t2);
    assert_int_equal(d->last_commit.count, 4);
    kq_hash r;
    assert_int_equal(kq_block_tx_root(d, &r), KQ_OK);
    assert_true(kq_hash_eq(&r, &b->header.tx_root));
    assert_int_equal(kq_block_decode(d, mem, len - 1), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_block_decode(d, mem, len + 1), KQ_ERR_FORMAT);
    mem[KQ_HEADER_BYTES - 4 * 32 - 1] = 3; /* tx_count != n_txs */
    assert_int_equal(kq_block_decode(d, mem, len), KQ_ERR_FORMAT);
    mem[KQ_HEADER_BYTES - 4 * 32 - 1] = 2;
    b->has_last_commit = false; /* height 2 needs the parent's certificate */
    kq_buf_writer(&w, mem, cap);
    assert_int_equal(kq_block_encode(b, &w), KQ_OK);
    assert_int_equal(kq_block_decode(d, mem, kq_buf_len(&w)), KQ_ERR_FORMAT);
    b->has_last_commit = true;
    kq_buf_writer(&w, mem, 100);
    assert_int_equal(kq_block_encode(b, &w), KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 0);

    /* a proposal carrying the block */
    kq_buf_writer(&w, mem, cap);
    assert_int_equal(kq_block_encode(b, &w), KQ_OK);
    kq_hash bh;
    kq_header_hash(&b->header, &bh);
    struct kq_cert *pol = calloc(1, sizeof *pol), *dpol = calloc(1, sizeof *dpol);
    make_votes(k, pol, 2, 0, &bh, 3, KQ_VOTE_PREVOTE);
    uint8_t polb[KQ_CERT_BYTES(NV)];
    struct kq_buf polw;
    kq_buf_writer(&polw, polb, sizeof polb);
    assert_int_equal(kq_cert_encode(pol, &polw), KQ_OK);
    struct kq_proposal p = {.height = 2,
                            .round = 1,
                            .pol_round = 0,
                            .proposer = 30,
                            .block = mem,
                            .block_len = kq_buf_len(&w),
                            .pol = polb,
                            .pol_len = kq_buf_len(&polw)},
                       dp;
    kq_proposal_sign(&p, &k->chain, &bh, &cr);
    size_t pcap = cap + KQ_PROPOSAL_OVERHEAD + sizeof polb;
    uint8_t *pm = malloc(pcap);
    struct kq_buf pw;
    kq_buf_writer(&pw, pm, pcap);
    assert_int_equal(kq_proposal_encode(&p, &pw), KQ_OK);
    assert_int_equal(kq_proposal_decode(&dp, pm, kq_buf_len(&pw)), KQ_OK);
    assert_int_equal(dp.block_len, p.block_len);
    /* the proof of lock: prevotes of round 0 for this block */
    assert_int_equal(dp.pol_len, p.pol_len);
    assert_int_equal(kq_cert_decode(dpol, dp.pol, dp.pol_len), KQ_OK);
    assert_int_equal(kq_pol_verify(dpol, &k->chain, 2, 0, &bh, &k->vs, &cr), KQ_OK);
    assert_int_equal(kq_pol_verify(dpol, &k->chain, 2, 1, &bh, &k->vs, &cr), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_pol_verify(dpol, &k->chain, 2, 0, &parent, &k->vs, &cr), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_cert_verify(dpol, &k->chain, 2, &bh, &k->vs, &cr), KQ_ERR_BAD_SIGNATURE);
    make_votes(k, pol, 2, 0, &bh, 3, KQ_VOTE_PRECOMMIT); /* precommits are not a proof of lock */
    assert_int_equal(kq_pol_verify(pol, &k->chain, 2, 0, &bh, &k->vs, &cr), KQ_ERR_BAD_SIGNATURE);
    make_votes(k, pol, 2, 0, &bh, 2, KQ_VOTE_PREVOTE);
    assert_int_equal(kq_pol_verify(pol, &k->chain, 2, 0, &bh, &k->vs, &cr), KQ_ERR_THRESHOLD);
    assert_int_equal(kq_cert_decode(dpol, dp.pol, dp.pol_len - 1), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_proposal_verify(&dp, &k->chain, &bh, k->vs.v[2].pk, &cr), KQ_OK);
    assert_int_equal(kq_proposal_verify(&dp, &k->chain, &parent, k->vs.v[2].pk, &cr),
                     KQ_ERR_BAD_SIGNATURE);
    dp.round = 2;
    assert_int_equal(kq_proposal_verify(&dp, &k->chain, &bh, k->vs.v[2].pk, &cr),
                     KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(kq_proposal_decode(&dp, pm, KQ_PROPOSAL_OVERHEAD + p.block_len - 1),
                     KQ_ERR_TRUNCATED);
    /* with a pol_round the proof must follow; without one nothing may */
    assert_int_equal(kq_proposal_decode(&dp, pm, KQ_PROPOSAL_OVERHEAD + p.block_len),
                     KQ_ERR_FORMAT);
    pm[13] = pm[14] = pm[15] = pm[16] = 0xff; /* pol_round none, yet a proof follows */
    assert_int_equal(kq_proposal_decode(&dp, pm, kq_buf_len(&pw)), KQ_ERR_FORMAT);
    assert_int_equal(kq_proposal_decode(&dp, pm, KQ_PROPOSAL_OVERHEAD + p.block_len), KQ_OK);
    pm[13] = pm[14] = pm[15] = 0;
    pm[16] = 1; /* pol_round 1 is not below round 1 */
    assert_int_equal(kq_proposal_decode(&dp, pm, kq_buf_len(&pw)), KQ_ERR_FORMAT);
    p.pol_len = 0; /* the encoder refuses a pol_round without its proof */
    kq_buf_writer(&pw, pm, pcap);
    assert_int_equal(kq_proposal_encode(&p, &pw), KQ_ERR_INVALID_ARG);
    free(pol);
    free(dpol);
    free(pm);
    free(mem);
    free(b);
    free(d);
    free(k);
}

static void test_ledger_msg(void **unused)
{
    (void)unused;
    uint8_t mem[512];
    struct kq_buf b;
    uint64_t h;
    kq_buf_writer(&b, mem, sizeof mem);
    assert_int_equal(kq_block_req_encode(42, &b), KQ_OK);
    assert_int_equal(kq_block_req_decode(&h, mem, kq_buf_len(&b)), KQ_OK);
    assert_int_equal(h, 42);
    assert_int_equal(kq_block_req_decode(&h, mem, kq_buf_len(&b) + 1), KQ_ERR_FORMAT);
    assert_int_equal(kq_block_req_encode(0, &b), KQ_ERR_INVALID_ARG);
    memset(mem + 1, 0, 8);
    assert_int_equal(kq_block_req_decode(&h, mem, 9), KQ_ERR_FORMAT);
    mem[0] = 9;
    assert_int_equal(kq_block_req_decode(&h, mem, 9), KQ_ERR_VERSION);

    const uint8_t *tx;
    size_t tl;
    kq_buf_writer(&b, mem, sizeof mem);
    assert_int_equal(kq_tx_msg_encode((const uint8_t *)"abc", 3, &b), KQ_OK);
    assert_int_equal(kq_tx_msg_decode(&tx, &tl, mem, kq_buf_len(&b)), KQ_OK);
    assert_int_equal(tl, 3);
    assert_memory_equal(tx, "abc", 3);
    assert_int_equal(kq_tx_msg_decode(&tx, &tl, mem, 1), KQ_ERR_FORMAT);
    assert_int_equal(kq_tx_msg_encode((const uint8_t *)"", 0, &b), KQ_ERR_FORMAT);

    struct kq_cert *c = calloc(1, sizeof *c), *d = calloc(1, sizeof *d);
    c->height = 3;
    c->count = 1;
    c->sigs[0].validator = 1;
    const uint8_t *blk;
    size_t bl;
    kq_buf_writer(&b, mem, sizeof mem);
    assert_int_equal(kq_block_resp_encode((const uint8_t *)"blockbytes", 10, c, &b), KQ_OK);
    assert_int_equal(kq_block_resp_decode(&blk, &bl, d, mem, kq_buf_len(&b)), KQ_OK);
    assert_int_equal(bl, 10);
    assert_memory_equal(blk, "blockbytes", 10);
    assert_int_equal(d->height, 3);
    assert_int_equal(kq_block_resp_decode(&blk, &bl, d, mem, kq_buf_len(&b) + 1), KQ_ERR_FORMAT);
    assert_null(blk);
    assert_int_equal(kq_block_resp_decode(&blk, &bl, d, mem, kq_buf_len(&b) - 1), KQ_ERR_TRUNCATED);
    assert_true(kq_ledger_frame_is(KQ_FRAME_LEDGER_VOTE));
    assert_true(kq_ledger_frame_is(KQ_FRAME_LEDGER_CHUNK));
    assert_false(kq_ledger_frame_is(0x010a));
    free(c);
    free(d);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valset),         cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_header_vote),    cmocka_unit_test(test_cert),
        cmocka_unit_test(test_block_proposal), cmocka_unit_test(test_ledger_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
