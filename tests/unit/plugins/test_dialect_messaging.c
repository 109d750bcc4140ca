/* Unit tests of dialect_messaging's codec: 001 ids as text, frames planned
 * into native messages and read items (with every refusal), the item a 001
 * recipient gets back exactly as written, native messages shown in 001
 * shape, replies turned into the sent / errors / read sections, and the
 * matching of read ids against stored messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "messaging_codec.h"
#include "stub_host.h"

#define SRV_ID "01HF0000000000000000000000"

/* The client_id rules of docs/protocol.md section 1. */
static int fake_user_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strcmp(s, "0") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@:-", s[i]))
            return 0;
    return 1;
}

static char *print_delete(cJSON *j)
{
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static void assert_json(const cJSON *j, const char *want)
{
    assert_non_null(j);
    char *got = cJSON_PrintUnformatted(j);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
}

static messaging_plan decode_ok(const char *text, const char *user)
{
    cJSON *frame = cJSON_Parse(text);
    assert_non_null(frame);
    messaging_plan plan;
    assert_int_equal(messaging_decode(frame, user, 100, fake_user_valid, &plan), MESSAGING_OK);
    cJSON_Delete(frame);
    return plan;
}

static cJSON *encode_event(const cJSON *data, const char *user)
{
    cJSON *out = NULL;
    assert_int_equal(messaging_encode(0, "message", NULL, data, user, &out), MESSAGING_OK);
    return out;
}

static cJSON *encode_reply(const char *type, const char *ref, const char *data)
{
    cJSON *r = ref ? cJSON_Parse(ref) : NULL;
    cJSON *d = cJSON_Parse(data);
    cJSON *out = NULL;
    assert_int_equal(messaging_encode(1, type, r, d, NULL, &out), MESSAGING_OK);
    cJSON_Delete(r);
    cJSON_Delete(d);
    return out;
}

/* --- ids as text ---------------------------------------------------------- */

static void test_messaging_id_text_strings_and_integers(void **state)
{
    (void)state;
    char out[MESSAGING_ID_MAX + 1];
    const char *ok[][2] = {{"11", "11"},
                           {"\"11\"", "11"},
                           {"11.0", "11"},
                           {"-5", "-5"},
                           {"-0", "0"},
                           {"\"a b\"", "a b"},
                           {"9007199254740991", "9007199254740991"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cJSON *v = cJSON_Parse(ok[i][0]);
        assert_int_equal(messaging_id_text(v, out), 0);
        assert_string_equal(out, ok[i][1]);
        cJSON_Delete(v);
    }
    const char *bad[] = {"1.5", "9007199254740992", "1e300", "\"\"", "true", "null", "[1]", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *v = cJSON_Parse(bad[i]);
        assert_int_equal(messaging_id_text(v, out), -1);
        cJSON_Delete(v);
    }
    assert_int_equal(messaging_id_text(NULL, out), -1);
    char longest[MESSAGING_ID_MAX + 2];
    memset(longest, 'x', MESSAGING_ID_MAX);
    longest[MESSAGING_ID_MAX] = '\0';
    cJSON *v = cJSON_CreateString(longest);
    assert_int_equal(messaging_id_text(v, out), 0);
    cJSON_Delete(v);
    longest[MESSAGING_ID_MAX] = 'x';
    longest[MESSAGING_ID_MAX + 1] = '\0';
    v = cJSON_CreateString(longest);
    assert_int_equal(messaging_id_text(v, out), -1);
    cJSON_Delete(v);
}

/* --- decoding ------------------------------------------------------------- */

static void test_messaging_decode_seed_example(void **state)
{
    (void)state;
    messaging_plan plan =
        decode_ok("{\"send\":[{\"id\":11,\"rid\":31,\"sid\":21,\"text\":\"hello\"},"
                  "{\"id\":12,\"rid\":32,\"sid\":21,\"url\":\"https://web.com/pic.png\"}],"
                  "\"read\":[{\"id\":1},{\"id\":2},{\"id\":3}]}",
                  "21");
    assert_json(plan.sends, "[{\"to\":\"31\",\"msg_id\":11,\"rid\":31,\"sid\":21,\"text\":"
                            "\"hello\"},{\"to\":\"32\",\"msg_id\":12,\"rid\":32,\"sid\":21,"
                            "\"url\":\"https://web.com/pic.png\"}]");
    assert_json(plan.reads, "[{\"as\":[\"1\"],\"id\":\"1\"},{\"as\":[\"2\"],\"id\":\"2\"},{\"as\":["
                            "\"3\"],\"id\":\"3\"}]");
    assert_null(plan.errors);
    messaging_plan_free(&plan);
    assert_null(plan.sends);
}

static void test_messaging_decode_not_an_object(void **state)
{
    (void)state;
    const char *texts[] = {"[]", "1", "\"send\"", "null"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *frame = cJSON_Parse(texts[i]);
        messaging_plan plan;
        assert_int_equal(messaging_decode(frame, "21", 100, fake_user_valid, &plan),
                         MESSAGING_NOT_OBJECT);
        assert_null(plan.sends);
        cJSON_Delete(frame);
    }
}

static void test_messaging_decode_ignores_unknown_sections(void **state)
{
    (void)state;
    messaging_plan plan = decode_ok("{\"messages\":[{\"id\":1}],\"Send\":5,\"x\":{}}", "21");
    assert_null(plan.sends);
    assert_null(plan.reads);
    assert_null(plan.errors);
    messaging_plan_free(&plan);
}

static void test_messaging_decode_ids_compared_as_text(void **state)
{
    (void)state;
    /* sid "21" and 21 are the same id; rid as a string is kept a string. */
    messaging_plan plan = decode_ok("{\"send\":[{\"id\":\"a\",\"sid\":\"21\",\"rid\":\"bob\"},"
                                    "{\"id\":7,\"sid\":21.0,\"rid\":-3}]}",
                                    "21");
    assert_json(plan.sends, "[{\"to\":\"bob\",\"msg_id\":\"a\",\"sid\":\"21\",\"rid\":\"bob\"},"
                            "{\"to\":\"-3\",\"msg_id\":7,\"sid\":21,\"rid\":-3}]");
    /* the ref a message is submitted with: its id when numeric, else {send} */
    cJSON *owned = NULL;
    const cJSON *ref = messaging_send_ref(cJSON_GetArrayItem(plan.sends, 0), &owned);
    assert_non_null(owned);
    assert_json(ref, "{\"send\":\"a\"}");
    cJSON_Delete(owned);
    ref = messaging_send_ref(cJSON_GetArrayItem(plan.sends, 1), &owned);
    assert_null(owned);
    assert_json(ref, "7");
    assert_null(plan.errors);
    messaging_plan_free(&plan);
}

static void test_messaging_decode_refuses_bad_items_keeps_others(void **state)
{
    (void)state;
    messaging_plan plan =
        decode_ok("{\"send\":[5,{\"sid\":21,\"rid\":31},{\"id\":1.5,\"sid\":21,\"rid\":31},"
                  "{\"id\":2,\"rid\":31},{\"id\":3,\"sid\":22,\"rid\":31},{\"id\":4,\"sid\":21},"
                  "{\"id\":5,\"sid\":21,\"rid\":0},{\"id\":6,\"sid\":21,\"rid\":\"a b\"},"
                  "{\"id\":7,\"sid\":21,\"rid\":true},{\"id\":8,\"sid\":21,\"rid\":31}],"
                  "\"read\":[{\"id\":9},{\"x\":1},[],{\"id\":10,\"sid\":{}}]}",
                  "21");
    assert_json(plan.sends, "[{\"to\":\"31\",\"msg_id\":8,\"sid\":21,\"rid\":31}]");
    assert_json(plan.reads, "[{\"as\":[\"9\"],\"id\":\"9\"}]");
    const char *msg = "must be a string (1-256 bytes) or an integer";
    char want[2048];
    snprintf(
        want, sizeof(want),
        "["
        "{\"code\":\"bad_request\",\"message\":\"a message must be an object\",\"section\":"
        "\"send\"},"
        "{\"code\":\"bad_request\",\"message\":\"id %s\",\"section\":\"send\"},"
        "{\"code\":\"bad_request\",\"message\":\"id %s\",\"section\":\"send\"},"
        "{\"id\":[\"2\"],\"code\":\"bad_request\",\"message\":\"sid %s\",\"section\":\"send\"},"
        "{\"id\":[\"3\"],\"code\":\"bad_request\",\"message\":\"sid 22 is not your client_id "
        "21\",\"section\":\"send\"},"
        "{\"id\":[\"4\"],\"code\":\"bad_request\",\"message\":\"rid %s\",\"section\":\"send\"},"
        "{\"id\":[\"5\"],\"code\":\"bad_request\",\"message\":\"rid 0 is not a valid "
        "client_id\",\"section\":\"send\"},"
        "{\"id\":[\"6\"],\"code\":\"bad_request\",\"message\":\"rid a b is not a valid "
        "client_id\",\"section\":\"send\"},"
        "{\"id\":[\"7\"],\"code\":\"bad_request\",\"message\":\"rid %s\",\"section\":\"send\"},"
        "{\"code\":\"bad_request\",\"message\":\"id %s\",\"section\":\"read\"},"
        "{\"code\":\"bad_request\",\"message\":\"a read item must be an object\","
        "\"section\":\"read\"},"
        "{\"id\":[\"10\"],\"code\":\"bad_request\",\"message\":\"sid %s\",\"section\":\"read\"}"
        "]",
        msg, msg, msg, msg, msg, msg, msg);
    assert_json(plan.errors, want);
    messaging_plan_free(&plan);
}

static void test_messaging_decode_sections_not_arrays(void **state)
{
    (void)state;
    messaging_plan plan = decode_ok("{\"send\":{\"id\":1},\"read\":null}", "21");
    assert_null(plan.sends);
    assert_null(plan.reads);
    assert_json(plan.errors, "[{\"code\":\"bad_request\",\"message\":\"send must be an array\","
                             "\"section\":\"send\"},{\"code\":\"bad_request\",\"message\":\"read "
                             "must be an array\",\"section\":\"read\"}]");
    messaging_plan_free(&plan);
}

static void test_messaging_decode_max_items(void **state)
{
    (void)state;
    cJSON *frame = cJSON_Parse("{\"send\":[{\"id\":1,\"sid\":21,\"rid\":2},{\"id\":2,\"sid\":21,"
                               "\"rid\":2},{\"id\":3,\"sid\":21,\"rid\":2},{\"x\":0}],"
                               "\"read\":[{\"id\":1},{\"id\":2},{\"id\":3}]}");
    messaging_plan plan;
    assert_int_equal(messaging_decode(frame, "21", 2, fake_user_valid, &plan), MESSAGING_OK);
    cJSON_Delete(frame);
    assert_int_equal(cJSON_GetArraySize(plan.sends), 2);
    assert_int_equal(cJSON_GetArraySize(plan.reads), 2);
    assert_json(
        plan.errors,
        "[{\"id\":[\"3\"],\"code\":\"bad_request\",\"message\":\"at most 2 items in one send "
        "section\",\"section\":\"send\"},{\"code\":\"bad_request\",\"message\":\"at most "
        "2 items in one send section\",\"section\":\"send\"},{\"id\":[\"3\"],\"code\":"
        "\"bad_request\",\"message\":\"at most 2 items in one read section\",\"section\":"
        "\"read\"}]");
    messaging_plan_free(&plan);
}

/* --- a 001 message comes back as written ------------------------------------ */

static void round_trip(const char *item_text)
{
    char frame_text[1024];
    snprintf(frame_text, sizeof(frame_text), "{\"send\":[%s]}", item_text);
    messaging_plan plan = decode_ok(frame_text, "21");
    assert_null(plan.errors);
    const cJSON *data = cJSON_GetArrayItem(plan.sends, 0);
    cJSON *stamped = stub_host_stamped_new(data, SRV_ID, "21");
    messaging_plan_free(&plan);

    cJSON *frame = encode_event(stamped, "31");
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(frame, "messages"), 0);
    cJSON *want = cJSON_Parse(item_text);
    if (!cJSON_Compare(item, want, 1)) {
        char *got = cJSON_PrintUnformatted(item);
        fail_msg("got %s\nwant %s", got, item_text);
    }
    /* the shown id is the sender's own */
    char shown[MESSAGING_ID_MAX + 1], idt[MESSAGING_ID_MAX + 1];
    messaging_shown_id(stamped, SRV_ID, shown);
    assert_int_equal(messaging_id_text(cJSON_GetObjectItemCaseSensitive(want, "id"), idt), 0);
    assert_string_equal(shown, idt);
    cJSON_Delete(want);
    cJSON_Delete(frame);
    cJSON_Delete(stamped);
}

static void test_messaging_encode_001_message_as_written(void **state)
{
    (void)state;
    round_trip("{\"id\":15,\"rid\":31,\"sid\":21,\"text\":\"hello\"}");
    round_trip(
        "{\"id\":\"x-1\",\"rid\":\"31\",\"sid\":\"21\",\"n\":1.5,\"deep\":{\"a\":[1,null]}}");
    round_trip("{\"id\":1,\"rid\":31,\"sid\":21,\"from\":\"me\",\"to\":[1],\"ts\":0,"
               "\"msg_id\":\"m\",\"msg_extra\":{\"x\":1},\"text\":\"t\"}");
}

static void test_messaging_encode_exact_order(void **state)
{
    (void)state;
    messaging_plan plan = decode_ok("{\"send\":[{\"id\":14,\"rid\":31,\"sid\":21,"
                                    "\"url\":\"https://web.com/pic.png\"}]}",
                                    "21");
    cJSON *stamped = stub_host_stamped_new(cJSON_GetArrayItem(plan.sends, 0), SRV_ID, "21");
    messaging_plan_free(&plan);
    char *text = print_delete(encode_event(stamped, "31"));
    assert_string_equal(text, "{\"messages\":[{\"id\":14,\"rid\":31,\"sid\":21,"
                              "\"url\":\"https://web.com/pic.png\"}]}");
    free(text);
    cJSON_Delete(stamped);
}

static void test_messaging_encode_native_message(void **state)
{
    (void)state;
    cJSON *data =
        cJSON_Parse("{\"id\":\"" SRV_ID "\",\"from\":\"alice\",\"to\":[\"bob\",\"carol\"],"
                    "\"ts\":5,\"text\":\"hi\",\"sid\":\"x\",\"rid\":\"y\"}");
    char *text = print_delete(encode_event(data, "bob"));
    assert_string_equal(text, "{\"messages\":[{\"id\":\"" SRV_ID "\",\"sid\":\"alice\","
                              "\"rid\":\"bob\",\"ts\":5,\"text\":\"hi\"}]}");
    free(text);
    char shown[MESSAGING_ID_MAX + 1];
    messaging_shown_id(data, SRV_ID, shown);
    assert_string_equal(shown, SRV_ID);
    cJSON_Delete(data);
}

static void test_messaging_encode_spoofed_sid_shown_native(void **state)
{
    (void)state;
    /* A native client cannot pass its message off as another user's. */
    cJSON *data = cJSON_Parse("{\"id\":\"" SRV_ID "\",\"from\":\"mallory\",\"to\":\"31\",\"ts\":5,"
                              "\"msg_id\":11,\"sid\":21,\"rid\":31,\"text\":\"hi\"}");
    char *text = print_delete(encode_event(data, "31"));
    assert_string_equal(text, "{\"messages\":[{\"id\":\"" SRV_ID "\",\"sid\":\"mallory\","
                              "\"rid\":\"31\",\"ts\":5,\"msg_id\":11,\"text\":\"hi\"}]}");
    free(text);
    cJSON_Delete(data);
}

static void test_messaging_encode_other_events_dropped(void **state)
{
    (void)state;
    cJSON *data = cJSON_Parse("{\"id\":\"x\",\"from\":\"a\",\"ts\":1,\"text\":\"hi\"}");
    const char *types[] = {"broadcast", "publish", "presence", "receipt"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *out = (cJSON *)1;
        assert_int_equal(messaging_encode(0, types[i], NULL, data, NULL, &out), MESSAGING_OK);
        assert_null(out);
    }
    cJSON_Delete(data);
}

/* --- replies ---------------------------------------------------------------- */

static void test_messaging_encode_ack_and_error_of_send(void **state)
{
    (void)state;
    char *t = print_delete(encode_reply("ack", "11", "{\"id\":\"x\",\"ts\":1}"));
    assert_string_equal(t, "{\"sent\":[{\"id\":11}]}");
    free(t);
    t = print_delete(encode_reply("ack", "{\"send\":\"11\"}", "{\"id\":\"x\",\"ts\":1}"));
    assert_string_equal(t, "{\"sent\":[{\"id\":\"11\"}]}");
    free(t);
    t = print_delete(encode_reply("error", "11", "{\"code\":\"forbidden\",\"message\":\"no\"}"));
    assert_string_equal(t, "{\"errors\":[{\"id\":11,\"code\":\"forbidden\",\"message\":\"no\","
                           "\"section\":\"send\"}]}");
    free(t);
}

static void test_messaging_ack_text_numeric_ids_only(void **state)
{
    (void)state;
    char buf[64];
    cJSON *ref = cJSON_Parse("-9007199254740991");
    assert_int_equal(messaging_ack_text(ref, buf, sizeof(buf)), 35);
    assert_string_equal(buf, "{\"sent\":[{\"id\":-9007199254740991}]}");
    assert_int_equal(messaging_ack_text(ref, buf, 20), -1);
    cJSON_Delete(ref);
    const char *others[] = {"{\"send\":\"11\"}", "{\"send\":[\"11\"]}", "1.5",
                            "9007199254740992",  "{\"read\":[]}",       "null"};
    for (size_t i = 0; i < 6; i++) {
        ref = cJSON_Parse(others[i]);
        assert_int_equal(messaging_ack_text(ref, buf, sizeof(buf)), -1);
        cJSON_Delete(ref);
    }
}

static void test_messaging_encode_frame_error_and_local_errors(void **state)
{
    (void)state;
    char *t = print_delete(
        encode_reply("error", NULL, "{\"code\":\"bad_json\",\"message\":\"not JSON\"}"));
    assert_string_equal(t, "{\"errors\":[{\"code\":\"bad_json\",\"message\":\"not JSON\"}]}");
    free(t);
    t = print_delete(encode_reply(
        "pong", "{\"errors\":[{\"id\":[\"1\"],\"code\":\"bad_request\"},{\"code\":\"x\"}]}",
        "{\"ts\":1}"));
    assert_string_equal(t, "{\"errors\":[{\"id\":1,\"code\":\"bad_request\"},{\"code\":\"x\"}]}");
    free(t);
    /* replies 001 has nothing for */
    assert_null(encode_reply("pong", NULL, "{\"ts\":1}"));
    assert_null(encode_reply("join", NULL, "{\"room\":\"r\"}"));
    assert_null(encode_reply("ack", NULL, "{\"id\":\"x\"}"));
}

static void test_messaging_encode_read_reply(void **state)
{
    (void)state;
    const char *pairs = "{\"read\":[[[\"1\"],\"S1\"],[\"1\",\"S2\"],[2,\"S3\"],[3,\"S4\"]]}";
    /* S4 vanished meanwhile: id 3 is not reported; 1 and "1" are one id. */
    char *t = print_delete(encode_reply("read", pairs, "{\"ids\":[\"S3\",\"S2\",\"S1\"]}"));
    assert_string_equal(t, "{\"read\":[{\"id\":1},{\"id\":2}]}");
    free(t);
    t = print_delete(encode_reply("read", "{\"read\":[]}", "{\"ids\":[]}"));
    assert_string_equal(t, "{\"read\":[]}");
    free(t);
    t = print_delete(encode_reply("error", pairs, "{\"code\":\"unavailable\",\"message\":\"m\"}"));
    assert_string_equal(t, "{\"errors\":[{\"id\":1,\"code\":\"unavailable\",\"message\":\"m\","
                           "\"section\":\"read\"},{\"id\":2,\"code\":\"unavailable\",\"message\":"
                           "\"m\",\"section\":\"read\"},{\"id\":3,\"code\":\"unavailable\","
                           "\"message\":\"m\",\"section\":\"read\"}]}");
    free(t);
}

static void test_messaging_big_integer_ids_survive_the_ref(void **state)
{
    (void)state;
    /* A numeric id is the ref itself; the host echoes an integer ref as its
     * digits (sb_native_ref_json), which parse back to the same double. */
    messaging_plan plan = decode_ok("{\"send\":[{\"id\":9007199254740991,\"sid\":21,\"rid\":"
                                    "31}],\"read\":[{\"id\":1234567890123457}]}",
                                    "21");
    cJSON *owned = NULL;
    const cJSON *ref = messaging_send_ref(cJSON_GetArrayItem(plan.sends, 0), &owned);
    assert_null(owned);
    assert_true(cJSON_IsNumber(ref) && ref->valuedouble == 9007199254740991.0);
    cJSON *back = cJSON_Parse("9007199254740991");
    cJSON *ack = cJSON_Parse("{\"id\":\"x\",\"ts\":1}");
    cJSON *out = NULL;
    assert_int_equal(messaging_encode(1, "ack", back, ack, NULL, &out), MESSAGING_OK);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "sent"), 0), "id");
    assert_true(cJSON_IsNumber(id) && id->valuedouble == 9007199254740991.0);
    char buf[64];
    int n = messaging_ack_text(back, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen("{\"sent\":[{\"id\":9007199254740991}]}"));
    assert_string_equal(buf, "{\"sent\":[{\"id\":9007199254740991}]}");
    cJSON_Delete(out);
    cJSON_Delete(ack);
    cJSON_Delete(back);
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(plan.reads, 0), "as");
    assert_string_equal(cJSON_GetArrayItem(as, 0)->valuestring, "1234567890123457");
    messaging_plan_free(&plan);
}

