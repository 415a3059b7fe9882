/* `keyquorum demo`: a narrated run of the threshold cryptography core with five simulated
 * keepers in one process. Every claim it prints is checked; any surprise ends the demo with
 * exit code 1, so the demo doubles as an end-to-end smoke test. Secrets are wiped at the end. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "crypto/dkg_local.h"
#include "crypto/frost.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"

#define DEMO_N 5
#define DEMO_T 3

/* Every secret the demo holds lives here, in one guarded allocation that kq_cli_demo wipes and
 * frees on every path (early returns included). */
struct demo {
    struct kq_dkg_result enc[DEMO_N], fresh[DEMO_N]; /* encryption key, before and after refresh */
    struct kq_dkg_result sign_keys[DEMO_N], derive_keys[DEMO_N];
    struct kq_frost_key_package kp[DEMO_N];
    uint8_t pt[KQ_TKEM_DEKBYTES];     /* recovered data keys */
    uint8_t k7a[32], k7b[32], k8[32]; /* derived epoch keys */
    struct kq_label label, other;     /* the true label and a replayed context */
    uint8_t edpk[DEMO_N][KQ_PARTIAL_PKBYTES], edsk[DEMO_N][KQ_PARTIAL_SKBYTES];
    uint8_t dek[KQ_TKEM_DEKBYTES];
    uint8_t ct[KQ_TKEM_CTBYTES(KQ_TKEM_DEKBYTES)];
    size_t ct_len;
    struct kq_tkem_ct dec;
};

#define DEMO_EXPECT(cond, what)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "demo: unexpected: %s\n", what);                                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static const char *hex(const uint8_t *b, size_t n)
{
    static char buf[4][80];
    static int slot;
    char *out = buf[slot++ % 4];
    size_t shown = n > 16 ? 16 : n;
    sodium_bin2hex(out, sizeof buf[0], b, shown);
    if (shown < n)
        strcat(out, "...");
    return out;
}

/* A short public fingerprint of a secret (BLAKE2b, 8 bytes) so the demo never prints key bytes. */
static const char *fp(const uint8_t *secret, size_t n)
{
    uint8_t h[8];
    crypto_generichash(h, sizeof h, secret, n, (const uint8_t *)"kq-demo-fp", 10);
    return hex(h, sizeof h);
}

static void say(const char *step, const char *title)
{
    printf("\n== %s %s\n", step, title);
}

static int build_labels(struct demo *d)
{
    static const uint8_t k1[] = "tenant", v1[] = "acme", k2[] = "purpose", v2[] = "invoices";
    static const uint8_t evil[] = "mallory";
    struct kq_ctx_pair ctx[2] = {{k2, 7, v2, 8}, {k1, 6, v1, 4}}; /* any order: canonicalised */
    struct kq_ctx_pair bad[2] = {{k2, 7, v2, 8}, {k1, 6, evil, 7}};
    const uint8_t *key = (const uint8_t *)"payments";
    DEMO_EXPECT(kq_label_build(&d->label, key, 8, 1, KQ_PURPOSE_DEK, ctx, 2) == KQ_OK, "label");
    DEMO_EXPECT(kq_label_build(&d->other, key, 8, 1, KQ_PURPOSE_DEK, bad, 2) == KQ_OK, "label");
    return 0;
}

