/* Sparse Merkle tree, compressed and persistent. Invariants of every reachable node: an internal
 * node's subtree holds >= 2 leaves (a one-leaf subtree is stored as that leaf, an empty one as
 * NULL), its hash is H(node, left || right) with NULL as the zero hash, and a leaf at depth d
 * shares the first d bits of its path with its position. Nodes are immutable once built and
 * freed when their last parent or version drops them, so versions share all untouched nodes.
 * Hashes are computed lazily, when a root or proof is first asked for (a hashed node's
 * descendants are all hashed), so the many versions of a block share the work on the upper
 * levels and a version never asked for (a mempool check) costs no hashing. Single-threaded. */
#include "ledger/smt.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define TAG_KEY   "kq-ledger-v1/smt-key"
#define TAG_VALUE "kq-ledger-v1/smt-value"
#define TAG_LEAF  "kq-ledger-v1/smt-leaf"
#define TAG_NODE  "kq-ledger-v1/smt-node"

#define PROOF_VERSION  1
#define TERMINAL_EMPTY 0 /* the path ends in an empty subtree: key absent */
#define TERMINAL_LEAF  1 /* the path ends in the key's own leaf: key present */
#define TERMINAL_OTHER 2 /* the path ends in another key's leaf: key absent */
#define BITMAP_BYTES   (KQ_SMT_DEPTH / 8)
/* Freeing and settling walk depth first: at most the node and one sibling per level stacked. */
#define FREE_STACK_DEPTH (2 * (KQ_SMT_DEPTH + 2))

KQ_STATIC_ASSERT(KQ_SMT_DEPTH == 8 * KQ_HASH_BYTES, "one level per path bit");
KQ_STATIC_ASSERT(KQ_SMT_DEPTH <= UINT16_MAX, "the proof's depth is a u16");

struct smt_node {
    size_t refs; /* parents and versions pointing here */
    bool leaf;
    bool hashed; /* hash (and a leaf's value_hash) computed: settle() */
    kq_hash hash;
    struct smt_node *child[2]; /* internal: left (bit 0) and right (bit 1), NULL if empty */
    kq_hash path;              /* leaf: H(key) */
    kq_hash value_hash;        /* leaf: H(value) */
    size_t key_len, value_len; /* leaf: data holds the key then the value */
    uint8_t data[];
};

struct kq_smt {
    size_t refs;
    struct smt_node *root; /* NULL for the empty tree */
    size_t count;
    size_t bytes;
    size_t max_keys, max_bytes; /* at most the limits.h bounds */
};

static unsigned path_bit(const kq_hash *path, unsigned depth)
{
    KQ_ASSERT(depth < KQ_SMT_DEPTH);
    return (unsigned)(path->b[depth / 8] >> (7 - depth % 8)) & 1u;
}

/* The hash of a node already settled. */
static const kq_hash *node_hash(const struct smt_node *n)
{
    static const kq_hash zero;
    KQ_ASSERT(n == NULL || n->hashed);
    return n == NULL ? &zero : &n->hash;
}

static struct smt_node *node_ref(struct smt_node *n)
{
    if (n != NULL) {
        KQ_ASSERT(n->refs > 0 && n->refs < SIZE_MAX);
        n->refs++;
    }
    return n;
}

static void node_unref(struct smt_node *n)
{
    struct smt_node *stack[FREE_STACK_DEPTH];
    size_t top = 0;
    if (n != NULL)
        stack[top++] = n;
    while (top > 0) {
        struct smt_node *x = stack[--top];
        KQ_ASSERT(x->refs > 0);
        if (--x->refs > 0)
            continue;
        for (int i = 0; i < 2 && !x->leaf; i++) {
            if (x->child[i] != NULL) {
                KQ_ASSERT(top < FREE_STACK_DEPTH);
                stack[top++] = x->child[i];
            }
        }
        free(x);
    }
}

static void leaf_hash(const kq_hash *path, const kq_hash *value_hash, kq_hash *out)
{
    kq_hash_tagged2(out, TAG_LEAF, path, value_hash);
}

/* A new leaf (refcount 1) holding copies of key and value, or NULL. */
static struct smt_node *leaf_new(const kq_hash *path, const uint8_t *key, size_t key_len,
                                 const uint8_t *value, size_t value_len)
{
    struct smt_node *n = malloc(sizeof *n + key_len + value_len);
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof *n);
    n->refs = 1;
    n->leaf = true;
    n->path = *path;
    n->key_len = key_len;
    n->value_len = value_len;
    memcpy(n->data, key, key_len);
    if (value_len > 0)
        memcpy(n->data + key_len, value, value_len);
    return n;
}

