/* Every bound in keyquorum, with the reason for its value. Code refers to these names, never to
 * bare numbers, and relationships between them are checked with static assertions below. */
#ifndef KQ_BASE_LIMITS_H
#define KQ_BASE_LIMITS_H

/* Shamir over GF(2^8): x is one byte and 0 is the secret, so at most 255 shares. */
#define KQ_SHAMIR_MAX_SHARES 255
/* Largest secret Shamir splits: 64 KiB covers any key or key bundle; bigger data is enveloped. */
#define KQ_SHAMIR_MAX_SECRET_BYTES 65536
/* Object identifiers bound into Shamir share commitments: names, not data, like key ids. */
#define KQ_MAX_OBJECT_ID_BYTES 128

/* Participants (keepers, signers, DKG dealers) in one threshold group. Indices are 1..this; the
 * bound keeps per-protocol tables small and matches the Shamir limit. */
#define KQ_MAX_PARTICIPANTS 255
/* Largest threshold t of a scalar sharing (commitment vectors hold t points). */
#define KQ_MAX_THRESHOLD KQ_MAX_PARTICIPANTS

/* Members of one DKG committee (dealers or recipients): every recipient checks n dealings of t
 * commitments and the ledger carries O(n^2) ciphertexts, so committees stay small. */
#define KQ_DKG_MAX_PARTICIPANTS 64

/* Key identifiers (names) in labels and transcripts. */
#define KQ_MAX_KEY_ID_BYTES 128
/* Encryption context: pairs, and the size of one key and one value. */
#define KQ_MAX_CONTEXT_PAIRS       64
#define KQ_MAX_CONTEXT_KEY_BYTES   128
#define KQ_MAX_CONTEXT_VALUE_BYTES 1024
/* Canonical label: tag, key id, version, type and every context pair with length prefixes. */
#define KQ_MAX_LABEL_BYTES                                                                         \
    (64 + KQ_MAX_KEY_ID_BYTES + 16 +                                                               \
     KQ_MAX_CONTEXT_PAIRS * (8 + KQ_MAX_CONTEXT_KEY_BYTES + KQ_MAX_CONTEXT_VALUE_BYTES))

/* Plaintext of one `data` ciphertext: bulk data belongs in client-side envelope encryption. */
#define KQ_MAX_DATA_PLAINTEXT_BYTES (1024 * 1024)

/* A FROST message to sign (the API signs digests or short messages). */
#define KQ_MAX_SIGN_MESSAGE_BYTES (64 * 1024)

/* Lines read by the offline CLI, in bytes (hex of the largest Shamir share plus newline). */
#define KQ_CLI_MAX_LINE_BYTES (2 * (KQ_SHAMIR_MAX_SECRET_BYTES + 1) + 2)

_Static_assert(KQ_SHAMIR_MAX_SHARES <= 255, "GF(2^8) has 255 nonzero x coordinates");
_Static_assert(KQ_MAX_PARTICIPANTS <= KQ_SHAMIR_MAX_SHARES, "participants fit a Shamir split");
_Static_assert(KQ_MAX_THRESHOLD <= KQ_MAX_PARTICIPANTS, "threshold at most participants");
_Static_assert(KQ_DKG_MAX_PARTICIPANTS <= KQ_MAX_PARTICIPANTS, "a DKG committee is a group");

/* --- Heartbeat liveness and the simulator (src/core/heartbeat.c, sim/) --- */
/* Nodes in one deployment (validators, keepers, front-ends): per-peer tables such as the
 * heartbeat's are fixed arrays of this size, so a node has at most KQ_MAX_NODES - 1 peers. */
#define KQ_MAX_NODES 256
/* Events queued in the simulator at once: a broadcast round of KQ_MAX_NODES nodes is 65280
 * messages, so this holds several rounds in flight with duplicates; the queue grows lazily. */
#define KQ_SIM_MAX_EVENTS (1u << 20)
/* Timers one simulated node may hold armed at once (a core uses a handful of ids). */
#define KQ_SIM_MAX_TIMERS 64
/* Records on one simulated disk (the ledger keeps every block and state entry; a hash map, memory
 * as used), and the bytes of one record's value (as the runtime's store). */
#define KQ_SIM_MAX_RECORDS      (1u << 20)
#define KQ_SIM_MAX_RECORD_BYTES KQ_STORE_MAX_VALUE_BYTES
/* Writes issued but not yet durable on one simulated disk (write-back drains them): 128 steps of
 * KQ_CORE_MAX_ACTIONS (8192) writes each, a write-back period of a busy ledger node. */