/* --- read ids against stored messages --------------------------------------- */

/* --- events from text ------------------------------------------------------ */

/* The frame from data's text, which must mean what the tree's frame means;
 * the same bytes whether the host printed the text (no check) or not. */
static char *encode_text_checked(const char *json, const char *user)
{
    static char scratch[4096]; /* the host's lent buffer: the printed frame goes there */
    char *out = NULL, *printed = NULL;
    size_t len = 0, printed_len = 0;
    assert_int_equal(
        messaging_encode_text("message", json, strlen(json), 0, user, NULL, 0, &out, &len),
        MESSAGING_OK);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    assert_int_equal(messaging_encode_text("message", json, strlen(json), 1, user, scratch,
                                           sizeof(scratch), &printed, &printed_len),
                     MESSAGING_OK);
    assert_ptr_equal(printed, scratch);
    assert_int_equal(printed_len, len);
    assert_memory_equal(printed, out, len + 1);
    cJSON *data = cJSON_Parse(json);
    cJSON *frame = NULL;
    assert_int_equal(messaging_encode(0, "message", NULL, data, user, &frame), MESSAGING_OK);
    cJSON *got = cJSON_Parse(out);
    assert_true(cJSON_Compare(got, frame, 1));
    cJSON_Delete(got);
    cJSON_Delete(frame);
    cJSON_Delete(data);
    return out;
}