/* Computes the hashes missing under n (post-order; children before their parent). */
static void settle(struct smt_node *n)
{
    struct smt_node *stack[FREE_STACK_DEPTH];
    size_t top = 0;
    if (n != NULL && !n->hashed)
        stack[top++] = n;
    while (top > 0) {
        struct smt_node *x = stack[top - 1];
        if (x->leaf) {
            kq_hash_tagged(&x->value_hash, TAG_VALUE, x->data + x->key_len, x->value_len);
            leaf_hash(&x->path, &x->value_hash, &x->hash);
            x->hashed = true;
            top--;
            continue;
        }
        size_t before = top;
        for (int i = 1; i >= 0; i--) {
            if (x->child[i] != NULL && !x->child[i]->hashed) {
                KQ_ASSERT(top < FREE_STACK_DEPTH);
                stack[top++] = x->child[i];
            }
        }
        if (top > before)
            continue; /* x again once its children are done */
        kq_hash_tagged2(&x->hash, TAG_NODE, node_hash(x->child[0]), node_hash(x->child[1]));
        x->hashed = true;
        top--;
    }
}

/* The subtree whose children are a and b (ownership of both passes to it, on failure too):
 * NULL if both are empty, the leaf itself if one is empty and the other a leaf, else a new
 * internal node. *ok is false if an allocation failed (everything released). */
