/* keyquorum: the one binary. Dispatches to a subcommand; every subcommand reports errors on
 * stderr and exits non-zero. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"shamir", kq_cli_shamir, "split or combine a secret with Shamir over GF(2^8)"},
    {"frost", kq_cli_frost, "FROST(ristretto255, SHA-512): dealer-sign, verify"},
    {"demo", kq_cli_demo, "narrated run of the threshold cryptography"},
    {"server", kq_cli_server, "run a node: server --config FILE"},
    {"status", kq_cli_status, "health of every node: status [--env FILE] [-format json]"},
    {"ledger", kq_cli_ledger, "the ledger, verified: head, blocks, proof --key K, verify"},
    {"client", kq_cli_client, "client identities on the ledger: set, show, list"},
    {"member", kq_cli_member, "nodes on the ledger: add --id N --roles R [--from-pki DIR], list"},
    {"dev", kq_cli_dev, "a local cluster in the foreground: dev [--nodes N] [--dir D]"},
    {"pki", kq_cli_pki, "cluster PKI: init, issue-client"},
    {"key", kq_cli_key, "threshold keys: create, show, list, rotate, delete, watch, ..."},
    {"datakey", kq_cli_datakey, "a data key and its ciphertext (-local: wrapped here)"},
    {"encrypt", kq_cli_encrypt, "a payload's ciphertext (-local: wrapped here)"},
    {"decrypt", kq_cli_decrypt, "decrypt through a quorum of keepers"},
    {"rewrap", kq_cli_rewrap, "move a ciphertext to the active version"},
    {"sign", kq_cli_sign, "a FROST signature by a quorum of keepers"},
    {"verify", kq_cli_verify, "verify a signature under a verified public key"},
    {"derive", kq_cli_derive, "a key derived for a context by a quorum of keepers"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: keyquorum <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (kq_init(1) != KQ_OK) {
        fprintf(stderr, "keyquorum: cannot initialise libsodium\n");
        return 2;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "keyquorum: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
