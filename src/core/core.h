/* The driver contract (DESIGN.md §6). A core is a state machine: step(core, event) -> actions.
 * Cores never read the clock, the network, the disk or global state; the time is in the event.
 * Two drivers execute the actions: the runtime (src/node, libevent + TLS + SQLite) and the
 * simulator (sim/, one thread, simulated network, clock and disk). Both call the same functions. */
#ifndef KQ_CORE_CORE_H
#define KQ_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/limits.h"

/* Actions one step may emit, and the bytes their payloads may take in all. A core that needs more
 * in one step has a bug (the step fails with KQ_ERR_OVERFLOW and the driver asserts). The ledger
 * needs the most: a commit writes a record per changed state key and answers every waiter. */
#define KQ_CORE_MAX_ACTIONS  8192
#define KQ_CORE_ACTION_ARENA (8 * 1024 * 1024)
/* Persisted record keys ("hb/incarnation"): short names, not data. */
#define KQ_CORE_MAX_RECORD_KEY 192
/* A broadcast: the driver sends the frame to every configured peer. */
#define KQ_PEER_ALL UINT32_MAX

enum kq_event_kind {
    KQ_EV_RESTORE = 1, /* before START, once per persisted record: record_key, payload */
    KQ_EV_START,       /* the core starts (after every RESTORE) */
    KQ_EV_TIMER,       /* timer `timer` set by a KQ_ACT_TIMER fired */
    KQ_EV_FRAME,       /* a decoded frame from authenticated peer `peer` */
    KQ_EV_PEER_UP,     /* the transport reached `peer` (authenticated) */
    KQ_EV_PEER_DOWN,   /* the transport lost `peer` */
    KQ_EV_WRITE_DONE,  /* the persist with `write_token` is durable */
    KQ_EV_REQUEST,     /* a local request (from the node's API or the simulator's client):
                          request_id, request_kind, payload. Answered by KQ_ACT_REPLY. */
    KQ_EV_PEERS,       /* the driver's peer set changed (membership): payload the whole new set
                          (kq_peers_event_encode), replacing init's list. Frames, links and
                          KQ_PEER_ALL sends follow the new set from this event on. A core keeps
                          what it knows of peers still listed; one that takes no membership
                          changes may refuse the event (the driver logs it). Never before START. */
    KQ_EV_LEDGER,      /* the ledger committed `ledger_height`: `ledger_state` is that height's
                          committed state (a const struct kq_smt *, immutable). The driver keeps
                          it alive until the next KQ_EV_LEDGER, so a core may read it (and only
                          it) between events. Cores that do not follow the ledger ignore it. */
};

/* An event. Pointers are borrowed for the duration of the step only. */
struct kq_event {
    enum kq_event_kind kind;
    uint64_t now_ms;        /* driver's monotonic clock in milliseconds (simulated in sim/) */
    uint32_t peer;          /* FRAME, PEER_UP, PEER_DOWN */
    uint32_t timer;         /* TIMER: the id the core chose */
    uint64_t write_token;   /* WRITE_DONE */
    uint16_t frame_type;    /* FRAME: wire type (src/wire/frame.h) */
    const char *record_key; /* RESTORE */
    const uint8_t *payload; /* FRAME: frame payload; RESTORE: record value; REQUEST: body */
    size_t payload_len;
    uint64_t wall_ms;         /* driver's wall clock (Unix ms; skewed per node in sim/). Only for
                                 values that become BFT-aggregated (vote timestamps), never rules. */
    uint64_t request_id;      /* REQUEST: chosen by the driver, echoed in KQ_ACT_REPLY */
    uint32_t request_kind;    /* REQUEST: core-defined */
    const void *ledger_state; /* LEDGER: const struct kq_smt * (ledger/smt.h) */
    uint64_t ledger_height;   /* LEDGER */
};

enum kq_action_kind {
    KQ_ACT_SEND = 1, /* send frame (frame_type, payload) to `peer` or KQ_PEER_ALL */
    KQ_ACT_TIMER,    /* (re)arm timer `timer` to fire after `after_ms`; re-arming replaces it */
    KQ_ACT_PERSIST,  /* write record_key = payload; if `sync`, answer WRITE_DONE(write_token) once
                        durable. Unsynced writes may be lost by a crash. All PERSIST and ERASE
                        actions of ONE step are applied atomically (one transaction): after a
                        crash either all of them are there or none. */
    KQ_ACT_STATUS,   /* an observation for the driver (logs, health, simulator invariants) */
    KQ_ACT_ERASE,    /* delete record_key (atomic with the step's persists, like PERSIST) */
    KQ_ACT_REPLY,    /* answer request `request_id` with `status` (an enum kq_err) and payload */
};

