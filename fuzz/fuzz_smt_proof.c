/* Fuzzes the proof decoders and verifiers of src/ledger: kq_smt_verify (state proofs) and
 * kq_merkle_verify (tx inclusion). Input: a selector byte (bit 7: Merkle, else state tree; low
 * bits: key or tree size), a claim byte, then the proof. Property: whatever verifies is the
 * honest proof, byte for byte, of a true claim (proofs are canonical and sound). */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz.h"
#include "ledger/merkle.h"
#include "ledger/smt.h"

#define FUZZ_KEYS   64 /* keys "f0".."f63" are present, "f64".."f127" absent */
#define FUZZ_LEAVES 64

static struct kq_smt *tree;
static kq_hash leaves[FUZZ_LEAVES];

static size_t key_of(unsigned i, char *k)
{
    return (size_t)snprintf(k, 8, "f%u", i);
}

static void value_of(unsigned i, char *v)
{
    snprintf(v, 8, "v%u", i);
}

static void setup(void)
{
    kq_fuzz_init();
    if (tree != NULL)
        return;
    tree = kq_smt_new();
    for (unsigned i = 0; i < FUZZ_KEYS && tree != NULL; i++) {
        char k[8], v[8];
        struct kq_smt *next = NULL;
        size_t kl = key_of(i, k);
        value_of(i, v);
        KQ_FUZZ_CHECK(kq_smt_set(tree, (const uint8_t *)k, kl, (const uint8_t *)v, strlen(v),
                                 &next) == KQ_OK);
        kq_smt_unref(tree);
        tree = next;
    }
    KQ_FUZZ_CHECK(tree != NULL);
    for (unsigned i = 0; i < FUZZ_LEAVES; i++)
        kq_hash_tagged(&leaves[i], "fuzz-tx", &i, sizeof i);
}

/* claim 0: absent; 1: the true value; 2: a wrong value. */
static void fuzz_smt(unsigned idx, uint8_t claim, const uint8_t *proof, size_t len)
{
    static uint8_t honest[KQ_SMT_MAX_PROOF_BYTES];
    char k[8], v[8];
    kq_hash root;
    struct kq_buf w;
    size_t kl = key_of(idx, k);
    value_of(idx, v);
    const char *value = claim == 0 ? NULL : claim == 1 ? v : "wrong";
    kq_smt_root(tree, &root);
    if (kq_smt_verify(&root, (const uint8_t *)k, kl, (const uint8_t *)value,
                      value ? strlen(value) : 0, proof, len) != KQ_OK)
        return;
    KQ_FUZZ_CHECK((claim == 1) == (idx < FUZZ_KEYS) && claim != 2);
    kq_buf_writer(&w, honest, sizeof honest);
    KQ_FUZZ_CHECK(kq_smt_prove(tree, (const uint8_t *)k, kl, &w) == KQ_OK);
    KQ_FUZZ_CHECK(kq_buf_len(&w) == len && memcmp(honest, proof, len) == 0);
}

static void fuzz_merkle(unsigned n, uint8_t index_byte, const uint8_t *proof, size_t len)
{
    static uint8_t honest[KQ_MERKLE_MAX_PROOF_BYTES];
    kq_hash root;
    struct kq_buf w;
    size_t index = index_byte % n;
    const kq_hash *leaf = &leaves[index_byte & 0x80 ? (index + 1) % FUZZ_LEAVES : index];
    KQ_FUZZ_CHECK(kq_merkle_root(leaves, n, &root) == KQ_OK);
    if (kq_merkle_verify(&root, n, index, leaf, proof, len) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(leaf == &leaves[index]);
    kq_buf_writer(&w, honest, sizeof honest);
    KQ_FUZZ_CHECK(kq_merkle_prove(leaves, n, index, &w) == KQ_OK);
    KQ_FUZZ_CHECK(kq_buf_len(&w) == len && memcmp(honest, proof, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 2)
        return 0;
    if (data[0] & 0x80)
        fuzz_merkle(1u + (data[0] & 0x3fu), data[1], data + 2, size - 2);
    else
        fuzz_smt(data[0] & 0x7fu, data[1] % 3, data + 2, size - 2);
    return 0;
}

/* Seeds: honest state proofs (present, absent by an empty subtree or by another leaf) and
 * Merkle proofs, each behind the selector and claim bytes that make it verify. */
size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static const uint8_t smt_keys[] = {0, 7, 63, 64, 77, 100, 127};
    static const uint8_t merkle[][2] = {{0x80, 0}, {0x84, 3}, {0x8c, 12}, {0xbf, 40}};
    struct kq_buf w;
    setup();
    if (cap < 2)
        return 0;
    kq_buf_writer(&w, buf + 2, cap - 2);
    if (i < sizeof smt_keys) {
        char k[8];
        size_t kl = key_of(smt_keys[i], k);
        buf[0] = smt_keys[i];
        buf[1] = smt_keys[i] < FUZZ_KEYS;
        if (kq_smt_prove(tree, (const uint8_t *)k, kl, &w) != KQ_OK)
            return 0;
        return 2 + kq_buf_len(&w);
    }
    i -= (unsigned)sizeof smt_keys;
    if (i >= sizeof merkle / sizeof merkle[0])
        return 0;
    unsigned n = 1u + (merkle[i][0] & 0x3fu);
    buf[0] = merkle[i][0];
    buf[1] = merkle[i][1];
    if (kq_merkle_prove(leaves, n, merkle[i][1] % n, &w) != KQ_OK)
        return 0;
    return 2 + kq_buf_len(&w);
}