#define KQ_SIM_MAX_PENDING_WRITES (1u << 20)
/* Partitions and link cuts one simulation may schedule. */
#define KQ_SIM_MAX_FAULTS 256
_Static_assert(KQ_MAX_NODES >= 2 && KQ_MAX_NODES <= 65536, "a few peers, small tables");
_Static_assert(KQ_SIM_MAX_EVENTS >= 4u * KQ_MAX_NODES * KQ_MAX_NODES, "rounds of broadcasts fit");

/* --- Cluster PKI and TLS (src/net/pki.c, src/net/tls.c) --- */
/* Nodes `keyquorum pki init` provisions: a DKG committee (KQ_DKG_MAX_PARTICIPANTS) at most. */
#define KQ_PKI_MAX_INIT_NODES 64
/* Node ids in certificate names ("node-<id>"): 16 bits keep CNs short and fit KQ_MAX_NODES. */
#define KQ_PKI_MAX_NODE_ID 65535
/* Client names and certificate CNs: matches the config's principal names (64 characters). */
#define KQ_PKI_MAX_NAME_BYTES 64
/* A PEM file we read: one certificate or key is under 2 KiB; refuse what is clearly not one. */
#define KQ_PKI_MAX_PEM_BYTES (64 * 1024)
/* Intermediate CAs between a peer's certificate and the cluster CA: none, the CA signs all. */
#define KQ_TLS_MAX_INTERMEDIATES 0
_Static_assert(KQ_PKI_MAX_INIT_NODES <= KQ_MAX_NODES, "init provisions at most one deployment");
_Static_assert(KQ_MAX_NODES <= KQ_PKI_MAX_NODE_ID, "every node id has a certificate name");

/* --- Node storage and frames (src/store/store.c, src/wire/frame.c) --- */
/* Payload of one node-to-node frame: a ledger block with its certificate and a DKG dealing for
 * a full committee (O(n) ciphertexts and t commitments) fit with room; a peer cannot make a
 * reader buffer more than this for one frame. */
#define KQ_MAX_FRAME_PAYLOAD (4u * 1024 * 1024)
/* Store namespaces are module names ("ledger", "shares"), not data. */
#define KQ_STORE_MAX_NS_BYTES 64
/* Store keys are ids, names and heights, never payloads. */
#define KQ_STORE_MAX_KEY_BYTES 1024
/* One stored value: at most a block with its certificate (one frame payload) plus local
 * bookkeeping; twice a frame leaves room and still bounds what one read allocates. */
#define KQ_STORE_MAX_VALUE_BYTES (2u * KQ_MAX_FRAME_PAYLOAD)
/* How long a store call waits for another connection's lock before failing: a checkpoint or a
 * commit takes milliseconds, and the event loop must not stall for longer than this. */
#define KQ_STORE_BUSY_TIMEOUT_MS 5000
_Static_assert(KQ_MAX_FRAME_PAYLOAD <= 0xffffffffu, "frame length is a u32");
_Static_assert(KQ_STORE_MAX_VALUE_BYTES >= KQ_MAX_FRAME_PAYLOAD, "a received block can be stored");
_Static_assert(KQ_STORE_MAX_VALUE_BYTES <= 0x7fffffff, "SQLite binds lengths as int");
_Static_assert(KQ_STORE_MAX_KEY_BYTES <= 0x7fffffff, "SQLite binds lengths as int");

/* --- Peer transport (src/net/peer.c) --- */
/* Queued output per peer: two of the largest frames (one being written, one waiting) plus 1 MiB of
 * small frames; past it a send fails with KQ_ERR_BUSY, so a stalled peer costs bounded memory. */
#define KQ_PEER_MAX_OUTBUF_BYTES (2u * KQ_MAX_FRAME_PAYLOAD + 1024u * 1024)
/* Redial backoff: first retry soon (a restarted peer is back in milliseconds), doubling to a cap
 * short enough that a healed partition reconnects within seconds. */
#define KQ_PEER_BACKOFF_MIN_MS 50
#define KQ_PEER_BACKOFF_MAX_MS 2000
/* A TLS handshake on loopback or a LAN takes milliseconds; a connection still handshaking after
 * this is a stalled or hostile peer and is closed. */