static struct smt_node *join(struct smt_node *a, struct smt_node *b, bool *ok)
{
    if (a == NULL && (b == NULL || b->leaf))
        return b;
    if (b == NULL && a->leaf)
        return a;
    struct smt_node *n = malloc(sizeof *n);
    if (n == NULL) {
        node_unref(a);
        node_unref(b);
        *ok = false;
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->refs = 1;
    n->child[0] = a;
    n->child[1] = b;
    return n;
}

/* Places children x (taking ownership) and sibling y (borrowed) under a node at depth, x on
 * side `side`. */
static struct smt_node *join_side(unsigned side, struct smt_node *x, struct smt_node *y, bool *ok)
{
    node_ref(y);
    return side == 0 ? join(x, y, ok) : join(y, x, ok);
}

/* The subtree at depth d holding leaves old (borrowed) and fresh (owned), whose paths differ. */
static struct smt_node *split(struct smt_node *old, struct smt_node *fresh, unsigned d, bool *ok)
{
    unsigned c = d;
    while (path_bit(&old->path, c) == path_bit(&fresh->path, c))
        c++; /* ends below KQ_SMT_DEPTH: the paths differ */
    struct smt_node *sub = join_side(path_bit(&fresh->path, c), fresh, old, ok);
    while (c > d && *ok) {
        c--;
        sub = join_side(path_bit(&fresh->path, c), sub, NULL, ok);
    }
    return sub;
}

struct kq_smt *kq_smt_new_bounded(size_t max_keys, size_t max_bytes)
{
    KQ_ASSERT(max_keys <= KQ_LEDGER_SMT_MAX_KEYS);
    KQ_ASSERT(max_bytes <= KQ_LEDGER_SMT_MAX_STATE_BYTES);
    struct kq_smt *t = calloc(1, sizeof *t);
    if (t != NULL) {
        t->refs = 1;
        t->max_keys = max_keys;
        t->max_bytes = max_bytes;
    }
    return t;
}

struct kq_smt *kq_smt_new(void)
{
    return kq_smt_new_bounded(KQ_LEDGER_SMT_MAX_KEYS, KQ_LEDGER_SMT_MAX_STATE_BYTES);
}

struct kq_smt *kq_smt_ref(struct kq_smt *t)
{
    KQ_ASSERT(t != NULL);
    KQ_ASSERT(t->refs > 0 && t->refs < SIZE_MAX);
    t->refs++;
    return t;
}

void kq_smt_unref(struct kq_smt *t)
{
    if (t == NULL)
        return;
    KQ_ASSERT(t->refs > 0);
    if (--t->refs > 0)
        return;
    node_unref(t->root);
    free(t);
}

void kq_smt_path(const uint8_t *key, size_t key_len, kq_hash *path)
{
    kq_hash_tagged(path, TAG_KEY, key, key_len);
}

void kq_smt_root(const struct kq_smt *t, kq_hash *root)
{
    KQ_ASSERT(t != NULL);
    KQ_ASSERT(root != NULL);
    settle(t->root);
    *root = *node_hash(t->root);
}

size_t kq_smt_count(const struct kq_smt *t)
{
    KQ_ASSERT(t != NULL);
    return t->count;
}

size_t kq_smt_bytes(const struct kq_smt *t)
{
    KQ_ASSERT(t != NULL);
    return t->bytes;
}

static bool key_len_ok(size_t key_len)
{
    return key_len >= 1 && key_len <= KQ_LEDGER_MAX_KEY_BYTES;
}

/* Walks from the root towards path. Fills stack[0..*depth) with the internal nodes passed and
 * returns the node at *depth: NULL (empty) or a leaf, possibly of another path. */
static struct smt_node *descend(const struct kq_smt *t, const kq_hash *path,
                                struct smt_node **stack, unsigned *depth)
{
    struct smt_node *n = t->root;
    unsigned d = 0;
    while (n != NULL && !n->leaf) {
        KQ_ASSERT(d < KQ_SMT_DEPTH);
        if (stack != NULL)
            stack[d] = n;
        n = n->child[path_bit(path, d)];
        d++;
    }
    *depth = d;
    return n;
}

enum kq_err kq_smt_get(const struct kq_smt *t, const uint8_t *key, size_t key_len,
                       const uint8_t **value, size_t *value_len)
{
    KQ_ASSERT(t != NULL);
    KQ_ASSERT(value != NULL && value_len != NULL);
    *value = NULL;
    *value_len = 0;
    KQ_ENSURE(key != NULL && key_len_ok(key_len), KQ_ERR_LIMIT);
    kq_hash path;
    unsigned d;
    kq_smt_path(key, key_len, &path);
    const struct smt_node *n = descend(t, &path, NULL, &d);
    KQ_ENSURE(n != NULL && kq_hash_eq(&n->path, &path), KQ_ERR_NOT_FOUND);
    *value = n->data + n->key_len;
    *value_len = n->value_len;
    return KQ_OK;
}

/* New count and bytes after replacing old (NULL if absent) by a value of value_len (or by
 * nothing when value is NULL); KQ_ERR_LIMIT past the tree's limits. */
static enum kq_err new_size(const struct kq_smt *t, const struct smt_node *old, size_t key_len,
                            const uint8_t *value, size_t value_len, struct kq_smt *next)
{
    size_t count = t->count, bytes = t->bytes;
    if (old != NULL) {
        KQ_ASSERT(count > 0 && bytes >= old->key_len + old->value_len);
        count--;
        bytes -= old->key_len + old->value_len;
    }
    if (value != NULL) {
        count++;
        bytes += key_len + value_len; /* bounded by the limits: no overflow */
    }
    KQ_ENSURE(count <= t->max_keys, KQ_ERR_LIMIT);
    KQ_ENSURE(bytes <= t->max_bytes, KQ_ERR_LIMIT);
    next->count = count;
    next->bytes = bytes;
    return KQ_OK;
}

/* The subtree replacing n (NULL or a leaf) at depth d, with a new leaf for value or none. */
static struct smt_node *replacement(struct smt_node *n, bool same, unsigned d, const kq_hash *path,
                                    const uint8_t *key, size_t key_len, const uint8_t *value,
                                    size_t value_len, bool *ok)
{
    if (value == NULL) {
        KQ_ASSERT(same);
        return NULL;
    }
    struct smt_node *fresh = leaf_new(path, key, key_len, value, value_len);
    if (fresh == NULL) {
        *ok = false;
        return NULL;
    }
    return (n == NULL || same) ? fresh : split(n, fresh, d, ok);
}

enum kq_err kq_smt_set(const struct kq_smt *t, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, struct kq_smt **out)
{
    struct smt_node *stack[KQ_SMT_DEPTH];
    kq_hash path;
    unsigned d;
    bool ok = true;
    KQ_ASSERT(t != NULL && out != NULL);
    *out = NULL;
    KQ_ENSURE(key != NULL && key_len_ok(key_len), KQ_ERR_LIMIT);
    KQ_ENSURE(value_len <= KQ_LEDGER_MAX_VALUE_BYTES, KQ_ERR_LIMIT);
    KQ_ASSERT(value != NULL || value_len == 0);
    kq_smt_path(key, key_len, &path);
    struct smt_node *n = descend(t, &path, stack, &d);
    bool same = n != NULL && kq_hash_eq(&n->path, &path);
    struct kq_smt *next = kq_smt_new_bounded(t->max_keys, t->max_bytes);
    KQ_ENSURE(next != NULL, KQ_ERR_NOMEM);
    enum kq_err err = new_size(t, same ? n : NULL, key_len, value, value_len, next);
    if (err != KQ_OK) {
        kq_smt_unref(next);
        return err;
    }
    if (value == NULL && !same) { /* removing an absent key: the same tree */
        next->root = node_ref(t->root);
        *out = next;
        return KQ_OK;
    }
    struct smt_node *sub = replacement(n, same, d, &path, key, key_len, value, value_len, &ok);
    while (d > 0 && ok) {
        d--;
        unsigned side = path_bit(&path, d);
        sub = join_side(side, sub, stack[d]->child[1 - side], &ok);
    }
    if (!ok) {
        kq_smt_unref(next);
        return KQ_ERR_NOMEM;
    }
    next->root = sub;
    *out = next;
    return KQ_OK;
}

/* Sets key in t, which only the caller holds, reusing the path nodes only t holds (their hashes
 * are recomputed at the next settle) and copying the rest of the path as kq_smt_set does. On
 * failure t is unchanged. */
static enum kq_err put_in_place(struct kq_smt *t, const kq_hash *path, const uint8_t *key,
                                size_t key_len, const uint8_t *value, size_t value_len)
{
    struct smt_node *stack[KQ_SMT_DEPTH];
    struct kq_smt size;
    unsigned d, e = 0;
    bool ok = true;
    KQ_ASSERT(t->refs == 1 && value != NULL);
    struct smt_node *n = descend(t, path, stack, &d);
    bool same = n != NULL && kq_hash_eq(&n->path, path);
    KQ_GUARD(new_size(t, same ? n : NULL, key_len, value, value_len, &size));
    while (e < d && stack[e]->refs == 1)
        e++; /* stack[0..e): reachable only through t (each one's only parent is the previous) */
    struct smt_node *sub = replacement(n, same, d, path, key, key_len, value, value_len, &ok);
    for (unsigned i = d; i > e && ok;) {
        i--;
        unsigned side = path_bit(path, i);
        sub = join_side(side, sub, stack[i]->child[1 - side], &ok);
    }
    KQ_ENSURE(ok, KQ_ERR_NOMEM);
    struct smt_node **slot = e == 0 ? &t->root : &stack[e - 1]->child[path_bit(path, e - 1)];
    struct smt_node *old = *slot; /* stack[e], or n when e == d: sub replaces it */
    *slot = sub;
    node_unref(old);
    for (unsigned i = 0; i < e; i++)
        stack[i]->hashed = false;
    t->count = size.count;
    t->bytes = size.bytes;
    return KQ_OK;
}

enum kq_err kq_smt_put(struct kq_smt **t, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    struct kq_smt *next = NULL;
    KQ_ASSERT(t != NULL && *t != NULL);
    KQ_ASSERT(value != NULL || value_len == 0);
    if ((*t)->refs == 1 && value != NULL) {
        kq_hash path;
        KQ_ENSURE(key != NULL && key_len_ok(key_len), KQ_ERR_LIMIT);
        KQ_ENSURE(value_len <= KQ_LEDGER_MAX_VALUE_BYTES, KQ_ERR_LIMIT);
        kq_smt_path(key, key_len, &path);
        return put_in_place(*t, &path, key, key_len, value, value_len);
    }
    KQ_GUARD(kq_smt_set(*t, key, key_len, value, value_len, &next));
    kq_smt_unref(*t);
    *t = next;
    return KQ_OK;
}

/* --- Proofs: version u8 | depth u16 | bitmap ceil(depth/8) bytes (bit i, most significant first:
 * the sibling at depth i is not empty) | those siblings, root side first | terminal u8 |
 * (TERMINAL_OTHER) path [32] value_hash [32]. */

enum kq_err kq_smt_prove(const struct kq_smt *t, const uint8_t *key, size_t key_len,
                         struct kq_buf *out)
{
    struct smt_node *stack[KQ_SMT_DEPTH];
    uint8_t bitmap[BITMAP_BYTES] = {0};
    kq_hash path;
    unsigned d;
    KQ_ASSERT(t != NULL && out != NULL);
    KQ_ENSURE(key != NULL && key_len_ok(key_len), KQ_ERR_LIMIT);
    kq_smt_path(key, key_len, &path);
    settle(t->root);
    const struct smt_node *n = descend(t, &path, stack, &d);
    size_t present = 0;
    for (unsigned i = 0; i < d; i++) {
        if (stack[i]->child[1 - path_bit(&path, i)] != NULL) {
            bitmap[i / 8] |= (uint8_t)(0x80u >> (i % 8));
            present++;
        }
    }
    uint8_t terminal = n == NULL                     ? TERMINAL_EMPTY
                       : kq_hash_eq(&n->path, &path) ? TERMINAL_LEAF
                                                     : TERMINAL_OTHER;
    size_t len = 1 + 2 + (d + 7) / 8 + present * KQ_HASH_BYTES + 1 +
                 (terminal == TERMINAL_OTHER ? 2 * KQ_HASH_BYTES : 0);
    KQ_ASSERT(len <= KQ_SMT_MAX_PROOF_BYTES);
    KQ_ENSURE(kq_buf_room(out) >= len, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, PROOF_VERSION));
    KQ_GUARD(kq_buf_put_u16(out, (uint16_t)d));
    KQ_GUARD(kq_buf_put(out, bitmap, (d + 7) / 8));
    for (unsigned i = 0; i < d; i++) {
        const struct smt_node *s = stack[i]->child[1 - path_bit(&path, i)];
        if (s != NULL)
            KQ_GUARD(kq_buf_put(out, s->hash.b, KQ_HASH_BYTES));
    }
    KQ_GUARD(kq_buf_put_u8(out, terminal));
    if (terminal == TERMINAL_OTHER) {
        KQ_GUARD(kq_buf_put(out, n->path.b, KQ_HASH_BYTES));
        KQ_GUARD(kq_buf_put(out, n->value_hash.b, KQ_HASH_BYTES));
    }
    return KQ_OK;
}

