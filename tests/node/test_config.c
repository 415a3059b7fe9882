/* Node config loader and JSON logger: a full config loads with relative paths resolved; every
 * strictness rule (unknown key, wrong type, range, duplicate id, own id, bad hex, bad address,
 * heartbeat timeout not above interval, malformed JSON) fails with a message naming the field;
 * log lines are single valid JSON objects with escaped strings, cut but still valid when long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/log.h"
#include "node/config.h"

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[64];

static const char *write_cfg(const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *base_cfg(const char *extra)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "{\"node_id\":1,\"data_dir\":\"data\",\"api\":{\"listen\":\"127.0.0.1:0\"},"
             "\"peer\":{\"listen\":\"127.0.0.1:7001\"},"
             "\"tls\":{\"ca\":\"ca.crt\",\"cert\":\"/abs/node-1.crt\",\"key\":\"node-1.key\"}%s}",
             extra);
    return text;
}

static enum kq_err load(const char *text, struct kq_node_config *cfg, char *why)
{
    return kq_node_config_load(write_cfg(text), cfg, why, 256);
}

static void test_full_config(void **state)
{
    (void)state;
    struct kq_node_config *cfg = calloc(1, sizeof *cfg);
    char why[256];
    const char *extra =
        ",\"roles\":[\"keeper\",\"validator\"],"
        "\"peers\":[{\"id\":2,\"addr\":\"127.0.0.1:7002\",\"identity\":\"" HEX64 "\"}],"
        "\"heartbeat\":{\"interval_ms\":100,\"timeout_ms\":1000},"
        "\"tokens\":[{\"name\":\"ci\",\"sha256\":\"" HEX64 "\",\"roles\":[\"admin\"]}],"
        "\"clients\":[{\"name\":\"alice\"}],\"log\":{\"level\":\"debug\"}";
    assert_int_equal(load(base_cfg(extra), cfg, why), KQ_OK);
    assert_int_equal(cfg->node_id, 1);
    assert_int_equal(cfg->roles, KQ_ROLE_KEEPER | KQ_ROLE_VALIDATOR);
    char want[128];
    snprintf(want, sizeof want, "%s/data", dir);
    assert_string_equal(cfg->data_dir, want);
    assert_string_equal(cfg->tls_cert, "/abs/node-1.crt");
    assert_int_equal(cfg->api_port, 0);
    assert_int_equal(cfg->peer_port, 7001);
    assert_int_equal(cfg->n_peers, 1);
    assert_int_equal(cfg->peers[0].port, 7002);
    assert_int_equal(cfg->peers[0].identity[1], 0x11);
    assert_int_equal(cfg->n_tokens, 1);
    assert_int_equal(cfg->tokens[0].roles, KQ_CLIENT_ROLE_ADMIN);
    assert_int_equal(cfg->clients[0].roles, KQ_CLIENT_ROLE_USER);
    assert_int_equal(cfg->log_level, KQ_LOG_DEBUG);
    assert_int_equal(cfg->hb_timeout_ms, 1000);
    /* defaults */
    assert_int_equal(load(base_cfg(""), cfg, why), KQ_OK);
    assert_int_equal(cfg->roles, KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER | KQ_ROLE_ORCHESTRATOR);
    assert_int_equal(cfg->api_read_timeout_s, 10);
    assert_false(cfg->keeper_byzantine_partials);
    assert_int_equal(cfg->orch_keeper_timeout_ms, 2000);
    /* the keys sections */
    assert_int_equal(load(base_cfg(",\"keeper\":{\"frost_nonce_ttl_ms\":500,"
                                   "\"byzantine_partials\":true},"
                                   "\"orchestrator\":{\"keeper_timeout_ms\":300,"
                                   "\"usage_report_ms\":250}"),
                          cfg, why),
                     KQ_OK);
    assert_true(cfg->keeper_byzantine_partials);
    assert_int_equal(cfg->keeper_frost_nonce_ttl_ms, 500);
    assert_int_equal(cfg->orch_keeper_timeout_ms, 300);
    assert_int_equal(cfg->orch_usage_report_ms, 250);
    free(cfg);
}

