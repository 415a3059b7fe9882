/* `keyquorum dev [--nodes N] [--spare K] [--byzantine-keeper ID] [--dir D]`: a local cluster in the
 * foreground (src/node/dev.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "node/dev.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: keyquorum dev [--nodes N] [--spare K] [--byzantine-keeper ID] [--dir D]\n"
            "  --nodes N  nodes to start, 1..%d (default 4)\n"
            "  --spare K  K more nodes (ids N+1..N+K) with PKI and D/node-<id>/config.json,\n"
            "             not in the genesis and not started (default 0)\n"
            "  --byzantine-keeper ID  fault injection for tests: node ID's keeper signs wrong\n"
            "             partials (orchestrators must name it and submit its evidence)\n"
            "  --dir D    cluster directory: PKI, configs, data, logs, env (default kq-dev)\n",
            KQ_DEV_MAX_NODES);
    return 2;
}

int kq_cli_dev(int argc, char **argv)
{
    struct kq_dev_options opt = {.nodes = 4, .dir = "kq-dev"};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > KQ_DEV_MAX_NODES) {
                fprintf(stderr, "keyquorum dev: --nodes must be 1..%d\n", KQ_DEV_MAX_NODES);
                return 2;
            }
            opt.nodes = (unsigned)n;
        } else if (strcmp(argv[i], "--spare") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 0 || n >= KQ_DEV_MAX_NODES) {
                fprintf(stderr, "keyquorum dev: --spare must be 0..%d\n", KQ_DEV_MAX_NODES - 1);
                return 2;
            }
            opt.spare = (unsigned)n;
        } else if (strcmp(argv[i], "--byzantine-keeper") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > KQ_DEV_MAX_NODES) {
                fprintf(stderr, "keyquorum dev: --byzantine-keeper must be a node id 1..%d\n",
                        KQ_DEV_MAX_NODES);
                return 2;
            }
            opt.byzantine = (unsigned)n;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            opt.dir = argv[++i];
        } else {
            fprintf(stderr, "keyquorum dev: unexpected argument '%s'\n", argv[i]);
            return usage();
        }
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "keyquorum dev: cannot find my own binary\n");
        return 1;
    }
    self[n] = '\0';
    opt.self = self;
    return kq_dev_run(&opt);
}