#define KQ_PEER_HANDSHAKE_TIMEOUT_MS 5000
/* Inbound connections still handshaking at once: every configured peer reconnecting together
 * fits; more are closed at accept, so unauthenticated clients tie up bounded memory. */
#define KQ_PEER_MAX_PENDING_HANDSHAKES (KQ_MAX_NODES + 64)
/* Listen backlog of the peer port: connections the kernel holds before the loop accepts them;
 * a burst of every peer reconnecting at once fits. */
#define KQ_PEER_LISTEN_BACKLOG KQ_MAX_NODES
_Static_assert(KQ_PEER_MAX_OUTBUF_BYTES >= 16u + KQ_MAX_FRAME_PAYLOAD,
               "a peer with an empty queue takes the largest frame");
_Static_assert(KQ_PEER_BACKOFF_MIN_MS > 0 && KQ_PEER_BACKOFF_MIN_MS <= KQ_PEER_BACKOFF_MAX_MS,
               "backoff doubles from min up to max");

/* --- HTTP API server (src/net/http.c) --- */
/* Request body: 1 MiB of plaintext (KQ_MAX_DATA_PLAINTEXT_BYTES) as base64 plus the JSON around it.
 */
#define KQ_HTTP_MAX_BODY_BYTES (2u * 1024 * 1024)
/* Request line plus headers: a bearer token and the usual headers fit many times over. */
#define KQ_HTTP_MAX_HEADER_BYTES (16u * 1024)
/* Open client connections; each may hold a body of KQ_HTTP_MAX_BODY_BYTES, so this bounds memory.
 */
#define KQ_HTTP_MAX_CONNECTIONS 1024
/* Default deadlines: a request arrives whole, and a reply is handed to the kernel, within these. */
#define KQ_HTTP_READ_TIMEOUT_S  10
#define KQ_HTTP_WRITE_TIMEOUT_S 10
/* Ceilings a configuration may raise the limits to, and the floor below which no request fits. */
#define KQ_HTTP_MAX_BODY_CEILING        (64u * 1024 * 1024)
#define KQ_HTTP_MAX_HEADER_CEILING      (1024u * 1024)
#define KQ_HTTP_MAX_CONNECTIONS_CEILING 65536
#define KQ_HTTP_MAX_TIMEOUT_S           3600
#define KQ_HTTP_MIN_LIMIT_BYTES         256
/* Routes of one server: the API has a few dozen endpoints (DESIGN.md section 7). */
#define KQ_HTTP_MAX_ROUTES 128
/* A route pattern, its segments and its {captures}: "/v1/keys/{name}/encrypt" needs 23, 4 and 1. */
#define KQ_HTTP_MAX_PATTERN_BYTES    128
#define KQ_HTTP_MAX_SEGMENTS         8
#define KQ_HTTP_MAX_PARAMS           4
#define KQ_HTTP_MAX_PARAM_NAME_BYTES 32
/* Request path (without query): key and object names are at most 128 bytes, 3x when escaped. */
#define KQ_HTTP_MAX_PATH_BYTES 1024
/* Query string and its arguments: a handful of small options such as from=, wait=, key=. */
#define KQ_HTTP_MAX_QUERY_BYTES 2048
#define KQ_HTTP_MAX_QUERY_ARGS  16
/* Message of a JSON error body: one sentence, never data. */
#define KQ_HTTP_MAX_ERROR_MESSAGE_BYTES 256
/* Addresses one server listens on (IPv4 and IPv6 of a host, a few interfaces). */
#define KQ_HTTP_MAX_LISTENERS 8
/* Head evhttp writes for one of our replies: status line and a few short headers. */
#define KQ_HTTP_MAX_RESPONSE_HEAD_BYTES 4096
/* Decrypted input held back while a deferred request waits (a pipelined request), per connection.
 */
#define KQ_HTTP_MAX_HELD_INPUT_BYTES (64u * 1024)
/* Reply bytes queued for TLS per connection; the rest waits in evhttp's buffer until it drains. */
#define KQ_HTTP_MAX_TLS_QUEUE_BYTES (256u * 1024)
_Static_assert(KQ_HTTP_MAX_BODY_BYTES >= (KQ_MAX_DATA_PLAINTEXT_BYTES + 2) / 3 * 4 + 4096,
               "a largest plaintext fits a body as base64 with its JSON");