static int step_dkg(struct demo *d)
{
    say("[1]", "Distributed key generation among 5 keepers, threshold 3");
    printf(
        "   Each keeper deals a random degree-2 polynomial: Feldman commitments and a proof of\n"
        "   knowledge of its constant term go on the broadcast channel, and each share is\n"
        "   encrypted to its recipient's per-epoch X25519 key. Keeper 5 cheats: it sends keeper\n"
        "   2 a bad share, and when keeper 2 complains it reveals a wrong one.\n");
    struct kq_dkg_fault fault = {KQ_DKG_FAULT_BAD_SHARE_BAD_JUSTIFY, 5, 2};
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    struct kq_dkg_result *obs = calloc(1, sizeof *obs);
    struct kq_dkg_local_cfg cfg = {.mode = KQ_DKG_FRESH,
                                   .n = DEMO_N,
                                   .t = DEMO_T,
                                   .faults = &fault,
                                   .nfaults = 1,
                                   .transcript = tr};
    int rc = 1;
    if (tr == NULL || obs == NULL || kq_dkg_local_run(&cfg, d->enc) != KQ_OK)
        goto out;
    printf("   QUAL = {");
    for (uint32_t i = 0; i < d->enc[0].qual_count; i++)
        printf("%s%u", i ? ", " : "", d->enc[0].qual[i]);
    printf("}: keeper 5 is excluded as a dealer (it still holds a share as a recipient)\n");
    if (d->enc[0].qual_count != 4 || d->enc[0].qual[3] != 4)
        goto out;
    for (int i = 0; i < DEMO_N; i++) {
        uint8_t check[KQ_POINTBYTES];
        kq_pt_mul_base(check, d->enc[i].share);
        if (!kq_ct_eq(check, d->enc[0].public_shares[i], KQ_POINTBYTES) ||
            !kq_ct_eq(d->enc[i].group_pk, d->enc[0].group_pk, KQ_POINTBYTES))
            goto out;
    }
    printf("   group public key S = %s  (the secret s exists nowhere)\n",
           hex(d->enc[0].group_pk, 32));
    if (kq_dkg_transcript_derive(&tr->pub, tr->msgs, tr->count, obs) != KQ_OK ||
        !kq_ct_eq(obs->group_pk, d->enc[0].group_pk, KQ_POINTBYTES))
        goto out;
    printf("   an observer replaying the %zu public broadcasts derives the same S and all five\n"
           "   public shares S_i, and every keeper's share matches its S_i\n",
           tr->count);
    rc = 0;
out:
    free(tr);
    if (obs != NULL)
        kq_dkg_result_wipe(obs);
    free(obs);
    DEMO_EXPECT(rc == 0, "the DKG did not end as narrated");
    return 0;
}

static int step_wrap(struct demo *d)
{
    say("[2]", "A client wraps a fresh data key locally (no round trip)");
    char text[KQ_TKEM_TEXTBYTES(KQ_TKEM_DEKBYTES)];
    size_t tlen;
    kq_random(d->dek, sizeof d->dek);
    DEMO_EXPECT(kq_tkem_wrap(d->ct, sizeof d->ct, &d->ct_len, d->enc[0].group_pk, &d->label, d->dek,
                             sizeof d->dek) == KQ_OK,
                "wrap");
    DEMO_EXPECT(kq_tkem_decode(&d->dec, d->ct, d->ct_len) == KQ_OK, "decode");
    DEMO_EXPECT(kq_tkem_to_text(text, sizeof text, &tlen, d->ct, d->ct_len) == KQ_OK, "text");
    printf("   label: key \"payments\" v1, type dek, context {purpose: invoices, tenant: acme}\n");
    printf("   data key fingerprint %s (the key itself is never printed)\n", fp(d->dek, 32));
    printf("   ciphertext %.60s... (%zu bytes binary)\n", text, d->ct_len);
    printf("   it carries R = r*G, a Schnorr proof of r bound to (S, R, label), a key commitment\n"
           "   and the XChaCha20-Poly1305-sealed key with the label as associated data\n");
    return 0;
}

/* Keeper `idx` (1-based) answers an unwrap of d->dec under label with its share from keys; if
 * forge, it lies about Z_i (and signs the lie). */
static enum kq_err keeper_unwrap(struct demo *d, const struct kq_dkg_result *keys, uint32_t idx,
                                 const struct kq_label *label, int forge, uint64_t epoch,
                                 struct kq_partial_resp *resp, struct kq_tkem_partial *part)
{
    uint8_t reqid[KQ_PARTIAL_REQIDBYTES];
    kq_random(reqid, sizeof reqid);
    KQ_GUARD(
        kq_tkem_partial(part, &d->dec, label, keys[idx - 1].group_pk, keys[idx - 1].share, idx));
    if (forge) {
        uint8_t r[KQ_SCALARBYTES];
        kq_sc_random(r);
        kq_pt_mul_base(part->Z, r);
    }
    return kq_partial_respond(resp, reqid, label, epoch, 1700000000, idx, d->dec.R, part, NULL,
                              d->edsk[idx - 1]);
}

