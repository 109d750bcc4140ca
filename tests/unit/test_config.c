/* Unit tests for core/util/config.c: [server] defaults and validation (with the
 * logged file:line messages), environment overrides and their section
 * matching, continuation lines, plugin-section getters, CIDRs and relative
 * paths. Config files are written into a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char tmpdir[PATH_MAX]; /* realpath of the test's directory */
static char conf_path[PATH_MAX + 32];
static char log_text[65536]; /* what the last load_conf logged */

static int config_setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/sb_test_config.XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    if (!realpath(tmpl, tmpdir))
        return -1;
    snprintf(conf_path, sizeof(conf_path), "%s/plugins.conf", tmpdir);
    sb_log_set_level(SB_LOG_DEBUG);
    return 0;
}

static int config_teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Write text to plugins.conf, load it with envp, capture the log. */
static int load_conf(const char *text, char *const *envp, sb_config **cfg)
{
    write_file(conf_path, text);
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = sb_config_load(conf_path, envp, cfg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(log_text, 1, sizeof(log_text) - 1, tmp);
    log_text[n] = '\0';
    fclose(tmp);
    return rc;
}

/* Call fn(cfg) with stderr captured into log_text. */
static void capture_log(void (*fn)(const sb_section *), const sb_section *s)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn(s);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(log_text, 1, sizeof(log_text) - 1, tmp);
    log_text[n] = '\0';
    fclose(tmp);
}

/* Assert the log holds "<conf_path>:<line>: <rest>" (rest NULL: any). */
static void assert_logged_at(int line, const char *rest)
{
    char want[PATH_MAX + 512];
    snprintf(want, sizeof(want), "%s:%d: %s", conf_path, line, rest ? rest : "");
    if (!strstr(log_text, want))
        fail_msg("log lacks \"%s\"; log was:\n%s", want, log_text);
}

static void assert_logged(const char *text)
{
    if (!strstr(log_text, text))
        fail_msg("log lacks \"%s\"; log was:\n%s", text, log_text);
}

static void test_config_load_defaults(void **state)
{
    (void)state;
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\n", NULL, &cfg), SB_OK);
    const sb_server_cfg *s = sb_config_server(cfg);
    assert_string_equal(s->listen, "0.0.0.0:8080");
    assert_int_equal(s->max_connections, 100000);
    assert_int_equal(s->max_message_bytes, 65536);
    assert_int_equal(s->max_outbound_bytes, 1048576);
    assert_int_equal(s->max_recipients, 100);
    assert_true(s->ping_interval == 30.0);
    assert_true(s->idle_timeout == 75.0);
    assert_true(s->auth_timeout == 10.0);
    assert_int_equal(s->sessions, SB_SESSIONS_MULTI);
    assert_true(s->rate_limit == 50.0);
    assert_int_equal(s->rate_burst, 100);
    assert_int_equal(s->max_header_bytes, 8192);
    assert_true(s->header_timeout == 10.0);
    assert_non_null(s->allowed_origins);
    assert_null(s->allowed_origins[0]);
    assert_int_equal(s->log_level, SB_LOG_INFO);
    assert_int_equal(s->log_format, SB_LOG_TEXT);
    assert_int_equal(s->n_trusted_proxies, 0);
    assert_int_equal(s->max_connections_per_ip, 0);
    assert_true(s->shutdown_timeout == 10.0);
    assert_int_equal(s->n_metrics_allow, 2);
    unsigned char lo[16] = {0}, v6lo[16] = {0}, other[4] = {10, 0, 0, 1};
    inet_pton(AF_INET, "127.5.6.7", lo);
    inet_pton(AF_INET6, "::1", v6lo);
    assert_true(sb_cidr_match(&s->metrics_allow[0], AF_INET, lo));
    assert_false(sb_cidr_match(&s->metrics_allow[0], AF_INET, other));
    assert_true(sb_cidr_match(&s->metrics_allow[1], AF_INET6, v6lo));
#ifdef SB_DEFAULT_PLUGIN_DIR
    const char *def = SB_DEFAULT_PLUGIN_DIR;
#else
    const char *def = "plugins";
#endif
    char want[PATH_MAX * 2];
    if (def[0] == '/')
        snprintf(want, sizeof(want), "%s", def);
    else
        snprintf(want, sizeof(want), "%s/%s", tmpdir, def);
    assert_string_equal(s->plugin_dir, want);
    /* [server] as a section carries the defaults too (host->cfg_server). */
    const sb_section *srv = sb_config_server_section(cfg);
    assert_string_equal(sb_section_name(srv), "server");
    assert_string_equal(sb_section_get(srv, "max_recipients"), "100");
    assert_string_equal(sb_section_get(srv, "sessions"), "multi");
    assert_int_equal(sb_section_line(srv, "max_recipients"), 0);
    assert_int_equal(sb_config_n_sections(cfg), 0);
    assert_string_equal(sb_config_path(cfg), conf_path);
    assert_string_equal(sb_config_dir(cfg), tmpdir);
    sb_config_free(cfg);
}

