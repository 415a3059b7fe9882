/* Tests for src/store: records round trip and persist, pragmas and file mode as documented,
 * newer schemas refused untouched, transactions, argument checks, bounded iteration, and
 * damaged files reported as storage errors rather than crashes. Each test has its own temp dir. */
#include "../test_util.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/limits.h"
#include "store/store.h"

struct tmp {
    char dir[256];
    char db[300];
    char wal[310];
    char shm[310];
};

static struct tmp *tmp_new(void)
{
    struct tmp *t = calloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");
    assert_non_null(t);
    snprintf(t->dir, sizeof t->dir, "%s/kq_store_XXXXXX", base != NULL ? base : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/node.db", t->dir);
    snprintf(t->wal, sizeof t->wal, "%s-wal", t->db);
    snprintf(t->shm, sizeof t->shm, "%s-shm", t->db);
    return t;
}

static void tmp_free(struct tmp *t)
{
    (void)unlink(t->db);
    (void)unlink(t->wal);
    (void)unlink(t->shm);
    assert_int_equal(rmdir(t->dir), 0);
    free(t);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

#define K(s) (const uint8_t *)(s), (sizeof(s) - 1)

static void want_value(struct kq_store *s, const char *ns, const uint8_t *key, size_t key_len,
                       const void *want, size_t want_len)
{
    uint8_t *v = NULL;
    size_t n = 99;
    assert_int_equal(kq_store_get(s, ns, key, key_len, &v, &n), KQ_OK);
    assert_non_null(v);
    assert_int_equal(n, want_len);
    if (want_len > 0)
        assert_memory_equal(v, want, want_len);
    free(v);
}

static void want_absent(struct kq_store *s, const char *ns, const uint8_t *key, size_t key_len)
{
    uint8_t *v = (uint8_t *)"x";
    size_t n = 99;
    assert_int_equal(kq_store_get(s, ns, key, key_len, &v, &n), KQ_ERR_NOT_FOUND);
    assert_null(v);
    assert_int_equal(n, 0);
}

/* Collects up to 16 visited keys; fails with `fail_at`'s error on that visit if set. */
struct seen {
    size_t count;
    uint8_t keys[16][8];
    size_t key_lens[16];
    size_t fail_at;
    struct kq_store *store; /* for calls made from inside the callback */
    enum kq_err nested;
};

static enum kq_err collect(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                           size_t value_len)
{
    struct seen *s = ctx;
    (void)value;
    (void)value_len;
    assert_true(s->count < 16 && key_len <= 8);
    memcpy(s->keys[s->count], key, key_len);
    s->key_lens[s->count] = key_len;
    s->count++;
    if (s->store != NULL) {
        s->nested = kq_store_iter(s->store, "a", 10, collect, ctx);
        assert_int_equal(kq_store_put(s->store, "side", K("from-iter"), K("ok")), KQ_OK);
    }
    return s->count == s->fail_at ? KQ_ERR_BUSY : KQ_OK;
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    assert_int_equal(kq_store_open(t->db, KQ_STORE_DURABLE | KQ_STORE_SECRETS, &s), KQ_OK);
    assert_non_null(s);
    assert_int_equal(kq_store_schema_version(s), kq_store_schema_latest());
    assert_true(kq_store_schema_latest() >= 1);

    /* binary keys, out of order; the same key in another namespace */
    assert_int_equal(kq_store_put(s, "a", K("b"), K("vb")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", K("\xff"), K("vff")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", K("ab"), K("vab")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", K("\x00"), K("v00")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", K("a"), K("first")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", K("a"), K("second")), KQ_OK); /* replaces */
    assert_int_equal(kq_store_put(s, "b", K("a"), K("other ns")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", K("empty"), NULL, 0), KQ_OK);
    want_value(s, "a", K("a"), "second", 6);
    want_value(s, "b", K("a"), "other ns", 8);
    want_value(s, "a", K("\x00"), "v00", 3);
    want_value(s, "a", K("empty"), NULL, 0); /* non-NULL, length 0 */
    want_absent(s, "c", K("a"));

    assert_int_equal(kq_store_del(s, "a", K("empty")), KQ_OK);
    want_absent(s, "a", K("empty"));
    assert_int_equal(kq_store_del(s, "a", K("empty")), KQ_ERR_NOT_FOUND);
    want_value(s, "b", K("a"), "other ns", 8);

    struct seen seen = {0};
    assert_int_equal(kq_store_iter(s, "a", 100, collect, &seen), KQ_OK);
    static const char *const order[] = {"\x00", "a", "ab", "b", "\xff"}; /* bytewise */
    static const size_t order_lens[] = {1, 1, 2, 1, 1};
    assert_int_equal(seen.count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(seen.key_lens[i], order_lens[i]);
        assert_memory_equal(seen.keys[i], order[i], order_lens[i]);
    }
    kq_store_close(s);
    kq_store_close(NULL);
    tmp_free(t);
}

static void test_persistence(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    struct stat st;
    assert_int_equal(kq_store_open(t->db, KQ_STORE_DURABLE, &s), KQ_OK);
    assert_int_equal(kq_store_put(s, "ledger", K("height"), K("42")), KQ_OK);
    assert_int_equal(stat(t->wal, &st), 0); /* WAL mode: the commit went to the -wal */
    assert_true(st.st_size > 0);
    kq_store_close(s);
    /* the close checkpointed and emptied the WAL: everything is in the main file */
    assert_true(stat(t->wal, &st) != 0 || st.st_size == 0);

    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    assert_int_equal(kq_store_schema_version(s), kq_store_schema_latest());
    want_value(s, "ledger", K("height"), "42", 2);
    kq_store_close(s);
    tmp_free(t);
}

static bool file_contains(const char *path, const char *needle)
{
    size_t len, n = strlen(needle);
    uint8_t *bytes = read_file(path, &len);
    bool found = false;
    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(bytes + i, needle, n) == 0;
    free(bytes);
    return found;
}

/* A deleted secret is gone from the files once its handle closes, even while another handle
 * keeps the database (and so the WAL) open: secure_delete for the main file, the TRUNCATE
 * checkpoint for the WAL, which otherwise keeps old page images. */
static void test_secret_scrubbed(void **state)
{
    (void)state;
    static const char marker[] = "SECRET-SHARE-7f3a9c";
    struct tmp *t = tmp_new();
    struct kq_store *keep = NULL, *s = NULL;
    struct stat st;
    assert_int_equal(kq_store_open(t->db, KQ_STORE_SECRETS, &keep), KQ_OK);
    assert_int_equal(kq_store_open(t->db, KQ_STORE_SECRETS | KQ_STORE_DURABLE, &s), KQ_OK);
    assert_int_equal(kq_store_put(s, "shares", K("k"), K(marker)), KQ_OK);
    assert_int_equal(kq_store_put(s, "shares", K("other"), K("public")), KQ_OK);
    assert_true(file_contains(t->wal, marker)); /* the WAL holds it until a checkpoint */
    assert_int_equal(kq_store_del(s, "shares", K("k")), KQ_OK);
    kq_store_close(s);
    assert_int_equal(stat(t->wal, &st), 0); /* still there: `keep` is open */
    assert_int_equal(st.st_size, 0);
    assert_false(file_contains(t->db, marker));
    want_value(keep, "shares", K("other"), "public", 6);
    kq_store_close(keep);
    tmp_free(t);
}

static void test_file_mode(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    struct stat st;
    /* 0277 would leave 0400 from open(..., 0600): the store must fchmod. */
    mode_t old = umask(0277);
    enum kq_err err = kq_store_open(t->db, KQ_STORE_SECRETS, &s);
    if (err == KQ_OK)
        err = kq_store_put(s, "x", K("k"), K("v"));
    umask(old);
    assert_int_equal(err, KQ_OK);
    assert_int_equal(stat(t->db, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(t->wal, &st), 0); /* SQLite copies the database's mode */
    assert_int_equal(st.st_mode & 07777, 0600);
    kq_store_close(s);
    tmp_free(t);
}

static void want_pragma(struct kq_store *s, const char *name, int64_t want)
{
    int64_t v = -1;
    assert_int_equal(kq_store_pragma_int(s, name, &v), KQ_OK);
    assert_int_equal(v, want);
}

static void test_pragmas(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    int64_t v = 7;
    assert_int_equal(kq_store_open(t->db, KQ_STORE_DURABLE | KQ_STORE_SECRETS, &s), KQ_OK);
    want_pragma(s, "synchronous", 2);
    want_pragma(s, "secure_delete", 1);
    want_pragma(s, "foreign_keys", 1);
    want_pragma(s, "busy_timeout", KQ_STORE_BUSY_TIMEOUT_MS);
    want_pragma(s, "user_version", kq_store_schema_latest());
    assert_int_equal(kq_store_pragma_int(s, "journal_mode", &v), KQ_ERR_FORMAT); /* text */
    assert_int_equal(v, 0);
    assert_int_equal(kq_store_pragma_int(s, "no_such_pragma", &v), KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_store_pragma_int(s, "Synchronous", &v), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_pragma_int(s, "user_version=9", &v), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_pragma_int(s, "", &v), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_pragma_int(s, NULL, &v), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_pragma_int(s, "abcdefghijklmnopqrstuvwxyzabcdefg", &v),
                     KQ_ERR_INVALID_ARG);
    want_pragma(s, "user_version", kq_store_schema_latest()); /* nothing was injected */
    kq_store_close(s);

    /* journal_mode=WAL is recorded in the file header: bytes 18 and 19 are 2 */
    size_t len;
    uint8_t *bytes = read_file(t->db, &len);
    assert_true(len >= 100);
    assert_int_equal(bytes[18], 2);
    assert_int_equal(bytes[19], 2);
    free(bytes);

    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK); /* without DURABLE: NORMAL */
    want_pragma(s, "synchronous", 1);
    kq_store_close(s);
    tmp_free(t);
}

static void set_user_version(const char *path, uint32_t v)
{
    size_t len;
    uint8_t *bytes = read_file(path, &len);
    assert_true(len >= 100);
    bytes[60] = (uint8_t)(v >> 24); /* the header's user_version, big-endian */
    bytes[61] = (uint8_t)(v >> 16);
    bytes[62] = (uint8_t)(v >> 8);
    bytes[63] = (uint8_t)v;
    write_file(path, bytes, len);
    free(bytes);
}

static void expect_refused_untouched(const char *path, enum kq_err want)
{
    size_t len0, len1;
    uint8_t *before = read_file(path, &len0);
    struct kq_store *s = (struct kq_store *)1;
    assert_int_equal(kq_store_open(path, KQ_STORE_DURABLE, &s), want);
    assert_null(s);
    uint8_t *after = read_file(path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
}

static void test_newer_version_refused(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    assert_int_equal(kq_store_put(s, "x", K("k"), K("v")), KQ_OK);
    kq_store_close(s);

    uint32_t latest = (uint32_t)kq_store_schema_latest();
    set_user_version(t->db, latest + 1);
    expect_refused_untouched(t->db, KQ_ERR_VERSION);
    set_user_version(t->db, UINT32_MAX); /* -1: never written by any build */
    expect_refused_untouched(t->db, KQ_ERR_VERSION);

    set_user_version(t->db, latest); /* back to ours: opens, data intact */
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    want_value(s, "x", K("k"), "v", 1);
    kq_store_close(s);
    tmp_free(t);
}

static void test_transactions(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    assert_int_equal(kq_store_open(t->db, KQ_STORE_DURABLE, &s), KQ_OK);
    assert_int_equal(kq_store_commit(s), KQ_ERR_STATE); /* none open */
    assert_int_equal(kq_store_rollback(s), KQ_OK);      /* harmless */
    assert_int_equal(kq_store_begin(s), KQ_OK);
    assert_int_equal(kq_store_begin(s), KQ_ERR_STATE); /* no nesting */
    assert_int_equal(kq_store_put(s, "t", K("x"), K("1")), KQ_OK);
    assert_int_equal(kq_store_put(s, "t", K("y"), K("2")), KQ_OK);
    want_value(s, "t", K("x"), "1", 1); /* visible inside */
    assert_int_equal(kq_store_rollback(s), KQ_OK);
    want_absent(s, "t", K("x"));
    want_absent(s, "t", K("y"));

    assert_int_equal(kq_store_begin(s), KQ_OK);
    assert_int_equal(kq_store_put(s, "t", K("x"), K("1")), KQ_OK);
    assert_int_equal(kq_store_del(s, "t", K("x")), KQ_OK);
    assert_int_equal(kq_store_put(s, "t", K("y"), K("2")), KQ_OK);
    assert_int_equal(kq_store_commit(s), KQ_OK);
    want_absent(s, "t", K("x"));
    want_value(s, "t", K("y"), "2", 1);

    assert_int_equal(kq_store_begin(s), KQ_OK); /* closing with a transaction open loses it */
    assert_int_equal(kq_store_put(s, "t", K("z"), K("3")), KQ_OK);
    kq_store_close(s);
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    want_absent(s, "t", K("z"));
    want_value(s, "t", K("y"), "2", 1);
    kq_store_close(s);
    tmp_free(t);
}

static void test_bad_args(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = (struct kq_store *)1;
    uint8_t *v = NULL;
    size_t n = 0;
    char path[400];
    assert_int_equal(kq_store_open(NULL, 0, &s), KQ_ERR_INVALID_ARG);
    assert_null(s);
    assert_int_equal(kq_store_open("", 0, &s), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_open(":memory:", 0, &s), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_open("file:x.db?mode=memory", 0, &s), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_open(t->db, 1u << 2, &s), KQ_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/missing/node.db", t->dir);
    assert_int_equal(kq_store_open(path, 0, &s), KQ_ERR_STORE);
    assert_null(s);

    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    char ns[KQ_STORE_MAX_NS_BYTES + 2];
    memset(ns, 'n', sizeof ns);
    ns[KQ_STORE_MAX_NS_BYTES] = '\0';
    assert_int_equal(kq_store_put(s, ns, K("k"), K("v")), KQ_OK); /* the longest ns */
    ns[KQ_STORE_MAX_NS_BYTES] = 'n';
    ns[KQ_STORE_MAX_NS_BYTES + 1] = '\0';
    assert_int_equal(kq_store_put(s, ns, K("k"), K("v")), KQ_ERR_LIMIT);
    assert_int_equal(kq_store_put(s, "", K("k"), K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, NULL, K("k"), K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a b", K("k"), K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a\x7f", K("k"), K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a\n", K("k"), K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "\xc3\xa9", K("k"), K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_get(s, "a b", K("k"), &v, &n), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_del(s, "", K("k")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_iter(s, NULL, 1, collect, NULL), KQ_ERR_INVALID_ARG);

    uint8_t *big = calloc(1, KQ_STORE_MAX_VALUE_BYTES + 1);
    assert_non_null(big);
    assert_int_equal(kq_store_put(s, "a", NULL, 1, K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a", big, 0, K("v")), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a", big, KQ_STORE_MAX_KEY_BYTES, K("v")), KQ_OK);
    assert_int_equal(kq_store_put(s, "a", big, KQ_STORE_MAX_KEY_BYTES + 1, K("v")), KQ_ERR_LIMIT);
    assert_int_equal(kq_store_get(s, "a", NULL, 1, &v, &n), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_get(s, "a", big, KQ_STORE_MAX_KEY_BYTES + 1, &v, &n), KQ_ERR_LIMIT);
    assert_int_equal(kq_store_del(s, "a", big, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a", K("k"), NULL, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_store_put(s, "a", K("k"), big, KQ_STORE_MAX_VALUE_BYTES + 1), KQ_ERR_LIMIT);
    want_absent(s, "a", K("k"));
    big[0] = 0x5a;
    big[KQ_STORE_MAX_VALUE_BYTES - 1] = 0xa5;
    assert_int_equal(kq_store_put(s, "a", K("k"), big, KQ_STORE_MAX_VALUE_BYTES), KQ_OK);
    want_value(s, "a", K("k"), big, KQ_STORE_MAX_VALUE_BYTES); /* the largest value */
    free(big);
    kq_store_close(s);
    tmp_free(t);
}

static void test_iter_bound(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    for (uint8_t i = 0; i < 10; i++) {
        uint8_t key[2] = {'k', (uint8_t)('0' + i)};
        assert_int_equal(kq_store_put(s, "a", key, sizeof key, &i, 1), KQ_OK);
    }
    assert_int_equal(kq_store_put(s, "z", K("other"), K("v")), KQ_OK);

    struct seen seen = {0};
    assert_int_equal(kq_store_iter(s, "a", 3, collect, &seen), KQ_OK);
    assert_int_equal(seen.count, 3);
    assert_memory_equal(seen.keys[2], "k2", 2);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(kq_store_iter(s, "a", 0, collect, &seen), KQ_OK);
    assert_int_equal(seen.count, 0);
    assert_int_equal(kq_store_iter(s, "a", SIZE_MAX, collect, &seen), KQ_OK);
    assert_int_equal(seen.count, 10);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(kq_store_iter(s, "empty", 5, collect, &seen), KQ_OK);
    assert_int_equal(seen.count, 0);

    /* fn's error stops the walk and is returned */
    memset(&seen, 0, sizeof seen);
    seen.fail_at = 2;
    assert_int_equal(kq_store_iter(s, "a", 10, collect, &seen), KQ_ERR_BUSY);
    assert_int_equal(seen.count, 2);

    /* from inside fn: iter is refused, put works */
    memset(&seen, 0, sizeof seen);
    seen.store = s;
    seen.fail_at = 1;
    assert_int_equal(kq_store_iter(s, "a", 10, collect, &seen), KQ_ERR_BUSY);
    assert_int_equal(seen.nested, KQ_ERR_STATE);
    seen.store = NULL;
    want_value(s, "side", K("from-iter"), "ok", 2);
    memset(&seen, 0, sizeof seen); /* and iteration works again afterwards */
    assert_int_equal(kq_store_iter(s, "a", 10, collect, &seen), KQ_OK);
    assert_int_equal(seen.count, 10);
    kq_store_close(s);
    tmp_free(t);
}

static void test_garbage_file(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 99, 100, 512, 4096, 8192, 65536};
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct tmp *t = tmp_new();
        uint8_t *junk = malloc(sizes[i]);
        assert_non_null(junk);
        for (size_t j = 0; j < sizes[i]; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk[j] = (uint8_t)x;
        }
        write_file(t->db, junk, sizes[i]);
        struct kq_store *s = (struct kq_store *)1;
        assert_int_equal(kq_store_open(t->db, KQ_STORE_DURABLE, &s), KQ_ERR_STORE);
        assert_null(s);
        if (sizes[i] >= 16) { /* SQLite's magic, then junk: SQLite's own checks refuse it */
            memcpy(junk, "SQLite format 3", 16);
            write_file(t->db, junk, sizes[i]);
            assert_int_equal(kq_store_open(t->db, KQ_STORE_DURABLE, &s), KQ_ERR_STORE);
            assert_null(s);
        }
        free(junk);
        tmp_free(t);
    }
}

/* Finds needle in the file; returns its offset (it must occur exactly once). */
static size_t find_once(const uint8_t *hay, size_t len, const uint8_t *needle, size_t n)
{
    size_t at = SIZE_MAX;
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            assert_true(at == SIZE_MAX);
            at = i;
        }
    }
    assert_true(at != SIZE_MAX);
    return at;
}

static void test_damaged_file(void **state)
{
    (void)state;
    struct tmp *t = tmp_new();
    struct kq_store *s = NULL;
    uint8_t *v = NULL;
    size_t n = 0, len;
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    assert_int_equal(kq_store_put(s, "tamper", K("k1"), K("0123456789")), KQ_OK);
    kq_store_close(s);

    /* The record is header [4, text(6)=25, blob(2)=16, blob(10)=32] then the fields. Make the
     * value's serial type 33 (text of 10 bytes): a well-formed row that is not a blob. */
    static const uint8_t rec[] = {4, 25, 16, 32, 't', 'a', 'm', 'p', 'e', 'r', 'k', '1', '0'};
    uint8_t *bytes = read_file(t->db, &len);
    size_t at = find_once(bytes, len, rec, sizeof rec);
    bytes[at + 3] = 33;
    write_file(t->db, bytes, len);
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_OK);
    assert_int_equal(kq_store_get(s, "tamper", K("k1"), &v, &n), KQ_ERR_STORE);
    assert_null(v);
    struct seen seen = {0};
    assert_int_equal(kq_store_iter(s, "tamper", 10, collect, &seen), KQ_ERR_STORE);
    assert_int_equal(seen.count, 0);
    kq_store_close(s);

    /* Garbage over the records table's page (page 2: the first table created): the schema on
     * page 1 still opens, every read of the table fails as a storage error. */
    assert_true(len >= 3 * 4096);
    for (size_t i = 4096; i < 2 * 4096; i++)
        bytes[i] = (uint8_t)(i * 131u + 7u);
    write_file(t->db, bytes, len);
    enum kq_err err = kq_store_open(t->db, 0, &s);
    if (err == KQ_OK) {
        assert_int_equal(kq_store_get(s, "tamper", K("k1"), &v, &n), KQ_ERR_STORE);
        assert_int_equal(kq_store_iter(s, "tamper", 10, collect, &seen), KQ_ERR_STORE);
        kq_store_close(s);
    } else {
        assert_int_equal(err, KQ_ERR_STORE);
    }

    /* A broken header ("SQLite format 3") is not a database. */
    memcpy(bytes, "NotSQLite!", 10);
    write_file(t->db, bytes, len);
    assert_int_equal(kq_store_open(t->db, 0, &s), KQ_ERR_STORE);
    free(bytes);
    tmp_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_secret_scrubbed), cmocka_unit_test(test_file_mode),
        cmocka_unit_test(test_pragmas),         cmocka_unit_test(test_newer_version_refused),
        cmocka_unit_test(test_transactions),    cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_iter_bound),      cmocka_unit_test(test_garbage_file),
        cmocka_unit_test(test_damaged_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
