/* Role bits, one definition for the whole project: node roles (what a node runs, recorded in its
 * membership record on the ledger and in its config) and client roles (what a caller may do,
 * recorded in its client identity on the ledger, in tokens and in certificate grants). The bit
 * values are part of the ledger's encoding: never renumber. */
#ifndef KQ_BASE_ROLES_H
#define KQ_BASE_ROLES_H

/* Node roles (DESIGN.md §1). */
#define KQ_ROLE_VALIDATOR    0x01u
#define KQ_ROLE_KEEPER       0x02u
#define KQ_ROLE_ORCHESTRATOR 0x04u
#define KQ_ROLE_NODE_ALL     0x07u

/* Client roles. */
#define KQ_CLIENT_ROLE_USER  0x01u
#define KQ_CLIENT_ROLE_ADMIN 0x02u
#define KQ_CLIENT_ROLE_ALL   0x03u
/* Not a ledger role: an API caller that authenticated as a node with its pinned key. */
#define KQ_CLIENT_ROLE_NODE 0x04u

#endif