static void test_config_load_empty_file_and_no_server(void **state)
{
    (void)state;
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("; nothing\n\n[auth]\nmode = none\n", NULL, &cfg), SB_OK);
    assert_int_equal(sb_config_server(cfg)->max_recipients, 100);
    assert_int_equal(sb_config_n_sections(cfg), 1);
    sb_config_free(cfg);
}

static void test_config_load_every_server_key(void **state)
{
    (void)state;
    const char *text = "[server]\n"
                       "listen = [::1]:9000\n"
                       "plugin_dir = /opt/sb/plugins\n"
                       "max_connections = 500\n"
                       "max_message_bytes = 1024\n"
                       "max_outbound_bytes = 4096\n"
                       "max_recipients = 3\n"
                       "ping_interval = 0.5\n"
                       "idle_timeout = 2\n"
                       "auth_timeout = 1.25\n"
                       "sessions = replace\n"
                       "rate_limit = 2.5\n"
                       "rate_burst = 4\n"
                       "max_header_bytes = 2048\n"
                       "header_timeout = 3\n"
                       "allowed_origins = https://a.example https://b.example\n"
                       "log_level = warn\n"
                       "log_format = json\n"
                       "trusted_proxies = 10.0.0.0/8, 192.168.1.1 fd00::/8\n"
                       "max_connections_per_ip = 7\n"
                       "metrics_allow = 0.0.0.0/0\n"
                       "shutdown_timeout = 0\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    const sb_server_cfg *s = sb_config_server(cfg);
    assert_string_equal(s->listen, "[::1]:9000");
    assert_string_equal(s->plugin_dir, "/opt/sb/plugins");
    assert_int_equal(s->max_connections, 500);
    assert_int_equal(s->max_message_bytes, 1024);
    assert_int_equal(s->max_outbound_bytes, 4096);
    assert_int_equal(s->max_recipients, 3);
    assert_true(s->ping_interval == 0.5);
    assert_true(s->idle_timeout == 2.0);
    assert_true(s->auth_timeout == 1.25);
    assert_int_equal(s->sessions, SB_SESSIONS_REPLACE);
    assert_true(s->rate_limit == 2.5);
    assert_int_equal(s->rate_burst, 4);
    assert_int_equal(s->max_header_bytes, 2048);
    assert_true(s->header_timeout == 3.0);
    assert_string_equal(s->allowed_origins[0], "https://a.example");
    assert_string_equal(s->allowed_origins[1], "https://b.example");
    assert_null(s->allowed_origins[2]);
    assert_int_equal(s->log_level, SB_LOG_WARN);
    assert_int_equal(s->log_format, SB_LOG_JSON);
    assert_int_equal(s->n_trusted_proxies, 3);
    assert_int_equal(s->trusted_proxies[0].family, AF_INET);
    assert_int_equal(s->trusted_proxies[0].prefix, 8);
    assert_int_equal(s->trusted_proxies[1].prefix, 32);
    assert_int_equal(s->trusted_proxies[2].family, AF_INET6);
    assert_int_equal(s->max_connections_per_ip, 7);
    assert_int_equal(s->n_metrics_allow, 1);
    assert_int_equal(s->metrics_allow[0].prefix, 0);
    assert_true(s->shutdown_timeout == 0.0);
    assert_int_equal(sb_section_line(sb_config_server_section(cfg), "sessions"), 11);
    /* Nothing unknown, nothing wrong: no warning. */
    assert_null(strstr(log_text, "WARN"));
    sb_config_free(cfg);
}

static void test_config_load_listen_forms(void **state)
{
    (void)state;
    const char *good[] = {"127.0.0.1:0", "0.0.0.0:65535", "localhost:80", "[::]:8080",
                          "[fe80::1]:1"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "[server]\nlisten = %s\n", good[i]);
        sb_config *cfg = NULL;
        if (load_conf(text, NULL, &cfg) != SB_OK)
            fail_msg("refused listen = %s: %s", good[i], log_text);
        assert_string_equal(sb_config_server(cfg)->listen, good[i]);
        sb_config_free(cfg);
    }
    const char *bad[] = {"8080",         "0.0.0.0",     "0.0.0.0:65536", "0.0.0.0:-1",
                         ":8080",        "[::1]",       "[::1]8080",     "::1:8080",
                         "[zz::1]:8080", "0.0.0.0:80x", "0.0.0.0:",      "a b:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256], want[256];
        snprintf(text, sizeof(text), "[server]\nlisten = %s\n", bad[i]);
        sb_config *cfg = (sb_config *)1;
        if (load_conf(text, NULL, &cfg) != SB_EINVAL)
            fail_msg("accepted listen = %s", bad[i]);
        assert_null(cfg);
        snprintf(want, sizeof(want),
                 "[server] listen: must be host:port or [ipv6]:port with a port from 0 to 65535, "
                 "got \"%s\"",
                 bad[i]);
        assert_logged_at(2, want);
    }
}

