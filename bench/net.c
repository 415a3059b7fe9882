/* bench/net: the runtime under load. Starts one real node (`keyquorum server`, TLS 1.3, mutual
 * authentication) and measures, from this process:
 *   - HTTP requests/s and latency p50/p99: GET /v1/sys/health over keep-alive TLS connections,
 *     client-certificate authenticated, several connections at once;
 *   - frame round trips/s and latency: PING frames answered by PONG on authenticated peer links,
 *     a window of frames in flight per link;
 * and, in the same run, the floor of this machine: the same ping-pong over plain loopback TCP
 * with no TLS and no node, so each figure reads as a fraction of what the kernel allows.
 * Usage: bench_net [seconds per phase (default 3)] [connections (default 4)] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "net/pki.h"
#include "wire/frame.h"

#define MAX_CONNS    64
#define MAX_SAMPLES  (1u << 21)
#define PING_PAYLOAD 64
#define PING_WINDOW  16

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

struct worker {
    pthread_t th;
    int index;
    int kind;   /* 0 http, 1 frames over TLS, 2 plain TCP ping-pong */
    int window; /* frames in flight per connection (ping-pong kinds) */
    uint16_t port;
    double seconds;
    char dir[256];
    size_t n;
    double *lat; /* seconds */
    int failed;
};

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static SSL *tls_connect(const char *dir, const char *cert_name, uint16_t port, SSL_CTX **ctx_out)
{
    char ca[512], crt[512], key[512];
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(crt, sizeof crt, "%s/%s.crt", dir, cert_name);
    snprintf(key, sizeof key, "%s/%s.key", dir, cert_name);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
        SSL_CTX_use_certificate_file(ctx, crt, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int fd = tcp_connect(port);
    if (fd < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        SSL_CTX_free(ctx);
        return NULL;
    }
    *ctx_out = ctx;
    return ssl;
}

static void tls_close(SSL *ssl, SSL_CTX *ctx)
{
    int fd = SSL_get_fd(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
}

/* Reads one HTTP response (headers + Content-Length body); returns the status or -1. */
static int http_read(SSL *ssl, char *buf, size_t size)
{
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        int r = SSL_read(ssl, buf + len, (int)(size - 1 - len));
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL && len >= size - 1)
            return -1;
    }
    const char *cl = strcasestr(buf, "content-length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < body) {
        char tmp[4096];
        size_t want = body - have < sizeof tmp ? body - have : sizeof tmp;
        int r = SSL_read(ssl, tmp, (int)want);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return atoi(buf + 9);
}

static void run_http(struct worker *w)
{
    SSL_CTX *ctx;
    SSL *ssl = tls_connect(w->dir, "admin", w->port, &ctx);
    if (ssl == NULL) {
        w->failed = 1;
        return;
    }
    static const char req[] = "GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[16384];
    double end = now_s() + w->seconds;
    while (w->n < MAX_SAMPLES) {
        double t0 = now_s();
        if (t0 >= end)
            break;
        if (SSL_write(ssl, req, (int)sizeof req - 1) <= 0 ||
            http_read(ssl, buf, sizeof buf) != 200) {
            w->failed = 1;
            break;
        }
        w->lat[w->n++] = now_s() - t0;
    }
    tls_close(ssl, ctx);
}

/* Ping-pong with a window of frames in flight; io abstracts TLS vs plain TCP. */
struct io {
    SSL *ssl;
    int fd;
};

static int io_write(struct io *io, const uint8_t *p, size_t n)
{
    while (n > 0) {
        long r = io->ssl ? SSL_write(io->ssl, p, (int)n) : write(io->fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int io_read(struct io *io, uint8_t *p, size_t n)
{
    while (n > 0) {
        long r = io->ssl ? SSL_read(io->ssl, p, (int)n) : read(io->fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads frames until a PONG (the node also sends heartbeats on the link; they are skipped). */
static int read_pong(struct io *io, uint8_t *in)
{
    for (;;) {
        struct kq_frame_header h;
        uint8_t skip[4096];
        if (io_read(io, in, KQ_FRAME_HEADER_BYTES) != 0)
            return -1;
        if (kq_frame_decode_header(in, KQ_FRAME_HEADER_BYTES, &h) != KQ_OK)
            return -1;
        /* PONG from the node; the floor's echo server returns the PING itself */
        if ((h.type == KQ_FRAME_PONG || h.type == KQ_FRAME_PING) && h.length == PING_PAYLOAD)
            return io_read(io, in + KQ_FRAME_HEADER_BYTES, PING_PAYLOAD);
        if (h.length > sizeof skip || io_read(io, skip, h.length) != 0)
            return -1;
    }
}

static void ping_loop(struct worker *w, struct io *io, uint32_t sender)
{
    uint8_t frame[KQ_FRAME_HEADER_BYTES + PING_PAYLOAD], in[KQ_FRAME_HEADER_BYTES + PING_PAYLOAD];
    double sent[PING_WINDOW];
    int window = w->window;
    if (kq_frame_encode_header(frame, KQ_FRAME_PING, sender, PING_PAYLOAD) != KQ_OK) {
        w->failed = 1;
        return;
    }
    double end = now_s() + w->seconds;
    for (int i = 0; i < window; i++) {
        frame[KQ_FRAME_HEADER_BYTES] = (uint8_t)i;
        sent[i] = now_s();
        if (io_write(io, frame, sizeof frame) != 0) {
            w->failed = 1;
            return;
        }
    }
    size_t outstanding = (size_t)window;
    while (outstanding > 0) {
        if (read_pong(io, in) != 0) {
            w->failed = 1;
            return;
        }
        int slot = in[KQ_FRAME_HEADER_BYTES] % PING_WINDOW;
        double t = now_s();
        if (w->n < MAX_SAMPLES)
            w->lat[w->n++] = t - sent[slot];
        outstanding--;
        if (t < end) {
            frame[KQ_FRAME_HEADER_BYTES] = (uint8_t)slot;
            sent[slot] = t;
            if (io_write(io, frame, sizeof frame) != 0) {
                w->failed = 1;
                return;
            }
            outstanding++;
        }
    }
}

static void run_frames(struct worker *w)
{
    char name[32];
    snprintf(name, sizeof name, "node-%d", w->index + 1);
    SSL_CTX *ctx;
    SSL *ssl = tls_connect(w->dir, name, w->port, &ctx);
    if (ssl == NULL) {
        w->failed = 1;
        return;
    }
    struct io io = {.ssl = ssl};
    ping_loop(w, &io, (uint32_t)w->index + 1);
    tls_close(ssl, ctx);
}

static void run_plain(struct worker *w)
{
    struct io io = {.fd = tcp_connect(w->port)};
    if (io.fd < 0) {
        w->failed = 1;
        return;
    }
    ping_loop(w, &io, (uint32_t)w->index + 1);
    close(io.fd);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->kind == 0)
        run_http(w);
    else if (w->kind == 1)
        run_frames(w);
    else
        run_plain(w);
    return NULL;
}

/* The floor: an echo server over plain TCP, one thread per connection (what the kernel allows). */
static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)r) != r)
            break;
    close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t th;
        pthread_create(&th, NULL, echo_conn, (void *)(intptr_t)fd);
        pthread_detach(th);
    }
}

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

struct result {
    double rate, p50_us, p99_us;
    int failed;
};

static struct result run_phase(int kind, int window, int conns, uint16_t port, const char *dir,
                               double secs)
{
    struct worker *ws = calloc((size_t)conns, sizeof *ws);
    for (int i = 0; i < conns; i++) {
        ws[i] = (struct worker){
            .index = i, .kind = kind, .window = window, .port = port, .seconds = secs};
        snprintf(ws[i].dir, sizeof ws[i].dir, "%s", dir);
        ws[i].lat = malloc(MAX_SAMPLES * sizeof(double));
    }
    double t0 = now_s();
    for (int i = 0; i < conns; i++)
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    size_t total = 0;
    struct result res = {0};
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].th, NULL);
        total += ws[i].n;
        res.failed |= ws[i].failed;
    }
    double dt = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof(double));
        k += ws[i].n;
        free(ws[i].lat);
    }
    qsort(all, total, sizeof(double), cmp_double);
    res.rate = (double)total / dt;
    res.p50_us = total ? all[total / 2] * 1e6 : 0;
    res.p99_us = total ? all[(total * 99) / 100] * 1e6 : 0;
    free(all);
    free(ws);
    return res;
}

