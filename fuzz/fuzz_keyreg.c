/* Fuzzes the key registry's decoders: the records (key, version, sharing, session, session
 * message, session list, epoch, keeper, index, parameters) and the transaction bodies of the KEY,
 * KEEPER and EVIDENCE families; the first input byte picks one (and the op). Property: whatever
 * decodes re-encodes to the same bytes (one encoding per value). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "crypto/group.h"
#include "ledger/keyreg.h"

enum {
    SEL_KEY,
    SEL_VERSION,
    SEL_SHARING,
    SEL_SESSION,
    SEL_MSG,
    SEL_LIST,
    SEL_EPOCH,
    SEL_KEEPER,
    SEL_INDEX,
    SEL_PARAMS,
    SEL_KEY_TX,    /* op = next byte */
    SEL_KEEPER_TX, /* op = next byte */
    SEL_EVIDENCE,
    SEL_N
};

#define OUT_CAP (128 * 1024)
static uint8_t out[OUT_CAP];

static size_t n;

/* The encoder's result (evaluated first, into n) must be the input, byte for byte. */
static void same(const uint8_t *in, size_t len, enum kq_err enc)
{
    KQ_FUZZ_CHECK(enc == KQ_OK && n == len && memcmp(out, in, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static union {
        struct kq_key_rec k;
        struct kq_keyver_rec v;
        struct kq_sharing_rec s;
        struct kq_session_rec ss;
        struct kq_session_msg m;
        struct kq_session_list l;
        struct kq_epoch_rec e;
        struct kq_keeper_rec kr;
        struct kq_key_index ix;
        struct kq_keyparams p;
        struct kq_key_tx kt;
        struct kq_keeper_tx kpt;
        struct kq_evidence_tx ev;
    } u;
    kq_fuzz_init();
    if (size < 2)
        return 0;
    unsigned sel = data[0] % SEL_N;
    uint16_t op = data[1];
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    n = 0;
    switch (sel) {
    case SEL_KEY:
        if (kq_key_rec_decode(&u.k, in, len) == KQ_OK)
            same(in, len, kq_key_rec_encode(&u.k, out, OUT_CAP, &n));
        break;
    case SEL_VERSION:
        if (kq_keyver_rec_decode(&u.v, in, len) == KQ_OK)
            same(in, len, kq_keyver_rec_encode(&u.v, out, OUT_CAP, &n));
        break;
    case SEL_SHARING:
        if (kq_sharing_rec_decode(&u.s, in, len) == KQ_OK)
            same(in, len, kq_sharing_rec_encode(&u.s, out, OUT_CAP, &n));
        break;
    case SEL_SESSION:
        if (kq_session_rec_decode(&u.ss, in, len) == KQ_OK)
            same(in, len, kq_session_rec_encode(&u.ss, out, OUT_CAP, &n));
        break;
    case SEL_MSG:
        if (kq_session_msg_decode(&u.m, in, len) == KQ_OK)
            same(in, len,
                 kq_session_msg_encode(u.m.height, u.m.sender, u.m.bytes, u.m.len, out, OUT_CAP,
                                       &n));
        break;
    case SEL_LIST:
        if (kq_session_list_decode(&u.l, in, len) == KQ_OK)
            same(in, len, kq_session_list_encode(&u.l, out, OUT_CAP, &n));
        break;
    case SEL_EPOCH:
        if (kq_epoch_rec_decode(&u.e, in, len) == KQ_OK)
            same(in, len, kq_epoch_rec_encode(&u.e, out, OUT_CAP, &n));
        break;
    case SEL_KEEPER:
        if (kq_keeper_rec_decode(&u.kr, in, len) == KQ_OK)
            same(in, len, kq_keeper_rec_encode(&u.kr, out, OUT_CAP, &n));
        break;
    case SEL_INDEX:
        if (kq_key_index_decode(&u.ix, in, len) == KQ_OK)
            same(in, len, kq_key_index_encode(&u.ix, out, OUT_CAP, &n));
        break;
    case SEL_PARAMS:
        if (kq_keyparams_decode(&u.p, in, len) == KQ_OK)
            KQ_FUZZ_CHECK(kq_keyparams_check(&u.p) == KQ_OK);
        break;
    case SEL_KEY_TX:
        if (size > 2 && kq_key_tx_decode(op % 9, &u.kt, in + 1, len - 1) == KQ_OK)
            same(in + 1, len - 1, kq_key_tx_encode(op % 9, &u.kt, out, OUT_CAP, &n));
        break;
    case SEL_KEEPER_TX:
        if (size > 2 && kq_keeper_tx_decode(op % 6, &u.kpt, in + 1, len - 1) == KQ_OK)
            same(in + 1, len - 1, kq_keeper_tx_encode(op % 6, &u.kpt, out, OUT_CAP, &n));
        break;
    default:
        if (kq_evidence_tx_decode(&u.ev, in, len) == KQ_OK)
            same(in, len, kq_evidence_tx_encode(&u.ev, out, OUT_CAP, &n));
        break;
    }
    return 0;
}

/* Fills n points with the base point (every record's points must be valid). */
static void base_points(uint8_t (*pts)[KQ_POINTBYTES], size_t count)
{
    static const uint8_t one[KQ_SCALARBYTES] = {1};
    for (size_t i = 0; i < count; i++)
        kq_pt_mul_base(pts[i], one);
}

/* One valid encoding per selector, made with the encoders. */
size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    n = 0;
    enum kq_err err = KQ_ERR_INVALID_ARG;
    uint8_t *o = buf + 1;
    if (cap < 2)
        return 0;
    switch (i) {
    case 0: {
        struct kq_key_rec k = {.usage = 1,
                               .state = 1,
                               .n = 4,
                               .t = 3,
                               .latest_version = 1,
                               .min_decryption_version = 1};
        strcpy(k.name, "orders");
        err = kq_key_rec_encode(&k, o, cap - 1, &n);
        buf[0] = SEL_KEY;
        break;
    }
    case 1: {
        struct kq_keyver_rec v = {.version = 1, .state = KQ_KEYVER_GENERATING};
        err = kq_keyver_rec_encode(&v, o, cap - 1, &n);
        buf[0] = SEL_VERSION;
        break;
    }
    case 2: {
        struct kq_epoch_rec e = {.number = 3, .start_height = 7, .backlog = true};
        err = kq_epoch_rec_encode(&e, o, cap - 1, &n);
        buf[0] = SEL_EPOCH;
        break;
    }
    case 3: {
        struct kq_key_index ix = {.count = 1};
        strcpy(ix.keys[0].name, "k");
        err = kq_key_index_encode(&ix, o, cap - 1, &n);
        buf[0] = SEL_INDEX;
        break;
    }
    case 4: {
        struct kq_key_tx t = {.usage = 1, .n = 4, .t = 3};
        strcpy(t.name, "orders");
        strcpy(t.client, "admin");
        if (cap < 3)
            return 0;
        buf[1] = KQ_KEY_OP_CREATE;
        err = kq_key_tx_encode(KQ_KEY_OP_CREATE, &t, buf + 2, cap - 2, &n);
        buf[0] = SEL_KEY_TX;
        n++;
        break;
    }
    case 5: {
        struct kq_keeper_tx t = {.n_usage = 1};
        strcpy(t.usage[0].name, "orders");
        t.usage[0].ops = 12;
        if (cap < 3)
            return 0;
        buf[1] = KQ_KEEPER_OP_USAGE;
        err = kq_keeper_tx_encode(KQ_KEEPER_OP_USAGE, &t, buf + 2, cap - 2, &n);
        buf[0] = SEL_KEEPER_TX;
        n++;
        break;
    }
    case 6: {
        static const uint8_t resp[8] = {1, 2, 3};
        struct kq_evidence_tx t = {
            .keeper = 2, .version = 1, .epoch = 1, .response = resp, .response_len = sizeof resp};
        strcpy(t.name, "orders");
        err = kq_evidence_tx_encode(&t, o, cap - 1, &n);
        buf[0] = SEL_EVIDENCE;
        break;
    }
    case 7: {
        static const uint8_t msg[4] = {1, 1, 0, 0};
        err = kq_session_msg_encode(9, 1, msg, sizeof msg, o, cap - 1, &n);
        buf[0] = SEL_MSG;
        break;
    }
    case 8: {
        struct kq_sharing_rec *sh = calloc(1, sizeof *sh);
        if (sh == NULL)
            return 0;
        *sh = (struct kq_sharing_rec){.epoch = 2, .n = 2, .t = 2, .keepers = {3, 1}};
        base_points(sh->commits, 2);
        base_points(sh->public_shares, 2);
        err = kq_sharing_rec_encode(sh, o, cap - 1, &n);
        free(sh);
        buf[0] = SEL_SHARING;
        break;
    }
    case 9: {
        struct kq_session_rec *ss = calloc(1, sizeof *ss);
        if (ss == NULL)
            return 0;
        strcpy(ss->name, "orders");
        ss->version = 1;
        ss->mode = KQ_DKG_RESHARE;
        ss->state = KQ_SESSION_RUNNING;
        ss->epoch = 3;
        ss->n = ss->t = 2;
        ss->keepers[0] = 1;
        ss->keepers[1] = 4;
        ss->old_epoch = 2;
        ss->old_n = 3;
        ss->old_t = 2;
        ss->old_keepers[0] = 1, ss->old_keepers[1] = 2, ss->old_keepers[2] = 3;
        memset(ss->pks, 5, sizeof ss->pks);
        memset(ss->old_pks, 6, sizeof ss->old_pks);
        base_points(ss->old_commits, 2);
        ss->start_height = 10, ss->deal_deadline = 16, ss->complaint_deadline = 19;
        ss->justify_deadline = 22, ss->msg_count = 2;
        err = kq_session_rec_encode(ss, o, cap - 1, &n);
        free(ss);
        buf[0] = SEL_SESSION;
        break;
    }
    case 10: {
        static struct kq_session_list l = {.count = 2, .due = {19, 40}};
        l.ids[0].b[0] = 1;
        l.ids[1].b[0] = 2;
        err = kq_session_list_encode(&l, o, cap - 1, &n);
        buf[0] = SEL_LIST;
        break;
    }
    case 11: {
        struct kq_keeper_rec kr = {.node_id = 4, .faults = 1, .quarantined = true};
        err = kq_keeper_rec_encode(&kr, o, cap - 1, &n);
        buf[0] = SEL_KEEPER;
        break;
    }
    case 12:
    case 13:
    case 14: {
        static const uint8_t msg[40] = {1, 1};
        uint16_t op = i == 12   ? KQ_KEEPER_OP_EPOCH_KEY
                      : i == 13 ? KQ_KEEPER_OP_DKG_MSG
                                : KQ_KEEPER_OP_LOST;
        static struct kq_keeper_tx t;
        t.epoch = 2;
        memset(t.pk, 1, sizeof t.pk);
        memset(t.next_pk, 2, sizeof t.next_pk);
        t.msg = msg;
        t.msg_len = sizeof msg;
        if (cap < 3)
            return 0;
        buf[1] = (uint8_t)op;
        err = kq_keeper_tx_encode(op, &t, buf + 2, cap - 2, &n);
        buf[0] = SEL_KEEPER_TX;
        n++;
        break;
    }
    default:
        return 0;
    }
    return err == KQ_OK ? n + 1 : 0;
}