/* A decoded proof; pointers into the encoding. */
struct smt_proof {
    unsigned depth;
    const uint8_t *bitmap;
    const uint8_t *siblings; /* present hashes, root side first */
    uint8_t terminal;
    kq_hash other_path, other_value_hash; /* TERMINAL_OTHER */
};

static bool bitmap_bit(const uint8_t *bitmap, unsigned i)
{
    return ((unsigned)bitmap[i / 8] >> (7 - i % 8)) & 1u;
}

/* Decodes and checks the canonical form: unused bitmap bits zero, no zero sibling, a known
 * terminal, and a non-empty deepest sibling (a node has two non-empty children or is collapsed).
 */
static enum kq_err proof_decode(const uint8_t *proof, size_t proof_len, struct smt_proof *p)
{
    struct kq_buf r;
    uint8_t version;
    uint16_t depth;
    size_t present = 0;
    memset(p, 0, sizeof *p);
    kq_buf_reader(&r, proof, proof_len);
    KQ_GUARD(kq_buf_get_u8(&r, &version));
    KQ_ENSURE(version == PROOF_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u16(&r, &depth));
    KQ_ENSURE(depth <= KQ_SMT_DEPTH, KQ_ERR_FORMAT);
    p->depth = depth;
    KQ_GUARD(kq_buf_get_ptr(&r, &p->bitmap, (depth + 7u) / 8));
    for (unsigned i = 0; i < 8 * ((depth + 7u) / 8); i++) {
        bool set = bitmap_bit(p->bitmap, i);
        KQ_ENSURE(!set || i < depth, KQ_ERR_FORMAT);
        present += set;
    }
    KQ_ENSURE(depth == 0 || bitmap_bit(p->bitmap, depth - 1u), KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_ptr(&r, &p->siblings, present * KQ_HASH_BYTES));
    for (size_t i = 0; i < present; i++) {
        kq_hash h;
        memcpy(h.b, p->siblings + i * KQ_HASH_BYTES, KQ_HASH_BYTES);
        KQ_ENSURE(!kq_hash_is_zero(&h), KQ_ERR_FORMAT);
    }
    KQ_GUARD(kq_buf_get_u8(&r, &p->terminal));
    KQ_ENSURE(p->terminal <= TERMINAL_OTHER, KQ_ERR_FORMAT);
    if (p->terminal == TERMINAL_OTHER) {
        KQ_GUARD(kq_buf_get(&r, p->other_path.b, KQ_HASH_BYTES));
        KQ_GUARD(kq_buf_get(&r, p->other_value_hash.b, KQ_HASH_BYTES));
    }
    return kq_buf_expect_end(&r);
}