static int step_unwrap_forged(struct demo *d)
{
    say("[3]", "Unwrap through keepers 1, 2, 3 (keeper 4 as spare); keeper 2 forges its partial");
    static struct kq_partial_resp resp[4];
    struct kq_tkem_partial parts[4];
    uint8_t pubs[4][KQ_POINTBYTES], faulty[4] = {0}, *pt = d->pt;
    size_t pt_len;
    for (uint32_t i = 1; i <= 4; i++) {
        DEMO_EXPECT(
            keeper_unwrap(d, d->enc, i, &d->label, i == 2, 1, &resp[i - 1], &parts[i - 1]) == KQ_OK,
            "keeper partial");
        DEMO_EXPECT(kq_partial_verify(&resp[i - 1], d->edpk[i - 1]) == KQ_OK, "response sig");
        memcpy(pubs[i - 1], d->enc[0].public_shares[i - 1], KQ_POINTBYTES);
    }
    printf(
        "   each keeper checked the wrapper's proof against the label before touching its share,\n"
        "   then returned Z_i = s_i*R with a DLEQ proof, all signed with its Ed25519 key\n");
    enum kq_err err =
        kq_tkem_combine(pt, KQ_TKEM_DEKBYTES, &pt_len, faulty, &d->dec, &d->label,
                        d->enc[0].group_pk, parts, (const uint8_t(*)[32])pubs, 4, DEMO_T);
    DEMO_EXPECT(err == KQ_OK, "combine with a spare");
    DEMO_EXPECT(faulty[1] == 1 && faulty[0] == 0 && faulty[2] == 0 && faulty[3] == 0, "naming");
    DEMO_EXPECT(kq_ct_eq(pt, d->dek, KQ_TKEM_DEKBYTES), "recovered key");
    printf("   optimistic combine of 1,2,3: key commitment fails -> proofs checked -> keeper 2 "
           "named\n");
    printf("   retried with spare keeper 4: data key fingerprint %s (matches)\n", fp(pt, 32));
    int ev2 = kq_partial_evidence_check(&resp[1], d->edpk[1], pubs[1]);
    int ev1 = kq_partial_evidence_check(&resp[0], d->edpk[0], pubs[0]);
    DEMO_EXPECT(ev2 == 1 && ev1 == 0, "evidence");
    printf("   keeper 2's own signed response is evidence anyone can check with public data: %s;\n"
           "   keeper 1's honest response is not: %s\n",
           ev2 ? "valid evidence" : "no", ev1 ? "evidence" : "not evidence");
    kq_wipe(pt, KQ_TKEM_DEKBYTES);
    return 0;
}

static int step_replay(struct demo *d)
{
    say("[4]", "Replay under another context is refused");
    struct kq_tkem_partial part, parts[DEMO_T];
    struct kq_partial_resp resp;
    uint8_t pubs[DEMO_T][KQ_POINTBYTES], pt[KQ_TKEM_DEKBYTES];
    size_t pt_len;
    enum kq_err err = keeper_unwrap(d, d->enc, 1, &d->other, 0, 1, &resp, &part);
    DEMO_EXPECT(err == KQ_ERR_BAD_PROOF, "keeper refuses the other label");
    printf("   asked to open the ciphertext under {tenant: mallory}, keeper 1 refuses before\n"
           "   computing anything: %s (%s)\n",
           kq_errcode(err), kq_strerror(err));
    for (uint32_t i = 1; i <= DEMO_T; i++) {
        DEMO_EXPECT(keeper_unwrap(d, d->enc, i, &d->label, 0, 1, &resp, &parts[i - 1]) == KQ_OK,
                    "partial");
        memcpy(pubs[i - 1], d->enc[0].public_shares[i - 1], KQ_POINTBYTES);
    }
    err = kq_tkem_combine(pt, sizeof pt, &pt_len, NULL, &d->dec, &d->other, d->enc[0].group_pk,
                          parts, (const uint8_t(*)[32])pubs, DEMO_T, DEMO_T);
    DEMO_EXPECT(err != KQ_OK, "replayed partials must not open");
    printf("   honest partials made for the true label, replayed under the other context, open\n"
           "   nothing either: %s (%s)\n",
           kq_errcode(err), kq_strerror(err));
    return 0;
}

