/* bench/keys: threshold-key operations on a real 4-node dev cluster (every node a validator,
 * keeper and orchestrator; TLS between everything, fsync'd ledger, keepers check every wrapper
 * proof and sign every response, the orchestrator checks what it combines), keys with n = 4,
 * t = 3. For each of datakey, decrypt, sign and derive:
 *   peak: C closed-loop HTTPS clients (keep-alive, spread over the 4 nodes) for S seconds;
 *   half load: open-loop arrivals at half the peak rate for S seconds; latency from each
 *     request's scheduled start to its answer (queueing included): p50 / p99.
 * Beside each figure, the floor measured in the same run before the cluster starts: what one
 * operation costs in ristretto255 multiplications (M) and signatures, run on local shares with
 * the same functions the keepers and orchestrators call, against M/s x 2 cores. Local wrapping
 * (the client library's path, no round trip) is measured per core against the multiplications a
 * wrap needs (two base multiplications and one multiplication by a prepared point).
 * Usage: bench_keys [seconds per phase (default 4)] [clients (default 16)] */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "bench_cluster.h"
#include "crypto_ops.h"

#define MAX_CLIENTS 64
#define MAX_LAT     (1u << 20)

/* ---- floors: one operation's cost on local shares, in M ------------------------------------ */

static struct kq_tprf_partial g_dp;
static void op_prf_partial_signed(void *c)
{
    (void)c;
    uint8_t reqid[16] = {0}, P[32];
    if (kq_tprf_point(P, &g_dlabel) != KQ_OK ||
        kq_tprf_partial_pub(&g_dp, &g_dlabel, g_shares[0], g_pub[0], 1) != KQ_OK ||
        kq_partial_respond(&g_resp, reqid, &g_dlabel, 1, 0, 1, P, NULL, &g_dp, g_edsk) != KQ_OK)
        abort();
}

static void op_ed_sign1(void *c)
{
    (void)c;
    crypto_sign_detached(g_edsig, NULL, g_p, 32, g_edsk);
}

static void op_base(void *c)
{
    (void)c;
    kq_pt_mul_base(g_q, g_s);
}

static void op_table(void *c)
{
    (void)c;
    kq_pt_table_mul(g_q, g_St, g_s);
}

/* The text form the library returns: wrap under the prepared S, then base64. */
static void op_wrap_text(void *c)
{
    (void)c;
    uint8_t ct[KQ_TKEM_CTBYTES(32)], dek[32];
    char text[KQ_TKEM_TEXTBYTES(32)];
    size_t len, tlen;
    randombytes_buf(dek, sizeof dek);
    if (kq_tkem_wrap_table(ct, sizeof ct, &len, g_St, &g_label, dek, 32) != KQ_OK ||
        kq_tkem_to_text(text, sizeof text, &tlen, ct, len) != KQ_OK)
        abort();
}

struct floors {
    double m_rate;                                 /* M per second, one core */
    double datakey_m, decrypt_m, sign_m, derive_m; /* cost of one op, in M */
    double wrap_rate, wrap_floor_m, wrap_m;        /* local wrap */
};

static double cost_m(bench_fn fn)
{
    double rate, cost;
    bench_pair(fn, op_smul, 1.0, &rate, &cost);
    return cost;
}

static void measure_floors(struct floors *f)
{
    crypto_ops_setup();
    kq_sc_random(g_s);
    f->m_rate = bench_rate(op_smul, NULL, 0.2);
    /* decrypt: t keepers each check the wrapper's proof, compute Z_i with its DLEQ proof and sign
     * the response; the orchestrator combines t partials (optimistic path). */
    f->decrypt_m = T * cost_m(op_partial_signed) + cost_m(op_combine);
    /* datakey: a wrap under the prepared S at the orchestrator (no keeper). */
    f->datakey_m = cost_m(op_wrap_table);
    /* sign: t signers commit and sign, the coordinator aggregates and verifies; each signer signs
     * two responses (commitment, share). */
    f->sign_m = cost_m(op_frost_sign) + 2 * T * cost_m(op_ed_sign1);
    /* derive: t keepers compute Y_i with its proof and sign; every proof is verified, then
     * combined. */
    f->derive_m = T * cost_m(op_prf_partial_signed) + cost_m(op_prf_combine);
    double wr, wc;
    bench_pair(op_wrap_text, op_smul, 1.0, &wr, &wc);
    f->wrap_rate = wr;
    f->wrap_m = wc;
    f->wrap_floor_m = 2 * cost_m(op_base) + cost_m(op_table);
}

