/* A keyquorum node: loads its config, opens its store, hosts its cores on the runtime and serves
 * the API until SIGTERM. `keyquorum server --config FILE` is a thin wrapper around kq_node_main. */
#ifndef KQ_NODE_NODE_H
#define KQ_NODE_NODE_H

#define KQ_VERSION_STRING "0.1.0"
/* The API generation in every path (/v1/...). */
#define KQ_API_VERSION "v1"

/* Runs a node with the config at path until SIGTERM or SIGINT. Returns the process exit code:
 * 0 after a graceful stop, 2 for a bad config, 1 for any other failure (logged). */
int kq_node_main(const char *config_path);

#endif
