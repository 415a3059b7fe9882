/* The peer set a node derives from the committed ledger state: every node record ("node/<id>")
 * other than the node itself, pinned to the record's tls_pk and dialed at its peer_addr (a
 * numeric "host:port"). A digest of the node records tells whether a commit changed them. */
#ifndef KQ_NODE_LEDGER_PEERS_H
#define KQ_NODE_LEDGER_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/hash.h"
#include "ledger/smt.h"
#include "net/peer.h"

struct kq_ledger_peers {
    size_t n;
    struct kq_peer_conf peers[KQ_PEER_MAX_PEERS];
    bool self_listed; /* the node's own record is in the state */
    size_t skipped;   /* records left out: an address that is not host:port, or too many */
    kq_hash digest;   /* over every node record (key and value), in state order */
};

/* Scans st (at most max_scan pairs; the state is small) into *out (fully overwritten). A record
 * that does not decode is skipped (counted). Returns KQ_ERR_LIMIT when the scan stopped at
 * max_scan (out then holds what was seen: do not apply it). */
KQ_MUST_USE enum kq_err kq_ledger_peers_derive(const struct kq_smt *st, uint32_t self,
                                               size_t max_scan, struct kq_ledger_peers *out);

/* Splits a record's "host:port" (host a name, IPv4, or "[IPv6]") into conf's host and port;
 * false if it does not fit or has no valid port. */
bool kq_ledger_peers_addr(const char *addr, struct kq_peer_conf *conf);

#endif
