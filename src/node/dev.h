/* `keyquorum dev`: a local cluster in one command. Creates (or reuses) a PKI in a directory,
 * writes one config per node with fresh loopback ports, starts the nodes as child processes,
 * waits until each is healthy and sees all the others, writes a shell-sourceable `env` file and
 * stays in the foreground until SIGINT or SIGTERM, when it stops every node cleanly. Spare nodes
 * get everything but a place in the genesis and a process; their configs list the genesis nodes
 * as bootstrap peers. */
#ifndef KQ_NODE_DEV_H
#define KQ_NODE_DEV_H

/* Nodes a dev cluster may have: enough to exercise n != 3f+1 and larger committees. */
#define KQ_DEV_MAX_NODES 16
/* How long the launcher waits for every node to be healthy before giving up. */
#define KQ_DEV_HEALTHY_TIMEOUT_MS 30000

struct kq_dev_options {
    unsigned nodes;     /* 1..KQ_DEV_MAX_NODES */
    unsigned spare;     /* more nodes with a certificate, X25519 key, ports and config, but not in
                           the genesis and not started (to add with `keyquorum member add`);
                           nodes + spare <= KQ_DEV_MAX_NODES */
    unsigned byzantine; /* a node id whose keeper signs wrong partials (fault injection for
                           tests: keeper.byzantine_partials), 0 for none */
    const char *dir;    /* created if missing */
    const char *self;   /* path of the keyquorum binary to start nodes with */
};

/* Runs the cluster; returns the exit code (0 after a clean stop, 1 on failure). */
int kq_dev_run(const struct kq_dev_options *opt);

#endif