/* ---- the cluster ---------------------------------------------------------------------------- */

struct sink {
    char buf[65536];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *user)
{
    struct sink *s = user;
    size_t n = size * nmemb;
    if (s->len + n + 1 > sizeof s->buf)
        return 0;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static CURL *handle(struct sink *s, struct curl_slist *hdrs)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, E.cacert);
    curl_easy_setopt(h, CURLOPT_SSLCERT, E.cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, E.key);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    return h;
}

static long post(CURL *h, struct sink *s, const char *url, const char *body)
{
    s->len = 0;
    s->buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(h) != CURLE_OK)
        return 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* One load phase. rate 0: closed loop (each client sends its next request when the previous one
 * is answered); rate > 0: open loop, client i sends at t0 + (i + k * clients) / rate. */
struct client {
    pthread_t th;
    int index, clients;
    const char *path, *body;
    double t0, until, rate;
    size_t ok, errors, n_lat;
    double *lat;
};

static void *client_run(void *arg)
{
    struct client *c = arg;
    struct sink *s = calloc(1, sizeof *s);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = handle(s, hdrs);
    char url[512];
    snprintf(url, sizeof url, "%s%s", E.addrs[c->index % 4], c->path);
    for (size_t k = 0;; k++) {
        double start = bench_now();
        if (c->rate > 0) {
            start = c->t0 + ((double)c->index + (double)k * c->clients) / c->rate;
            double wait = start - bench_now();
            if (wait > 0)
                usleep((useconds_t)(wait * 1e6));
        }
        if (start >= c->until)
            break;
        long st = post(h, s, url, c->body);
        if (st == 200) {
            c->ok++;
            if (c->lat != NULL && c->n_lat < MAX_LAT)
                c->lat[c->n_lat++] = bench_now() - start;
        } else {
            c->errors++;
            if (c->errors <= 3)
                fprintf(stderr, "bench_keys: %s: HTTP %ld %s\n", c->path, st, s->buf);
        }
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(s);
    return NULL;
}

struct phase_result {
    double ops_s, cpu_per_op_us, p50_ms, p99_ms;
    size_t errors;
};

static void run_phase(const char *path, const char *body, int clients, double secs, double rate,
                      pid_t dev, struct phase_result *r)
{
    struct client cs[MAX_CLIENTS];
    double cpu0 = cluster_cpu_s(dev), t0 = bench_now() + 0.05;
    for (int i = 0; i < clients; i++) {
        cs[i] = (struct client){.index = i,
                                .clients = clients,
                                .path = path,
                                .body = body,
                                .t0 = t0,
                                .until = t0 + secs,
                                .rate = rate,
                                .lat = rate > 0 ? malloc(MAX_LAT * sizeof(double)) : NULL};
        pthread_create(&cs[i].th, NULL, client_run, &cs[i]);
    }
    size_t ok = 0, total_lat = 0;
    r->errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(cs[i].th, NULL);
        ok += cs[i].ok;
        r->errors += cs[i].errors;
        total_lat += cs[i].n_lat;
    }
    double elapsed = bench_now() - t0;
    double cpu = cluster_cpu_s(dev) - cpu0;
    r->ops_s = (double)ok / elapsed;
    r->cpu_per_op_us = ok > 0 ? cpu / (double)ok * 1e6 : 0;
    r->p50_ms = r->p99_ms = 0;
    if (rate > 0 && total_lat > 0) {
        double *all = malloc(total_lat * sizeof *all);
        size_t k = 0;
        for (int i = 0; i < clients; i++) {
            memcpy(all + k, cs[i].lat, cs[i].n_lat * sizeof *all);
            k += cs[i].n_lat;
        }
        qsort(all, total_lat, sizeof *all, bench_cmp_double);
        r->p50_ms = all[total_lat / 2] * 1e3;
        r->p99_ms = all[(total_lat * 99) / 100] * 1e3;
        free(all);
    }
    for (int i = 0; i < clients; i++)
        free(cs[i].lat);
}

static int create_key(CURL *h, struct sink *s, const char *name, const char *usage)
{
    char url[256], body[256];
    snprintf(url, sizeof url, "%s/v1/keys", E.addrs[0]);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"usage\":\"%s\",\"n\":4,\"t\":3}", name, usage);
    long st = post(h, s, url, body);
    if (st != 201) {
        fprintf(stderr, "bench_keys: create %s: HTTP %ld %s\n", name, st, s->buf);
        return -1;
    }
    return 0;
}

