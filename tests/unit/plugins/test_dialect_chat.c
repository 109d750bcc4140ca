/* Unit tests of the chat dialect's codec (plugins/dialect_chat/chat_codec.c)
 * against the shared stub host (tests/common/stub_host.c): what each chat
 * command submits (type, ref, data), every refusal, and the exact frame of
 * each native reply and event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat_codec.h"
#include "stub_host.h"

static sb_host_api host; /* the shared stub (tests/common/stub_host.c) */
static chat_codec codec;

static int chat_setup(void **state)
{
    (void)state;
    stub_host_init(&host);
    memset(&codec, 0, sizeof codec);
    codec.host = &host;
    return 0;
}

static int chat_teardown(void **state)
{
    (void)state;
    stub_host_reset();
    return 0;
}

/* Decode text from alice's connection 7; returns the status. */
static int decode(const char *text, const char **code, const char **why)
{
    *code = NULL;
    *why = NULL;
    return chat_decode(&codec, 7, "alice", text, strlen(text), code, why);
}

static void assert_submitted(const char *text, const char *type, const char *ref, const char *data)
{
    const char *code, *why;
    stub_host_reset();
    assert_int_equal(decode(text, &code, &why), SB_OK);
    assert_int_equal(stub_seen.submits, 1);
    assert_int_equal(stub_seen.conn_id, 7);
    assert_string_equal(stub_seen.type, type);
    assert_string_equal(stub_seen.ref_text, ref);
    assert_string_equal(stub_seen.data_text, data);
}

static void assert_refused(const char *text, const char *want_code, const char *want_why)
{
    const char *code, *why;
    stub_host_reset();
    assert_int_equal(decode(text, &code, &why), SB_EPROTO);
    assert_int_equal(stub_seen.submits, 0);
    assert_string_equal(code, want_code);
    assert_non_null(strstr(why, want_why));
}

