/* bench/ledger: committed transactions per second and commit latency of the BFT ledger on a real
 * 4-node dev cluster (TLS, fsync on every commit, every vote and transaction signature verified
 * on every validator). Transactions are client-identity sets signed by the admin key.
 *   phase 1 (throughput): submitter threads post prepared transactions with "wait": false as fast
 *     as back-pressure (503) allows; committed tx/s is counted from the certified blocks;
 *   phase 2 (latency): threads each submit with "wait": true, one at a time; latency is the HTTP
 *     round trip until the transaction is committed.
 * Floor printed in the same run: 2 cores x Ed25519 verifications/s / 4 validators.
 * Usage: bench_ledger [transactions (default 6000)] [latency seconds (default 3)] */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_cluster.h"

#include "base/mem.h"
#include "ledger/block.h"
#include "ledger/tx_client.h"
#include "net/pki.h"
#include "wire/ledger_msg.h"

#define THREADS     4
#define LAT_THREADS 8
#define MAX_LAT     (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static kq_hash chain;
static uint8_t admin_sk[64];

struct body {
    char *json;
};

/* A reply body: block listings carry up to 64 full blocks, so the buffer grows (to 64 MiB). */
struct sink {
    char *buf;
    size_t len, cap;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *user)
{
    struct sink *s = user;
    size_t n = size * nmemb;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *grown = cap <= (64u << 20) ? realloc(s->buf, cap) : NULL;
        if (grown == NULL)
            return 0;
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static CURL *handle(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, E.cacert);
    curl_easy_setopt(h, CURLOPT_SSLCERT, E.cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, E.key);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    return h;
}