/* Observations a core reports through KQ_ACT_STATUS. */
enum kq_status_kind {
    KQ_STATUS_PEER_ALIVE = 1, /* `peer` is live (first heartbeat, or back after silence) */
    KQ_STATUS_PEER_DEAD,      /* `peer` fell silent past the timeout */
    KQ_STATUS_PEER_RESTARTED, /* `peer` came back with a higher incarnation */
    KQ_STATUS_READY,          /* the core finished recovery and runs */
    KQ_STATUS_COMMITTED,      /* ledger: block at height `value` committed (payload: its hash) */
    KQ_STATUS_SUBMIT_TX,      /* submit a ledger tx signed with this node's identity key:
                                 payload = family u16 | op u16 | body (big-endian). Fire and
                                 forget: the core watches the ledger for its effect and
                                 resubmits if it needs to. */
    KQ_STATUS_KEEPER_FAULTY, /* orchestrator: keeper `value` answered with a false proof or share */
};

struct kq_action {
    enum kq_action_kind kind;
    uint32_t peer;                           /* SEND, STATUS */
    uint16_t frame_type;                     /* SEND */
    uint32_t timer;                          /* TIMER */
    uint64_t after_ms;                       /* TIMER */
    bool sync;                               /* PERSIST */
    uint64_t write_token;                    /* PERSIST */
    enum kq_status_kind status;              /* STATUS */
    uint64_t value;                          /* STATUS: e.g. the peer's incarnation */
    uint64_t request_id;                     /* REPLY */
    enum kq_err reply_status;                /* REPLY */
    char record_key[KQ_CORE_MAX_RECORD_KEY]; /* PERSIST, ERASE: NUL-terminated */
    size_t payload_off;                      /* SEND, PERSIST, REPLY, STATUS: offset in arena */
    size_t payload_len;
};

/* Actions of one step. Reset by the driver before each step (kq_actions_reset). */
struct kq_actions {
    size_t count;
    size_t used; /* bytes of arena in use */
    struct kq_action items[KQ_CORE_MAX_ACTIONS];
    uint8_t arena[KQ_CORE_ACTION_ARENA];
};

/* A core as the drivers see it. `state` is opaque, allocated by the driver with state_size bytes
 * and zeroed; init gets the node's own id and the ids of its peers. */
struct kq_core_ops {
    const char *name;
    size_t state_size;
    enum kq_err (*init)(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                        const void *config);
    enum kq_err (*step)(void *state, const struct kq_event *ev, struct kq_actions *out);
    void (*fini)(void *state); /* wipes secrets; may be NULL */
};

void kq_actions_reset(struct kq_actions *a);

/* Append helpers. Each returns KQ_ERR_OVERFLOW when the action array or the arena is full and
 * then leaves `a` unchanged. */
__attribute__((warn_unused_result)) enum kq_err kq_actions_send(struct kq_actions *a, uint32_t peer,
                                                                uint16_t frame_type,
                                                                const uint8_t *payload,
                                                                size_t payload_len);
__attribute__((warn_unused_result)) enum kq_err kq_actions_timer(struct kq_actions *a,
                                                                 uint32_t timer, uint64_t after_ms);
__attribute__((warn_unused_result)) enum kq_err
kq_actions_persist(struct kq_actions *a, const char *record_key, const uint8_t *value,
                   size_t value_len, bool sync, uint64_t write_token);
__attribute__((warn_unused_result)) enum kq_err
kq_actions_status(struct kq_actions *a, enum kq_status_kind status, uint32_t peer, uint64_t value);

__attribute__((warn_unused_result)) enum kq_err kq_actions_erase(struct kq_actions *a,
                                                                 const char *record_key);
__attribute__((warn_unused_result)) enum kq_err
kq_actions_reply(struct kq_actions *a, uint64_t request_id, enum kq_err status,
                 const uint8_t *payload, size_t payload_len);
/* A STATUS with a payload (e.g. a block hash). */
__attribute__((warn_unused_result)) enum kq_err
kq_actions_status_data(struct kq_actions *a, enum kq_status_kind status, uint32_t peer,
                       uint64_t value, const uint8_t *payload, size_t payload_len);

/* The payload of KQ_EV_PEERS: each id a u32 big-endian. Encode: n ids into out (cap bytes),
 * KQ_ERR_OVERFLOW if short, *len set. Decode: strict, into ids (cap entries), *n set:
 * KQ_ERR_FORMAT for a length not a multiple of 4, KQ_ERR_LIMIT for more than cap ids or more
 * than KQ_CORE_MAX_PEERS, KQ_ERR_INVALID_ARG for an id that is 0, self, KQ_PEER_ALL or
 * repeated; *n is 0 on failure. */
#define KQ_CORE_MAX_PEERS        (KQ_MAX_NODES - 1)
#define KQ_PEERS_EVENT_MAX_BYTES (4 * KQ_CORE_MAX_PEERS)
__attribute__((warn_unused_result)) enum kq_err
kq_peers_event_encode(const uint32_t *ids, size_t n, uint8_t *out, size_t cap, size_t *len);
__attribute__((warn_unused_result)) enum kq_err kq_peers_event_decode(const uint8_t *payload,
                                                                      size_t len, uint32_t self,
                                                                      uint32_t *ids, size_t cap,
                                                                      size_t *n);

/* The payload bytes of action `act` (inside a->arena). */
const uint8_t *kq_action_payload(const struct kq_actions *a, const struct kq_action *act);

#endif