/* Writes the node's config: it is node conns+1; the bench's frame links are nodes 1..conns. */
static int write_config(const char *dir, int conns, uint16_t api, uint16_t peer)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench-node.json", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "{\"node_id\":%d,\"data_dir\":\"bench-data\",\"api\":{\"listen\":\"127.0.0.1:%u\"},"
            "\"peer\":{\"listen\":\"127.0.0.1:%u\"},\"tls\":{\"ca\":\"ca.crt\",\"cert\":"
            "\"node-%d.crt\",\"key\":\"node-%d.key\"},\"log\":{\"level\":\"warn\"},\"peers\":[",
            conns + 1, api, peer, conns + 1, conns + 1);
    for (int i = 1; i <= conns; i++) {
        char crt[512], hex[65];
        uint8_t pk[32];
        snprintf(crt, sizeof crt, "%s/node-%d.crt", dir, i);
        if (kq_pki_read_public(crt, pk) != KQ_OK) {
            fclose(f);
            return -1;
        }
        sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
        /* Port 9 (discard) is never dialed: links are dialed by the lower id, the bench side. */
        fprintf(f, "%s{\"id\":%d,\"addr\":\"127.0.0.1:9\",\"identity\":\"%s\"}", i > 1 ? "," : "",
                i, hex);
    }
    fprintf(f, "]}\n");
    return fclose(f);
}