/* GET or POST; returns the HTTP status and the body in s. */
static long request(CURL *h, const char *url, const char *post, struct sink *s,
                    struct curl_slist *hdrs)
{
    s->len = 0;
    if (s->buf != NULL)
        s->buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (post != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    else
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    long status = 0;
    if (curl_easy_perform(h) != CURLE_OK)
        return -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static char *make_tx(uint64_t n, uint64_t expiry, bool wait)
{
    struct kq_client c = {
        .auth_kind = KQ_CLIENT_AUTH_TOKEN, .roles = KQ_CLIENT_ROLE_USER, .trust = 50};
    snprintf(c.id, sizeof c.id, "bench-%llu", (unsigned long long)n);
    memcpy(c.auth, &n, sizeof n);
    uint8_t body[KQ_CLIENT_MAX_BYTES], tx[KQ_TX_BYTES(KQ_CLIENT_MAX_BYTES)];
    size_t body_len, len;
    struct kq_tx_fields tf = {.family = KQ_TX_FAMILY_CLIENT,
                              .op = KQ_CLIENT_OP_SET,
                              .chain_id = chain,
                              .expiry_height = expiry,
                              .nonce = n};
    if (kq_client_encode(&c, body, sizeof body, &body_len) != KQ_OK)
        return NULL;
    tf.body = body;
    tf.body_len = body_len;
    if (kq_tx_sign(&tf, admin_sk, tx, sizeof tx, &len) != KQ_OK)
        return NULL;
    char b64[sodium_base64_ENCODED_LEN(sizeof tx, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, tx, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_pack("{s:s,s:b}", "tx", b64, "wait", wait);
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

struct worker {
    pthread_t th;
    int index;
    char **bodies;
    size_t from, to; /* bodies[from..to) */
    double *lat;
    size_t n_lat;
    double until;
    long errors;
};

static void *submitter(void *arg)
{
    struct worker *w = arg;
    CURL *h = handle();
    struct sink *s = calloc(1, sizeof *s);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256];
    snprintf(url, sizeof url, "%s/v1/ledger/tx", E.addrs[w->index % 4]);
    for (size_t i = w->from; i < w->to;) {
        long st = request(h, url, w->bodies[i], s, hdrs);
        if (st == 503) { /* back-pressure: the mempool is full */
            usleep(2000);
            continue;
        }
        if (st != 202)
            w->errors++;
        i++;
    }
    curl_slist_free_all(hdrs);
    free(s->buf);
    free(s);
    curl_easy_cleanup(h);
    return NULL;
}

static void *latency_worker(void *arg)
{
    struct worker *w = arg;
    CURL *h = handle();
    struct sink *s = calloc(1, sizeof *s);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256];
    snprintf(url, sizeof url, "%s/v1/ledger/tx", E.addrs[w->index % 4]);
    for (size_t i = w->from; i < w->to && now_s() < w->until && w->n_lat < MAX_LAT; i++) {
        double t0 = now_s();
        long st = request(h, url, w->bodies[i], s, hdrs);
        if (st == 200)
            w->lat[w->n_lat++] = now_s() - t0;
        else
            w->errors++;
    }
    curl_slist_free_all(hdrs);
    free(s->buf);
    free(s);
    curl_easy_cleanup(h);
    return NULL;
}

/* Sums the tx counts of certified blocks from `from` on; returns the new next height. */
static uint64_t count_committed(CURL *h, uint64_t from, uint64_t *txs, struct sink *s)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/ledger/blocks?from=%llu&limit=64", E.addrs[0],
             (unsigned long long)from);
    if (request(h, url, NULL, s, NULL) != 200 || s->buf == NULL)
        return from;
    json_t *j = json_loads(s->buf, 0, NULL), *b;
    size_t i;
    json_array_foreach(json_object_get(j, "blocks"), i, b)
    {
        const char *rec = json_string_value(json_object_get(b, "record"));
        static uint8_t raw[KQ_BLOCK_RESP_MAX_BYTES];
        static struct kq_block blk;
        static struct kq_cert cert;
        size_t len;
        const uint8_t *block;
        size_t block_len;
        if (sodium_base642bin(raw, sizeof raw, rec, strlen(rec), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0 &&
            kq_block_resp_decode(&block, &block_len, &cert, raw, len) == KQ_OK &&
            kq_block_decode(&blk, block, block_len) == KQ_OK)
            *txs += blk.header.tx_count;
        from++;
    }
    json_decref(j);
    return from;
}

static double verify_rate(void)
{
    uint8_t pk[32], sk[64], sig[64], msg[200] = {0};
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    size_t n = 0;
    double t0 = now_s();
    while (now_s() - t0 < 1.0) {
        for (int i = 0; i < 100; i++)
            n += crypto_sign_verify_detached(sig, msg, sizeof msg, pk) == 0;
    }
    return (double)n / (now_s() - t0);
}

static void report_latency(struct worker *lw, size_t n, double secs)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lw[i].n_lat;
    double *all = malloc((total + 1) * sizeof *all);
    size_t k = 0;
    long errors = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(all + k, lw[i].lat, lw[i].n_lat * sizeof *all);
        k += lw[i].n_lat;
        errors += lw[i].errors;
    }
    qsort(all, total, sizeof *all, cmp_double);
    if (total > 0)
        printf("latency: %zu committed in %.1f s by %d waiting clients = %.0f tx/s; commit "
               "latency p50 %.1f ms  p99 %.1f ms%s\n",
               total, secs, LAT_THREADS, (double)total / secs, all[total / 2] * 1e3,
               all[(total * 99) / 100] * 1e3, errors ? "  (ERRORS)" : "");
    free(all);
}