static void test_messaging_encode_text_as_written_and_native(void **state)
{
    (void)state;
    char *out = encode_text_checked(
        "{\"id\":\"" SRV_ID "\",\"from\":\"21\",\"to\":\"31\",\"ts\":5,\"msg_id\":11,"
        "\"msg_extra\":{\"from\":\"me\",\"ts\":-1.5e3},"
        "\"sid\":\"21\",\"rid\":31,\"text\":\"a \\\"b\\\"\",\"n\":[1,{\"x\":null}]}",
        "31");
    assert_string_equal(out, "{\"messages\":[{\"id\":11,\"sid\":\"21\",\"rid\":31,"
                             "\"text\":\"a \\\"b\\\"\",\"n\":[1,{\"x\":null}],"
                             "\"from\":\"me\",\"ts\":-1.5e3}]}");
    free(out);
    /* msg_extra anywhere but right after msg_id is the sender's own member:
     * shown as it is. */
    out = encode_text_checked(
        "{\"id\":\"" SRV_ID "\",\"from\":\"21\",\"to\":\"31\",\"ts\":5,"
        "\"msg_id\":11,\"sid\":\"21\",\"rid\":31,\"msg_extra\":{\"from\":\"me\"}}",
        "31");
    assert_string_equal(out, "{\"messages\":[{\"id\":11,\"sid\":\"21\",\"rid\":31,"
                             "\"msg_extra\":{\"from\":\"me\"}}]}");
    free(out);
    /* Quotes, brackets and backslashes inside strings (what skipping a
     * printed value must step over). */
    out = encode_text_checked(
        "{\"id\":\"" SRV_ID "\",\"from\":\"21\",\"to\":\"31\",\"ts\":5,\"msg_id\":\"m\","
        "\"sid\":\"21\",\"rid\":\"31\",\"t\":\"a\\\\\",\"o\":{\"k\":\"}]\\\"{\",\"l\":[\"]\"]},"
        "\"z\":true}",
        "31");
    assert_string_equal(out, "{\"messages\":[{\"id\":\"m\",\"sid\":\"21\",\"rid\":\"31\","
                             "\"t\":\"a\\\\\",\"o\":{\"k\":\"}]\\\"{\",\"l\":[\"]\"]},"
                             "\"z\":true}]}");
    free(out);
    /* A native message: the server id, the sender as sid, the recipient as rid. */
    out = encode_text_checked("{\"id\":\"" SRV_ID "\",\"from\":\"alice\",\"to\":[\"31\",\"41\"],"
                              "\"ts\":5,\"sid\":\"bob\",\"text\":\"yo\"}",
                              "31");
    assert_string_equal(out, "{\"messages\":[{\"id\":\"" SRV_ID "\",\"sid\":\"alice\","
                             "\"rid\":\"31\",\"ts\":5,\"text\":\"yo\"}]}");
    free(out);
    /* sid not the sender: shown as native, whatever msg_id says. */
    out = encode_text_checked("{\"id\":\"" SRV_ID "\",\"from\":\"21\",\"to\":\"31\",\"ts\":5,"
                              "\"msg_id\":\"m\",\"sid\":\"22\",\"rid\":\"31\"}",
                              NULL);
    assert_string_equal(out, "{\"messages\":[{\"id\":\"" SRV_ID "\",\"sid\":\"21\","
                             "\"rid\":\"31\",\"ts\":5,\"msg_id\":\"m\"}]}");
    free(out);
}

