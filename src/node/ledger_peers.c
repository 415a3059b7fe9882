/* The ledger-derived peer set (ledger_peers.h). One pass over the state: node records are found
 * by their key prefix, decoded strictly, and both the set and the digest are built from the same
 * records, so an unchanged digest means an unchanged set. */
#include "node/ledger_peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "ledger/tx_member.h"

struct scan {
    struct kq_ledger_peers *out;
    uint32_t self;
    size_t seen, max_scan;
    struct kq_hasher h;
};

bool kq_ledger_peers_addr(const char *addr, struct kq_peer_conf *conf)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr)
        return false;
    const char *host = addr;
    size_t host_len = (size_t)(colon - addr);
    if (host[0] == '[' && host_len >= 2 && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (host_len == 0 || host_len >= sizeof conf->host || *end != '\0' || end == colon + 1 ||
        port == 0 || port > 65535)
        return false;
    memcpy(conf->host, host, host_len);
    conf->host[host_len] = '\0';
    conf->port = (uint16_t)port;
    return true;
}

static void take(struct scan *s, const struct kq_member_node *m)
{
    struct kq_ledger_peers *out = s->out;
    if (m->node_id == s->self) {
        out->self_listed = true;
        return;
    }
    struct kq_peer_conf *c = &out->peers[out->n];
    memset(c, 0, sizeof *c);
    if (out->n == KQ_PEER_MAX_PEERS || !kq_ledger_peers_addr(m->peer_addr, c)) {
        out->skipped++;
        return;
    }
    c->id = m->node_id;
    memcpy(c->identity, m->tls_pk, sizeof c->identity);
    out->n++;
}

static bool visit(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len)
{
    (void)path;
    struct scan *s = ctx;
    static const char prefix[] = "node/";
    if (key_len > sizeof prefix - 1 && memcmp(key, prefix, sizeof prefix - 1) == 0) {
        kq_hasher_put_var(&s->h, key, key_len);
        kq_hasher_put_var(&s->h, value, value_len);
        struct kq_member_node m;
        if (kq_member_node_decode(&m, value, value_len) == KQ_OK)
            take(s, &m);
        else
            s->out->skipped++;
    }
    return ++s->seen < s->max_scan;
}

enum kq_err kq_ledger_peers_derive(const struct kq_smt *st, uint32_t self, size_t max_scan,
                                   struct kq_ledger_peers *out)
{
    KQ_ASSERT(st != NULL && out != NULL && max_scan > 0);
    memset(out, 0, sizeof *out);
    struct scan s = {.out = out, .self = self, .max_scan = max_scan};
    kq_hasher_init(&s.h, "kq/node-peers");
    kq_smt_foreach(st, NULL, visit, &s);
    kq_hasher_final(&s.h, &out->digest);
    KQ_ASSERT(out->n <= KQ_PEER_MAX_PEERS);
    return s.seen >= max_scan && kq_smt_count(st) > max_scan ? KQ_ERR_LIMIT : KQ_OK;
}
