/* `keyquorum shamir split -k K -n N` and `keyquorum shamir combine`: hex on stdin, hex on stdout,
 * one item a line. Secrets and shares only ever sit in sodium_malloc'd buffers: stdin and stdout
 * are read and written with read(2)/write(2), never through stdio's buffers, and every buffer is
 * wiped on every exit. Errors name the problem and the line, never the data. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/limits.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "crypto/shamir.h"

#define EXIT_USAGE 2
/* Bytes fetched from stdin per read(2). */
#define READ_CHUNK_BYTES 4096
/* Digits of a share count: 255 has three. */
#define MAX_COUNT_DIGITS 3
/* Lines of input combine reads, blank ones included: enough for every share and some slack. */
#define MAX_INPUT_LINES (4 * KQ_SHAMIR_MAX_SHARES)

KQ_STATIC_ASSERT(KQ_CLI_MAX_LINE_BYTES >= 2 * KQ_SHAMIR_MAX_SHARE_BYTES,
                 "a line holds the hex of the largest share");

/* A line reader over fd 0 with its own secret-safe buffers. */
struct reader {
    uint8_t *chunk; /* READ_CHUNK_BYTES, secure */
    size_t pos, len;
    bool eof;
    char *line; /* KQ_CLI_MAX_LINE_BYTES + 1, secure */
    size_t line_no;
};

enum line_result { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_IO };

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("keyquorum shamir: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: keyquorum shamir split -k K -n N   (one hex secret on stdin; prints N "
            "hex shares)\n"
            "       keyquorum shamir combine           (hex shares on stdin, one a line; "
            "prints the secret)\n"
            "  2 <= K <= N <= %d; secrets of 1 to %d bytes; share = y-bytes || x\n",
            KQ_SHAMIR_MAX_SHARES, KQ_SHAMIR_MAX_SECRET_BYTES);
}

static bool reader_open(struct reader *r)
{
    memset(r, 0, sizeof *r);
    r->chunk = kq_secure_alloc(READ_CHUNK_BYTES);
    r->line = kq_secure_alloc(KQ_CLI_MAX_LINE_BYTES + 1);
    return r->chunk != NULL && r->line != NULL;
}

static void reader_close(struct reader *r)
{
    kq_secure_free(r->chunk); /* wipes */
    kq_secure_free(r->line);
    memset(r, 0, sizeof *r);
}