static int step_frost(struct demo *d)
{
    say("[5]", "FROST signature with a separate signing key (one secret, one protocol)");
    struct kq_dkg_result *keys = d->sign_keys;
    struct kq_frost_key_package *kp = d->kp;
    static struct kq_frost_public_package pub; /* public: the group info */
    struct kq_frost_nonces nonces[DEMO_T];
    struct kq_frost_commitment list[DEMO_T];
    uint8_t z[DEMO_T][KQ_FROST_SHAREBYTES], sig[KQ_FROST_SIGBYTES];
    static const uint8_t msg[] = "release build 1.4.2 of payments-service";
    static const uint32_t signers[DEMO_T] = {1, 3, 5};
    struct kq_dkg_local_cfg cfg = {.mode = KQ_DKG_FRESH, .n = DEMO_N, .t = DEMO_T};
    DEMO_EXPECT(kq_dkg_local_run(&cfg, keys) == KQ_OK, "signing-key DKG");
    DEMO_EXPECT(kq_frost_public_from_commitments(&pub, (const uint8_t(*)[32])keys[0].commits,
                                                 DEMO_T, DEMO_N) == KQ_OK,
                "group info");
    for (int k = 0; k < DEMO_T; k++) {
        uint32_t id = signers[k];
        DEMO_EXPECT(kq_frost_key_package_from_share(&kp[k], &pub, id, keys[id - 1].share) == KQ_OK,
                    "key package");
        DEMO_EXPECT(kq_frost_commit(&nonces[k], &list[k], &kp[k]) == KQ_OK, "commit");
    }
    for (int k = 0; k < DEMO_T; k++)
        DEMO_EXPECT(kq_frost_sign(z[k], &nonces[k], &kp[k], list, DEMO_T, msg, sizeof msg - 1) ==
                        KQ_OK,
                    "sign");
    DEMO_EXPECT(kq_frost_aggregate(sig, &pub, list, DEMO_T, (const uint8_t(*)[32])z, msg,
                                   sizeof msg - 1, NULL) == KQ_OK,
                "aggregate");
    DEMO_EXPECT(kq_frost_verify(sig, pub.group_public_key, msg, sizeof msg - 1) == KQ_OK, "verify");
    printf("   a fresh DKG made the signing key; keepers 1, 3, 5 ran both FROST rounds\n");
    printf("   signature %s  verifies as a plain Schnorr signature under %s\n", hex(sig, 64),
           hex(pub.group_public_key, 32));
    for (int k = 0; k < DEMO_N; k++)
        kq_dkg_result_wipe(&keys[k]);
    for (int k = 0; k < DEMO_N; k++)
        kq_frost_key_package_wipe(&kp[k]);
    return 0;
}

static int derive_epoch_key(const struct kq_dkg_result *keys, const uint32_t *ids, uint64_t epoch,
                            uint8_t out[KQ_TPRF_KEYBYTES])
{
    static struct kq_label label;
    struct kq_tprf_partial parts[DEMO_T];
    uint8_t pubs[DEMO_T][KQ_POINTBYTES];
    DEMO_EXPECT(kq_tprf_epoch_label(&label, (const uint8_t *)"sessions", 8, 1, epoch) == KQ_OK,
                "epoch label");
    for (int k = 0; k < DEMO_T; k++) {
        DEMO_EXPECT(kq_tprf_partial(&parts[k], &label, keys[ids[k] - 1].share, ids[k]) == KQ_OK,
                    "prf partial");
        memcpy(pubs[k], keys[0].public_shares[ids[k] - 1], KQ_POINTBYTES);
    }
    DEMO_EXPECT(kq_tprf_combine(out, NULL, &label, parts, (const uint8_t(*)[32])pubs, DEMO_T,
                                DEMO_T) == KQ_OK,
                "prf combine");
    return 0;
}

static int step_derive(struct demo *d)
{
    say("[6]", "Threshold key derivation: per-epoch ephemeral keys");
    struct kq_dkg_result *keys = d->derive_keys;
    static const uint32_t a[DEMO_T] = {2, 4, 5}, b[DEMO_T] = {1, 2, 3};
    uint8_t *k7a = d->k7a, *k7b = d->k7b, *k8 = d->k8;
    struct kq_dkg_local_cfg cfg = {.mode = KQ_DKG_FRESH, .n = DEMO_N, .t = DEMO_T};
    DEMO_EXPECT(kq_dkg_local_run(&cfg, keys) == KQ_OK, "derive-key DKG");
    if (derive_epoch_key(keys, a, 7, k7a) || derive_epoch_key(keys, b, 7, k7b) ||
        derive_epoch_key(keys, a, 8, k8))
        return 1;
    DEMO_EXPECT(kq_ct_eq(k7a, k7b, 32) && !kq_ct_eq(k7a, k8, 32), "derivation");
    printf(
        "   keepers hash (key, version, epoch) to a point themselves and return s_i*P with DLEQ\n"
        "   proofs; the combiner verifies every proof. Epoch 7 via keepers {2,4,5} and {1,2,3}:\n"
        "   the same key (fingerprint %s); epoch 8: a different one\n",
        fp(k7a, 32));
    for (int k = 0; k < DEMO_N; k++)
        kq_dkg_result_wipe(&keys[k]);
    kq_wipe(k7a, 32);
    kq_wipe(k7b, 32);
    kq_wipe(k8, 32);
    return 0;
}