static void expect_fail(const char *text, const char *needle)
{
    struct kq_node_config *cfg = calloc(1, sizeof *cfg);
    char why[256];
    assert_int_equal(load(text, cfg, why), KQ_ERR_CONFIG);
    if (strstr(why, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", why, needle);
    free(cfg);
}

static void test_strictness(void **state)
{
    (void)state;
    expect_fail(base_cfg(",\"colour\":1"), "unknown key \"colour\"");
    expect_fail(base_cfg(",\"heartbeat\":{\"interval_ms\":100,\"timeout_ms\":100}"), "timeout_ms");
    expect_fail(base_cfg(",\"heartbeat\":{\"interval_ms\":\"fast\"}"), "heartbeat.interval_ms");
    expect_fail(base_cfg(",\"roles\":[\"wizard\"]"), "roles[0]");
    expect_fail(base_cfg(",\"peers\":[{\"id\":1,\"addr\":\"h:1\",\"identity\":\"" HEX64 "\"}]"),
                "own id");
    expect_fail(base_cfg(",\"peers\":[{\"id\":2,\"addr\":\"h:1\",\"identity\":\"" HEX64 "\"},"
                         "{\"id\":2,\"addr\":\"h:2\",\"identity\":\"" HEX64 "\"}]"),
                "appears twice");
    expect_fail(base_cfg(",\"peers\":[{\"id\":2,\"addr\":\"h:1\",\"identity\":\"zz\"}]"),
                "identity");
    expect_fail(
        base_cfg(",\"peers\":[{\"id\":2,\"addr\":\"h:1\",\"identity\":\"" HEX64 "\",\"x\":1}]"),
        "unknown key");
    expect_fail(base_cfg(",\"peers\":[{\"id\":2,\"addr\":\"nohost\",\"identity\":\"" HEX64 "\"}]"),
                "addr");
    expect_fail(base_cfg(",\"peers\":[{\"id\":2,\"addr\":\"h:0\",\"identity\":\"" HEX64 "\"}]"),
                "addr");
    expect_fail("{\"node_id\":1,\"data_dir\":\"d\",\"api\":{\"listen\":\"127.0.0.1:99999\"}}",
                "api.listen");
    expect_fail(base_cfg(",\"log\":{\"level\":\"loud\"}"), "log.level");
    expect_fail(base_cfg(",\"keeper\":{\"byzantine_partials\":1}"), "byzantine_partials");
    expect_fail(base_cfg(",\"keeper\":{\"frost_nonce_ttl_ms\":1}"), "frost_nonce_ttl_ms");
    expect_fail(base_cfg(",\"orchestrator\":{\"keeper_timeout_ms\":0}"), "keeper_timeout_ms");
    expect_fail(base_cfg(",\"orchestrator\":{\"spares\":2}"), "unknown key");
    expect_fail(base_cfg(",\"tokens\":[{\"name\":\"t\",\"sha256\":\"abc\"}]"), "sha256");
    expect_fail("{\"node_id\": 1,", "config.json:");
    expect_fail("[1,2]", "must be a JSON object");
    expect_fail("{\"node_id\":1,\"node_id\":2}", "duplicate");
    expect_fail("{\"data_dir\":\"d\"}", "node_id");
    struct kq_node_config *cfg = calloc(1, sizeof *cfg);
    char why[256];
    assert_int_equal(kq_node_config_load("/nonexistent/kq.json", cfg, why, sizeof why),
                     KQ_ERR_CONFIG);
    assert_non_null(strstr(why, "cannot read"));
    free(cfg);
}

static void test_hostport(void **state)
{
    (void)state;
    char host[64];
    uint16_t port;
    assert_true(kq_parse_hostport("127.0.0.1:8200", false, host, sizeof host, &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8200);
    assert_false(kq_parse_hostport(":80", false, host, sizeof host, &port));
    assert_false(kq_parse_hostport("h:", false, host, sizeof host, &port));
    assert_false(kq_parse_hostport("h:8x", false, host, sizeof host, &port));
    assert_false(kq_parse_hostport("h:0", false, host, sizeof host, &port));
    assert_true(kq_parse_hostport("h:0", true, host, sizeof host, &port));
    assert_false(kq_parse_hostport("h:65536", true, host, sizeof host, &port));
}

static void test_log_lines(void **state)
{
    (void)state;
    char line[4096];
    const struct kq_log_field f[] = {KQ_LS("detail", "quote\" back\\ nl\n \x01 \xc3\xa9"),
                                     KQ_LU("peer", 7), KQ_LI("delta", -3), KQ_LB("ok", true)};
    size_t n = kq_log_format(line, sizeof line, 1700000000123u, KQ_LOG_WARN, "peer_rejected", f, 4);
    assert_int_equal(line[n - 1], '\n');
    json_error_t jerr;
    json_t *j = json_loads(line, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "ts")), "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "event")), "peer_rejected");
    assert_int_equal(json_integer_value(json_object_get(j, "peer")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "delta")), -3);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "quote\" back\\"));
    json_decref(j);
    /* an over-long field is dropped whole and the line marked, still one valid JSON object */
    static char big[8192];
    memset(big, 'a', sizeof big - 1);
    const struct kq_log_field g[] = {KQ_LU("first", 1), KQ_LS("big", big)};
    char small[256];
    n = kq_log_format(small, sizeof small, 0, KQ_LOG_INFO, "x", g, 2);
    assert_true(n < sizeof small);
    j = json_loads(small, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "cut")));
    assert_int_equal(json_integer_value(json_object_get(j, "first")), 1);
    assert_null(json_object_get(j, "big"));
    json_decref(j);
    enum kq_log_level lvl;
    assert_true(kq_log_level_parse("error", &lvl));
    assert_int_equal(lvl, KQ_LOG_ERROR);
    assert_false(kq_log_level_parse("verbose", &lvl));
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/kq-config.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_strictness),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_log_lines),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}