static void test_config_load_bad_values_logged_with_line(void **state)
{
    (void)state;
    const char *text = "; comment\n"
                       "[server]\n"
                       "max_connections = abc\n"
                       "max_recipients = 0\n"
                       "ping_interval = 0\n"
                       "sessions = single\n"
                       "log_level = loud\n"
                       "trusted_proxies = 10.0.0.0/33\n"
                       "rate_limit = fast\n"
                       "max_message_bytes = 12k\n"
                       "metrics_allow = 127.0.0.1 nope\n"
                       "idle_timeout = 0x10\n"
                       "max_header_bytes = 99999999999999999999999\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_EINVAL);
    assert_null(cfg);
    /* The brief's example, exactly. */
    assert_logged_at(3, "[server] max_connections: must be an integer from 1 to 10000000, got "
                        "\"abc\"");
    assert_logged_at(4, "[server] max_recipients: must be an integer from 1 to 1000000, got \"0\"");
    assert_logged_at(5, "[server] ping_interval: must be a number of seconds above 0");
    assert_logged_at(6, "[server] sessions: must be multi or replace, got \"single\"");
    assert_logged_at(7, "[server] log_level: must be debug, info, warn or error, got \"loud\"");
    assert_logged_at(8, "[server] trusted_proxies: must be space-separated addresses or CIDRs");
    assert_logged_at(9, "[server] rate_limit: must be a number of commands per second");
    assert_logged_at(10, "[server] max_message_bytes: must be an integer");
    assert_logged_at(11, "[server] metrics_allow: must be");
    assert_logged_at(12, "[server] idle_timeout: must be a number of seconds");
    assert_logged_at(13, "[server] max_header_bytes: must be an integer from 64 to 1048576");
    assert_non_null(strstr(log_text, " ERROR "));
}

static void test_config_load_unknown_server_key_warns(void **state)
{
    (void)state;
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\nmax_recipient = 5\n", NULL, &cfg), SB_OK);
    assert_logged_at(2, "[server] max_recipient: unknown key");
    assert_non_null(strstr(log_text, " WARN "));
    assert_int_equal(sb_config_server(cfg)->max_recipients, 100);
    sb_config_free(cfg);
}

