/* JSON-lines logger. Each line is formatted into a bounded stack buffer and written with one
 * write(2), so a line is never split or interleaved; an over-long line is cut and marked. */
#include "base/log.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"

/* One log line, everything included: long enough for any event we emit, bounded so a hostile
 * string (a peer's certificate name, a path) cannot make a line unbounded. */
#define KQ_LOG_MAX_LINE_BYTES 4096

static FILE *log_out;
static enum kq_log_level log_min = KQ_LOG_INFO;
static uint32_t log_node;

void kq_log_setup(FILE *out, enum kq_log_level min_level, uint32_t node_id)
{
    log_out = out;
    log_min = min_level;
    log_node = node_id;
}

void kq_log_set_level(enum kq_log_level min_level)
{
    log_min = min_level;
}

enum kq_log_level kq_log_get_level(void)
{
    return log_min;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *kq_log_level_name(enum kq_log_level level)
{
    KQ_ASSERT((unsigned)level < sizeof level_names / sizeof level_names[0]);
    return level_names[level];
}

bool kq_log_level_parse(const char *name, enum kq_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (name != NULL && strcmp(name, level_names[i]) == 0) {
            *out = (enum kq_log_level)i;
            return true;
        }
    return false;
}

/* A bounded appender: once full, further output is dropped and `cut` is set. */
struct line {
    char *p;
    size_t size, len;
    bool cut;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->cut || n > l->size - 1 - l->len) {
        l->cut = true;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void put_json_string(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c != 0; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            put(l, e, 2);
        } else if (*c < 0x20 || *c >= 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15]};
            put(l, e, 6);
        } else {
            put(l, (const char *)c, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_u64(struct line *l, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    put(l, tmp, (size_t)n);
}

static void put_field(struct line *l, const struct kq_log_field *f)
{
    puts_(l, ",");
    put_json_string(l, f->key);
    puts_(l, ":");
    switch (f->type) {
    case KQ_LF_STR:
        put_json_string(l, f->v.s);
        return;
    case KQ_LF_U64:
        put_u64(l, f->v.u);
        return;
    case KQ_LF_I64:
        if (f->v.i < 0) {
            puts_(l, "-");
            put_u64(l, (uint64_t)0 - (uint64_t)f->v.i);
        } else {
            put_u64(l, (uint64_t)f->v.i);
        }
        return;
    case KQ_LF_BOOL:
        puts_(l, f->v.b ? "true" : "false");
        return;
    }
    KQ_ASSERT(0 && "unknown log field type");
}

size_t kq_log_format(char *buf, size_t size, uint64_t unix_ms, enum kq_log_level level,
                     const char *event, const struct kq_log_field *fields, size_t n_fields)
{
    KQ_ASSERT(buf != NULL && size >= 64);
    struct line l = {.p = buf, .size = size - 16}; /* room kept for the cut marker and "}\n" */
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    char ts[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03uZ", (unsigned)(unix_ms % 1000));
    puts_(&l, "{\"ts\":\"");
    puts_(&l, ts);
    puts_(&l, "\",\"level\":\"");
    puts_(&l, kq_log_level_name(level));
    puts_(&l, "\"");
    if (log_node != 0) {
        puts_(&l, ",\"node\":");
        put_u64(&l, log_node);
    }
    KQ_ASSERT(event != NULL && strlen(event) < 64); /* event names are code constants */
    puts_(&l, ",\"event\":");
    put_json_string(&l, event);
    for (size_t i = 0; i < n_fields && !l.cut; i++) {
        size_t mark = l.len; /* a field that does not fit is dropped whole */
        put_field(&l, &fields[i]);
        if (l.cut)
            l.len = mark;
    }
    if (l.cut) {
        l.size = size;
        l.cut = false;
        puts_(&l, ",\"cut\":true");
    }
    l.size = size;
    puts_(&l, "}\n");
    buf[l.len] = '\0';
    return l.len;
}

void kq_log_fields(enum kq_log_level level, const char *event, const struct kq_log_field *fields,
                   size_t n_fields)
{
    if (level < log_min)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    char line[KQ_LOG_MAX_LINE_BYTES];
    size_t n = kq_log_format(line, sizeof line, ms, level, event, fields, n_fields);
    int fd = fileno(log_out != NULL ? log_out : stderr);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, line + off, n - off);
        if (w <= 0)
            return; /* nowhere to report a failing log stream */
        off += (size_t)w;
    }
}
