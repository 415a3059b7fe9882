/* Fuzzes the HTTP router's pure parts (src/net/http.c): input "pattern\npath" (or a bare path,
 * matched against the API's own patterns). Properties: a match captures exactly the pattern's
 * {names}, each value non-empty and no longer than the path; failures capture nothing; and the
 * captured values, percent-encoded back into the pattern, match again to the same values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/http.h"

static const char *const patterns[] = {"/v1/keys/{name}/encrypt", "/v1/keys/{name}", "/v1/keys",
                                       "/a/{x}/{y}/{z}/{w}", "/v1/ledger/blocks"};

static unsigned count_captures(const char *pattern)
{
    unsigned n = 0;
    for (; *pattern != '\0'; pattern++)
        n += *pattern == '{';
    return n;
}

/* pattern with every capture replaced by its value, each byte escaped as %XX. 0 if too long. */
static size_t rebuild(const char *pattern, const struct kq_http_captures *c, char *out, size_t cap)
{
    size_t len = 0;
    unsigned k = 0;
    for (const char *p = pattern; *p != '\0';) {
        if (*p != '{') {
            if (len + 1 >= cap)
                return 0;
            out[len++] = *p++;
            continue;
        }
        for (const char *v = c->value[k++]; *v != '\0'; v++) {
            if (len + 4 >= cap)
                return 0;
            len += (size_t)snprintf(out + len, cap - len, "%%%02X", (unsigned char)*v);
        }
        p = strchr(p, '}') + 1;
    }
    out[len] = '\0';
    return len;
}

static void check(const char *pattern, const char *path, size_t len)
{
    static struct kq_http_captures c, again;
    static char path2[KQ_HTTP_MAX_PATH_BYTES + 1];
    enum kq_err err = kq_http_path_match(pattern, path, len, &c);
    KQ_FUZZ_CHECK(err == KQ_OK || err == KQ_ERR_NOT_FOUND || err == KQ_ERR_FORMAT);
    if (err != KQ_OK) {
        KQ_FUZZ_CHECK(c.n == 0);
        return;
    }
    KQ_FUZZ_CHECK(c.n == count_captures(pattern));
    for (unsigned i = 0; i < c.n; i++) {
        size_t vlen = strlen(c.value[i]);
        KQ_FUZZ_CHECK(vlen > 0 && vlen <= len);
        KQ_FUZZ_CHECK(strstr(pattern, c.name[i]) != NULL);
    }
    size_t len2 = rebuild(pattern, &c, path2, sizeof path2);
    if (len2 == 0 || len2 > KQ_HTTP_MAX_PATH_BYTES)
        return;
    KQ_FUZZ_CHECK(kq_http_path_match(pattern, path2, len2, &again) == KQ_OK);
    KQ_FUZZ_CHECK(again.n == c.n);
    for (unsigned i = 0; i < c.n; i++)
        KQ_FUZZ_CHECK(strcmp(again.value[i], c.value[i]) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char pattern[KQ_HTTP_MAX_PATTERN_BYTES + 1];
    const uint8_t *nl = memchr(data, '\n', size);
    kq_fuzz_init();
    if (nl == NULL) {
        for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
            check(patterns[i], (const char *)data, size);
        return 0;
    }
    size_t plen = (size_t)(nl - data);
    if (plen > KQ_HTTP_MAX_PATTERN_BYTES)
        return 0;
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    if (kq_http_pattern_check(pattern) != KQ_OK)
        return 0;
    check(pattern, (const char *)nl + 1, size - plen - 1);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static const char *const seeds[] = {
        "/v1/keys/{name}/encrypt\n/v1/keys/k%20one/encrypt",
        "/a/{x}/{y}/{z}/{w}\n/a/1/%e2%82%ac/z/%2F",
        "/v1/keys/{name}\n/v1/keys/a%zz",
        "/v1/keys/list\n/v1/keys/list",
        "/v1/keys/web-1/encrypt",
        "/a/b/c/d/e",
    };
    if (i >= sizeof seeds / sizeof seeds[0])
        return 0;
    size_t n = strlen(seeds[i]);
    if (n > cap)
        return 0;
    memcpy(buf, seeds[i], n);
    return n;
}