_Static_assert(KQ_HTTP_MAX_BODY_BYTES <= KQ_HTTP_MAX_BODY_CEILING, "default within the ceiling");
_Static_assert(KQ_HTTP_MAX_HEADER_BYTES <= KQ_HTTP_MAX_HEADER_CEILING,
               "default within the ceiling");
_Static_assert(KQ_HTTP_MAX_CONNECTIONS <= KQ_HTTP_MAX_CONNECTIONS_CEILING,
               "default within ceiling");
_Static_assert(KQ_HTTP_MAX_PATH_BYTES >= 3 * KQ_MAX_KEY_ID_BYTES + KQ_HTTP_MAX_PATTERN_BYTES,
               "an escaped key name fits a path");
_Static_assert(KQ_HTTP_MAX_PARAMS <= KQ_HTTP_MAX_SEGMENTS, "a capture is a segment");

/* --- Ledger state: hashing, sparse Merkle tree, tx Merkle root (src/ledger/{smt,merkle}.c) --- */
/* A state key names a record ("client/<64-char id>", "tx/<64 hex>", "node/<id>"): names, not data.
 */
#define KQ_LEDGER_MAX_KEY_BYTES 256
/* One state value: the largest record is a validator set of KQ_MAX_NODES entries or a DKG dealing
 * of a KQ_DKG_MAX_PARTICIPANTS committee (~10 KiB each); 64 KiB leaves room and bounds a proof. */
#define KQ_LEDGER_MAX_VALUE_BYTES (64u * 1024)
/* Keys in one state tree: clients, nodes and tx dedup records; the tree lives in memory (about
 * 200 bytes of nodes per key), so this caps it near 1 GiB with the byte limit below. */
#define KQ_LEDGER_SMT_MAX_KEYS (1u << 22)
/* Bytes of keys plus values in one state tree: what a replica must hold in memory and sync. */
#define KQ_LEDGER_SMT_MAX_STATE_BYTES (512u * 1024 * 1024)
/* Leaves of one tx Merkle tree: far more than a block holds (a block is one frame payload). */
#define KQ_LEDGER_MERKLE_MAX_LEAVES (1u << 20)
_Static_assert(KQ_LEDGER_MAX_VALUE_BYTES + KQ_LEDGER_MAX_KEY_BYTES <= KQ_MAX_FRAME_PAYLOAD / 4,
               "several largest records fit one frame (state sync, a block of txs)");
_Static_assert(KQ_LEDGER_MAX_VALUE_BYTES <= KQ_STORE_MAX_VALUE_BYTES, "a value can be stored");
_Static_assert(KQ_LEDGER_MAX_KEY_BYTES <= KQ_STORE_MAX_KEY_BYTES, "a state key can be a store key");
_Static_assert(KQ_LEDGER_MERKLE_MAX_LEAVES <= 0xffffffffu, "tx_count is a u32");

/* --- Ledger transactions, families and state machine (src/ledger/{tx,tx_member,tx_client,
 * genesis,state}.c) --- */
/* One transaction envelope: membership and client bodies are under 1 KiB; later families (a DKG
 * dealing of a KQ_DKG_MAX_PARTICIPANTS committee, ~10 KiB) fit, and a block holds many. */
#define KQ_LEDGER_TX_MAX_BYTES (64u * 1024)
/* How far past the block being built a tx may set its expiry: about 12 days at one block a second,
 * so a dedup record need only outlive a bounded window (they could be pruned after it). */
#define KQ_LEDGER_TX_MAX_EXPIRY_BLOCKS (1u << 20)
/* A client id: 1..64 characters of [A-Za-z0-9._-], the same bound as principal names. */
#define KQ_LEDGER_CLIENT_ID_MAX_BYTES KQ_PKI_MAX_NAME_BYTES
/* Trust score of a client (and the range reputation uses): a percentage. */
#define KQ_LEDGER_TRUST_MAX 100
/* A node address "host:port": a DNS name or bracketed IPv6 address of reasonable length. */
#define KQ_LEDGER_ADDR_MAX_BYTES 128
/* Node ids on the ledger: those with a certificate name "node-<id>" (0 is not an id). */
#define KQ_LEDGER_MAX_NODE_ID KQ_PKI_MAX_NODE_ID
/* Validators in the set the state records: one per node at most. */
#define KQ_LEDGER_STATE_MAX_VALIDATORS KQ_MAX_NODES
/* Chain name in the genesis: a short label such as "prod-eu", [A-Za-z0-9._-]. */
#define KQ_LEDGER_CHAIN_NAME_MAX_BYTES 64
/* Initial nodes and admin keys of a genesis: what `pki init` provisions, and a few operators. */
#define KQ_LEDGER_GENESIS_MAX_NODES  KQ_PKI_MAX_INIT_NODES
#define KQ_LEDGER_GENESIS_MAX_ADMINS 16
_Static_assert(KQ_LEDGER_TX_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD / 4, "several txs fit one frame");
_Static_assert(KQ_LEDGER_STATE_MAX_VALIDATORS * 36u + 3u <= KQ_LEDGER_MAX_VALUE_BYTES,
               "the validator set record fits one state value");
