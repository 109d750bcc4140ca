/* Fuzz target: plugins.conf loading (core/util/config.c over libinih). The input
 * up to the first NUL is the file; after it, newline-separated "K=V" strings
 * are the environment (SWITCHBOARD_<SECTION>_<KEY> overrides). A loaded
 * config is read back through every getter, then freed: LeakSanitizer checks
 * that both the success and every error path release what they took. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#define MAX_ENV 32

/* The file is a memfd opened by path: no disk I/O per input. */
static char conf_path[PATH_MAX];
static int conf_fd = -1;

static void setup_once(void)
{
    if (conf_fd >= 0)
        return;
    conf_fd = memfd_create("plugins.conf", 0);
    if (conf_fd < 0)
        abort();
    snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
}

static const char *const keys[] = {"enabled", "optional", "path",  "listen", "max_connections",
                                   "timeout", "ratio",    "flag",  "name",   "file",
                                   "db",      "script",   "limit", NULL};

static void read_section(const sb_section *s)
{
    if (!s)
        return;
    const char *name = sb_section_name(s);
    if (!name)
        abort();
    int b;
    long l;
    double d;
    char path[256];
    (void)sb_section_enabled(s, &b);
    (void)sb_section_optional(s, &b);
    for (size_t i = 0; keys[i]; i++) {
        const char *v = sb_section_get(s, keys[i]);
        if (v && strlen(v) > 1u << 20)
            abort();
        (void)sb_section_line(s, keys[i]);
        (void)sb_section_string(s, keys[i], "def");
        if (sb_section_int(s, keys[i], 5, -10, 1000, &l) == SB_OK && (l < -10 || l > 1000))
            abort();
        (void)sb_section_bool(s, keys[i], 0, &b);
        if (sb_section_seconds(s, keys[i], 1.5, 0.001, 3600, &d) == SB_OK &&
            !(d >= 0.001 && d <= 3600))
            abort();
        if (sb_section_path(s, keys[i], "rel/x", path, sizeof(path)) == SB_OK &&
            strnlen(path, sizeof(path)) >= sizeof(path))
            abort();
    }
}

static void read_back(const sb_config *cfg)
{
    const sb_server_cfg *srv = sb_config_server(cfg);
    if (!srv || !sb_config_path(cfg) || !sb_config_dir(cfg))
        abort();
    if (strnlen(srv->listen, sizeof(srv->listen)) >= sizeof(srv->listen) ||
        strnlen(srv->plugin_dir, sizeof(srv->plugin_dir)) >= sizeof(srv->plugin_dir))
        abort();
    for (char **o = srv->allowed_origins; o && *o; o++)
        if (strlen(*o) > 1u << 20)
            abort();
    for (size_t i = 0; i < srv->n_trusted_proxies; i++)
        if (srv->trusted_proxies[i].prefix < 0 || srv->trusted_proxies[i].prefix > 128)
            abort();
    for (size_t i = 0; i < srv->n_metrics_allow; i++)
        if (srv->metrics_allow[i].prefix < 0 || srv->metrics_allow[i].prefix > 128)
            abort();
    read_section(sb_config_server_section(cfg));
    size_t n = sb_config_n_sections(cfg);
    for (size_t i = 0; i < n; i++) {
        const sb_section *s = sb_config_section(cfg, i);
        if (!s || sb_config_find(cfg, sb_section_name(s)) == NULL)
            abort();
        read_section(s);
        sb_section_warn_unknown(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    const uint8_t *nul = memchr(data, 0, size);
    size_t file_len = nul ? (size_t)(nul - data) : size;

    if (ftruncate(conf_fd, 0) != 0 ||
        (file_len && pwrite(conf_fd, data, file_len, 0) != (ssize_t)file_len))
        abort();

    /* The environment: at most MAX_ENV lines after the NUL. */
    char *envbuf = NULL;
    char *envp[MAX_ENV + 1];
    size_t ne = 0;
    if (nul) {
        size_t n = size - file_len - 1;
        envbuf = malloc(n + 1);
        if (!envbuf)
            abort();
        memcpy(envbuf, nul + 1, n);
        envbuf[n] = 0;
        for (char *line = envbuf; line && ne < MAX_ENV;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            envp[ne++] = line;
            line = nl ? nl + 1 : NULL;
        }
    }
    envp[ne] = NULL;

    sb_config *cfg = NULL;
    int rc = sb_config_load(conf_path, nul ? envp : NULL, &cfg);
    if (rc == SB_OK) {
        if (!cfg)
            abort();
        read_back(cfg);
        sb_config_free(cfg);
    } else if (cfg || (rc != SB_EINVAL && rc != SB_ENOTFOUND && rc != SB_ENOMEM)) {
        abort();
    }
    free(envbuf);
    return 0;
}
