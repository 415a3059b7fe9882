/* libcurl-based JSON client for the CLI (http_client.h). TLS is verified against the cluster CA
 * only; credentials are a client certificate, a bearer token, or both. Nothing secret is ever
 * printed: error messages name files and addresses, never the token. */
#include "client/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src != NULL ? src : "");
}

static void split_addrs(struct kq_cli_conn *c, const char *list)
{
    c->n_addrs = 0;
    const char *p = list;
    while (*p != '\0' && c->n_addrs < KQ_CLI_MAX_ADDRS) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        if (n > 0 && n < KQ_CLI_MAX_ADDR) {
            memcpy(c->addrs[c->n_addrs], p, n);
            c->addrs[c->n_addrs++][n] = '\0';
        }
        p += n;
    }
}

static void set_var(struct kq_cli_conn *c, const char *k, const char *v)
{
    if (strcmp(k, "KQ_ADDR") == 0)
        copy(c->addr, sizeof c->addr, v);
    else if (strcmp(k, "KQ_ADDRS") == 0)
        split_addrs(c, v);
    else if (strcmp(k, "KQ_CACERT") == 0)
        copy(c->cacert, sizeof c->cacert, v);
    else if (strcmp(k, "KQ_CLIENT_CERT") == 0)
        copy(c->cert, sizeof c->cert, v);
    else if (strcmp(k, "KQ_CLIENT_KEY") == 0)
        copy(c->key, sizeof c->key, v);
    else if (strcmp(k, "KQ_TOKEN") == 0)
        copy(c->token, sizeof c->token, v);
}

static bool read_env_file(struct kq_cli_conn *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s (is the dev cluster running?)", path);
        return false;
    }
    char line[8192];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        char *eq = strchr(p, '=');
        if (*p == '#' || eq == NULL)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
            v[n - 1] = '\0';
            v++;
        }
        set_var(c, p, v);
    }
    kq_wipe(line, sizeof line);
    fclose(f);
    return true;
}

bool kq_cli_conn_load(struct kq_cli_conn *c, const char *env_file, char *err, size_t errlen)
{
    static const char *const vars[] = {"KQ_ADDR",        "KQ_ADDRS",      "KQ_CACERT",
                                       "KQ_CLIENT_CERT", "KQ_CLIENT_KEY", "KQ_TOKEN"};
    memset(c, 0, sizeof *c);
    const char *file = env_file != NULL ? env_file : getenv("KQ_ENV");
    if (file != NULL && file[0] == '\0')
        file = NULL; /* KQ_ENV= means none */
    if (file != NULL && !read_env_file(c, file, err, errlen))
        return false;
    /* Precedence: an --env file given on the command line, else KQ_* variables over $KQ_ENV. */
    for (size_t i = 0; i < sizeof vars / sizeof vars[0] && env_file == NULL; i++)
        if (getenv(vars[i]) != NULL)
            set_var(c, vars[i], getenv(vars[i]));
    if (c->n_addrs == 0 && c->addr[0] != '\0')
        split_addrs(c, c->addr);
    if (c->addr[0] == '\0' && c->n_addrs > 0)
        copy(c->addr, sizeof c->addr, c->addrs[0]);
    if (c->addr[0] == '\0' || c->cacert[0] == '\0') {
        snprintf(err, errlen,
                 "no cluster address or CA certificate: pass --env D/env, set KQ_ENV, "
                 "or set KQ_ADDR and KQ_CACERT");
        return false;
    }
    return true;
}

struct reply {
    char *data;
    size_t len;
    bool too_big;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *user)
{
    struct reply *r = user;
    size_t n = size * nmemb;
    if (n > KQ_CLI_MAX_REPLY_BYTES - r->len) {
        r->too_big = true;
        return 0;
    }
    char *grown = realloc(r->data, r->len + n + 1);
    if (grown == NULL)
        return 0;
    r->data = grown;
    memcpy(r->data + r->len, p, n);
    r->len += n;
    r->data[r->len] = '\0';
    return n;
}

static CURL *make_handle(const struct kq_cli_conn *c, const char *url, const char *method,
                         const char *body, long timeout_ms, struct curl_slist **hdrs,
                         struct reply *r)
{
    CURL *h = curl_easy_init();
    if (h == NULL)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    if (c->cert[0] != '\0' && c->key[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
    }
    if (c->token[0] != '\0') {
        char auth[300];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, auth);
        kq_wipe(auth, sizeof auth);
    }
    if (body != NULL) {
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    return h;
}

bool kq_cli_request(const struct kq_cli_conn *c, const char *base, const char *method,
                    const char *path, const char *body, long timeout_ms, long *status, json_t **out,
                    char *err, size_t errlen)
{
    char url[KQ_CLI_MAX_ADDR + 2048];
    snprintf(url, sizeof url, "%s%s", base != NULL ? base : c->addr, path);
    struct reply r = {0};
    struct curl_slist *hdrs = NULL;
    CURL *h = make_handle(c, url, method, body, timeout_ms, &hdrs, &r);
    bool ok = false;
    *out = NULL;
    CURLcode rc = h != NULL ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url,
                 r.too_big ? "reply too large" : curl_easy_strerror(rc));
    } else {
        json_error_t jerr;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        *out = r.data != NULL ? json_loads(r.data, 0, &jerr) : NULL;
        ok = *out != NULL;
        if (!ok)
            snprintf(err, errlen, "%s: HTTP %ld with a body that is not JSON", url, *status);
    }
    curl_slist_free_all(hdrs);
    if (h != NULL)
        curl_easy_cleanup(h);
    free(r.data);
    return ok;
}

char *kq_cli_urlencode(const char *s)
{
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    char *out = e != NULL ? strdup(e) : NULL;
    curl_free(e);
    return out;
}

const char *kq_cli_error_message(const json_t *body)
{
    static char buf[600];
    const json_t *e = json_object_get(body, "error");
    const char *m = json_string_value(json_object_get(e, "message"));
    const char *c = json_string_value(json_object_get(e, "code"));
    if (m == NULL)
        return "the server answered with an error";
    snprintf(buf, sizeof buf, "%.64s: %.500s", c != NULL ? c : "error", m);
    return buf;
}
