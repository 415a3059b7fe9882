/* Heartbeat liveness core (pure: events in, actions out; core.h). Each node beacons
 * {incarnation, seq} to every peer every interval_ms and calls a peer DEAD after timeout_ms of
 * silence. Invariant: a heartbeat is sent only under an incarnation that is durable on disk, and
 * each start durably takes a fresh one, so an incarnation is never reused, not even after a crash
 * that loses unsynced writes. Liveness is decided by silence alone, never by transport events. */
#ifndef KQ_CORE_HEARTBEAT_H
#define KQ_CORE_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* The record that holds the last incarnation taken (u64 big-endian). */
#define KQ_HEARTBEAT_RECORD "hb/incarnation"
/* The core's timers, both with period interval_ms: the beacon (broadcast a heartbeat) and the
 * silence check (declare DEAD). Two timers keep each step within KQ_CORE_MAX_ACTIONS: a check may
 * report every one of KQ_MAX_NODES - 1 peers dead. */
#define KQ_HEARTBEAT_TIMER_BEACON 1u
#define KQ_HEARTBEAT_TIMER_CHECK  2u

/* 1 <= interval_ms < timeout_ms. In a network that delivers at least one of every L+1 consecutive
 * heartbeats within max_latency_ms, choosing timeout_ms > (L+1)*interval_ms + max_latency_ms rules
 * out a false DEAD (docs/simulator.md). */
struct kq_heartbeat_config {
    uint64_t interval_ms;
    uint64_t timeout_ms;
};

/* The core. init: peers are 1..KQ_MAX_NODES-1 distinct ids other than self and KQ_PEER_ALL
 * (KQ_ERR_INVALID_ARG otherwise, KQ_ERR_LIMIT for too many), config a struct kq_heartbeat_config
 * (KQ_ERR_INVALID_ARG if not 1 <= interval_ms < timeout_ms).
 * step: RESTORE, START, WRITE_DONE, TIMER, FRAME, PEER_UP, PEER_DOWN as documented in
 * docs/simulator.md; PEERS replaces the peer set (peers still listed keep their liveness, new
 * ones start unheard, removed ones are forgotten; the payload's decoder errors otherwise). A
 * rejected event fails the step and emits nothing and changes nothing: KQ_ERR_STATE (event out of
 * order: before START, a RESTORE after it, an unknown write token or timer), KQ_ERR_PEER_IDENTITY
 * (frame or link event of an unknown peer, or of the node itself), KQ_ERR_TYPE (a frame other than
 * KQ_FRAME_HEARTBEAT), the decoder's errors for a malformed message or record, KQ_ERR_LIMIT (the
 * restored incarnation cannot grow), KQ_ERR_INVALID_ARG (the clock went backwards). Stale and
 * duplicate heartbeats are not errors: they are ignored. */
extern const struct kq_core_ops kq_heartbeat_ops;

/* Queries for the driver on a state that kq_heartbeat_ops.init accepted. */
/* Whether `peer` is currently considered alive (false for an unknown peer). */
bool kq_heartbeat_alive(const void *state, uint32_t peer);
/* Peers currently alive. */
size_t kq_heartbeat_alive_count(const void *state);
/* Whether the transport last reported `peer` up (PEER_UP after the last PEER_DOWN). */
bool kq_heartbeat_linked(const void *state, uint32_t peer);
/* The node's own durable incarnation; 0 until ready. */
uint64_t kq_heartbeat_incarnation(const void *state);
/* The last incarnation heard from `peer` (0 if never heard), alive or not. */
uint64_t kq_heartbeat_peer_incarnation(const void *state, uint32_t peer);
/* Whether the core has made its incarnation durable and beacons. */
bool kq_heartbeat_ready(const void *state);

#endif
