/* Per-node storage on SQLite (store.h); the only file that includes sqlite3.h.
 *
 * Durability. The database runs in WAL mode. A commit appends the transaction's pages and a
 * commit frame to the -wal file; with synchronous=FULL (KQ_STORE_DURABLE) SQLite fsyncs the WAL
 * before COMMIT returns, so a committed transaction survives a crash or power loss (the next open
 * replays the WAL). With NORMAL the WAL is synced only at checkpoints: the last commits may be
 * lost, but the database stays consistent. journal_mode is read back after setting it, since
 * SQLite silently keeps another mode when it cannot switch.
 *
 * Secrets. secure_delete (KQ_STORE_SECRETS) overwrites deleted content in the database file, but
 * the WAL holds whole page images, old content included, until a checkpoint copies them back and
 * the WAL is reset: secure_delete does not scrub the WAL. kq_store_close therefore checkpoints with
 * TRUNCATE, leaving the -wal empty. Blocks freed by the file system are not overwritten; data at
 * rest beyond that needs disk encryption.
 *
 * Invariants: statements are prepared once per handle at open, and reset and unbound after every
 * use, so no statement keeps a pointer to a caller's buffer; `iterating` guards the one shared
 * iteration statement; values are never logged (errors log the operation and SQLite's generic
 * reason string only). */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

/* Migration i takes schema version i to i + 1. Append only: never edit a released step. */
static const char *const migrations[] = {
    /* v1: namespaced records, and meta with the creation facts. Each step is parenthesised:
     * adjacent literals are one script, not a missing comma. */
    ("CREATE TABLE records(ns TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
     " PRIMARY KEY(ns, key)) WITHOUT ROWID;"
     "CREATE TABLE meta(name TEXT PRIMARY KEY, value);"
     "INSERT INTO meta(name, value) VALUES"
     " ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
     " ('created_by', 'keyquorum'),"
     " ('created_sqlite', sqlite_version());"),
};
#define MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

enum stmt_id { ST_PUT, ST_GET, ST_DEL, ST_ITER, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT };

static const char *const stmt_sql[ST_COUNT] = {
    [ST_PUT] = ("INSERT INTO records(ns, key, value) VALUES(?1, ?2, ?3)"
                " ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value"),
    [ST_GET] = "SELECT value FROM records WHERE ns = ?1 AND key = ?2",
    [ST_DEL] = "DELETE FROM records WHERE ns = ?1 AND key = ?2",
    [ST_ITER] = "SELECT key, value FROM records WHERE ns = ?1 ORDER BY key LIMIT ?2",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* Longest pragma name kq_store_pragma_int accepts. */
#define PRAGMA_NAME_MAX 32
/* SQLite's own cap on one string, blob or row: a record at its limits plus slack for the row
 * header, so a tampered file cannot make a read allocate more. */
#define ROW_LIMIT_BYTES                                                                            \
    (KQ_STORE_MAX_VALUE_BYTES + KQ_STORE_MAX_KEY_BYTES + KQ_STORE_MAX_NS_BYTES + 1024)
KQ_STATIC_ASSERT(ROW_LIMIT_BYTES <= 0x7fffffff, "sqlite3_limit takes an int");

struct kq_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int version;
    bool iterating;
};

static enum kq_err db_fail(const char *op, int rc)
{
    KQ_LOG(KQ_LOG_ERROR, "store_error", KQ_LS("op", op), KQ_LI("sqlite_code", rc),
           KQ_LS("reason", sqlite3_errstr(rc)));
    return (rc & 0xff) == SQLITE_NOMEM ? KQ_ERR_NOMEM : KQ_ERR_STORE;
}

static enum kq_err exec(sqlite3 *db, const char *op, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KQ_OK : db_fail(op, rc);
}

/* Runs one PRAGMA statement and returns its single integer result. */
static enum kq_err pragma_query(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    enum kq_err err = KQ_OK;
    *out = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        *out = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_ROW)
        err = KQ_ERR_FORMAT;
    else if (rc == SQLITE_DONE)
        err = KQ_ERR_NOT_FOUND;
    else
        err = db_fail("pragma", rc);
    sqlite3_finalize(st);
    return err;
}

static enum kq_err pragma_get(sqlite3 *db, const char *name, int64_t *out)
{
    char sql[16 + PRAGMA_NAME_MAX];
    int n = snprintf(sql, sizeof sql, "PRAGMA %s", name);
    KQ_ASSERT(n > 0 && (size_t)n < sizeof sql);
    return pragma_query(db, sql, out);
}