static void test_config_load_missing_file(void **state)
{
    (void)state;
    sb_config *cfg = (sb_config *)1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = sb_config_load(path, NULL, &cfg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(log_text, 1, sizeof(log_text) - 1, tmp);
    log_text[n] = '\0';
    fclose(tmp);
    assert_int_equal(rc, SB_ENOTFOUND);
    assert_null(cfg);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s: cannot read the config file", path);
    assert_logged(want);
}

static void test_config_load_sections_in_order_merged(void **state)
{
    (void)state;
    const char *text = "[server]\n"
                       "max_recipients = 5\n"
                       "[auth]\n"
                       "mode = none\n"
                       "[message]\n"
                       "[rooms]\n"
                       "max = 1\n"
                       "[auth]\n"
                       "token_param = t\n"
                       "mode = static\n"
                       "[server]\n"
                       "max_recipients = 6\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    /* [message] has no keys and still counts; [auth] twice is one section. */
    assert_int_equal(sb_config_n_sections(cfg), 3);
    assert_string_equal(sb_section_name(sb_config_section(cfg, 0)), "auth");
    assert_string_equal(sb_section_name(sb_config_section(cfg, 1)), "message");
    assert_string_equal(sb_section_name(sb_config_section(cfg, 2)), "rooms");
    assert_null(sb_config_section(cfg, 3));
    const sb_section *auth = sb_config_find(cfg, "auth");
    assert_ptr_equal(auth, sb_config_section(cfg, 0));
    assert_string_equal(sb_section_get(auth, "token_param"), "t");
    /* A repeated key: the last wins, with its line. */
    assert_string_equal(sb_section_get(auth, "mode"), "static");
    assert_int_equal(sb_section_line(auth, "mode"), 10);
    assert_int_equal(sb_config_server(cfg)->max_recipients, 6);
    assert_null(sb_config_find(cfg, "store_lmdb"));
    assert_ptr_equal(sb_config_find(cfg, "server"), sb_config_server_section(cfg));
    sb_config_free(cfg);
}

static void test_config_load_inline_comments(void **state)
{
    (void)state;
    const char *text = "[server]\n"
                       "max_recipients = 7 ; seven\n"
                       "[auth]\n"
                       "jwt_secret = abc;def\n"
                       "api = x ;y\n"
                       "# hash comment\n"
                       "  ; indented comment\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    assert_int_equal(sb_config_server(cfg)->max_recipients, 7);
    const sb_section *auth = sb_config_find(cfg, "auth");
    assert_string_equal(sb_section_get(auth, "jwt_secret"), "abc;def");
    assert_string_equal(sb_section_get(auth, "api"), "x");
    sb_config_free(cfg);
}

static void test_config_load_continuation_lines(void **state)
{
    (void)state;
    const char *text = "[server]\n"
                       "allowed_origins = https://a.example\n"
                       "    https://b.example\n"
                       "\n"
                       "  https://c.example\n"
                       "metrics_allow =\n"
                       "  10.0.0.0/8\n"
                       "  ::1\n"
                       "[lua]\n"
                       "scripts = a.lua\n"
                       "  b.lua ; second\n"
                       "  c.lua\n"
                       "instruction_limit = 5\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    const sb_server_cfg *s = sb_config_server(cfg);
    assert_string_equal(s->allowed_origins[0], "https://a.example");
    assert_string_equal(s->allowed_origins[1], "https://b.example");
    assert_string_equal(s->allowed_origins[2], "https://c.example");
    assert_null(s->allowed_origins[3]);
    assert_int_equal(s->n_metrics_allow, 2);
    assert_int_equal(s->metrics_allow[1].family, AF_INET6);
    const sb_section *lua = sb_config_find(cfg, "lua");
    assert_string_equal(sb_section_get(lua, "scripts"), "a.lua b.lua c.lua");
    assert_int_equal(sb_section_line(lua, "scripts"), 10);
    assert_string_equal(sb_section_get(lua, "instruction_limit"), "5");
    sb_config_free(cfg);
}

static void test_config_load_continuation_of_scalar_is_error(void **state)
{
    (void)state;
    const char *text = "[server]\n"
                       "max_recipients = 5\n"
                       "   6\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_EINVAL);
    assert_logged_at(3, "[server] max_recipients: continuation lines are only allowed for list "
                        "keys");
}

static void test_config_load_indented_key_after_section_is_a_key(void **state)
{
    (void)state;
    /* Right after a section header nothing is continued: inih reads a key. */
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[auth]\n  mode = jwt\n", NULL, &cfg), SB_OK);
    assert_string_equal(sb_section_get(sb_config_find(cfg, "auth"), "mode"), "jwt");
    sb_config_free(cfg);
}

static void test_config_load_syntax_errors(void **state)
{
    (void)state;
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\nlisten\n", NULL, &cfg), SB_EINVAL);
    assert_logged_at(2, "expected key = value");
    /* ':' also separates, so this is the key "listen 0.0.0.0": refused. */
    assert_int_equal(load_conf("[server]\nlisten 0.0.0.0:1\n", NULL, &cfg), SB_EINVAL);
    assert_logged_at(2, "[server] listen 0.0.0.0: a key must not contain spaces");
    assert_int_equal(load_conf("[auth\nmode = none\n", NULL, &cfg), SB_EINVAL);
    assert_logged_at(1, "a section header needs a closing ]");
    assert_int_equal(load_conf("mode = none\n[auth]\n", NULL, &cfg), SB_EINVAL);
    assert_logged_at(1, "mode: a key outside any [section]");
    assert_int_equal(load_conf("[my auth]\n", NULL, &cfg), SB_EINVAL);
    assert_logged_at(1, "a section name must be");
    assert_null(cfg);
}

static void test_config_load_long_line_is_error(void **state)
{
    (void)state;
    char text[512];
    char value[200];
    /* "k = " + 195 characters = 199: the longest line inih reads whole. */
    memset(value, 'v', 195);
    value[195] = '\0';
    snprintf(text, sizeof(text), "[auth]\nk = %s\n", value);
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    assert_string_equal(sb_section_get(sb_config_find(cfg, "auth"), "k"), value);
    sb_config_free(cfg);
    /* One more character is an error, not a silently split line. */
    value[195] = 'v';
    value[196] = '\0';
    snprintf(text, sizeof(text), "[auth]\nk = %s\n", value);
    assert_int_equal(load_conf(text, NULL, &cfg), SB_EINVAL);
    assert_logged_at(2, "line longer than 199 characters");
}

static void test_config_load_crlf_file(void **state)
{
    (void)state;
    sb_config *cfg = NULL;
    assert_int_equal(
        load_conf("[server]\r\nmax_recipients = 9\r\n[auth]\r\nmode = none\r\n", NULL, &cfg),
        SB_OK);
    assert_int_equal(sb_config_server(cfg)->max_recipients, 9);
    assert_string_equal(sb_section_get(sb_config_find(cfg, "auth"), "mode"), "none");
    sb_config_free(cfg);
}

static void test_config_env_overrides_server_and_plugin_keys(void **state)
{
    (void)state;
    char *envp[] = {"PATH=/bin",
                    "SWITCHBOARD_SERVER_MAX_RECIPIENTS=42",
                    "SWITCHBOARD_AUTH_JWT_SECRET= s3cret ",
                    "switchboard_auth_mode=ignored",
                    "SWITCHBOARD_SERVER_SESSIONS=replace",
                    NULL};
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\nmax_recipients = 5\nsessions = multi\n[auth]\nmode = "
                               "none\n",
                               envp, &cfg),
                     SB_OK);
    const sb_server_cfg *s = sb_config_server(cfg);
    assert_int_equal(s->max_recipients, 42);
    assert_int_equal(s->sessions, SB_SESSIONS_REPLACE);
    const sb_section *srv = sb_config_server_section(cfg);
    assert_string_equal(sb_section_get(srv, "max_recipients"), "42");
    assert_int_equal(sb_section_line(srv, "max_recipients"), 0);
    const sb_section *auth = sb_config_find(cfg, "auth");
    assert_string_equal(sb_section_get(auth, "jwt_secret"), "s3cret");
    assert_int_equal(sb_section_line(auth, "jwt_secret"), 0);
    /* Variables are case-sensitive: a lowercase prefix is not ours. */
    assert_string_equal(sb_section_get(auth, "mode"), "none");
    sb_config_free(cfg);
}

