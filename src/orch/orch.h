/* The orchestrator core (docs/keys.md §4): the pure request flows behind the /v1/keys data routes.
 * It reads the committed ledger state it is given (KQ_EV_LEDGER), answers requests
 * (KQ_EV_REQUEST: struct kq_orch_req, replies struct kq_orch_reply or an enum kq_err status), asks
 * keepers (KQ_FRAME_KEEPER_REQ, possibly to this node) and collects their answers
 * (KQ_FRAME_KEEPER_RESP). Datakey and encrypt need no keeper (a wrap under the active version's
 * public key); decrypt, rewrap and derive ask t keepers, sign runs FROST's two rounds; refusals
 * and timeouts go to spares; a combine that fails names the liar (KQ_STATUS_KEEPER_FAULTY),
 * submits its signed response as evidence (KQ_STATUS_SUBMIT_TX) and asks a spare. Server-side
 * operations are counted and reported to the ledger (USAGE) for rotation by op count. */
#ifndef KQ_ORCH_ORCH_H
#define KQ_ORCH_ORCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/core.h"

/* Flows in flight at once (more get KQ_ERR_BUSY), and the per-version public-key tables kept. */
#define KQ_ORCH_MAX_FLOWS  1024
#define KQ_ORCH_MAX_TABLES 64
/* Timers: the flow deadline tick and the usage report. */
#define KQ_ORCH_TIMER_TICK  1u
#define KQ_ORCH_TIMER_USAGE 2u
#define KQ_ORCH_TICK_MS     50
/* A flow gives up after this many keeper answers it could not use (refusals, timeouts, lies). */
#define KQ_ORCH_MAX_RETRIES 8

struct kq_orch_config {
    uint32_t node_id;
    void (*random)(void *ctx, uint8_t *out, size_t len);
    void *random_ctx;
    uint64_t keeper_timeout_ms; /* 0: 2000 */
    uint64_t usage_report_ms;   /* 0: 1000 */
};

extern const struct kq_core_ops kq_orch_core;

/* Flows in flight (health, tests). */
size_t kq_orch_flow_count(const void *state);

#endif