/* Sets an integer pragma and reads it back: SQLite ignores values it cannot apply. */
static enum kq_err pragma_set(sqlite3 *db, const char *name, int value)
{
    char sql[32 + PRAGMA_NAME_MAX];
    int64_t got;
    int n = snprintf(sql, sizeof sql, "PRAGMA %s = %d", name, value);
    KQ_ASSERT(n > 0 && (size_t)n < sizeof sql);
    KQ_GUARD(exec(db, name, sql));
    KQ_GUARD(pragma_get(db, name, &got));
    if (got != value) {
        KQ_LOG(KQ_LOG_ERROR, "store_pragma_refused", KQ_LS("pragma", name), KQ_LI("want", value),
               KQ_LI("got", got));
        return KQ_ERR_STORE;
    }
    return KQ_OK;
}

static enum kq_err set_wal(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    enum kq_err err = KQ_ERR_STORE;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (mode != NULL && sqlite3_stricmp((const char *)mode, "wal") == 0)
            err = KQ_OK;
        else
            KQ_LOG0(KQ_LOG_ERROR, "store_wal_refused");
    } else {
        err = db_fail("journal_mode", rc);
    }
    sqlite3_finalize(st);
    return err;
}

static enum kq_err set_pragmas(sqlite3 *db, unsigned flags)
{
    KQ_GUARD(set_wal(db));
    KQ_GUARD(pragma_set(db, "synchronous", (flags & KQ_STORE_DURABLE) ? 2 : 1));
    /* Without KQ_STORE_SECRETS the build's default stays (Debian builds with it on). */
    if (flags & KQ_STORE_SECRETS)
        KQ_GUARD(pragma_set(db, "secure_delete", 1));
    KQ_GUARD(pragma_set(db, "foreign_keys", 1));
    return KQ_OK;
}

/* One migration step in its own write transaction. Re-reads the version under the lock: another
 * process may have migrated since we looked. */
static enum kq_err migrate_step(sqlite3 *db, int i)
{
    char sql[48];
    int64_t v = 0;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(i >= 0 && i < MIGRATIONS);
    KQ_GUARD(exec(db, "migrate", "BEGIN IMMEDIATE"));
    KQ_TRY(pragma_get(db, "user_version", &v));
    KQ_CHECK(v >= i, KQ_ERR_STORE); /* versions only grow */
    if (v == i) {
        int n = snprintf(sql, sizeof sql, "PRAGMA user_version = %d", i + 1);
        KQ_ASSERT(n > 0 && (size_t)n < sizeof sql);
        KQ_TRY(exec(db, "migrate", migrations[i]));
        KQ_TRY(exec(db, "migrate", sql));
    }
    KQ_TRY(exec(db, "migrate", "COMMIT"));
out:
    if (err != KQ_OK && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

/* Reads the version before anything writes: a newer database is refused untouched. */
static enum kq_err check_version(sqlite3 *db, int64_t *version)
{
    KQ_GUARD(pragma_get(db, "user_version", version));
    KQ_ENSURE(*version >= 0 && *version <= MIGRATIONS, KQ_ERR_VERSION);
    return KQ_OK;
}

static enum kq_err migrate(sqlite3 *db, int64_t from, int *version)
{
    int64_t v;
    KQ_ASSERT(from >= 0 && from <= MIGRATIONS);
    for (int i = (int)from; i < MIGRATIONS; i++)
        KQ_GUARD(migrate_step(db, i));
    KQ_GUARD(pragma_get(db, "user_version", &v));
    KQ_ENSURE(v == MIGRATIONS, KQ_ERR_VERSION); /* a newer build migrated meanwhile */
    *version = (int)v;
    return KQ_OK;
}

static enum kq_err prepare_all(struct kq_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        KQ_ASSERT(s->st[i] == NULL);
        int rc =
            sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            return db_fail("prepare", rc);
    }
    return KQ_OK;
}

/* Creates the file with mode 0600 if it does not exist; fchmod because the umask may have
 * removed bits from the open() mode. SQLite gives -wal and -shm the database file's mode. */
static enum kq_err create_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST)
        return KQ_OK;
    if (fd < 0) {
        KQ_LOG(KQ_LOG_ERROR, "store_create_failed", KQ_LS("path", path), KQ_LI("errno", errno));
        return KQ_ERR_STORE;
    }
    bool ok = fchmod(fd, S_IRUSR | S_IWUSR) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        KQ_LOG(KQ_LOG_ERROR, "store_create_failed", KQ_LS("path", path), KQ_LI("errno", errno));
        (void)unlink(path);
        return KQ_ERR_STORE;
    }
    return KQ_OK;
}