static void test_config_env_bad_value_names_variable(void **state)
{
    (void)state;
    char *envp[] = {"SWITCHBOARD_SERVER_MAX_RECIPIENTS=lots", NULL};
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\n", envp, &cfg), SB_EINVAL);
    assert_logged("environment SWITCHBOARD_SERVER_MAX_RECIPIENTS: [server] max_recipients: must "
                  "be an integer from 1 to 1000000, got \"lots\"");
}

static void test_config_env_longest_prefix_wins(void **state)
{
    (void)state;
    char *envp[] = {"SWITCHBOARD_STORE_LMDB_MAP_SIZE_MB=64", "SWITCHBOARD_STORE_MODE=x", NULL};
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[store]\nkind = a\n[store_lmdb]\npath = data\n", envp, &cfg),
                     SB_OK);
    const sb_section *lmdb = sb_config_find(cfg, "store_lmdb");
    const sb_section *store = sb_config_find(cfg, "store");
    assert_string_equal(sb_section_get(lmdb, "map_size_mb"), "64");
    assert_null(sb_section_get(store, "lmdb_map_size_mb"));
    assert_string_equal(sb_section_get(store, "mode"), "x");
    assert_int_equal(sb_config_n_sections(cfg), 2);
    sb_config_free(cfg);
}

static void test_config_env_creates_section_from_plugin_dir(void **state)
{
    (void)state;
    char pdir[PATH_MAX + 16], so[PATH_MAX + 64];
    snprintf(pdir, sizeof(pdir), "%s/plugins", tmpdir);
    mkdir(pdir, 0755);
    snprintf(so, sizeof(so), "%s/store_redis.so", pdir);
    write_file(so, "");
    char *envp[] = {"SWITCHBOARD_STORE_REDIS_ENABLED=yes", "SWITCHBOARD_STORE_LMDB_ENABLED=no",
                    NULL};
    sb_config *cfg = NULL;
    /* plugin_dir is relative: it resolves against the config file's directory. */
    assert_int_equal(
        load_conf("[server]\nplugin_dir = plugins\n[store_lmdb]\npath = data\n[api]\n", envp, &cfg),
        SB_OK);
    assert_string_equal(sb_config_server(cfg)->plugin_dir, pdir);
    assert_int_equal(sb_config_n_sections(cfg), 3);
    /* The new section comes after the file's sections. */
    const sb_section *redis = sb_config_section(cfg, 2);
    assert_string_equal(sb_section_name(redis), "store_redis");
    assert_string_equal(sb_section_get(redis, "enabled"), "yes");
    int on = -1;
    assert_int_equal(sb_section_enabled(sb_config_find(cfg, "store_lmdb"), &on), SB_OK);
    assert_int_equal(on, 0);
    assert_int_equal(sb_section_enabled(redis, &on), SB_OK);
    assert_int_equal(on, 1);
    sb_config_free(cfg);
}

static void test_config_env_plugin_dir_override_applies_first(void **state)
{
    (void)state;
    char pdir[PATH_MAX + 16], so[PATH_MAX + 64], var[PATH_MAX + 64];
    snprintf(pdir, sizeof(pdir), "%s/other", tmpdir);
    mkdir(pdir, 0755);
    snprintf(so, sizeof(so), "%s/bus_redis.so", pdir);
    write_file(so, "");
    snprintf(var, sizeof(var), "SWITCHBOARD_SERVER_PLUGIN_DIR=%s", pdir);
    /* The bus_redis variable comes first in envp and still finds the plugin. */
    char *envp[] = {"SWITCHBOARD_BUS_REDIS_URL=redis://h:1/0", var, NULL};
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\nplugin_dir = /nonexistent\n", envp, &cfg), SB_OK);
    assert_string_equal(sb_config_server(cfg)->plugin_dir, pdir);
    assert_string_equal(sb_section_get(sb_config_find(cfg, "bus_redis"), "url"), "redis://h:1/0");
    sb_config_free(cfg);
}