/* Next byte of stdin into *c; false at end of input. *io set on a read error. */
static bool reader_byte(struct reader *r, char *c, bool *io)
{
    if (r->pos == r->len && !r->eof) {
        ssize_t got;
        do {
            got = read(STDIN_FILENO, r->chunk, READ_CHUNK_BYTES);
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            *io = true;
        r->eof = got <= 0;
        r->pos = 0;
        r->len = got > 0 ? (size_t)got : 0;
    }
    if (r->pos == r->len)
        return false;
    *c = (char)r->chunk[r->pos++];
    return true;
}

/* Reads one line into r->line (without its newline, NUL-terminated) as *len bytes. A line longer
 * than KQ_CLI_MAX_LINE_BYTES is refused, not split. */
static enum line_result read_line(struct reader *r, size_t *len)
{
    bool io = false, any = false;
    char c = 0;
    *len = 0;
    for (size_t i = 0; i <= KQ_CLI_MAX_LINE_BYTES; i++) {
        if (!reader_byte(r, &c, &io))
            break;
        any = true;
        if (c == '\n')
            break;
        if (*len == KQ_CLI_MAX_LINE_BYTES)
            return LINE_TOO_LONG;
        r->line[(*len)++] = c;
    }
    r->line[*len] = '\0';
    if (io)
        return LINE_IO;
    if (!any)
        return LINE_EOF;
    r->line_no++;
    return LINE_OK;
}

/* The line without surrounding blanks (spaces, tabs, CR): *start and *len. */
static void trim(const char *s, size_t n, size_t *start, size_t *len)
{
    size_t a = 0, b = n;
    while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
        b--;
    *start = a;
    *len = b - a;
}

/* Decodes hex (constant time in its digits) into out; false unless every character is a hex
 * digit, the count is even and the bytes fit cap. */
static bool decode_hex(const char *hex, size_t hex_len, uint8_t *out, size_t cap, size_t *out_len)
{
    *out_len = 0;
    if (hex_len == 0 || hex_len % 2 != 0 || hex_len / 2 > cap)
        return false;
    size_t n = 0;
    if (sodium_hex2bin(out, cap, hex, hex_len, NULL, &n, NULL) != 0 || n != hex_len / 2) {
        kq_wipe(out, cap);
        return false;
    }
    *out_len = n;
    return true;
}

static bool write_all(const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(STDOUT_FILENO, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        done += (size_t)w;
    }
    return true;
}

/* Writes bin as one hex line through the secure buffer hex (2 * len + 2 bytes). */
static bool print_hex_line(const uint8_t *bin, size_t len, char *hex)
{
    sodium_bin2hex(hex, 2 * len + 1, bin, len);
    hex[2 * len] = '\n';
    bool ok = write_all(hex, 2 * len + 1);
    kq_wipe(hex, 2 * len + 2);
    return ok;
}

/* A share count: 1 to MAX_COUNT_DIGITS decimal digits. */
static bool parse_count(const char *s, unsigned *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_COUNT_DIGITS)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = 10 * v + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses "-k K -n N" in either order, each exactly once. */
static int parse_split_args(int argc, char **argv, unsigned *k, unsigned *n)
{
    bool have_k = false, have_n = false;
    for (int i = 0; i < argc; i += 2) {
        bool is_k = strcmp(argv[i], "-k") == 0, is_n = strcmp(argv[i], "-n") == 0;
        if (!is_k && !is_n)
            return fail("split: unknown argument '%s' (expected -k K -n N)", argv[i]);
        if ((is_k && have_k) || (is_n && have_n))
            return fail("split: %s given twice", argv[i]);
        if (i + 1 >= argc)
            return fail("split: %s needs a value", argv[i]);
        if (!parse_count(argv[i + 1], is_k ? k : n))
            return fail("split: %s wants a number from 2 to %d", argv[i], KQ_SHAMIR_MAX_SHARES);
        have_k = have_k || is_k;
        have_n = have_n || is_n;
    }
    if (!have_k || !have_n)
        return fail("split: both -k K and -n N are required");
    if (*k < KQ_SHAMIR_MIN_THRESHOLD || *k > *n || *n > KQ_SHAMIR_MAX_SHARES)
        return fail("split: need 2 <= k <= n <= %d (got k=%u n=%u)", KQ_SHAMIR_MAX_SHARES, *k, *n);
    return 0;
}

/* Reads the one secret line: *len bytes into secret (KQ_SHAMIR_MAX_SECRET_BYTES). */
static int read_secret(struct reader *r, uint8_t *secret, size_t *len)
{
    bool have = false, eof = false;
    for (size_t i = 0; i < MAX_INPUT_LINES && !eof; i++) {
        size_t n, a, t;
        enum line_result lr = read_line(r, &n);
        eof = lr == LINE_EOF;
        if (eof)
            continue;
        if (lr == LINE_TOO_LONG)
            return fail("split: input line longer than %d bytes", KQ_CLI_MAX_LINE_BYTES);
        if (lr == LINE_IO)
            return fail("split: cannot read stdin");
        trim(r->line, n, &a, &t);
        if (t == 0)
            continue;
        if (have)
            return fail("split: expected one secret line, found more (line %zu)", r->line_no);
        if (t / 2 > KQ_SHAMIR_MAX_SECRET_BYTES)
            return fail("split: secret longer than %d bytes", KQ_SHAMIR_MAX_SECRET_BYTES);
        if (!decode_hex(r->line + a, t, secret, KQ_SHAMIR_MAX_SECRET_BYTES, len))
            return fail("split: the secret is not hex with an even number of digits (line %zu)",
                        r->line_no);
        have = true;
    }
    if (!eof)
        return fail("split: more than %d input lines", MAX_INPUT_LINES);
    if (!have)
        return fail("split: no secret on stdin (expected one hex line)");
    return 0;
}

static int cmd_split(int argc, char **argv)
{
    unsigned k = 0, n = 0;
    int rc = parse_split_args(argc, argv, &k, &n);
    if (rc != 0)
        return rc;
    struct reader r;
    uint8_t *secret = kq_secure_alloc(KQ_SHAMIR_MAX_SECRET_BYTES), *shares = NULL;
    char *hex = kq_secure_alloc(2 * KQ_SHAMIR_MAX_SHARE_BYTES + 2);
    size_t len = 0;
    if (!reader_open(&r) || secret == NULL || hex == NULL) {
        rc = fail("out of memory");
        goto out;
    }
    rc = read_secret(&r, secret, &len);
    if (rc != 0)
        goto out;
    size_t share_len = KQ_SHAMIR_SHARE_BYTES(len);
    shares = kq_secure_alloc((size_t)n * share_len);
    if (shares == NULL) {
        rc = fail("out of memory");
        goto out;
    }
    if (kq_shamir_split(shares, share_len, secret, len, k, n) != KQ_OK) {
        rc = fail("split: cannot split this secret");
        goto out;
    }
    for (unsigned i = 0; i < n && rc == 0; i++)
        if (!print_hex_line(shares + (size_t)i * share_len, share_len, hex))
            rc = fail("split: cannot write stdout");
out:
    reader_close(&r);
    kq_secure_free(secret); /* every kq_secure_free wipes first */
    kq_secure_free(shares);
    kq_secure_free(hex);
    return rc;
}

/* The shares read by combine, each in its own sodium_malloc'd slot of share_len bytes (fixed by
 * the first share), so memory grows with the shares actually given. */
struct share_set {
    uint8_t *slot[KQ_SHAMIR_MAX_SHARES];
    size_t share_len, count;
};

static void share_set_free(struct share_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        kq_secure_free(set->slot[i]); /* wipes */
    set->count = 0;
}

/* Decodes one trimmed hex share into a new slot of set. */
static int add_share(struct share_set *set, const char *hex, size_t hex_len, size_t line_no)
{
    if (hex_len % 2 != 0 || hex_len / 2 > KQ_SHAMIR_MAX_SHARE_BYTES)
        return fail("combine: line %zu is not a share (odd length or too long)", line_no);
    if (set->count == KQ_SHAMIR_MAX_SHARES)
        return fail("combine: more than %d shares", KQ_SHAMIR_MAX_SHARES);
    if (set->count == 0)
        set->share_len = hex_len / 2;
    if (hex_len / 2 != set->share_len)
        return fail("combine: shares have different lengths (line %zu)", line_no);
    uint8_t *slot = kq_secure_alloc(set->share_len);
    if (slot == NULL)
        return fail("out of memory");
    size_t got = 0;
    if (!decode_hex(hex, hex_len, slot, set->share_len, &got)) {
        kq_secure_free(slot);
        return fail("combine: line %zu is not hex", line_no);
    }
    set->slot[set->count++] = slot;
    return 0;
}

static int read_shares(struct reader *r, struct share_set *set)
{
    for (size_t i = 0; i < MAX_INPUT_LINES; i++) {
        size_t n, a, t;
        enum line_result lr = read_line(r, &n);
        if (lr == LINE_EOF)
            return 0;
        if (lr == LINE_TOO_LONG)
            return fail("combine: input line longer than %d bytes", KQ_CLI_MAX_LINE_BYTES);
        if (lr == LINE_IO)
            return fail("combine: cannot read stdin");
        trim(r->line, n, &a, &t);
        if (t == 0)
            continue;
        int rc = add_share(set, r->line + a, t, r->line_no);
        if (rc != 0)
            return rc;
    }
    return fail("combine: more than %d input lines", MAX_INPUT_LINES);
}

static int combine_error(enum kq_err err)
{
    switch (err) {
    case KQ_ERR_THRESHOLD:
        return fail("combine: need at least 2 shares");
    case KQ_ERR_TRUNCATED:
        return fail("combine: shares too short (at least 2 bytes: y-bytes then x)");
    case KQ_ERR_ZERO_INDEX:
        return fail("combine: a share has x = 0 (its last byte)");
    case KQ_ERR_DUPLICATE_INDEX:
        return fail("combine: two shares have the same x (last byte)");
    default:
        return fail("combine: %s", kq_strerror(err));
    }
}

static int cmd_combine(int argc, char **argv)
{
    if (argc > 0)
        return fail("combine: unexpected argument '%s'", argv[0]);
    struct reader r;
    struct share_set set = {{NULL}, 0, 0};
    const uint8_t *ptrs[KQ_SHAMIR_MAX_SHARES];
    uint8_t *secret = kq_secure_alloc(KQ_SHAMIR_MAX_SECRET_BYTES);
    char *hex = kq_secure_alloc(2 * KQ_SHAMIR_MAX_SECRET_BYTES + 2);
    int rc = 0;
    if (!reader_open(&r) || secret == NULL || hex == NULL) {
        rc = fail("out of memory");
        goto out;
    }
    rc = read_shares(&r, &set);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < set.count; i++)
        ptrs[i] = set.slot[i];
    enum kq_err err = kq_shamir_combine(secret, ptrs, set.count, set.share_len);
    if (err != KQ_OK) {
        rc = combine_error(err);
        goto out;
    }
    if (!print_hex_line(secret, set.share_len - 1, hex))
        rc = fail("combine: cannot write stdout");
out:
    reader_close(&r);
    share_set_free(&set);
    kq_secure_free(secret);
    kq_secure_free(hex);
    return rc;
}

int kq_cli_shamir(int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0 ||
        strcmp(argv[0], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[0], "split") == 0)
        return cmd_split(argc - 1, argv + 1);
    if (strcmp(argv[0], "combine") == 0)
        return cmd_combine(argc - 1, argv + 1);
    fail("unknown subcommand '%s'", argv[0]);
    usage(stderr);
    return EXIT_USAGE;
}