/* The hash at the end of the proof's path, for key path and claimed value (NULL: absent). */
static enum kq_err terminal_hash(const struct smt_proof *p, const kq_hash *path,
                                 const uint8_t *value, size_t value_len, kq_hash *h)
{
    kq_hash vh;
    memset(h, 0, sizeof *h);
    if (value != NULL) {
        KQ_ENSURE(p->terminal == TERMINAL_LEAF, KQ_ERR_BAD_PROOF);
        kq_hash_tagged(&vh, TAG_VALUE, value, value_len);
        leaf_hash(path, &vh, h);
        return KQ_OK;
    }
    KQ_ENSURE(p->terminal != TERMINAL_LEAF, KQ_ERR_BAD_PROOF);
    if (p->terminal == TERMINAL_EMPTY)
        return KQ_OK;
    /* Another key's leaf, never this key's (which would turn an inclusion into an absence).
     * That it shares the key's first depth bits needs no check: the fold below orders each
     * level by the key's bits, so a leaf elsewhere cannot reproduce the root. */
    KQ_ENSURE(!kq_hash_eq(&p->other_path, path), KQ_ERR_BAD_PROOF);
    leaf_hash(&p->other_path, &p->other_value_hash, h);
    return KQ_OK;
}

enum kq_err kq_smt_verify(const kq_hash *root, const uint8_t *key, size_t key_len,
                          const uint8_t *value, size_t value_len, const uint8_t *proof,
                          size_t proof_len)
{
    struct smt_proof p;
    kq_hash path, h;
    KQ_ASSERT(root != NULL);
    KQ_ASSERT(proof != NULL || proof_len == 0);
    KQ_ENSURE(key != NULL && key_len_ok(key_len), KQ_ERR_LIMIT);
    KQ_ENSURE(value_len <= KQ_LEDGER_MAX_VALUE_BYTES, KQ_ERR_LIMIT);
    KQ_ASSERT(value != NULL || value_len == 0);
    KQ_GUARD(proof_decode(proof, proof_len, &p));
    kq_smt_path(key, key_len, &path);
    KQ_GUARD(terminal_hash(&p, &path, value, value_len, &h));
    size_t next = 0; /* siblings are root side first; count the present ones below depth */
    for (unsigned i = 0; i < p.depth; i++)
        next += bitmap_bit(p.bitmap, i);
    for (unsigned i = p.depth; i-- > 0;) {
        kq_hash sib = {{0}};
        if (bitmap_bit(p.bitmap, i))
            memcpy(sib.b, p.siblings + --next * KQ_HASH_BYTES, KQ_HASH_BYTES);
        if (path_bit(&path, i) == 0)
            kq_hash_tagged2(&h, TAG_NODE, &h, &sib);
        else
            kq_hash_tagged2(&h, TAG_NODE, &sib, &h);
    }
    KQ_ASSERT(next == 0);
    KQ_ENSURE(kq_hash_eq(&h, root), KQ_ERR_BAD_PROOF);
    return KQ_OK;
}