static int step_refresh(struct demo *d)
{
    say("[7]", "Proactive refresh of the encryption key's shares (sharings of zero)");
    struct kq_dkg_local_cfg cfg = {.mode = KQ_DKG_REFRESH, .n = DEMO_N, .t = DEMO_T, .old = d->enc};
    DEMO_EXPECT(kq_dkg_local_run(&cfg, d->fresh) == KQ_OK, "refresh");
    DEMO_EXPECT(kq_ct_eq(d->fresh[0].group_pk, d->enc[0].group_pk, KQ_POINTBYTES), "same S");
    for (int i = 0; i < DEMO_N; i++)
        DEMO_EXPECT(!kq_ct_eq(d->fresh[i].share, d->enc[i].share, KQ_SCALARBYTES), "new share");
    printf("   every keeper's share changed; S is unchanged: %s\n", hex(d->fresh[0].group_pk, 32));
    /* keepers 1 and 2 answer with their old shares, keeper 3 with its new one */
    struct kq_tkem_partial parts[DEMO_T];
    struct kq_partial_resp resp;
    uint8_t pubs[DEMO_T][KQ_POINTBYTES], faulty[DEMO_T], pt[KQ_TKEM_DEKBYTES];
    size_t pt_len;
    for (uint32_t i = 1; i <= DEMO_T; i++) {
        const struct kq_dkg_result *keys = i < 3 ? d->enc : d->fresh;
        DEMO_EXPECT(keeper_unwrap(d, keys, i, &d->label, 0, 2, &resp, &parts[i - 1]) == KQ_OK,
                    "partial");
        memcpy(pubs[i - 1], d->fresh[0].public_shares[i - 1], KQ_POINTBYTES);
    }
    enum kq_err err =
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &d->dec, &d->label, d->fresh[0].group_pk,
                        parts, (const uint8_t(*)[32])pubs, DEMO_T, DEMO_T);
    DEMO_EXPECT(err != KQ_OK && faulty[0] && faulty[1] && !faulty[2], "old shares rejected");
    printf("   two old shares mixed with one new share open nothing (%s): the old shares are\n"
           "   named, since their proofs fail against the new public shares\n",
           kq_errcode(err));
    return 0;
}

static int step_unwrap_fresh(struct demo *d)
{
    say("[8]", "Unwrap the same ciphertext with the fresh shares of keepers 3, 4, 5");
    struct kq_tkem_partial parts[DEMO_T];
    struct kq_partial_resp resp;
    uint8_t pubs[DEMO_T][KQ_POINTBYTES], *pt = d->pt;
    size_t pt_len;
    for (uint32_t k = 0; k < DEMO_T; k++) {
        uint32_t i = k + 3;
        DEMO_EXPECT(keeper_unwrap(d, d->fresh, i, &d->label, 0, 2, &resp, &parts[k]) == KQ_OK,
                    "partial");
        memcpy(pubs[k], d->fresh[0].public_shares[i - 1], KQ_POINTBYTES);
    }
    DEMO_EXPECT(kq_tkem_combine(pt, KQ_TKEM_DEKBYTES, &pt_len, NULL, &d->dec, &d->label,
                                d->fresh[0].group_pk, parts, (const uint8_t(*)[32])pubs, DEMO_T,
                                DEMO_T) == KQ_OK,
                "fresh unwrap");
    DEMO_EXPECT(kq_ct_eq(pt, d->dek, KQ_TKEM_DEKBYTES), "same key");
    printf("   data key fingerprint %s (matches the key wrapped before the refresh)\n", fp(pt, 32));
    kq_wipe(pt, KQ_TKEM_DEKBYTES);
    return 0;
}

int kq_cli_demo(int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "usage: keyquorum demo\n");
        return 2;
    }
    struct demo *d = kq_secure_alloc(sizeof *d);
    if (d == NULL) {
        fprintf(stderr, "demo: out of memory\n");
        return 2;
    }
    printf("keyquorum demo: threshold cryptography with 5 simulated keepers (t = 3)\n");
    for (int i = 0; i < DEMO_N; i++)
        crypto_sign_keypair(d->edpk[i], d->edsk[i]);
    int rc = build_labels(d) || step_dkg(d) || step_wrap(d) || step_unwrap_forged(d) ||
             step_replay(d) || step_frost(d) || step_derive(d) || step_refresh(d) ||
             step_unwrap_fresh(d);
    for (int i = 0; i < DEMO_N; i++) {
        kq_dkg_result_wipe(&d->enc[i]);
        kq_dkg_result_wipe(&d->fresh[i]);
    }
    kq_secure_free(d);
    printf(rc ? "\ndemo FAILED\n" : "\ndemo complete: every step behaved as narrated\n");
    return rc;
}
