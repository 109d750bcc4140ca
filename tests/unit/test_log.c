/* Unit tests for core/util/log.c: the line format, the level threshold, the
 * level names, JSON lines and the --check-config lines. stderr is redirected
 * to a temporary file to read the lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Run fn with stderr redirected, and return what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char out[8192];
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof(out) - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

/* Whether line starts with "YYYY-MM-DDTHH:MM:SS.mmmZ ". */
static int has_timestamp(const char *line)
{
    const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd') {
            if (line[i] < '0' || line[i] > '9')
                return 0;
        } else if (line[i] != pat[i]) {
            return 0;
        }
    }
    return 1;
}

static void emit_info_core(void)
{
    sb_log(SB_LOG_INFO, "listening on %s:%d", "0.0.0.0", 8080);
}

static void test_log_format_core_line(void **state)
{
    (void)state;
    sb_log_set_level(SB_LOG_INFO);
    const char *out = capture(emit_info_core);
    assert_true(has_timestamp(out));
    assert_string_equal(out + 25, "INFO listening on 0.0.0.0:8080\n");
}

static void emit_warn_who(void)
{
    sb_log_who(SB_LOG_WARN, "rooms", "room %s is full", "lobby");
}

static void test_log_who_names_plugin(void **state)
{
    (void)state;
    sb_log_set_level(SB_LOG_INFO);
    const char *out = capture(emit_warn_who);
    assert_true(has_timestamp(out));
    assert_string_equal(out + 25, "WARN [rooms] room lobby is full\n");
}

static void emit_all_levels(void)
{
    sb_log(SB_LOG_DEBUG, "d");
    sb_log(SB_LOG_INFO, "i");
    sb_log(SB_LOG_WARN, "w");
    sb_log(SB_LOG_ERROR, "e");
}

static void test_log_level_threshold_drops_lower(void **state)
{
    (void)state;
    sb_log_set_level(SB_LOG_WARN);
    assert_int_equal(sb_log_get_level(), SB_LOG_WARN);
    const char *out = capture(emit_all_levels);
    assert_null(strstr(out, " DEBUG "));
    assert_null(strstr(out, " INFO "));
    assert_non_null(strstr(out, " WARN w\n"));
    assert_non_null(strstr(out, " ERROR e\n"));

    sb_log_set_level(SB_LOG_DEBUG);
    out = capture(emit_all_levels);
    assert_non_null(strstr(out, " DEBUG d\n"));
    assert_non_null(strstr(out, " INFO i\n"));
    sb_log_set_level(SB_LOG_INFO);
}

static void emit_newline(void)
{
    sb_log(SB_LOG_ERROR, "two\nlines");
}

static void test_log_newline_in_text_stays_one_line(void **state)
{
    (void)state;
    const char *out = capture(emit_newline);
    assert_string_equal(out + 25, "ERROR two lines\n");
}

static void emit_long(void)
{
    static char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    sb_log(SB_LOG_ERROR, "%s", big);
}

static void test_log_long_line_is_cut_not_split(void **state)
{
    (void)state;
    const char *out = capture(emit_long);
    const char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    assert_memory_equal(nl - 3, "...", 3);
}

static void test_log_level_parse_names(void **state)
{
    (void)state;
    int level = -1;
    assert_int_equal(sb_log_level_parse("debug", &level), SB_OK);
    assert_int_equal(level, SB_LOG_DEBUG);
    assert_int_equal(sb_log_level_parse("info", &level), SB_OK);
    assert_int_equal(level, SB_LOG_INFO);
    assert_int_equal(sb_log_level_parse("warn", &level), SB_OK);
    assert_int_equal(level, SB_LOG_WARN);
    assert_int_equal(sb_log_level_parse("ERROR", &level), SB_OK);
    assert_int_equal(level, SB_LOG_ERROR);
    level = 7;
    assert_int_equal(sb_log_level_parse("verbose", &level), SB_EINVAL);
    assert_int_equal(sb_log_level_parse("", &level), SB_EINVAL);
    assert_int_equal(sb_log_level_parse(NULL, &level), SB_EINVAL);
    assert_int_equal(level, 7);
}

static const char *user_of(uint64_t id)
{
    return id == 7 ? "alice" : NULL;
}

static void emit_json(void)
{
    sb_log(SB_LOG_INFO, "conn 7 (10.0.0.1): said \"hi\"\tthere");
    sb_log_who(SB_LOG_WARN, "rooms", "conn 8: no user yet");
    sb_log(SB_LOG_ERROR, "plain \x01 line");
}

