/* Unit tests of the notify dialect's codec (plugins/dialect_notify/
 * notify_codec.c) against the shared stub host (tests/common/stub_host.c):
 * what enter and leave submit, every refusal, the notification built from
 * each native event, the error frame, and the inbox removal of a delivered
 * direct message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify_codec.h"
#include "stub_host.h"

/* What the store saw (the rest is the shared stub's, stub_seen). */
static struct {
    int removes;
    char remove_user[80];
    char remove_id[40];
    sb_store_removed_fn remove_done;
    void *remove_arg;
    int remove_rc; /* what store_remove returns */
} fake;

static int fake_store_remove(sb_plugin_ctx *pc, const char *user, const char *const *ids,
                             size_t n_ids, sb_store_removed_fn done, void *arg)
{
    (void)pc;
    assert_int_equal(n_ids, 1);
    fake.removes++;
    snprintf(fake.remove_user, sizeof fake.remove_user, "%s", user);
    snprintf(fake.remove_id, sizeof fake.remove_id, "%s", ids[0]);
    fake.remove_done = done;
    fake.remove_arg = arg;
    return fake.remove_rc;
}

static sb_host_api host; /* the shared stub (tests/common/stub_host.c) */
static notify_codec *codec;

static int notify_setup(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof fake);
    stub_host_init(&host);
    host.store_remove = fake_store_remove;
    codec = calloc(1, sizeof *codec);
    codec->host = &host;
    return 0;
}

static int notify_teardown(void **state)
{
    (void)state;
    stub_host_reset();
    if (codec)
        notify_codec_release(codec);
    return 0;
}

static void assert_submitted(const char *text, const char *type, const char *ref, const char *data)
{
    const char *code = NULL, *why = NULL;
    stub_host_reset();
    assert_int_equal(notify_decode(codec, 3, "u1", text, strlen(text), &code, &why), SB_OK);
    assert_int_equal(stub_seen.submits, 1);
    assert_string_equal(stub_seen.type, type);
    assert_string_equal(stub_seen.ref_text, ref);
    assert_string_equal(stub_seen.data_text, data);
}

static void assert_refused(const char *text, const char *want_code, const char *want_why)
{
    const char *code = NULL, *why = NULL;
    stub_host_reset();
    assert_int_equal(notify_decode(codec, 3, "u1", text, strlen(text), &code, &why), SB_EPROTO);
    assert_int_equal(stub_seen.submits, 0);
    assert_string_equal(code, want_code);
    assert_non_null(strstr(why, want_why));
}

static void assert_encoded(int reply, const char *type, const char *ref, const char *data,
                           const char *want)
{
    cJSON *r = ref ? cJSON_Parse(ref) : NULL;
    cJSON *d = cJSON_Parse(data);
    sb_encode_in in = {
        .size = sizeof in, .conn_id = 3, .reply = reply, .type = type, .ref = r, .data = d};
    char *out = (char *)1;
    size_t len = 99;
    assert_int_equal(notify_encode(codec, &in, &out, &len), SB_OK);
    if (!want) {
        assert_null(out);
        assert_int_equal(len, 0);
    } else {
        assert_non_null(out);
        assert_int_equal(len, strlen(want));
        assert_string_equal(out, want);
    }
    free(out);
    cJSON_Delete(r);
    cJSON_Delete(d);
}

static void test_notify_decode_enter_and_leave(void **state)
{
    (void)state;
    assert_submitted("{ \"action\": \"enter\", \"room\": \"order-updates\" }", "join",
                     "{\"action\":\"enter\",\"room\":\"order-updates\"}",
                     "{\"room\":\"order-updates\"}");
    assert_submitted("{\"room\":\"order-updates\",\"action\":\"leave\",\"x\":[]}", "leave",
                     "{\"action\":\"leave\",\"room\":\"order-updates\"}",
                     "{\"room\":\"order-updates\"}");
}

static void test_notify_decode_refusals(void **state)
{
    (void)state;
    assert_refused("nope", "bad_json", "not JSON");
    assert_refused("[]", "bad_json", "JSON object");
    assert_refused("{}", "bad_request", "action");
    assert_refused("{\"action\":1,\"room\":\"r\"}", "bad_request", "action");
    assert_refused("{\"action\":\"Enter\",\"room\":\"r\"}", "bad_request",
                   "unknown action \"Enter\"");
    assert_refused("{\"action\":\"enter\"}", "bad_request", "room");
    assert_refused("{\"action\":\"leave\",\"room\":null}", "bad_request", "room");
}

static void test_notify_encode_grpc_shaped_publish(void **state)
{
    (void)state;
    assert_encoded(0, "publish", NULL,
                   "{\"id\":\"01HF\",\"from\":\"server\",\"room\":\"order-updates\",\"ts\":1,"
                   "\"type\":\"TYPE_INFO\",\"entityId\":\"order-123\","
                   "\"message\":\"Your order has shipped!\"}",
                   "{\"type\":\"TYPE_INFO\",\"entityId\":\"order-123\","
                   "\"message\":\"Your order has shipped!\",\"room\":\"order-updates\","
                   "\"from\":\"server\"}");
}