static void report(const char *op, const struct phase_result *peak, const struct phase_result *half,
                   double cost, const struct floors *f)
{
    double floor = 2.0 * f->m_rate / cost;
    printf("| %-8s | %8.0f | %6.2f | %8.1f M | %8.0f | %7.0f | %7.1f | %7.1f | %s\n", op,
           peak->ops_s, peak->ops_s / floor, cost, floor, peak->cpu_per_op_us, half->p50_ms,
           half->p99_ms, peak->errors + half->errors ? "ERRORS" : "");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 4.0;
    int clients = argc > 2 ? atoi(argv[2]) : 16;
    if (kq_init(0) != KQ_OK || secs <= 0 || clients < 1 || clients > MAX_CLIENTS)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct floors f;
    measure_floors(&f);
    printf("bench_keys: 4 nodes (validator+keeper+orchestrator each) on this machine, keys n=4 t=3,"
           " TLS, fsync, proofs and signatures on; %d clients, %.1f s per phase\n",
           clients, secs);
    printf("M = %.1f us (%.0f/s per core); floor = 2 cores x M/s / (cost of one op in M)\n",
           1e6 / f.m_rate, f.m_rate);
    printf("local wrap (library path: prepared S, text form): %.0f/s per core = %.2f M; floor %.2f "
           "M (2 base mults + 1 prepared mult) = %.0f/s: ratio %.2f\n\n",
           f.wrap_rate, f.wrap_m, f.wrap_floor_m, f.m_rate / f.wrap_floor_m,
           f.wrap_floor_m / f.wrap_m);

    fflush(stdout); /* the cluster is forked: nothing buffered may be printed twice */
    char dir[] = "/tmp/kq-bench-keys.XXXXXX", self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (mkdtemp(dir) == NULL || sl <= 0)
        return 1;
    self[sl] = '\0';
    pid_t dev = start_cluster(self, dir);
    for (int i = 0; i < 600 && read_env(dir) != 0; i++)
        usleep(50000);
    if (read_env(dir) != 0) {
        fprintf(stderr, "bench_keys: the dev cluster did not start (see %s)\n", dir);
        return 1;
    }
    struct sink *s = calloc(1, sizeof *s);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = handle(s, hdrs);
    int rc = 1;
    char url[256], dec_body[4096];
    if (create_key(h, s, "bench-enc", "encrypt") != 0 ||
        create_key(h, s, "bench-sig", "sign") != 0 || create_key(h, s, "bench-der", "derive") != 0)
        goto out;
    snprintf(url, sizeof url, "%s/v1/keys/bench-enc/datakey", E.addrs[0]);
    if (post(h, s, url, "{\"context\":{\"tenant\":\"acme\"}}") != 200)
        goto out;
    json_t *j = json_loads(s->buf, 0, NULL);
    snprintf(dec_body, sizeof dec_body, "{\"ciphertext\":\"%s\",\"context\":{\"tenant\":\"acme\"}}",
             json_string_value(json_object_get(j, "ciphertext")));
    json_decref(j);

    static const struct {
        const char *op, *path, *body;
    } ops[] = {
        {"datakey", "/v1/keys/bench-enc/datakey", "{\"context\":{\"tenant\":\"acme\"}}"},
        {"decrypt", "/v1/keys/bench-enc/decrypt", NULL},
        {"sign", "/v1/keys/bench-sig/sign", "{\"message\":\"YmVuY2htYXJrIG1lc3NhZ2U=\"}"},
        {"derive", "/v1/keys/bench-der/derive", "{\"context\":{\"user\":\"42\"}}"},
    };
    const double costs[] = {f.datakey_m, f.decrypt_m, f.sign_m, f.derive_m};
    printf(
        "| op       |  peak/s  | /floor |  cost/op   |  floor/s | CPU us/op | p50 ms  | p99 ms  |"
        "  (p50/p99 at half the peak rate, open loop)\n");
    printf(
        "|----------|----------|--------|------------|----------|-----------|---------|---------|"
        "\n");
    rc = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *body = ops[i].body != NULL ? ops[i].body : dec_body;
        struct phase_result peak, half;
        run_phase(ops[i].path, body, clients, secs, 0, dev, &peak);
        run_phase(ops[i].path, body, clients, secs, peak.ops_s / 2, dev, &half);
        report(ops[i].op, &peak, &half, costs[i], &f);
        rc |= peak.errors + half.errors > 0;
    }
out:
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(s);
    kill(dev, SIGTERM);
    waitpid(dev, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? rc : 1;
}
