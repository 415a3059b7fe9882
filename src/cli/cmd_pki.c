/* `keyquorum pki init` and `keyquorum pki issue-client`: the cluster PKI on disk (src/net/pki.h,
 * docs/pki.md). Prints what was written and the public identity keys, never key bytes. Exit
 * codes: 0 success, 1 a failure while writing, 2 a usage or input error (message on stderr). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "base/limits.h"
#include "cli/cli.h"
#include "net/pki.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Options one subcommand takes. */
#define PKI_CLI_MAX_OPTS 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: keyquorum pki init --dir DIR [--nodes N]\n"
            "       keyquorum pki issue-client --dir DIR --name NAME\n"
            "  init writes a new cluster CA, node-1..node-N (default %d, at most %d), an admin\n"
            "  client and nodes.json into DIR, refusing to overwrite anything. issue-client\n"
            "  certifies a new client key with DIR's CA; NAME is 1-%d characters of\n"
            "  [A-Za-z0-9._-] not starting with \"node-\".\n",
            KQ_PKI_DEFAULT_NODES, KQ_PKI_MAX_INIT_NODES, KQ_PKI_MAX_NAME_BYTES);
}

/* `--name value` pairs: each known name at most once; required[k] must be present. */
struct opts {
    const char *names[PKI_CLI_MAX_OPTS];
    bool required[PKI_CLI_MAX_OPTS];
    const char *values[PKI_CLI_MAX_OPTS];
};

static int parse_opts(struct opts *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i += 2) {
        size_t k = 0;
        while (k < PKI_CLI_MAX_OPTS && strcmp(argv[i], o->names[k]) != 0)
            k++;
        if (k == PKI_CLI_MAX_OPTS || i + 1 >= argc || o->values[k] != NULL) {
            fprintf(stderr, "keyquorum pki: unexpected, repeated or valueless option '%s'\n",
                    argv[i]);
            return -1;
        }
        o->values[k] = argv[i + 1];
    }
    for (size_t k = 0; k < PKI_CLI_MAX_OPTS; k++) {
        if (o->required[k] && o->values[k] == NULL) {
            fprintf(stderr, "keyquorum pki: missing option %s\n", o->names[k]);
            return -1;
        }
    }
    return 0;
}

static int parse_nodes(const char *s, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 ||
        v > KQ_PKI_MAX_INIT_NODES) {
        fprintf(stderr, "keyquorum pki: --nodes must be in 1..%d\n", KQ_PKI_MAX_INIT_NODES);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* Prints "label  identity <hex>  <dir>/<base>.crt <dir>/<base>.key". */
static int print_pair(const char *dir, const char *base)
{
    char cert[PATH_MAX], hex[2 * KQ_PKI_PUBLICKEYBYTES + 1];
    uint8_t pk[KQ_PKI_PUBLICKEYBYTES];
    int n = snprintf(cert, sizeof cert, "%s/%s.crt", dir, base);
    if (n <= 0 || n >= (int)sizeof cert || kq_pki_read_public(cert, pk) != KQ_OK) {
        fprintf(stderr, "keyquorum pki: cannot read back %s/%s.crt\n", dir, base);
        return -1;
    }
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    printf("%-10s identity %s  %s/%s.crt %s/%s.key\n", base, hex, dir, base, dir, base);
    return 0;
}

static bool exists(const char *dir, const char *base)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, base);
    return n > 0 && n < (int)sizeof path && lstat(path, &st) == 0;
}

static int report_init_error(const char *dir, enum kq_err err)
{
    if (err == KQ_ERR_INVALID_ARG && exists(dir, "ca.key"))
        fprintf(stderr, "keyquorum pki: %s/ca.key exists; refusing to overwrite\n", dir);
    else if (err == KQ_ERR_INVALID_ARG)
        fprintf(stderr,
                "keyquorum pki: an output file in %s exists or the path is too long; "
                "refusing to overwrite\n",
                dir);
    else
        fprintf(stderr, "keyquorum pki: init %s failed: %s\n", dir, kq_strerror(err));
    return err == KQ_ERR_INVALID_ARG ? EXIT_USAGE : EXIT_FAIL;
}

static int cmd_init(int argc, char **argv)
{
    struct opts o = {{"--dir", "--nodes"}, {true, false}, {NULL, NULL}};
    unsigned nodes = KQ_PKI_DEFAULT_NODES;
    if (parse_opts(&o, argc, argv) != 0 || (o.values[1] && parse_nodes(o.values[1], &nodes))) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *dir = o.values[0];
    enum kq_err err = kq_pki_init(dir, nodes);
    if (err != KQ_OK)
        return report_init_error(dir, err);
    printf("cluster CA %s/ca.crt %s/ca.key\n", dir, dir);
    int rc = EXIT_OK;
    for (unsigned i = 1; i <= nodes; i++) {
        char name[16];
        snprintf(name, sizeof name, "node-%u", i);
        rc = print_pair(dir, name) != 0 ? EXIT_FAIL : rc;
    }
    rc = print_pair(dir, "admin") != 0 ? EXIT_FAIL : rc;
    printf("node identities %s/nodes.json\n", dir);
    return rc;
}

static int cmd_issue_client(int argc, char **argv)
{
    struct opts o = {{"--dir", "--name"}, {true, true}, {NULL, NULL}};
    if (parse_opts(&o, argc, argv) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *dir = o.values[0], *name = o.values[1];
    if (!kq_pki_client_name_ok(name)) {
        fprintf(stderr,
                "keyquorum pki: bad client name: 1-%d characters of [A-Za-z0-9._-], not "
                "starting with \"node-\"\n",
                KQ_PKI_MAX_NAME_BYTES);
        return EXIT_USAGE;
    }
    enum kq_err err = kq_pki_issue_client(dir, name);
    if (err == KQ_ERR_INVALID_ARG)
        fprintf(stderr, "keyquorum pki: %s/%s.crt or .key exists; refusing to overwrite\n", dir,
                name);
    else if (err == KQ_ERR_NOT_FOUND)
        fprintf(stderr, "keyquorum pki: no CA in %s (ca.crt, ca.key): run pki init first\n", dir);
    else if (err != KQ_OK)
        fprintf(stderr, "keyquorum pki: issue-client %s failed: %s\n", name, kq_strerror(err));
    if (err != KQ_OK)
        return err == KQ_ERR_INVALID_ARG || err == KQ_ERR_NOT_FOUND ? EXIT_USAGE : EXIT_FAIL;
    return print_pair(dir, name) == 0 ? EXIT_OK : EXIT_FAIL;
}

int kq_cli_pki(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "init") == 0)
        return cmd_init(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "issue-client") == 0)
        return cmd_issue_client(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
        usage(stdout);
        return EXIT_OK;
    }
    fprintf(stderr, "keyquorum pki: expected 'init' or 'issue-client'\n");
    usage(stderr);
    return EXIT_USAGE;
}