int main(int argc, char **argv)
{
    size_t n_tx = argc > 1 ? strtoul(argv[1], NULL, 10) : 6000;
    double lat_s = argc > 2 ? atof(argv[2]) : 3.0;
    if (kq_init(0) != KQ_OK || n_tx == 0 || lat_s <= 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[] = "/tmp/kq-bench-ledger.XXXXXX", self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (mkdtemp(dir) == NULL || sl <= 0)
        return 1;
    self[sl] = '\0';
    pid_t dev = start_cluster(self, dir);
    for (int i = 0; i < 600 && read_env(dir) != 0; i++)
        usleep(50000);
    uint8_t seed[32], pk[32];
    if (read_env(dir) != 0 || kq_pki_read_seed(E.key, seed) != KQ_OK ||
        crypto_sign_seed_keypair(pk, admin_sk, seed) != 0) {
        fprintf(stderr, "bench_ledger: the dev cluster did not start (see %s)\n", dir);
        return 1;
    }
    CURL *h = handle();
    struct sink *s = calloc(1, sizeof *s);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/ledger/head", E.addrs[0]);
    json_t *head = request(h, url, NULL, s, NULL) == 200 && s->buf != NULL
                       ? json_loads(s->buf, 0, NULL)
                       : NULL;
    if (head == NULL ||
        kq_hash_from_hex(&chain, json_string_value(json_object_get(head, "chain_id")), 64) != KQ_OK)
        return 1;
    uint64_t start_height = (uint64_t)json_integer_value(json_object_get(head, "height")) + 1;
    json_decref(head);
    double floor_rate = 2.0 * verify_rate() / 4.0;

    size_t n_lat_tx = 20000;
    char **bodies = calloc(n_tx + n_lat_tx, sizeof *bodies);
    for (size_t i = 0; i < n_tx + n_lat_tx; i++)
        bodies[i] = make_tx(i, start_height + 1000000, i >= n_tx);

    /* phase 1: throughput */
    struct worker w[THREADS];
    double cpu0 = cluster_cpu_s(dev);
    double t0 = now_s();
    for (size_t i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.index = (int)i,
                               .bodies = bodies,
                               .from = i * n_tx / THREADS,
                               .to = (i + 1) * n_tx / THREADS};
        pthread_create(&w[i].th, NULL, submitter, &w[i]);
    }
    uint64_t next = start_height, committed = 0;
    double last = t0;
    while (committed < n_tx && now_s() - t0 < 120) {
        uint64_t before = committed;
        next = count_committed(h, next, &committed, s);
        if (committed > before)
            last = now_s();
        if (getenv("BENCH_DEBUG") != NULL)
            fprintf(stderr, "next %llu committed %llu\n", (unsigned long long)next,
                    (unsigned long long)committed);
        else
            usleep(5000);
    }
    long errors = 0;
    for (size_t i = 0; i < THREADS; i++) {
        pthread_join(w[i].th, NULL);
        errors += w[i].errors;
    }
    double cpu = cluster_cpu_s(dev) - cpu0;
    printf("bench_ledger: 4 validators (TLS, fsync, Ed25519 on every validator), %zu txs\n", n_tx);
    printf("floor: 2 cores x %.0f Ed25519 verifications/s / 4 validators = %.0f tx/s\n",
           floor_rate * 2.0, floor_rate);
    printf("throughput: %llu txs committed in %.2f s = %.0f tx/s = %.2f of floor (%llu blocks)%s\n",
           (unsigned long long)committed, last - t0, (double)committed / (last - t0),
           (double)committed / (last - t0) / floor_rate, (unsigned long long)(next - start_height),
           errors ? "  (SUBMIT ERRORS)" : "");
    /* Load-independent: what each committed tx cost the 4 nodes, in Ed25519 verifications (the
     * floor is 4: one per validator). */
    if (committed > 0)
        printf("cluster CPU: %.2f s = %.0f us per committed tx = %.1f verifications' worth\n", cpu,
               cpu / (double)committed * 1e6, cpu / (double)committed * floor_rate * 2.0);

    /* phase 2: latency with waiting clients */
    struct worker lw[LAT_THREADS];
    double l0 = now_s();
    for (size_t i = 0; i < LAT_THREADS; i++) {
        lw[i] = (struct worker){.index = (int)i,
                                .bodies = bodies,
                                .from = n_tx + i * n_lat_tx / LAT_THREADS,
                                .to = n_tx + (i + 1) * n_lat_tx / LAT_THREADS,
                                .lat = malloc(MAX_LAT * sizeof(double)),
                                .until = l0 + lat_s};
        pthread_create(&lw[i].th, NULL, latency_worker, &lw[i]);
    }
    for (size_t i = 0; i < LAT_THREADS; i++)
        pthread_join(lw[i].th, NULL);
    report_latency(lw, LAT_THREADS, now_s() - l0);
    for (size_t i = 0; i < LAT_THREADS; i++)
        free(lw[i].lat);
    for (size_t i = 0; i < n_tx + n_lat_tx; i++)
        free(bodies[i]);
    free(bodies);
    free(s->buf);
    free(s);
    curl_easy_cleanup(h);
    kill(dev, SIGTERM);
    waitpid(dev, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 && committed == n_tx ? 0 : 1;
}