static void test_log_json_lines(void **state)
{
    (void)state;
    sb_log_set_level(SB_LOG_INFO);
    sb_log_set_format(SB_LOG_JSON);
    sb_log_set_conn_user(user_of);
    const char *out = capture(emit_json);
    sb_log_set_conn_user(NULL);
    sb_log_set_format(SB_LOG_TEXT);
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ", is 33 bytes. */
    assert_memory_equal(out, "{\"ts\":\"", 7);
    const char *l1 = out + 33;
    assert_memory_equal(
        l1,
        "\"level\":\"info\",\"plugin\":\"core\",\"conn\":7,\"ip\":\"10.0.0.1\","
        "\"user\":\"alice\",\"msg\":\"said \\\"hi\\\"\\u0009there\"}\n",
        strlen("\"level\":\"info\",\"plugin\":\"core\",\"conn\":7,\"ip\":\"10.0.0.1\","
               "\"user\":\"alice\",\"msg\":\"said \\\"hi\\\"\\u0009there\"}\n"));
    const char *l2 = strchr(l1, '\n') + 1 + 33;
    assert_memory_equal(
        l2, "\"level\":\"warn\",\"plugin\":\"rooms\",\"conn\":8,\"msg\":\"no user yet\"}\n",
        strlen("\"level\":\"warn\",\"plugin\":\"rooms\",\"conn\":8,\"msg\":\"no user "
               "yet\"}\n"));
    const char *l3 = strchr(l2, '\n') + 1 + 33;
    assert_string_equal(
        l3, "\"level\":\"error\",\"plugin\":\"core\",\"msg\":\"plain \\u0001 line\"}\n");
}

static void test_log_json_long_line_stays_json(void **state)
{
    (void)state;
    sb_log_set_format(SB_LOG_JSON);
    const char *out = capture(emit_long);
    sb_log_set_format(SB_LOG_TEXT);
    const char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    assert_memory_equal(nl - 5, "...\"}", 5);
}

static void emit_check(void)
{
    sb_log(SB_LOG_INFO, "not a problem");
    sb_log(SB_LOG_ERROR, "/etc/sb.conf:12: [server] listen: bad");
    sb_log(SB_LOG_WARN, "/etc/sb.conf:3: [auth] x: unknown key (ignored)");
    sb_log_check_line(20);
    sb_log_who(SB_LOG_ERROR, "lua", "cannot load the scripts");
    sb_log_who(SB_LOG_WARN, "api", "[api] api_key is empty");
    sb_log_check_line(0);
    sb_log(SB_LOG_ERROR, "/etc/sb.conf: cannot read the config file: denied");
}

static void test_log_check_lines(void **state)
{
    (void)state;
    sb_log_set_check("/etc/sb.conf");
    const char *out = capture(emit_check);
    sb_log_set_format(SB_LOG_TEXT);
    assert_string_equal(out, "/etc/sb.conf:12: [server] listen: bad\n"
                             "/etc/sb.conf:3: warning: [auth] x: unknown key (ignored)\n"
                             "/etc/sb.conf:20: [lua] cannot load the scripts\n"
                             "/etc/sb.conf:20: warning: [api] api_key is empty\n"
                             "/etc/sb.conf:0: cannot read the config file: denied\n");
}

static void test_log_format_parse_names(void **state)
{
    (void)state;
    int f = -1;
    assert_int_equal(sb_log_format_parse("text", &f), SB_OK);
    assert_int_equal(f, SB_LOG_TEXT);
    assert_int_equal(sb_log_format_parse("json", &f), SB_OK);
    assert_int_equal(f, SB_LOG_JSON);
    assert_int_equal(sb_log_format_parse("JSON5", &f), SB_EINVAL);
    assert_int_equal(sb_log_format_parse(NULL, &f), SB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_format_core_line),
        cmocka_unit_test(test_log_who_names_plugin),
        cmocka_unit_test(test_log_level_threshold_drops_lower),
        cmocka_unit_test(test_log_newline_in_text_stays_one_line),
        cmocka_unit_test(test_log_long_line_is_cut_not_split),
        cmocka_unit_test(test_log_level_parse_names),
        cmocka_unit_test(test_log_json_lines),
        cmocka_unit_test(test_log_json_long_line_stays_json),
        cmocka_unit_test(test_log_check_lines),
        cmocka_unit_test(test_log_format_parse_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