static void test_config_env_unmatched_variable_is_error(void **state)
{
    (void)state;
    char *envp[] = {"SWITCHBOARD_NOPE_KEY=1", NULL};
    sb_config *cfg = (sb_config *)1;
    assert_int_equal(load_conf("[server]\n[auth]\n", envp, &cfg), SB_EINVAL);
    assert_null(cfg);
    assert_logged("environment SWITCHBOARD_NOPE_KEY: names no section");
    /* A section name without a key matches nothing either. */
    char *envp2[] = {"SWITCHBOARD_AUTH=1", NULL};
    assert_int_equal(load_conf("[auth]\n", envp2, &cfg), SB_EINVAL);
    assert_logged("environment SWITCHBOARD_AUTH:");
}

static void test_config_env_unknown_server_key_warns(void **state)
{
    (void)state;
    char *envp[] = {"SWITCHBOARD_SERVER_COLOUR=blue", NULL};
    sb_config *cfg = NULL;
    assert_int_equal(load_conf("[server]\n", envp, &cfg), SB_OK);
    assert_logged("environment SWITCHBOARD_SERVER_COLOUR: [server] colour: unknown key");
    sb_config_free(cfg);
}

static void test_section_getters_typed_values(void **state)
{
    (void)state;
    const char *text = "[auth]\n"
                       "n = 42\n"
                       "neg = -3\n"
                       "big = 1000\n"
                       "word = x\n"
                       "on = Yes\n"
                       "off = off\n"
                       "maybe = perhaps\n"
                       "t = 1.5\n"
                       "empty =\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    const sb_section *s = sb_config_find(cfg, "auth");
    long l = 0;
    assert_int_equal(sb_section_int(s, "n", 1, 0, 100, &l), SB_OK);
    assert_int_equal(l, 42);
    assert_int_equal(sb_section_int(s, "neg", 1, -10, 10, &l), SB_OK);
    assert_int_equal(l, -3);
    assert_int_equal(sb_section_int(s, "absent", 17, 0, 100, &l), SB_OK);
    assert_int_equal(l, 17);
    int b = -1;
    assert_int_equal(sb_section_bool(s, "on", 0, &b), SB_OK);
    assert_int_equal(b, 1);
    assert_int_equal(sb_section_bool(s, "off", 1, &b), SB_OK);
    assert_int_equal(b, 0);
    assert_int_equal(sb_section_bool(s, "absent", 1, &b), SB_OK);
    assert_int_equal(b, 1);
    double d = 0;
    assert_int_equal(sb_section_seconds(s, "t", 9, 0, 10, &d), SB_OK);
    assert_true(d == 1.5);
    assert_int_equal(sb_section_seconds(s, "absent", 9, 0, 10, &d), SB_OK);
    assert_true(d == 9.0);
    assert_string_equal(sb_section_string(s, "word", "def"), "x");
    assert_string_equal(sb_section_string(s, "empty", "def"), "");
    assert_string_equal(sb_section_string(s, "absent", "def"), "def");
    assert_null(sb_section_string(s, "absent", NULL));
    int opt = -1;
    assert_int_equal(sb_section_optional(s, &opt), SB_OK);
    assert_int_equal(opt, 0);
    sb_config_free(cfg);
}

static const sb_section *getter_section;

static void bad_getters(const sb_section *s)
{
    long l = 5;
    int b = 5;
    double d = 5;
    assert_int_equal(sb_section_int(s, "big", 1, 0, 100, &l), SB_EINVAL);
    assert_int_equal(sb_section_int(s, "word", 1, 0, 100, &l), SB_EINVAL);
    assert_int_equal(sb_section_bool(s, "maybe", 0, &b), SB_EINVAL);
    assert_int_equal(sb_section_seconds(s, "word", 1, 0, 10, &d), SB_EINVAL);
    assert_int_equal(sb_section_seconds(s, "big", 1, 0, 10, &d), SB_EINVAL);
}

static void test_section_getters_bad_values_logged(void **state)
{
    (void)state;
    const char *text = "[auth]\n"
                       "big = 1000\n"
                       "word = x\n"
                       "maybe = perhaps\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    getter_section = sb_config_find(cfg, "auth");
    capture_log(bad_getters, getter_section);
    assert_logged_at(2, "[auth] big: must be an integer from 0 to 100, got \"1000\"");
    assert_logged_at(3, "[auth] word: must be an integer from 0 to 100, got \"x\"");
    assert_logged_at(4, "[auth] maybe: must be yes or no");
    assert_logged_at(3, "[auth] word: must be a number of seconds from 0 to 10, got \"x\"");
    assert_logged_at(2, "[auth] big: must be a number of seconds from 0 to 10, got \"1000\"");
    sb_config_free(cfg);
}

static void ask_some(const sb_section *s)
{
    sb_section_string(s, "mode", NULL);
    long l;
    sb_section_int(s, "jwt_leeway", 30, 0, 3600, &l);
    sb_section_warn_unknown(s);
}

