/* `keyquorum status [--env FILE] [-format json]`: the health of every node of the cluster
 * (KQ_ADDRS), one line each. Exit 0 when every node is ok and sees all its peers, 1 when one is
 * unreachable, refuses us or is degraded, 2 for a usage error. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/http.h"

static int usage(void)
{
    fprintf(stderr, "usage: keyquorum status [--env FILE] [-format json|text]\n");
    return 2;
}

/* One node's line; returns whether it is healthy. */
static bool show_node(const char *addr, long status, json_t *h, const char *err, bool as_json,
                      json_t *all)
{
    bool ok = h != NULL && status == 200 &&
              json_integer_value(json_object_get(h, "connected_peers")) ==
                  json_integer_value(json_object_get(h, "peers_expected")) &&
              json_is_true(json_object_get(h, "ready"));
    if (as_json) {
        json_t *e = h != NULL && status == 200
                        ? json_pack("{s:s,s:b,s:O}", "addr", addr, "ok", ok, "health", h)
                        : json_pack("{s:s,s:b,s:s}", "addr", addr, "ok", false, "error",
                                    h != NULL ? kq_cli_error_message(h) : err);
        json_array_append_new(all, e);
    } else if (h != NULL && status == 200) {
        printf("%-8s %-26s %-8s peers %lld/%lld  incarnation %lld  version %s\n",
               json_string_value(json_object_get(h, "name")), addr, ok ? "ok" : "DEGRADED",
               json_integer_value(json_object_get(h, "connected_peers")),
               json_integer_value(json_object_get(h, "peers_expected")),
               json_integer_value(json_object_get(h, "incarnation")),
               json_string_value(json_object_get(json_object_get(h, "versions"), "keyquorum")));
    } else {
        printf("%-8s %-26s %-8s %s\n", "?", addr, "DOWN",
               h != NULL ? kq_cli_error_message(h) : err);
    }
    return ok;
}

int kq_cli_status(int argc, char **argv)
{
    const char *env = NULL;
    bool as_json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--env") == 0 && i + 1 < argc)
            env = argv[++i];
        else if ((strcmp(argv[i], "-format") == 0 || strcmp(argv[i], "--format") == 0) &&
                 i + 1 < argc &&
                 (strcmp(argv[i + 1], "json") == 0 || strcmp(argv[i + 1], "text") == 0))
            as_json = strcmp(argv[++i], "json") == 0;
        else
            return usage();
    }
    struct kq_cli_conn c;
    char err[512];
    if (!kq_cli_conn_load(&c, env, err, sizeof err)) {
        fprintf(stderr, "keyquorum status: %s\n", err);
        return 2;
    }
    json_t *all = json_array();
    bool healthy = true;
    for (size_t i = 0; i < c.n_addrs; i++) {
        long status = 0;
        json_t *h = NULL;
        err[0] = '\0';
        if (!kq_cli_request(&c, c.addrs[i], "GET", "/v1/sys/health", NULL, 5000, &status, &h, err,
                            sizeof err))
            h = NULL;
        healthy &= show_node(c.addrs[i], status, h, err, as_json, all);
        json_decref(h);
    }
    if (as_json) {
        json_t *doc = json_pack("{s:b,s:o}", "ok", healthy, "nodes", all);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(doc);
    } else {
        json_decref(all);
    }
    return healthy ? 0 : 1;
}
