/* Messages for enum kq_err. Both switches have no default case on purpose: -Wswitch (in -Wall)
 * then reports any code added to the enum without a message here. */
#include "base/err.h"

const char *kq_strerror(enum kq_err err)
{
    switch (err) {
    case KQ_OK:
        return "success";
    case KQ_ERR_INVALID_ARG:
        return "invalid argument";
    case KQ_ERR_NOMEM:
        return "out of memory";
    case KQ_ERR_TRUNCATED:
        return "input truncated";
    case KQ_ERR_OVERFLOW:
        return "buffer or size overflow";
    case KQ_ERR_FORMAT:
        return "malformed encoding";
    case KQ_ERR_VERSION:
        return "unsupported version";
    case KQ_ERR_LIMIT:
        return "limit exceeded";
    case KQ_ERR_CRYPTO:
        return "crypto library failure";
    case KQ_ERR_BAD_POINT:
        return "invalid group element";
    case KQ_ERR_BAD_SCALAR:
        return "invalid scalar";
    case KQ_ERR_BAD_PROOF:
        return "proof does not verify";
    case KQ_ERR_BAD_SHARE:
        return "share does not match its commitment";
    case KQ_ERR_BAD_COMMITMENT:
        return "invalid commitment";
    case KQ_ERR_DUPLICATE_INDEX:
        return "duplicate index";
    case KQ_ERR_ZERO_INDEX:
        return "zero index";
    case KQ_ERR_THRESHOLD:
        return "not enough shares for the threshold";
    case KQ_ERR_AUTH:
        return "authentication failed";
    case KQ_ERR_LABEL:
        return "label mismatch";
    case KQ_ERR_TYPE:
        return "wrong ciphertext type";
    case KQ_ERR_BAD_SIGNATURE:
        return "signature does not verify";
    case KQ_ERR_STATE:
        return "event not allowed in this state";
    case KQ_ERR_NOT_FOUND:
        return "not found";
    case KQ_ERR_IO:
        return "input/output error";
    case KQ_ERR_TLS:
        return "TLS or certificate failure";
    case KQ_ERR_PEER_IDENTITY:
        return "peer identity key does not match the one recorded for its id";
    case KQ_ERR_TIMEOUT:
        return "timed out";
    case KQ_ERR_STORE:
        return "storage failure";
    case KQ_ERR_CONFIG:
        return "invalid configuration";
    case KQ_ERR_BUSY:
        return "busy: queue full, retry later";
    case KQ_ERR_NET:
        return "network failure";
    case KQ_ERR_FORBIDDEN:
        return "not allowed";
    case KQ_ERR_DUPLICATE:
        return "already committed";
    case KQ_ERR_EXPIRED:
        return "expired";
    case KQ_ERR_EXISTS:
        return "already exists";
    }
    return "unknown error";
}

const char *kq_errcode(enum kq_err err)
{
    switch (err) {
    case KQ_OK:
        return "ok";
    case KQ_ERR_INVALID_ARG:
        return "invalid_argument";
    case KQ_ERR_NOMEM:
        return "out_of_memory";
    case KQ_ERR_TRUNCATED:
        return "truncated";
    case KQ_ERR_OVERFLOW:
        return "overflow";
    case KQ_ERR_FORMAT:
        return "malformed";
    case KQ_ERR_VERSION:
        return "unsupported_version";
    case KQ_ERR_LIMIT:
        return "limit_exceeded";
    case KQ_ERR_CRYPTO:
        return "crypto_failure";
    case KQ_ERR_BAD_POINT:
        return "bad_point";
    case KQ_ERR_BAD_SCALAR:
        return "bad_scalar";
    case KQ_ERR_BAD_PROOF:
        return "bad_proof";
    case KQ_ERR_BAD_SHARE:
        return "bad_share";
    case KQ_ERR_BAD_COMMITMENT:
        return "bad_commitment";
    case KQ_ERR_DUPLICATE_INDEX:
        return "duplicate_index";
    case KQ_ERR_ZERO_INDEX:
        return "zero_index";
    case KQ_ERR_THRESHOLD:
        return "below_threshold";
    case KQ_ERR_AUTH:
        return "authentication_failed";
    case KQ_ERR_LABEL:
        return "label_mismatch";
    case KQ_ERR_TYPE:
        return "wrong_type";
    case KQ_ERR_BAD_SIGNATURE:
        return "bad_signature";
    case KQ_ERR_STATE:
        return "bad_state";
    case KQ_ERR_NOT_FOUND:
        return "not_found";
    case KQ_ERR_IO:
        return "io_error";
    case KQ_ERR_TLS:
        return "tls_error";
    case KQ_ERR_PEER_IDENTITY:
        return "peer_identity";
    case KQ_ERR_TIMEOUT:
        return "timeout";
    case KQ_ERR_STORE:
        return "store_error";
    case KQ_ERR_CONFIG:
        return "config_error";
    case KQ_ERR_BUSY:
        return "busy";
    case KQ_ERR_NET:
        return "net_error";
    case KQ_ERR_FORBIDDEN:
        return "forbidden";
    case KQ_ERR_DUPLICATE:
        return "duplicate";
    case KQ_ERR_EXPIRED:
        return "expired";
    case KQ_ERR_EXISTS:
        return "exists";
    }
    return "unknown";
}