static pid_t start_node(const char *dir, const char *self)
{
    char bin[1024], cfg[512], log[512];
    snprintf(bin, sizeof bin, "%s", self);
    char *slash = strrchr(bin, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    slash = strrchr(bin, '/');
    if (slash == NULL)
        return -1;
    snprintf(slash, sizeof bin - (size_t)(slash - bin), "/keyquorum");
    snprintf(cfg, sizeof cfg, "%s/bench-node.json", dir);
    snprintf(log, sizeof log, "%s/bench-node.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen(log, "a", stderr) == NULL)
            _exit(127);
        execl(bin, bin, "server", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void print_row(const char *what, struct result r, double floor_rate, const char *unit)
{
    printf("%-34s %10.0f %s/s  p50 %7.1f us  p99 %7.1f us", what, r.rate, unit, r.p50_us, r.p99_us);
    if (floor_rate > 0)
        printf("  = %.2f of floor", r.rate / floor_rate);
    printf("%s\n", r.failed ? "  (ERRORS)" : "");
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    int conns = argc > 2 ? atoi(argv[2]) : 4;
    if (secs <= 0 || conns < 1 || conns > MAX_CONNS || kq_init(0) != KQ_OK) {
        fprintf(stderr, "usage: bench_net [seconds > 0] [connections 1..%d]\n", MAX_CONNS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/kq-bench-net.XXXXXX";
    if (mkdtemp(dir) == NULL || kq_pki_init(dir, (unsigned)conns + 1) != KQ_OK)
        return 1;
    uint16_t api, peer;
    int a = listen_any(&api), p = listen_any(&peer);
    close(a);
    close(p);
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || write_config(dir, conns, api, peer) != 0)
        return 1;
    self[n] = '\0';
    pid_t node = start_node(dir, self);
    for (int i = 0; i < 200; i++) { /* until the node answers */
        SSL_CTX *ctx;
        SSL *ssl = tls_connect(dir, "admin", api, &ctx);
        if (ssl != NULL) {
            tls_close(ssl, ctx);
            break;
        }
        usleep(50000);
    }
    uint16_t echo_port;
    int efd = listen_any(&echo_port);
    pthread_t eth;
    pthread_create(&eth, NULL, echo_server, (void *)(intptr_t)efd);

    printf("bench_net: %d connections, %.1f s per phase, %d-byte frame payloads, window %d\n",
           conns, secs, PING_PAYLOAD, PING_WINDOW);
    /* Each figure beside the same traffic shape over plain TCP: one request in flight per
     * connection for HTTP, a window of PING_WINDOW frames for frames. */
    struct result floor1 = run_phase(2, 1, conns, echo_port, dir, secs);
    struct result http = run_phase(0, 1, conns, api, dir, secs);
    struct result floorw = run_phase(2, PING_WINDOW, conns, echo_port, dir, secs);
    struct result frames = run_phase(1, PING_WINDOW, conns, peer, dir, secs);
    struct result frames1 = run_phase(1, 1, conns, peer, dir, secs);
    print_row("floor: plain TCP, 1 in flight", floor1, 0, "rt");
    print_row("HTTP GET /v1/sys/health (TLS, mTLS)", http, floor1.rate, "req");
    print_row("frames PING->PONG, 1 in flight", frames1, floor1.rate, "rt");
    print_row("floor: plain TCP, window 16", floorw, 0, "rt");
    print_row("frames PING->PONG, window 16", frames, floorw.rate, "rt");
    kill(node, SIGTERM);
    waitpid(node, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return http.failed || frames.failed || frames1.failed || floor1.failed || floorw.failed;
}
