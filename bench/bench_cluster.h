/* Shared by the cluster benchmarks (bench/ledger, bench/keys): start a 4-node `keyquorum dev`
 * cluster next to the bench binary, read its env file, and account the CPU its processes use. */
#ifndef KQ_BENCH_CLUSTER_H
#define KQ_BENCH_CLUSTER_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct env {
    char addrs[4][128];
    char cacert[512], cert[512], key[512];
};

static struct env E;

static inline int read_env(const char *dir)
{
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/env", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "export KQ_ADDRS=\"%127s %127s %127s %127[^\"]\"", E.addrs[0], E.addrs[1],
                   E.addrs[2], E.addrs[3]) == 4)
            continue;
        sscanf(line, "export KQ_CACERT=%511s", E.cacert);
        sscanf(line, "export KQ_CLIENT_CERT=%511s", E.cert);
        sscanf(line, "export KQ_CLIENT_KEY=%511s", E.key);
    }
    fclose(f);
    return E.addrs[3][0] != '\0' && E.key[0] != '\0' ? 0 : -1;
}

static inline pid_t start_cluster(const char *self, const char *dir)
{
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", self);
    *strrchr(bin, '/') = '\0';
    *strrchr(bin, '/') = '\0';
    strncat(bin, "/keyquorum", sizeof bin - strlen(bin) - 1);
    pid_t pid = fork();
    if (pid == 0) {
        char log[600];
        snprintf(log, sizeof log, "%s/dev.out", dir);
        if (freopen(log, "w", stdout) == NULL)
            _exit(127);
        execl(bin, bin, "dev", "--nodes", "4", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* CPU seconds (user + system) used so far by the dev process and its children (the nodes). */
static inline double cluster_cpu_s(pid_t dev)
{
    char path[64], line[1024];
    double total = 0;
    FILE *f = popen("ps -e -o pid=,ppid=", "r");
    if (f == NULL)
        return 0;
    long pid, ppid;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%ld %ld", &pid, &ppid) != 2 || (pid != dev && ppid != dev))
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *st = fopen(path, "r");
        if (st == NULL)
            continue;
        unsigned long ut = 0, stime = 0;
        if (fgets(line, sizeof line, st) != NULL) {
            const char *p = strrchr(line, ')');
            if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                    &ut, &stime) == 2)
                total += (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(st);
    }
    pclose(f);
    return total;
}

#endif