_Static_assert(KQ_LEDGER_GENESIS_MAX_NODES <= KQ_LEDGER_STATE_MAX_VALIDATORS,
               "every genesis node can be a validator");
_Static_assert(KQ_LEDGER_CLIENT_ID_MAX_BYTES + 8 <= KQ_LEDGER_MAX_KEY_BYTES,
               "\"client/<id>\" is a state key");

/* --- Ledger consensus: blocks, votes, certificates, replica (src/ledger/{block,valset,replica}.c,
 * src/wire/ledger_msg.c) --- */
/* Validators of one set: every node may be one (votes and certificates are fixed tables). */
#define KQ_LEDGER_MAX_VALIDATORS KQ_MAX_NODES
/* Txs of one block, and the slots of those kept for system txs (DKG, evidence, audit). */
#define KQ_LEDGER_MAX_BLOCK_TXS    1024
#define KQ_LEDGER_BLOCK_SYSTEM_TXS 64
/* Bytes of txs in one block: a proposal (block + certificate) must fit one frame payload. */
#define KQ_LEDGER_MAX_BLOCK_TX_BYTES (2u * 1024 * 1024)
/* Mempool: pending txs and their bytes; beyond either the API answers KQ_ERR_BUSY. */
#define KQ_LEDGER_MEMPOOL_MAX_TXS   4096
#define KQ_LEDGER_MEMPOOL_MAX_BYTES (16u * 1024 * 1024)
/* Local requests waiting for their tx to commit (each holds an API connection). */
#define KQ_LEDGER_MAX_WAITING_REQUESTS 4096
/* Rounds of one height whose votes and proposals a replica keeps: a window around the current
 * round (older polkas are forgotten, which may cost a round, never safety). */
#define KQ_LEDGER_ROUND_WINDOW 8
/* Committed blocks a replica holds in memory to replay and to serve block sync (no pruning or
 * snapshots yet). */
#define KQ_LEDGER_MAX_CHAIN_BLOCKS 65536
/* A block's state changes, written as records in the step that commits it (atomic with the block):
 * changed keys, and bytes of those records' values (2 + key + value each). A block past either is
 * invalid, so its proposer leaves txs out until it fits. */
#define KQ_LEDGER_MAX_BLOCK_DIFF_KEYS  2048
#define KQ_LEDGER_MAX_BLOCK_DIFF_BYTES (3u * 1024 * 1024)
/* State sync: a replica that learns it is more than this many blocks behind a peer asks it for a
 * snapshot (its committed state) instead of one block per round trip. */
#define KQ_LEDGER_STATE_SYNC_LAG 64
/* Bytes of (key, value) pairs in one state chunk (past this the chunk ends; one pair always fits).
 */
#define KQ_LEDGER_SYNC_CHUNK_BYTES (1024u * 1024)
/* Snapshots a replica serves at once: each keeps one state version alive until evicted. */
#define KQ_LEDGER_SYNC_MAX_SNAPSHOTS 4
/* Chunks one snapshot may take (a peer sending empty or tiny chunks cannot keep a replica busy):
 * every key in chunks of one pair, and some. */
#define KQ_LEDGER_SYNC_MAX_CHUNKS (KQ_LEDGER_SMT_MAX_KEYS + 16u)
/* Proposer schedule: the snapshot lag k, the window W of certificates counted, and the clamp of a
 * validator's weight (floor >= 1 keeps everyone in the schedule; the cap bounds its length). */