/* --- Iteration in path order (depth first, left before right). */

struct walk_item {
    const struct smt_node *node;
    unsigned depth;
    bool tight; /* the subtree's position equals from's first depth bits */
};

void kq_smt_foreach(const struct kq_smt *t, const kq_hash *from, kq_smt_visit_fn fn, void *ctx)
{
    struct walk_item stack[KQ_SMT_DEPTH + 2];
    size_t top = 0;
    KQ_ASSERT(t != NULL && fn != NULL);
    if (t->root != NULL)
        stack[top++] = (struct walk_item){t->root, 0, from != NULL};
    while (top > 0) {
        struct walk_item it = stack[--top];
        const struct smt_node *n = it.node;
        if (n->leaf) {
            if (it.tight && memcmp(n->path.b, from->b, KQ_HASH_BYTES) < 0)
                continue;
            if (!fn(ctx, &n->path, n->data, n->key_len, n->data + n->key_len, n->value_len))
                return;
            continue;
        }
        KQ_ASSERT(it.depth < KQ_SMT_DEPTH && top + 2 <= KQ_SMT_DEPTH + 2);
        unsigned fb = it.tight ? path_bit(from, it.depth) : 0;
        if (n->child[1] != NULL) /* right first: popped after the whole left subtree */
            stack[top++] = (struct walk_item){n->child[1], it.depth + 1, it.tight && fb == 1};
        if (n->child[0] != NULL && fb == 0)
            stack[top++] = (struct walk_item){n->child[0], it.depth + 1, it.tight};
    }
}

