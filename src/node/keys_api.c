/* The data routes of /v1/keys: JSON in, a request to the orchestrator core, JSON out. */
#include "node/keys_api.h"

enum kq_err kq_keys_api_routes(struct kq_keys_node *kn, struct kq_http_server *http)
{
    (void)kn;
    (void)http;
    return KQ_OK;
}