/* A non-empty file must start with SQLite's magic. SQLite itself takes a junk file of a few bytes
 * for an empty database and would write a new one over it; a nonempty database file always has
 * its 100-byte header (switching to WAL writes it before any page goes to the -wal). */
static enum kq_err check_magic(const char *path)
{
    static const char magic[16] = "SQLite format 3"; /* with its NUL: 16 bytes */
    uint8_t head[sizeof magic];
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    KQ_ENSURE(fd >= 0, KQ_ERR_STORE);
    for (int i = 0; i < 4 && got < sizeof head; i++) { /* bounded: EINTR or short reads */
        ssize_t n = read(fd, head + got, sizeof head - got);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
        got += n > 0 ? (size_t)n : 0;
    }
    (void)close(fd);
    if (got == 0 || (got == sizeof head && memcmp(head, magic, sizeof head) == 0))
        return KQ_OK;
    KQ_LOG(KQ_LOG_ERROR, "store_not_a_database", KQ_LS("path", path));
    return KQ_ERR_STORE;
}

static enum kq_err open_db(const char *path, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_fail("open", rc);
    (void)sqlite3_extended_result_codes(*db, 1);
    (void)sqlite3_busy_timeout(*db, KQ_STORE_BUSY_TIMEOUT_MS);
    (void)sqlite3_limit(*db, SQLITE_LIMIT_LENGTH, (int)ROW_LIMIT_BYTES);
    /* No writable_schema or other ways to corrupt the file through SQL. */
    rc = sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    return rc == SQLITE_OK ? KQ_OK : db_fail("open", rc);
}

/* A file path: not empty, not SQLite's ":memory:"-style names, not a "file:" URI (Debian's
 * SQLite interprets URIs). */
static bool valid_path(const char *path)
{
    return path != NULL && path[0] != '\0' && path[0] != ':' && strncmp(path, "file:", 5) != 0;
}

static void handle_free(struct kq_store *s, bool checkpoint)
{
    KQ_ASSERT(!s->iterating);
    for (int i = 0; i < ST_COUNT; i++)
        (void)sqlite3_finalize(s->st[i]); /* NULL is a no-op */
    if (s->db != NULL && !sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (checkpoint) {
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc != SQLITE_OK)
            (void)db_fail("checkpoint", rc);
    }
    int rc = sqlite3_close(s->db); /* NULL is a no-op */
    KQ_ASSERT(rc == SQLITE_OK);    /* every statement is finalized */
    free(s);
}

enum kq_err kq_store_open(const char *path, unsigned flags, struct kq_store **out)
{
    enum kq_err err;
    int64_t version = 0;
    KQ_ASSERT(out != NULL);
    *out = NULL;
    KQ_ENSURE(valid_path(path), KQ_ERR_INVALID_ARG);
    KQ_ENSURE((flags & ~(unsigned)(KQ_STORE_DURABLE | KQ_STORE_SECRETS)) == 0, KQ_ERR_INVALID_ARG);
    KQ_GUARD(create_file(path));
    KQ_GUARD(check_magic(path));
    struct kq_store *s = calloc(1, sizeof *s);
    KQ_ENSURE(s != NULL, KQ_ERR_NOMEM);
    KQ_TRY(open_db(path, &s->db));
    KQ_TRY(check_version(s->db, &version));
    KQ_TRY(set_pragmas(s->db, flags));
    KQ_TRY(migrate(s->db, version, &s->version));
    KQ_TRY(prepare_all(s));
    KQ_ASSERT(s->version == MIGRATIONS);
    *out = s;
    return KQ_OK;
out:
    handle_free(s, false);
    return err;
}

void kq_store_close(struct kq_store *s)
{
    if (s != NULL)
        handle_free(s, true);
}

int kq_store_schema_version(const struct kq_store *s)
{
    KQ_ASSERT(s != NULL);
    return s->version;
}

int kq_store_schema_latest(void)
{
    return MIGRATIONS;
}

/* Resets and unbinds a statement after use; its step result was already handled. */
static void stmt_done(sqlite3_stmt *st)
{
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
}