static void test_messaging_encode_text_falls_back_or_sends_nothing(void **state)
{
    (void)state;
    const char *fallback[] = {
        "{\"id\": \"x\"}",                                 /* whitespace */
        "{\"a\":}",                                        /* not JSON */
        "{\"a\":1",                                        /* cut short */
        "{\"i\\u0064\":\"x\"}",                            /* an escaped name */
        "{\"sid\":\"21\",\"sid\":\"22\"}",                 /* a name twice */
        "{\"from\":\"21\",\"to\":\"31\",\"msg_id\":11.0}", /* the tree decides 11.0 */
        "{\"from\":\"21\",\"to\":\"31\",\"msg_id\":-0}",   /* -0 is 0 */
        "{\"from\":\"21\",\"to\":\"31\",\"msg_id\":1234567890123456}",
        "{\"from\":\"2\\u0031\",\"to\":\"31\",\"msg_id\":1,\"sid\":21,\"rid\":31}",
        "[1]",
        "\"x\"",
    };
    for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++) {
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(messaging_encode_text("message", fallback[i], strlen(fallback[i]), 0, "31",
                                               NULL, 0, &out, &len),
                         MESSAGING_FALLBACK);
        assert_null(out);
    }
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(messaging_encode_text("presence", "{}", 2, 1, NULL, NULL, 0, &out, &len),
                     MESSAGING_OK);
    assert_null(out);
    /* A raw control byte in a string is no JSON string. */
    assert_int_equal(
        messaging_encode_text("message", "{\"t\":\"a\nb\"}", 11, 0, NULL, NULL, 0, &out, &len),
        MESSAGING_FALLBACK);
}

