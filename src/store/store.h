/* Per-node storage: namespaced key/value records in one SQLite database (WAL), with versioned
 * schema migrations. The only module that includes sqlite3.h. A handle belongs to one thread.
 * Values never appear in logs or error messages; secrets read back must be wiped by the caller. */
#ifndef KQ_STORE_STORE_H
#define KQ_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"

struct kq_store;

enum kq_store_flags {
    KQ_STORE_DURABLE = 1u << 0, /* PRAGMA synchronous=FULL (ledger, shares); else NORMAL */
    KQ_STORE_SECRETS = 1u << 1, /* PRAGMA secure_delete=ON (anything that held secrets) */
};

/* Opens or creates the database at path (a file path: empty, ":memory:"-style and "file:" URI
 * names are KQ_ERR_INVALID_ARG). A file it creates has mode 0600 whatever the umask. Sets
 * journal_mode=WAL (verified), foreign_keys, busy_timeout and the flags' pragmas, then migrates
 * to the latest schema version, one transaction per step. Errors: KQ_ERR_INVALID_ARG (bad path
 * or unknown flag), KQ_ERR_VERSION for a database newer than this build (left untouched) or with
 * a negative version, KQ_ERR_STORE for any SQLite or file failure (including a file that is not
 * a database), KQ_ERR_NOMEM. On success *out is a handle for kq_store_close; on failure NULL. */
KQ_MUST_USE enum kq_err kq_store_open(const char *path, unsigned flags, struct kq_store **out);
/* Finalizes, checkpoints the WAL (TRUNCATE) and closes; an open transaction is rolled back.
 * NULL is allowed. */
void kq_store_close(struct kq_store *s);
/* The schema version of the open database: the latest this build knows. */
int kq_store_schema_version(const struct kq_store *s);
/* The latest schema version this build migrates to. */
int kq_store_schema_latest(void);

/* Explicit transactions. begin is BEGIN IMMEDIATE (takes the write lock now, so a later write
 * cannot fail with SQLITE_BUSY midway). KQ_ERR_STATE: begin inside a transaction, commit outside
 * one. A failed commit rolls the transaction back. rollback outside a transaction is KQ_OK:
 * SQLite may already have rolled back after an I/O error, and callers roll back on any error. */
KQ_MUST_USE enum kq_err kq_store_begin(struct kq_store *s);
KQ_MUST_USE enum kq_err kq_store_commit(struct kq_store *s);
KQ_MUST_USE enum kq_err kq_store_rollback(struct kq_store *s);

/* Namespaced key/value records. ns: 1..KQ_STORE_MAX_NS_BYTES printable ASCII bytes without
 * space (0x21..0x7e), NUL-terminated; key 1..KQ_STORE_MAX_KEY_BYTES bytes; value
 * 0..KQ_STORE_MAX_VALUE_BYTES bytes (NULL only when empty). Outside a begin/commit each call is
 * its own transaction. Argument errors: KQ_ERR_INVALID_ARG for an empty or non-printable ns, an
 * empty or NULL key, a NULL non-empty value; KQ_ERR_LIMIT for an oversized ns, key or value. */
/* Inserts or replaces ns/key. */
KQ_MUST_USE enum kq_err kq_store_put(struct kq_store *s, const char *ns, const uint8_t *key,
                                     size_t key_len, const uint8_t *value, size_t value_len);
/* *value is malloc'd (never NULL on success, even for an empty value; the caller frees it, and
 * wipes it first if it holds a secret) and *value_len its length. KQ_ERR_NOT_FOUND if absent;
 * KQ_ERR_STORE if the stored record is not a blob within the limits. On failure *value is NULL
 * and *value_len 0. */
KQ_MUST_USE enum kq_err kq_store_get(struct kq_store *s, const char *ns, const uint8_t *key,
                                     size_t key_len, uint8_t **value, size_t *value_len);
/* Deletes ns/key; KQ_ERR_NOT_FOUND if it was absent (nothing changed). */
KQ_MUST_USE enum kq_err kq_store_del(struct kq_store *s, const char *ns, const uint8_t *key,
                                     size_t key_len);

/* Calls fn for every record of ns in key order (bytewise, shorter first on a common prefix), at
 * most `max` records (bounded); stops early and returns fn's error if fn returns non-KQ_OK.
 * key and value are valid only during the call. fn may call get/put/del on s, but not
 * kq_store_iter (KQ_ERR_STATE); records it changes may or may not be visited. */
typedef enum kq_err (*kq_store_iter_fn)(void *ctx, const uint8_t *key, size_t key_len,
                                        const uint8_t *value, size_t value_len);
KQ_MUST_USE enum kq_err kq_store_iter(struct kq_store *s, const char *ns, size_t max,
                                      kq_store_iter_fn fn, void *ctx);

/* For tests and diagnostics: the integer value of PRAGMA name (lowercase letters and '_', at
 * most 32). KQ_ERR_INVALID_ARG for another name, KQ_ERR_FORMAT if the pragma's value is not an
 * integer (journal_mode is text), KQ_ERR_NOT_FOUND if it returns nothing (an unknown pragma),
 * KQ_ERR_STORE on failure. *out is 0 on failure. */
KQ_MUST_USE enum kq_err kq_store_pragma_int(struct kq_store *s, const char *name, int64_t *out);

#endif
