/* Fuzzes the ledger frame decoders (proposal, block, vote, certificate, header, block request and
 * response, tx gossip). Property: whatever decodes re-encodes to exactly the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz.h"
#include "ledger/block.h"
#include "wire/ledger_msg.h"

static uint8_t out[KQ_BLOCK_RESP_MAX_BYTES];
static struct kq_block blk;
static struct kq_cert cert;

static void check_same(const uint8_t *data, size_t size, const struct kq_buf *w)
{
    KQ_FUZZ_CHECK(kq_buf_len(w) == size && memcmp(kq_buf_bytes(w), data, size) == 0);
}

static void fuzz_block(const uint8_t *data, size_t size)
{
    struct kq_buf w;
    if (kq_block_decode(&blk, data, size) != KQ_OK)
        return;
    kq_buf_writer(&w, out, sizeof out);
    KQ_FUZZ_CHECK(kq_block_encode(&blk, &w) == KQ_OK);
    check_same(data, size, &w);
}

static void fuzz_one(uint8_t kind, const uint8_t *data, size_t size)
{
    struct kq_buf w;
    kq_buf_writer(&w, out, sizeof out);
    struct kq_vote v;
    struct kq_header h;
    struct kq_proposal p;
    uint64_t height;
    const uint8_t *ptr;
    size_t len;
    switch (kind % 7) {
    case 0:
        if (kq_vote_decode(&v, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_vote_encode(&v, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    case 1:
        if (kq_header_decode(&h, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_header_encode(&h, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    case 2:
        if (kq_cert_decode(&cert, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_cert_encode(&cert, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    case 3:
        fuzz_block(data, size);
        break;
    case 4:
        if (kq_proposal_decode(&p, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_proposal_encode(&p, &w) == KQ_OK);
            check_same(data, size, &w);
            fuzz_block(p.block, p.block_len);
            if (p.pol_len > 0 && kq_cert_decode(&cert, p.pol, p.pol_len) == KQ_OK) {
                kq_buf_writer(&w, out, sizeof out);
                KQ_FUZZ_CHECK(kq_cert_encode(&cert, &w) == KQ_OK);
                check_same(p.pol, p.pol_len, &w);
            }
        }
        break;
    case 5:
        if (kq_block_resp_decode(&ptr, &len, &cert, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_block_resp_encode(ptr, len, &cert, &w) == KQ_OK);
            check_same(data, size, &w);
            fuzz_block(ptr, len);
        }
        break;
    default:
        if (kq_block_req_decode(&height, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_block_req_encode(height, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        if (kq_tx_msg_decode(&ptr, &len, data, size) == KQ_OK) {
            kq_buf_writer(&w, out, sizeof out);
            KQ_FUZZ_CHECK(kq_tx_msg_encode(ptr, len, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    }
}

/* The first byte picks the decoder; the rest is its input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_fuzz_init();
    if (size < 1)
        return 0;
    fuzz_one(data[0], data + 1, size - 1);
    return 0;
}

static size_t seed_block(uint8_t *buf, size_t cap, bool with_cert)
{
    static const uint8_t tx[] = "seed tx";
    memset(&blk, 0, sizeof blk);
    blk.header.height = with_cert ? 2 : 1;
    blk.header.tx_count = 1;
    blk.n_txs = 1;
    blk.txs[0] = (struct kq_tx_view){tx, sizeof tx};
    blk.has_last_commit = with_cert;
    blk.last_commit = (struct kq_cert){.height = 1, .count = 2};
    blk.last_commit.sigs[0].validator = 1;
    blk.last_commit.sigs[1].validator = 2;
    struct kq_buf w;
    kq_buf_writer(&w, buf, cap);
    return kq_block_encode(&blk, &w) == KQ_OK ? kq_buf_len(&w) : 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    kq_fuzz_init();
    if (i >= 7 || cap < 2048)
        return 0;
    struct kq_buf w;
    kq_buf_writer(&w, buf + 1, cap - 1);
    buf[0] = (uint8_t)i;
    enum kq_err err = KQ_OK;
    static uint8_t tmp[2048];
    size_t n;
    switch (i) {
    case 0: {
        struct kq_vote v = {.type = KQ_VOTE_PRECOMMIT, .height = 3, .has_block = true};
        v.block.b[0] = 1;
        err = kq_vote_encode(&v, &w);
        break;
    }
    case 1: {
        struct kq_header h = {.height = 9, .tx_count = 3};
        err = kq_header_encode(&h, &w);
        break;
    }
    case 2:
        seed_block(tmp, sizeof tmp, true);
        err = kq_cert_encode(&blk.last_commit, &w);
        break;
    case 3:
        return 1 + seed_block(buf + 1, cap - 1, true);
    case 4: {
        n = seed_block(tmp, sizeof tmp, false);
        seed_block(tmp + n, sizeof tmp - n, true); /* fills blk.last_commit for the proof */
        static uint8_t pol[KQ_CERT_BYTES(2)];
        struct kq_buf pw;
        kq_buf_writer(&pw, pol, sizeof pol);
        if (kq_cert_encode(&blk.last_commit, &pw) != KQ_OK)
            return 0;
        struct kq_proposal p = {.height = 1,
                                .round = 2,
                                .pol_round = 1,
                                .block = tmp,
                                .block_len = n,
                                .pol = pol,
                                .pol_len = kq_buf_len(&pw)};
        err = kq_proposal_encode(&p, &w);
        break;
    }
    case 5:
        n = seed_block(tmp, sizeof tmp, true);
        err = kq_block_resp_encode(tmp, n, &blk.last_commit, &w);
        break;
    default:
        err = kq_block_req_encode(77, &w);
        break;
    }
    return err == KQ_OK ? 1 + kq_buf_len(&w) : 0;
}