static void test_section_warn_unknown_names_unasked_keys(void **state)
{
    (void)state;
    char *envp[] = {"SWITCHBOARD_AUTH_TYPO_ENV=1", NULL};
    const char *text = "[auth]\n"
                       "enabled = yes\n"
                       "optional = no\n"
                       "path = x.so\n"
                       "mode = none\n"
                       "jwt_leeway = 5\n"
                       "tokn_param = t\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, envp, &cfg), SB_OK);
    capture_log(ask_some, sb_config_find(cfg, "auth"));
    assert_logged_at(7, "[auth] tokn_param: unknown key");
    assert_logged("environment SWITCHBOARD_AUTH_TYPO_ENV: [auth] typo_env: unknown key");
    assert_null(strstr(log_text, "mode:"));
    assert_null(strstr(log_text, "jwt_leeway"));
    assert_null(strstr(log_text, "enabled"));
    assert_null(strstr(log_text, "optional"));
    assert_null(strstr(log_text, "path"));
    sb_config_free(cfg);
}

static void test_section_path_resolves_against_config_dir(void **state)
{
    (void)state;
    const char *text = "[auth]\n"
                       "tokens_file = tokens.conf\n"
                       "abs = /etc/sb/keys.pem\n"
                       "sub = keys/pub.pem\n"
                       "empty =\n";
    sb_config *cfg = NULL;
    assert_int_equal(load_conf(text, NULL, &cfg), SB_OK);
    const sb_section *s = sb_config_find(cfg, "auth");
    char out[PATH_MAX], want[PATH_MAX * 2];
    assert_int_equal(sb_section_path(s, "tokens_file", NULL, out, sizeof(out)), SB_OK);
    snprintf(want, sizeof(want), "%s/tokens.conf", tmpdir);
    assert_string_equal(out, want);
    assert_int_equal(sb_section_path(s, "abs", NULL, out, sizeof(out)), SB_OK);
    assert_string_equal(out, "/etc/sb/keys.pem");
    assert_int_equal(sb_section_path(s, "sub", NULL, out, sizeof(out)), SB_OK);
    snprintf(want, sizeof(want), "%s/keys/pub.pem", tmpdir);
    assert_string_equal(out, want);
    /* Absent (or empty) with a default: the default resolves the same way. */
    assert_int_equal(sb_section_path(s, "absent", "data", out, sizeof(out)), SB_OK);
    snprintf(want, sizeof(want), "%s/data", tmpdir);
    assert_string_equal(out, want);
    assert_int_equal(sb_section_path(s, "empty", "data", out, sizeof(out)), SB_OK);
    assert_string_equal(out, want);
    assert_int_equal(sb_section_path(s, "absent", NULL, out, sizeof(out)), SB_ENOTFOUND);
    assert_int_equal(sb_section_path(s, "empty", NULL, out, sizeof(out)), SB_ENOTFOUND);
    char tiny[8];
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *devnull = fopen("/dev/null", "w");
    dup2(fileno(devnull), STDERR_FILENO);
    int rc = sb_section_path(s, "tokens_file", NULL, tiny, sizeof(tiny));
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(devnull);
    assert_int_equal(rc, SB_EINVAL);
    sb_config_free(cfg);
}

static void test_config_relative_path_via_relative_config(void **state)
{
    (void)state;
    /* A config path given relative to the cwd still yields absolute paths. */
    char sub[PATH_MAX + 16], path[PATH_MAX + 32], old[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/etc", tmpdir);
    mkdir(sub, 0755);
    snprintf(path, sizeof(path), "%s/sb.conf", sub);
    write_file(path, "[server]\nplugin_dir = ../lib/plugins\n");
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(tmpdir), 0);
    sb_config *cfg = NULL;
    int rc = sb_config_load("etc/sb.conf", NULL, &cfg);
    assert_int_equal(chdir(old), 0);
    assert_int_equal(rc, SB_OK);
    assert_string_equal(sb_config_dir(cfg), sub);
    char want[PATH_MAX * 2];
    snprintf(want, sizeof(want), "%s/../lib/plugins", sub);
    assert_string_equal(sb_config_server(cfg)->plugin_dir, want);
    assert_string_equal(sb_config_path(cfg), "etc/sb.conf");
    sb_config_free(cfg);
}