#define KQ_LEDGER_SCHEDULE_LAG    2
#define KQ_LEDGER_SCHEDULE_WINDOW 16
#define KQ_LEDGER_WEIGHT_FLOOR    1
#define KQ_LEDGER_WEIGHT_CAP      4
_Static_assert(KQ_LEDGER_MAX_VALIDATORS <= 65535, "a certificate's count is a u16");
_Static_assert(KQ_LEDGER_BLOCK_SYSTEM_TXS < KQ_LEDGER_MAX_BLOCK_TXS, "room for user txs");
_Static_assert(KQ_LEDGER_MAX_BLOCK_TX_BYTES + 4u * KQ_LEDGER_MAX_BLOCK_TXS +
                       KQ_LEDGER_MAX_VALIDATORS * 80u + 4096u <=
                   KQ_MAX_FRAME_PAYLOAD,
               "a proposal with a full block and certificate fits one frame");
_Static_assert(KQ_LEDGER_TX_MAX_BYTES <= KQ_LEDGER_MAX_BLOCK_TX_BYTES, "a largest tx fits a block");
/* The blocks before a snapshot's tip whose header and last commit travel with it (the proposer
 * schedule reads their hashes and signers). */
#define KQ_LEDGER_SYNC_WINDOW (KQ_LEDGER_SCHEDULE_LAG + KQ_LEDGER_SCHEDULE_WINDOW)
_Static_assert(KQ_LEDGER_SYNC_WINDOW < KQ_LEDGER_STATE_SYNC_LAG,
               "a snapshot skips more than its window");
_Static_assert(KQ_LEDGER_WEIGHT_FLOOR >= 1 && KQ_LEDGER_WEIGHT_FLOOR <= KQ_LEDGER_WEIGHT_CAP,
               "every validator keeps a slot");
_Static_assert(KQ_LEDGER_SCHEDULE_WINDOW <= 64, "participation fits a u64 bitmap per validator");
_Static_assert(KQ_LEDGER_ROUND_WINDOW >= 4, "the current round, a POL round and rounds ahead");

/* --- Simulator: requests, clocks, adversary (sim/) --- */
/* Local requests open (stepped, unanswered) on one simulated node: as the runtime's bound of 4096
 * in flight, past which the simulator answers KQ_ERR_BUSY. */
#define KQ_SIM_MAX_OPEN_REQUESTS 4096
/* Clock skew between a simulated node and true time: a day covers any misconfigured NTP. */
#define KQ_SIM_MAX_CLOCK_SKEW_MS (24u * 3600 * 1000)
/* Clock rate error: 10% is far beyond real crystals (50 ppm), and clocks still move forward. */
#define KQ_SIM_MAX_CLOCK_DRIFT_PPM 100000
/* Messages the replay history keeps (each with its payload copy): the caller sizes the ring. */
#define KQ_SIM_MAX_HISTORY 65536
_Static_assert(KQ_SIM_MAX_CLOCK_DRIFT_PPM < 1000000, "a drifting clock still moves forward");
_Static_assert(KQ_SIM_MAX_RECORDS < 0xffffffffu / 2, "record slots are u32 indexes, half full");

/* Validator-set changes the CLI follows from the genesis set (a change is an admin membership
 * transaction: thousands would be an unusual chain). */
#define KQ_CLI_MAX_VALSET_CHANGES 4096

/* Re-broadcast by a non-validator of the txs it holds: a tx waits this many heights since its last
 * broadcast before the next, and at most this many (and bytes) go out per height (a bound on the
 * traffic a follower with a full mempool adds, and on the commit step's actions; oldest first). */
#define KQ_LEDGER_REGOSSIP_BLOCKS    2
#define KQ_LEDGER_REGOSSIP_MAX       64
#define KQ_LEDGER_REGOSSIP_MAX_BYTES (1024u * 1024)

/* --- Keeper core (src/keeper/) --- */
/* Sealed shares one keeper holds at once: every key (KQ_KEYREG_MAX_KEYS) with a live version in the
 * current epoch and the previous one in its grace, plus rotations in progress. */
#define KQ_KEEPER_MAX_SHARES 4096
/* Epochs whose secrets (X25519 dealing key, sealing key K_E) a keeper holds at once: the previous
 * one in its grace, the current, the next, and a few kept while sessions of them still run. */
#define KQ_KEEPER_MAX_EPOCHS 8
/* FROST round-one nonce sets held in memory at once (each waits for its round two or expires). */
#define KQ_KEEPER_MAX_FROST_NONCES 1024
_Static_assert(KQ_KEEPER_MAX_EPOCHS >= 4, "previous, current, next and one more");

#endif