/* Encode {reply, type, ref, data} and compare with want (NULL: nothing sent). */
static void assert_encoded(int reply, const char *type, const char *ref, const char *data,
                           const char *want)
{
    cJSON *r = ref ? cJSON_Parse(ref) : NULL;
    cJSON *d = cJSON_Parse(data);
    sb_encode_in in = {
        .size = sizeof in, .conn_id = 7, .reply = reply, .type = type, .ref = r, .data = d};
    char *out = (char *)1;
    size_t len = 99;
    assert_int_equal(chat_encode(&codec, &in, &out, &len), SB_OK);
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

/* The ref names the command only: the sender's copy is the fan-out's echo. */
static void test_chat_decode_broadcast_ref_names_the_command(void **state)
{
    (void)state;
    assert_submitted("{\"command\":\"broadcast\",\"message\":\"Hello, world!\"}", "broadcast",
                     "{\"command\":\"broadcast\"}", "{\"text\":\"Hello, world!\"}");
}

static void test_chat_decode_list_and_me(void **state)
{
    (void)state;
    assert_submitted("{\"command\":\"list\"}", "list", "{\"command\":\"list\"}", "{}");
    assert_submitted("{\"command\":\"me\",\"extra\":1}", "me", "{\"command\":\"me\"}", "{}");
}

static void test_chat_decode_rooms(void **state)
{
    (void)state;
    assert_submitted("{\"command\":\"join\",\"room\":\"lobby\"}", "join",
                     "{\"command\":\"join\",\"room\":\"lobby\"}", "{\"room\":\"lobby\"}");
    assert_submitted("{\"command\":\"leave\",\"room\":\"lobby\"}", "leave",
                     "{\"command\":\"leave\",\"room\":\"lobby\"}", "{\"room\":\"lobby\"}");
    assert_submitted("{\"command\":\"members\",\"room\":\"lobby\"}", "members",
                     "{\"command\":\"members\",\"room\":\"lobby\"}", "{\"room\":\"lobby\"}");
    /* members pages as the native one does: after and limit pass as they are. */
    assert_submitted("{\"command\":\"members\",\"room\":\"lobby\",\"after\":\"bob\",\"limit\":2}",
                     "members", "{\"command\":\"members\",\"room\":\"lobby\"}",
                     "{\"room\":\"lobby\",\"after\":\"bob\",\"limit\":2}");
    assert_submitted("{\"command\":\"publish\",\"room\":\"lobby\",\"message\":\"hi\"}", "publish",
                     "{\"command\":\"publish\",\"room\":\"lobby\"}",
                     "{\"room\":\"lobby\",\"text\":\"hi\"}");
}

static void test_chat_decode_refusals(void **state)
{
    (void)state;
    assert_refused("{", "bad_json", "not JSON");
    assert_refused("[1,2]", "bad_json", "JSON object");
    assert_refused("\"broadcast\"", "bad_json", "JSON object");
    assert_refused("{}", "bad_request", "command");
    assert_refused("{\"command\":5}", "bad_request", "command");
    assert_refused("{\"Command\":\"list\"}", "bad_request", "command");
    assert_refused("{\"command\":\"dance\"}", "bad_request", "unknown command \"dance\"");
    assert_refused("{\"command\":\"broadcast\"}", "bad_request", "message");
    assert_refused("{\"command\":\"broadcast\",\"message\":\"\"}", "bad_request", "message");
    assert_refused("{\"command\":\"broadcast\",\"message\":{\"a\":1}}", "bad_request", "message");
    assert_refused("{\"command\":\"join\"}", "bad_request", "room");
    assert_refused("{\"command\":\"join\",\"room\":3}", "bad_request", "room");
    assert_refused("{\"command\":\"publish\",\"room\":\"r\"}", "bad_request", "message");
    assert_refused("{\"command\":\"publish\",\"message\":\"m\"}", "bad_request", "room");
}

static void test_chat_decode_long_unknown_command_is_cut(void **state)
{
    (void)state;
    char text[400];
    snprintf(text, sizeof text, "{\"command\":\"%0300d\"}", 0);
    const char *code, *why;
    assert_int_equal(decode(text, &code, &why), SB_EPROTO);
    assert_true(strlen(why) < CHAT_WHY_MAX);
}

/* An ack has no chat form: the sender's copy of a broadcast or publication
 * is the fan-out's own frame (SB_ENDPOINT_ECHO). */
static void test_chat_encode_ack_is_nothing(void **state)
{
    (void)state;
    assert_encoded(1, "ack", "{\"command\":\"broadcast\"}", "{\"id\":\"01HF\",\"ts\":1}", NULL);
    assert_encoded(1, "ack", "{\"command\":\"publish\",\"room\":\"lobby\"}",
                   "{\"id\":\"01HF\",\"ts\":1}", NULL);
    assert_encoded(1, "ack", NULL, "{\"id\":\"01HF\",\"ts\":1}", NULL);
    assert_encoded(1, "ack", "{\"command\":\"list\"}", "{\"id\":\"01HF\",\"ts\":1}", NULL);
}

static void test_chat_encode_errors(void **state)
{
    (void)state;
    assert_encoded(1, "error", "{\"command\":\"broadcast\"}",
                   "{\"code\":\"forbidden\",\"message\":\"no shouting\"}",
                   "{\"event\":\"error\",\"message\":\"no shouting\",\"code\":\"forbidden\","
                   "\"command\":\"broadcast\"}");
    assert_encoded(1, "error", NULL, "{\"code\":\"bad_json\",\"message\":\"not JSON\"}",
                   "{\"event\":\"error\",\"message\":\"not JSON\",\"code\":\"bad_json\"}");
}

static void test_chat_encode_replies(void **state)
{
    (void)state;
    assert_encoded(1, "list", "{\"command\":\"list\"}", "{\"users\":[\"alice\",\"bob\"]}",
                   "{\"event\":\"list\",\"members\":[\"alice\",\"bob\"]}");
    assert_encoded(1, "me", "{\"command\":\"me\"}",
                   "{\"user\":\"alice\",\"conn\":\"12\",\"rooms\":[],\"since\":5}",
                   "{\"event\":\"me\",\"member\":\"alice\",\"id\":\"12\",\"rooms\":[]}");
    assert_encoded(1, "join", NULL, "{\"room\":\"lobby\",\"users\":[\"alice\"]}",
                   "{\"event\":\"join\",\"room\":\"lobby\",\"members\":[\"alice\"]}");
    assert_encoded(1, "members", NULL, "{\"room\":\"lobby\",\"users\":[]}",
                   "{\"event\":\"members\",\"room\":\"lobby\",\"members\":[]}");
    /* A room over [rooms] presence_limit: join lists nobody and says so;
     * members pages. */
    assert_encoded(1, "join", NULL, "{\"room\":\"big\",\"users\":[],\"presence\":false}",
                   "{\"event\":\"join\",\"room\":\"big\",\"members\":[],\"presence\":false}");
    assert_encoded(1, "members", NULL, "{\"room\":\"big\",\"users\":[\"a\",\"b\"],\"more\":true}",
                   "{\"event\":\"members\",\"room\":\"big\",\"members\":[\"a\",\"b\"],"
                   "\"more\":true}");
    assert_encoded(1, "leave", NULL, "{\"room\":\"lobby\"}",
                   "{\"event\":\"leave\",\"room\":\"lobby\"}");
    assert_encoded(1, "pong", NULL, "{\"ts\":1}", NULL);
}

static void test_chat_encode_broadcast_event_text_or_data(void **state)
{
    (void)state;
    assert_encoded(0, "broadcast", NULL,
                   "{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":1,\"text\":\"yo\",\"x\":1}",
                   "{\"event\":\"broadcast\",\"member\":\"bob\",\"message\":\"yo\"}");
    assert_encoded(0, "broadcast", NULL,
                   "{\"id\":\"01HF\",\"from\":\"server\",\"ts\":1,\"title\":\"t\",\"n\":[1]}",
                   "{\"event\":\"broadcast\",\"member\":\"server\",\"message\":{\"title\":\"t\","
                   "\"n\":[1]}}");
    assert_encoded(0, "broadcast", NULL, "{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":1}",
                   "{\"event\":\"broadcast\",\"member\":\"bob\",\"message\":{}}");
}