static void test_messaging_read_match(void **state)
{
    (void)state;
    messaging_plan plan = decode_ok(
        "{\"read\":[{\"id\":11},{\"id\":\"" SRV_ID "\"},{\"id\":12,\"sid\":\"22\"}]}", "31");
    cJSON *pairs = cJSON_CreateArray();
    /* 001 messages: shown ids 11 (from 21 and from 22) and 12 (from 21, 22) */
    const char *m11a = "{\"id\":\"A\",\"from\":\"21\",\"to\":\"31\",\"ts\":1,\"msg_id\":11,"
                       "\"sid\":21,\"rid\":31}";
    const char *m11b = "{\"id\":\"B\",\"from\":\"22\",\"to\":\"31\",\"ts\":1,\"msg_id\":\"11\","
                       "\"sid\":\"22\",\"rid\":\"31\"}";
    const char *m12a = "{\"id\":\"C\",\"from\":\"21\",\"to\":\"31\",\"ts\":1,\"msg_id\":12,"
                       "\"sid\":21,\"rid\":31}";
    const char *m12b = "{\"id\":\"D\",\"from\":\"22\",\"to\":\"31\",\"ts\":1,\"msg_id\":12,"
                       "\"sid\":22,\"rid\":31}";
    /* a native message: shown with its server id */
    const char *nat = "{\"id\":\"" SRV_ID "\",\"from\":\"alice\",\"to\":\"31\",\"ts\":1}";
    /* a native message whose msg_id is not shown (sid is not its sender) */
    const char *spoof = "{\"id\":\"E\",\"from\":\"m\",\"to\":\"31\",\"ts\":1,\"msg_id\":11,"
                        "\"sid\":21,\"rid\":31}";
    assert_int_equal(messaging_read_match(plan.reads, "A", m11a, strlen(m11a), pairs), 0);
    assert_int_equal(messaging_read_match(plan.reads, "B", m11b, strlen(m11b), pairs), 0);
    assert_int_equal(messaging_read_match(plan.reads, "C", m12a, strlen(m12a), pairs), 0);
    assert_int_equal(messaging_read_match(plan.reads, "D", m12b, strlen(m12b), pairs), 0);
    assert_int_equal(messaging_read_match(plan.reads, SRV_ID, nat, strlen(nat), pairs), 0);
    assert_int_equal(messaging_read_match(plan.reads, "E", spoof, strlen(spoof), pairs), 0);
    assert_int_equal(messaging_read_match(plan.reads, "F", "{", 1, pairs), 0);
    assert_json(pairs, "[[[\"11\"],\"A\"],[[\"11\"],\"B\"],[[\"12\"],\"D\"],[\"" SRV_ID
                       "\",\"" SRV_ID "\"]]");
    cJSON_Delete(pairs);
    messaging_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messaging_id_text_strings_and_integers),
        cmocka_unit_test(test_messaging_decode_seed_example),
        cmocka_unit_test(test_messaging_decode_not_an_object),
        cmocka_unit_test(test_messaging_decode_ignores_unknown_sections),
        cmocka_unit_test(test_messaging_decode_ids_compared_as_text),
        cmocka_unit_test(test_messaging_decode_refuses_bad_items_keeps_others),
        cmocka_unit_test(test_messaging_decode_sections_not_arrays),
        cmocka_unit_test(test_messaging_decode_max_items),
        cmocka_unit_test(test_messaging_encode_001_message_as_written),
        cmocka_unit_test(test_messaging_encode_exact_order),
        cmocka_unit_test(test_messaging_encode_native_message),
        cmocka_unit_test(test_messaging_encode_spoofed_sid_shown_native),
        cmocka_unit_test(test_messaging_encode_other_events_dropped),
        cmocka_unit_test(test_messaging_encode_ack_and_error_of_send),
        cmocka_unit_test(test_messaging_ack_text_numeric_ids_only),
        cmocka_unit_test(test_messaging_encode_frame_error_and_local_errors),
        cmocka_unit_test(test_messaging_encode_read_reply),
        cmocka_unit_test(test_messaging_big_integer_ids_survive_the_ref),
        cmocka_unit_test(test_messaging_read_match),
        cmocka_unit_test(test_messaging_encode_text_as_written_and_native),
        cmocka_unit_test(test_messaging_encode_text_falls_back_or_sends_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