static enum kq_err run_simple(struct kq_store *s, enum stmt_id id, const char *op)
{
    sqlite3_stmt *st = s->st[id];
    int rc = sqlite3_step(st);
    stmt_done(st);
    return rc == SQLITE_DONE ? KQ_OK : db_fail(op, rc);
}

enum kq_err kq_store_begin(struct kq_store *s)
{
    KQ_ASSERT(s != NULL);
    KQ_ENSURE(sqlite3_get_autocommit(s->db), KQ_ERR_STATE);
    return run_simple(s, ST_BEGIN, "begin");
}

enum kq_err kq_store_commit(struct kq_store *s)
{
    KQ_ASSERT(s != NULL);
    KQ_ENSURE(!sqlite3_get_autocommit(s->db), KQ_ERR_STATE);
    enum kq_err err = run_simple(s, ST_COMMIT, "commit");
    if (err != KQ_OK && !sqlite3_get_autocommit(s->db))
        (void)run_simple(s, ST_ROLLBACK, "rollback");
    return err;
}

enum kq_err kq_store_rollback(struct kq_store *s)
{
    KQ_ASSERT(s != NULL);
    if (sqlite3_get_autocommit(s->db))
        return KQ_OK;
    return run_simple(s, ST_ROLLBACK, "rollback");
}

static enum kq_err check_ns(const char *ns, size_t *len)
{
    KQ_ENSURE(ns != NULL, KQ_ERR_INVALID_ARG);
    size_t n = strnlen(ns, KQ_STORE_MAX_NS_BYTES + 1);
    KQ_ENSURE(n > 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n <= KQ_STORE_MAX_NS_BYTES, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++)
        KQ_ENSURE(ns[i] >= 0x21 && ns[i] <= 0x7e, KQ_ERR_INVALID_ARG);
    *len = n;
    return KQ_OK;
}

static enum kq_err check_key(const uint8_t *key, size_t len)
{
    KQ_ENSURE(key != NULL && len > 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(len <= KQ_STORE_MAX_KEY_BYTES, KQ_ERR_LIMIT);
    return KQ_OK;
}

static int bind_ns_key(sqlite3_stmt *st, const char *ns, size_t ns_len, const uint8_t *key,
                       size_t key_len)
{
    KQ_ASSERT(ns_len <= KQ_STORE_MAX_NS_BYTES && key_len <= KQ_STORE_MAX_KEY_BYTES);
    int rc = sqlite3_bind_text(st, 1, ns, (int)ns_len, SQLITE_STATIC);
    if (rc == SQLITE_OK && key != NULL)
        rc = sqlite3_bind_blob(st, 2, key, (int)key_len, SQLITE_STATIC);
    return rc;
}

enum kq_err kq_store_put(struct kq_store *s, const char *ns, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len)
{
    size_t ns_len = 0;
    KQ_ASSERT(s != NULL);
    KQ_GUARD(check_ns(ns, &ns_len));
    KQ_GUARD(check_key(key, key_len));
    KQ_ENSURE(value != NULL || value_len == 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(value_len <= KQ_STORE_MAX_VALUE_BYTES, KQ_ERR_LIMIT);
    sqlite3_stmt *st = s->st[ST_PUT];
    int rc = bind_ns_key(st, ns, ns_len, key, key_len);
    if (rc == SQLITE_OK) /* an empty value is a zero-length blob, not NULL */
        rc = value_len > 0 ? sqlite3_bind_blob(st, 3, value, (int)value_len, SQLITE_STATIC)
                           : sqlite3_bind_zeroblob(st, 3, 0);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    stmt_done(st);
    return rc == SQLITE_DONE ? KQ_OK : db_fail("put", rc);
}

/* Column col of the current row as (pointer, length), checked: a blob within max bytes. A record
 * that is not (a tampered or corrupt file) is a storage failure, never a crash or a huge read. */
static enum kq_err column_blob(sqlite3_stmt *st, int col, size_t max, const uint8_t **p,
                               size_t *len)
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB) {
        KQ_LOG(KQ_LOG_ERROR, "store_bad_record", KQ_LS("why", "not a blob"), KQ_LI("col", col));
        return KQ_ERR_STORE;
    }
    const void *data = sqlite3_column_blob(st, col); /* before _bytes, as SQLite advises */
    int n = sqlite3_column_bytes(st, col);
    if (n < 0 || (size_t)n > max) {
        KQ_LOG(KQ_LOG_ERROR, "store_bad_record", KQ_LS("why", "oversized"), KQ_LI("col", col));
        return KQ_ERR_STORE;
    }
    KQ_ENSURE(data != NULL || n == 0, KQ_ERR_NOMEM);
    *p = data;
    *len = (size_t)n;
    return KQ_OK;
}