/* An event as its data text (SB_ENDPOINT_EVENT_TEXT): want, from the text
 * the host printed and from text it did not (the tree's way); spans: the
 * printed text's frame is written from its spans, into the lent buffer. */
static void assert_encoded_text(const char *type, const char *data, const char *want, int spans)
{
    static char scratch[256];
    for (int printed = 0; printed < 2; printed++) {
        sb_encode_in in = {.size = sizeof in,
                           .conn_id = 7,
                           .type = type,
                           .data_json = data,
                           .data_len = strlen(data),
                           .data_printed = printed,
                           .scratch = scratch,
                           .scratch_cap = sizeof scratch};
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(chat_encode(&codec, &in, &out, &len), SB_OK);
        assert_non_null(out);
        assert_int_equal(len, strlen(want));
        assert_string_equal(out, want);
        assert_int_equal(out == scratch, printed && spans);
        if (out != scratch)
            free(out);
    }
}

static void test_chat_encode_events_from_text(void **state)
{
    (void)state;
    assert_encoded_text("broadcast", "{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":17,\"text\":\"yo\"}",
                        "{\"event\":\"broadcast\",\"member\":\"bob\",\"message\":\"yo\"}", 1);
    /* escapes stay as printed; a quote after a backslash pair ends the string */
    assert_encoded_text(
        "publish",
        "{\"id\":\"01HF\",\"from\":\"bob\",\"room\":\"l\\\"o\",\"ts\":1,\"text\":\"a\\\\\"}",
        "{\"event\":\"publish\",\"room\":\"l\\\"o\",\"member\":\"bob\",\"message\":\"a\\\\\"}", 1);
    /* other shapes go the tree's way, to the same frames */
    assert_encoded_text("broadcast",
                        "{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":1,\"text\":\"yo\",\"x\":1}",
                        "{\"event\":\"broadcast\",\"member\":\"bob\",\"message\":\"yo\"}", 0);
    assert_encoded_text("broadcast", "{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":1,\"text\":5}",
                        "{\"event\":\"broadcast\",\"member\":\"bob\",\"message\":5}", 0);
    assert_encoded_text("presence", "{\"room\":\"lobby\",\"user\":\"bob\",\"event\":\"join\"}",
                        "{\"event\":\"presence\",\"room\":\"lobby\",\"member\":\"bob\","
                        "\"action\":\"join\"}",
                        0);
}

static void test_chat_encode_room_events(void **state)
{
    (void)state;
    assert_encoded(0, "publish", NULL,
                   "{\"id\":\"01HF\",\"from\":\"bob\",\"room\":\"lobby\",\"ts\":1,\"text\":\"yo\"}",
                   "{\"event\":\"publish\",\"room\":\"lobby\",\"member\":\"bob\","
                   "\"message\":\"yo\"}");
    assert_encoded(0, "presence", NULL, "{\"room\":\"lobby\",\"user\":\"bob\",\"event\":\"join\"}",
                   "{\"event\":\"presence\",\"room\":\"lobby\",\"member\":\"bob\","
                   "\"action\":\"join\"}");
    /* The join that crosses presence_limit: the last presence until it resumes. */
    assert_encoded(0, "presence", NULL,
                   "{\"room\":\"big\",\"user\":\"bob\",\"event\":\"join\",\"presence\":false}",
                   "{\"event\":\"presence\",\"room\":\"big\",\"member\":\"bob\","
                   "\"action\":\"join\",\"presence\":false}");
}

static void test_chat_encode_drops_direct_messages(void **state)
{
    (void)state;
    assert_encoded(0, "message", NULL,
                   "{\"id\":\"01HF\",\"from\":\"bob\",\"to\":\"alice\",\"ts\":1,\"text\":\"x\"}",
                   NULL);
    assert_encoded(0, "receipt", NULL, "{\"id\":\"01HF\",\"by\":\"bob\",\"status\":\"read\"}",
                   NULL);
}

static void test_chat_encode_uses_the_hosts_printer(void **state)
{
    (void)state;
    stub_seen.prints = 0;
    cJSON *d = cJSON_Parse("{\"id\":\"01HF\",\"from\":\"bob\",\"ts\":1,\"text\":\"x\"}");
    sb_encode_in in = {.size = sizeof in, .type = "broadcast", .data = d};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(chat_encode(&codec, &in, &out, &len), SB_OK);
    assert_int_equal(stub_seen.prints, 1);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    free(out);
    cJSON_Delete(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chat_decode_broadcast_ref_names_the_command,
                                        chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_decode_list_and_me, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_decode_rooms, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_decode_refusals, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_decode_long_unknown_command_is_cut, chat_setup,
                                        chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_ack_is_nothing, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_errors, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_replies, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_broadcast_event_text_or_data, chat_setup,
                                        chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_events_from_text, chat_setup,
                                        chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_room_events, chat_setup, chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_drops_direct_messages, chat_setup,
                                        chat_teardown),
        cmocka_unit_test_setup_teardown(test_chat_encode_uses_the_hosts_printer, chat_setup,
                                        chat_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
