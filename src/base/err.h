/* keyquorum error codes. One enum for the whole project; kq_strerror() is a switch without a
 * default so the compiler flags a code that has no message. Codes are stable: never renumber. */
#ifndef KQ_BASE_ERR_H
#define KQ_BASE_ERR_H

enum kq_err {
    KQ_OK = 0,
    KQ_ERR_INVALID_ARG,     /* a caller passed a parameter outside its documented range */
    KQ_ERR_NOMEM,           /* an allocation failed */
    KQ_ERR_TRUNCATED,       /* a decoder ran out of input */
    KQ_ERR_OVERFLOW,        /* an encoder ran out of room, or a size computation overflowed */
    KQ_ERR_FORMAT,          /* malformed encoding: bad magic, trailing bytes, bad length */
    KQ_ERR_VERSION,         /* unknown format or protocol version */
    KQ_ERR_LIMIT,           /* a named limit in limits.h was exceeded */
    KQ_ERR_CRYPTO,          /* the crypto library failed (initialisation, randomness) */
    KQ_ERR_BAD_POINT,       /* not a valid ristretto255 encoding, or the identity where forbidden */
    KQ_ERR_BAD_SCALAR,      /* not a canonical scalar, or zero where forbidden */
    KQ_ERR_BAD_PROOF,       /* a zero-knowledge proof (Schnorr, DLEQ) does not verify */
    KQ_ERR_BAD_SHARE,       /* a share does not match its commitment */
    KQ_ERR_BAD_COMMITMENT,  /* a commitment vector is malformed or violates the protocol */
    KQ_ERR_DUPLICATE_INDEX, /* two shares or participants carry the same index */
    KQ_ERR_ZERO_INDEX,      /* an index of zero, which would reveal the secret */
    KQ_ERR_THRESHOLD,       /* fewer shares or participants than the threshold */
    KQ_ERR_AUTH,            /* authenticated decryption or key commitment failed */
    KQ_ERR_LABEL,           /* the label (key, version, type, context) does not match */
    KQ_ERR_TYPE,            /* a ciphertext of the wrong type for the operation */
    KQ_ERR_BAD_SIGNATURE,   /* a signature or signature share does not verify */
    KQ_ERR_STATE,           /* an event arrived in a protocol state that does not accept it */
    KQ_ERR_NOT_FOUND,       /* the named thing does not exist */
    KQ_ERR_IO,              /* reading or writing a file or stream failed */
    KQ_ERR_TLS,             /* a TLS handshake, certificate or key operation failed */
    KQ_ERR_PEER_IDENTITY,   /* a peer's certificate does not carry the key recorded for its id */
    KQ_ERR_TIMEOUT,         /* an operation did not finish in its allotted time */
    KQ_ERR_STORE,           /* the storage engine failed (open, migrate, read, write, sync) */
    KQ_ERR_CONFIG,          /* a configuration file is missing, malformed or inconsistent */
    KQ_ERR_BUSY,            /* a bounded queue is full: back-pressure, retry later */
    KQ_ERR_NET,             /* a socket, listener or connection failed */
    KQ_ERR_FORBIDDEN,       /* authenticated, but not allowed to do this */
    KQ_ERR_DUPLICATE,       /* already done: a transaction with this id is committed */
    KQ_ERR_EXPIRED,         /* past its expiry (a transaction's expiry height) */
    KQ_ERR_EXISTS,          /* the thing to create already exists */
};

/* Returns a static, human-readable message for err. Never NULL. */
const char *kq_strerror(enum kq_err err);

/* Returns the stable identifier of err, such as "bad_proof", for JSON error bodies. Never NULL. */
const char *kq_errcode(enum kq_err err);

#endif