static enum kq_err copy_value(sqlite3_stmt *st, uint8_t **value, size_t *value_len)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    KQ_GUARD(column_blob(st, 0, KQ_STORE_MAX_VALUE_BYTES, &p, &n));
    uint8_t *copy = malloc(n > 0 ? n : 1);
    KQ_ENSURE(copy != NULL, KQ_ERR_NOMEM);
    if (n > 0)
        memcpy(copy, p, n);
    *value = copy;
    *value_len = n;
    return KQ_OK;
}

enum kq_err kq_store_get(struct kq_store *s, const char *ns, const uint8_t *key, size_t key_len,
                         uint8_t **value, size_t *value_len)
{
    size_t ns_len = 0;
    enum kq_err err;
    KQ_ASSERT(s != NULL && value != NULL && value_len != NULL);
    *value = NULL;
    *value_len = 0;
    KQ_GUARD(check_ns(ns, &ns_len));
    KQ_GUARD(check_key(key, key_len));
    sqlite3_stmt *st = s->st[ST_GET];
    int rc = bind_ns_key(st, ns, ns_len, key, key_len);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = copy_value(st, value, value_len);
    else if (rc == SQLITE_DONE)
        err = KQ_ERR_NOT_FOUND;
    else
        err = db_fail("get", rc);
    stmt_done(st);
    KQ_ASSERT(err == KQ_OK || *value == NULL);
    return err;
}

enum kq_err kq_store_del(struct kq_store *s, const char *ns, const uint8_t *key, size_t key_len)
{
    size_t ns_len = 0;
    KQ_ASSERT(s != NULL);
    KQ_GUARD(check_ns(ns, &ns_len));
    KQ_GUARD(check_key(key, key_len));
    sqlite3_stmt *st = s->st[ST_DEL];
    int rc = bind_ns_key(st, ns, ns_len, key, key_len);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int changes = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    stmt_done(st);
    if (rc != SQLITE_DONE)
        return db_fail("del", rc);
    return changes > 0 ? KQ_OK : KQ_ERR_NOT_FOUND;
}

static enum kq_err visit(sqlite3_stmt *st, kq_store_iter_fn fn, void *ctx)
{
    const uint8_t *key = NULL, *value = NULL;
    size_t key_len = 0, value_len = 0;
    KQ_GUARD(column_blob(st, 0, KQ_STORE_MAX_KEY_BYTES, &key, &key_len));
    KQ_GUARD(column_blob(st, 1, KQ_STORE_MAX_VALUE_BYTES, &value, &value_len));
    KQ_ENSURE(key_len > 0, KQ_ERR_STORE);
    return fn(ctx, key, key_len, value, value_len);
}

enum kq_err kq_store_iter(struct kq_store *s, const char *ns, size_t max, kq_store_iter_fn fn,
                          void *ctx)
{
    size_t ns_len = 0;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(s != NULL && fn != NULL);
    KQ_ENSURE(!s->iterating, KQ_ERR_STATE);
    KQ_GUARD(check_ns(ns, &ns_len));
    if (max == 0)
        return KQ_OK;
    sqlite3_stmt *st = s->st[ST_ITER];
    int rc = bind_ns_key(st, ns, ns_len, NULL, 0);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
    s->iterating = true;
    for (size_t seen = 0; rc == SQLITE_OK && err == KQ_OK && seen < max; seen++) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW)
            rc = step;
        else
            err = visit(st, fn, ctx);
    }
    s->iterating = false;
    stmt_done(st);
    return rc == SQLITE_OK ? err : db_fail("iter", rc);
}

static bool valid_pragma_name(const char *name)
{
    size_t n = name != NULL ? strnlen(name, PRAGMA_NAME_MAX + 1) : 0;
    if (n == 0 || n > PRAGMA_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_'))
            return false;
    return true;
}

enum kq_err kq_store_pragma_int(struct kq_store *s, const char *name, int64_t *out)
{
    KQ_ASSERT(s != NULL && out != NULL);
    *out = 0;
    KQ_ENSURE(valid_pragma_name(name), KQ_ERR_INVALID_ARG);
    return pragma_get(s->db, name, out);
}