static void test_notify_encode_native_events(void **state)
{
    (void)state;
    assert_encoded(0, "publish", NULL,
                   "{\"id\":\"01HF\",\"from\":\"alice\",\"room\":\"r\",\"ts\":1,\"text\":\"hi\"}",
                   "{\"type\":\"TYPE_INFO\",\"entityId\":\"01HF\",\"message\":\"hi\","
                   "\"room\":\"r\",\"from\":\"alice\"}");
    assert_encoded(0, "broadcast", NULL,
                   "{\"id\":\"01HG\",\"from\":\"alice\",\"ts\":1,\"a\":{\"b\":2},\"n\":1.5}",
                   "{\"type\":\"TYPE_INFO\",\"entityId\":\"01HG\",\"message\":{\"a\":{\"b\":2},"
                   "\"n\":1.5},\"from\":\"alice\"}");
    assert_encoded(0, "message", NULL,
                   "{\"id\":\"01HH\",\"from\":\"bob\",\"to\":\"u1\",\"ts\":1,\"type\":\"TYPE_"
                   "WARNING\",\"text\":\"t\"}",
                   "{\"type\":\"TYPE_WARNING\",\"entityId\":\"01HH\",\"message\":\"t\","
                   "\"from\":\"bob\"}");
    /* A non-string entityId is not an entity id: the message id stands in. */
    assert_encoded(0, "broadcast", NULL,
                   "{\"id\":\"01HJ\",\"from\":\"a\",\"ts\":1,\"entityId\":5,\"message\":{\"k\":1}}",
                   "{\"type\":\"TYPE_INFO\",\"entityId\":\"01HJ\",\"message\":{\"k\":1},"
                   "\"from\":\"a\"}");
}

static void test_notify_encode_drops_the_rest(void **state)
{
    (void)state;
    assert_encoded(0, "presence", NULL, "{\"room\":\"r\",\"user\":\"b\",\"event\":\"join\"}", NULL);
    assert_encoded(0, "receipt", NULL, "{\"id\":\"1\",\"by\":\"b\",\"status\":\"read\"}", NULL);
    assert_encoded(1, "join", "{\"action\":\"enter\",\"room\":\"r\"}",
                   "{\"room\":\"r\",\"users\":[\"u1\"]}", NULL);
    assert_encoded(1, "leave", "{\"action\":\"leave\",\"room\":\"r\"}", "{\"room\":\"r\"}", NULL);
}

static void test_notify_encode_errors(void **state)
{
    (void)state;
    assert_encoded(1, "error", "{\"action\":\"enter\",\"room\":\"vip\"}",
                   "{\"code\":\"forbidden\",\"message\":\"members only\"}",
                   "{\"type\":\"error\",\"code\":\"forbidden\",\"message\":\"members only\","
                   "\"action\":\"enter\",\"room\":\"vip\"}");
    assert_encoded(1, "error", NULL, "{\"code\":\"bad_json\",\"message\":\"not JSON\"}",
                   "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"not JSON\"}");
}

static void test_notify_delivered_removes_from_inbox(void **state)
{
    (void)state;
    notify_delivered(codec, 3, "u1", "01HFAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(fake.removes, 1);
    assert_string_equal(fake.remove_user, "u1");
    assert_string_equal(fake.remove_id, "01HFAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(codec->removing, 1);
    fake.remove_done(fake.remove_arg, SB_OK, NULL, 0);
    assert_int_equal(codec->removing, 0);
}

static void test_notify_release_waits_for_removals(void **state)
{
    (void)state;
    notify_delivered(codec, 3, "u1", "01HFAAAAAAAAAAAAAAAAAAAAAA");
    notify_codec_release(codec);
    codec = NULL; /* freed by the completion below (ASan would see a leak or a double free) */
    fake.remove_done(fake.remove_arg, SB_EUNAVAILABLE, NULL, 0);
}

static void test_notify_delivered_refused_by_store(void **state)
{
    (void)state;
    fake.remove_rc = SB_EUNAVAILABLE;
    notify_delivered(codec, 3, "u1", "01HFAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(codec->removing, 0);
}

static void test_notify_encode_uses_the_hosts_printer(void **state)
{
    (void)state;
    stub_seen.prints = 0;
    cJSON *d = cJSON_Parse("{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":1,\"text\":\"x\"}");
    sb_encode_in in = {.size = sizeof in, .type = "broadcast", .data = d};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(notify_encode(codec, &in, &out, &len), SB_OK);
    assert_int_equal(stub_seen.prints, 1);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    free(out);
    cJSON_Delete(d);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, notify_setup, notify_teardown)
    const struct CMUnitTest tests[] = {
        T(test_notify_decode_enter_and_leave),       T(test_notify_decode_refusals),
        T(test_notify_encode_grpc_shaped_publish),   T(test_notify_encode_native_events),
        T(test_notify_encode_drops_the_rest),        T(test_notify_encode_errors),
        T(test_notify_delivered_removes_from_inbox), T(test_notify_release_waits_for_removals),
        T(test_notify_delivered_refused_by_store),   T(test_notify_encode_uses_the_hosts_printer),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
