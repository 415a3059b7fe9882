/* TLS 1.3 contexts for the three roles of a node (peer listener, API listener, dialer) with the
 * cluster CA as the only trust anchor, and the identity of a verified peer. A CA-signed
 * certificate is not enough for a node: kq_tls_check_node also pins its Ed25519 key (docs/pki.md).
 */
#ifndef KQ_NET_TLS_H
#define KQ_NET_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "base/assert.h"
#include "base/limits.h"

enum kq_tls_role {
    KQ_TLS_PEER_SERVER, /* node-to-node listener: client certificate REQUIRED, chained to the CA */
    KQ_TLS_API_SERVER,  /* HTTP API listener: client certificate OPTIONAL (bearer tokens also
                           allowed), but if one is sent it must chain to the CA and be valid */
    KQ_TLS_CLIENT,      /* dialer: verifies the server chain against the CA; presents cert/key
                           if given */
};

/* A new SSL_CTX for role: TLS 1.3 only, ca_file (PEM) the only trust anchor, no intermediate CAs
 * (KQ_TLS_MAX_INTERMEDIATES), strict X.509 checks, the usual purpose checks (a
 * client certificate needs EKU clientAuth, a server certificate serverAuth), no renegotiation,
 * compression or session tickets. The server roles need cert_file and key_file; the client role
 * takes both or neither. The caller owns the result (SSL_CTX_free). On failure returns NULL and
 * sets *err: KQ_ERR_INVALID_ARG (missing cert/key), KQ_ERR_NOT_FOUND / KQ_ERR_IO (unreadable
 * file), KQ_ERR_FORMAT (not PEM) or KQ_ERR_TLS (key does not match cert, OpenSSL failure). */
SSL_CTX *kq_tls_ctx_new(enum kq_tls_role role, const char *ca_file, const char *cert_file,
                        const char *key_file, enum kq_err *err);

struct kq_tls_identity {
    char name[KQ_PKI_MAX_NAME_BYTES + 1]; /* certificate CN, NUL-terminated */
    bool is_node;     /* CN is "node-<id>" with id 1..65535 AND EKU includes serverAuth */
    uint32_t node_id; /* when is_node, else 0 */
    bool has_ed25519;
    uint8_t ed25519_pk[32];  /* raw subject public key when has_ed25519, else zero */
    uint8_t fingerprint[32]; /* SHA-256 of the DER certificate */
};

/* The identity of cert, which the caller has verified. KQ_ERR_PEER_IDENTITY (out zeroed) unless
 * the subject has exactly one CN of 1..KQ_PKI_MAX_NAME_BYTES characters of [A-Za-z0-9._-], and a
 * CN with the reserved "node-" prefix is a node name (decimal id 1..65535, no leading zero) on a
 * certificate whose EKU includes serverAuth: a node name is never a mere client's. */
KQ_MUST_USE enum kq_err kq_tls_cert_identity(X509 *cert, struct kq_tls_identity *out);

/* Identity of the verified peer certificate of an established connection: KQ_ERR_TLS (out
 * zeroed) if the handshake is not finished or no verified certificate was presented, else as
 * kq_tls_cert_identity. */
KQ_MUST_USE enum kq_err kq_tls_peer_identity(SSL *ssl, struct kq_tls_identity *out);

/* Node pinning: KQ_OK iff id->is_node, id->node_id == expected_node_id (0 = any node id), and
 * the key equals pinned_pk (constant-time compare); KQ_ERR_PEER_IDENTITY otherwise. */
KQ_MUST_USE enum kq_err kq_tls_check_node(const struct kq_tls_identity *id,
                                          uint32_t expected_node_id, const uint8_t pinned_pk[32]);

/* One-line description of the last OpenSSL error of this thread for logs ("no TLS error" if
 * none), and clears the thread's error queue. The buffer is thread-local, valid until the next
 * call; it never holds secrets. */
const char *kq_tls_last_error(void);

#endif
