/* Structured logs: one JSON object per line on one stream (stderr by default), written with a
 * single write so lines from concurrent processes never interleave. Callers pass typed fields;
 * nothing secret may ever be passed (keys, shares, plaintexts, tokens): log names and ids only. */
#ifndef KQ_BASE_LOG_H
#define KQ_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum kq_log_level { KQ_LOG_DEBUG = 0, KQ_LOG_INFO, KQ_LOG_WARN, KQ_LOG_ERROR };

enum kq_log_type { KQ_LF_STR = 1, KQ_LF_U64, KQ_LF_I64, KQ_LF_BOOL };

struct kq_log_field {
    const char *key;
    enum kq_log_type type;
    union {
        const char *s;
        uint64_t u;
        int64_t i;
        bool b;
    } v;
};

#define KQ_LS(k, x) ((struct kq_log_field){.key = (k), .type = KQ_LF_STR, .v.s = (x)})
#define KQ_LU(k, x) ((struct kq_log_field){.key = (k), .type = KQ_LF_U64, .v.u = (uint64_t)(x)})
#define KQ_LI(k, x) ((struct kq_log_field){.key = (k), .type = KQ_LF_I64, .v.i = (int64_t)(x)})
#define KQ_LB(k, x) ((struct kq_log_field){.key = (k), .type = KQ_LF_BOOL, .v.b = (x)})

/* Where and what to log. out NULL means stderr; node_id 0 omits the "node" field. */
void kq_log_setup(FILE *out, enum kq_log_level min_level, uint32_t node_id);
void kq_log_set_level(enum kq_log_level min_level);
enum kq_log_level kq_log_get_level(void);
/* "debug", "info", "warn", "error" -> level; false if unknown. */
bool kq_log_level_parse(const char *name, enum kq_log_level *out);
const char *kq_log_level_name(enum kq_log_level level);

/* Writes {"ts":...,"level":...,"node":...,"event":event, fields...}. Strings are JSON-escaped
 * (control and non-ASCII bytes as \u00XX) and truncated to KQ_LOG_MAX_LINE_BYTES in all. */
void kq_log_fields(enum kq_log_level level, const char *event, const struct kq_log_field *fields,
                   size_t n_fields);

/* Formats one line into buf (NUL-terminated) without writing it; returns its length. For tests. */
size_t kq_log_format(char *buf, size_t size, uint64_t unix_ms, enum kq_log_level level,
                     const char *event, const struct kq_log_field *fields, size_t n_fields);

#define KQ_LOG(level, event, ...)                                                                  \
    do {                                                                                           \
        const struct kq_log_field kq_log_f_[] = {__VA_ARGS__};                                     \
        kq_log_fields((level), (event), kq_log_f_, sizeof kq_log_f_ / sizeof kq_log_f_[0]);        \
    } while (0)
#define KQ_LOG0(level, event) kq_log_fields((level), (event), NULL, 0)

#endif