/* --- Differences between two versions: walks both trees together and skips every subtree they
 * share (same node, or same hash), so the cost is about (changes x depth), not the state's size. */

struct diff_item {
    const struct smt_node *a, *b; /* subtrees at the same position, at depth `depth` */
    unsigned depth;
};

/* Reports every leaf of n as added (from b) or removed (from a), in path order. */
static bool diff_all(const struct smt_node *n, bool removed, kq_smt_visit_fn fn, void *ctx)
{
    const struct smt_node *stack[KQ_SMT_DEPTH + 2];
    size_t top = 0;
    if (n != NULL)
        stack[top++] = n;
    while (top > 0) {
        const struct smt_node *x = stack[--top];
        if (x->leaf) {
            const uint8_t *v = removed ? NULL : x->data + x->key_len;
            if (!fn(ctx, &x->path, x->data, x->key_len, v, removed ? 0 : x->value_len))
                return false;
            continue;
        }
        KQ_ASSERT(top + 2 <= KQ_SMT_DEPTH + 2);
        if (x->child[1] != NULL)
            stack[top++] = x->child[1];
        if (x->child[0] != NULL)
            stack[top++] = x->child[0];
    }
    return true;
}

/* The child of n on `side` at depth d, a leaf standing for its own subtree at every depth. */
static const struct smt_node *diff_child(const struct smt_node *n, unsigned side, unsigned d)
{
    if (n == NULL)
        return NULL;
    if (!n->leaf)
        return n->child[side];
    return path_bit(&n->path, d) == side ? n : NULL;
}

/* Both leaves: the same key changed value, or one key left and another came. */
static bool diff_leaves(const struct smt_node *a, const struct smt_node *b, kq_smt_visit_fn fn,
                        void *ctx)
{
    if (kq_hash_eq(&a->path, &b->path))
        return kq_hash_eq(&a->value_hash, &b->value_hash) ||
               fn(ctx, &b->path, b->data, b->key_len, b->data + b->key_len, b->value_len);
    bool a_first = memcmp(a->path.b, b->path.b, KQ_HASH_BYTES) < 0;
    const struct smt_node *first = a_first ? a : b, *second = a_first ? b : a;
    return diff_all(first, first == a, fn, ctx) && diff_all(second, second == a, fn, ctx);
}

bool kq_smt_diff(const struct kq_smt *a, const struct kq_smt *b, kq_smt_visit_fn fn, void *ctx)
{
    struct diff_item stack[2 * (KQ_SMT_DEPTH + 2)];
    size_t top = 0;
    KQ_ASSERT(a != NULL && b != NULL && fn != NULL);
    settle(a->root); /* the walk compares hashes (computed lazily): a root would need them anyway */
    settle(b->root);
    stack[top++] = (struct diff_item){a->root, b->root, 0};
    while (top > 0) {
        struct diff_item it = stack[--top];
        if (it.a == it.b || kq_hash_eq(node_hash(it.a), node_hash(it.b)))
            continue; /* shared (or equal) subtree: no change below */
        bool ok = true;
        if (it.a == NULL || it.b == NULL)
            ok = diff_all(it.a != NULL ? it.a : it.b, it.a != NULL, fn, ctx);
        else if (it.a->leaf && it.b->leaf)
            ok = diff_leaves(it.a, it.b, fn, ctx);
        else { /* at least one internal node: go down one level, a leaf following its path */
            KQ_ASSERT(it.depth < KQ_SMT_DEPTH && top + 2 <= 2 * (KQ_SMT_DEPTH + 2));
            for (unsigned side = 2; side-- > 0;)
                stack[top++] = (struct diff_item){diff_child(it.a, side, it.depth),
                                                  diff_child(it.b, side, it.depth), it.depth + 1};
        }
        if (!ok)
            return false;
    }
    return true;
}