static void test_cidr_parse_forms(void **state)
{
    (void)state;
    sb_cidr c;
    assert_int_equal(sb_cidr_parse("10.0.0.0/8", &c), SB_OK);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(c.addr[0], 10);
    assert_int_equal(sb_cidr_parse("192.168.1.7", &c), SB_OK);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(c.addr[3], 7);
    assert_int_equal(sb_cidr_parse("::1", &c), SB_OK);
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(c.addr[15], 1);
    assert_int_equal(sb_cidr_parse("fd00::/8", &c), SB_OK);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(c.addr[0], 0xfd);
    /* Host bits past the prefix are dropped. */
    assert_int_equal(sb_cidr_parse("10.1.2.3/12", &c), SB_OK);
    assert_int_equal(c.addr[0], 10);
    assert_int_equal(c.addr[1], 0);
    assert_int_equal(c.addr[3], 0);
    assert_int_equal(sb_cidr_parse("0.0.0.0/0", &c), SB_OK);
    assert_int_equal(c.prefix, 0);
    const char *bad[] = {"",           "10.0.0.0/33", "::1/129",    "10.0.0/8",    "10.0.0.0/",
                         "10.0.0.0/x", "host",        "1.2.3.4/-1", "1.2.3.4/08x", "[::1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sb_cidr_parse(bad[i], &c) != SB_EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_cidr_match_addresses(void **state)
{
    (void)state;
    sb_cidr net, one, v6, all;
    assert_int_equal(sb_cidr_parse("10.0.0.0/8", &net), SB_OK);
    assert_int_equal(sb_cidr_parse("192.168.1.7", &one), SB_OK);
    assert_int_equal(sb_cidr_parse("2001:db8::/32", &v6), SB_OK);
    assert_int_equal(sb_cidr_parse("0.0.0.0/0", &all), SB_OK);
    unsigned char a[16], b[16], m[16], x[16];
    inet_pton(AF_INET, "10.200.3.4", a);
    inet_pton(AF_INET, "11.0.0.1", b);
    inet_pton(AF_INET6, "::ffff:10.9.9.9", m);
    inet_pton(AF_INET6, "2001:db8:ffff::1", x);
    assert_true(sb_cidr_match(&net, AF_INET, a));
    assert_false(sb_cidr_match(&net, AF_INET, b));
    assert_true(sb_cidr_match(&all, AF_INET, b));
    /* A v4-mapped v6 address matches the v4 network. */
    assert_true(sb_cidr_match(&net, AF_INET6, m));
    assert_false(sb_cidr_match(&one, AF_INET6, m));
    assert_true(sb_cidr_match(&v6, AF_INET6, x));
    assert_false(sb_cidr_match(&v6, AF_INET, a));
    assert_false(sb_cidr_match(&net, AF_INET6, x));
    unsigned char c7[4] = {192, 168, 1, 7}, c8[4] = {192, 168, 1, 8};
    assert_true(sb_cidr_match(&one, AF_INET, c7));
    assert_false(sb_cidr_match(&one, AF_INET, c8));
    /* A prefix that is not a multiple of 8. */
    sb_cidr odd;
    assert_int_equal(sb_cidr_parse("172.16.0.0/12", &odd), SB_OK);
    unsigned char in[4] = {172, 31, 255, 255}, out[4] = {172, 32, 0, 0};
    assert_true(sb_cidr_match(&odd, AF_INET, in));
    assert_false(sb_cidr_match(&odd, AF_INET, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_load_defaults),
        cmocka_unit_test(test_config_load_empty_file_and_no_server),
        cmocka_unit_test(test_config_load_every_server_key),
        cmocka_unit_test(test_config_load_listen_forms),
        cmocka_unit_test(test_config_load_bad_values_logged_with_line),
        cmocka_unit_test(test_config_load_unknown_server_key_warns),
        cmocka_unit_test(test_config_load_missing_file),
        cmocka_unit_test(test_config_load_sections_in_order_merged),
        cmocka_unit_test(test_config_load_inline_comments),
        cmocka_unit_test(test_config_load_continuation_lines),
        cmocka_unit_test(test_config_load_continuation_of_scalar_is_error),
        cmocka_unit_test(test_config_load_indented_key_after_section_is_a_key),
        cmocka_unit_test(test_config_load_syntax_errors),
        cmocka_unit_test(test_config_load_long_line_is_error),
        cmocka_unit_test(test_config_load_crlf_file),
        cmocka_unit_test(test_config_env_overrides_server_and_plugin_keys),
        cmocka_unit_test(test_config_env_bad_value_names_variable),
        cmocka_unit_test(test_config_env_longest_prefix_wins),
        cmocka_unit_test(test_config_env_creates_section_from_plugin_dir),
        cmocka_unit_test(test_config_env_plugin_dir_override_applies_first),
        cmocka_unit_test(test_config_env_unmatched_variable_is_error),
        cmocka_unit_test(test_config_env_unknown_server_key_warns),
        cmocka_unit_test(test_section_getters_typed_values),
        cmocka_unit_test(test_section_getters_bad_values_logged),
        cmocka_unit_test(test_section_warn_unknown_names_unasked_keys),
        cmocka_unit_test(test_section_path_resolves_against_config_dir),
        cmocka_unit_test(test_config_relative_path_via_relative_config),
        cmocka_unit_test(test_cidr_parse_forms),
        cmocka_unit_test(test_cidr_match_addresses),
    };
    return cmocka_run_group_tests(tests, config_setup, config_teardown);
}
