/* plugins.conf: INI parsed with libinih into [server] settings (validated,
 * with defaults) and the plugin sections in file order, each a list of
 * key/value/line. Environment overrides SWITCHBOARD_<SECTION>_<KEY> are applied
 * here. Owns no runtime state beyond the loaded values. */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stddef.h>

#include "switchboard/plugin.h"

enum sb_sessions { SB_SESSIONS_MULTI = 0, SB_SESSIONS_REPLACE = 1 };

/* A CIDR, for trusted_proxies and metrics_allow. */
typedef struct sb_cidr {
    int family; /* AF_INET | AF_INET6 */
    unsigned char addr[16];
    int prefix;
} sb_cidr;

/* [server], every key of docs/design.md with its default. */
typedef struct sb_server_cfg {
    char listen[128];         /* "0.0.0.0:8080", "[::]:8080", "[::1]:9000"; "": no plain listener */
    char tls_listen[128];     /* the TLS listener, same forms; "": none */
    char tls_cert[4096];      /* PEM certificate (chain allowed), resolved like plugin_dir */
    char tls_key[4096];       /* PEM private key */
    int tls_min_version;      /* 12 (TLS 1.2) or 13 */
    char plugin_dir[4096];    /* resolved against the config file's directory */
    long max_connections;     /* 100000 */
    long max_message_bytes;   /* 65536 */
    long max_outbound_bytes;  /* 1048576 */
    long max_recipients;      /* 100 */
    double ping_interval;     /* 30 s */
    double idle_timeout;      /* 75 s */
    double auth_timeout;      /* 10 s */
    int sessions;             /* enum sb_sessions, multi */
    double rate_limit;        /* 50 per second; 0: off */
    long rate_burst;          /* 100 */
    long max_header_bytes;    /* 8192 */
    double header_timeout;    /* 10 s */
    char **allowed_origins;   /* NULL-terminated; empty list: any origin */
    int log_level;            /* SB_LOG_INFO */
    int log_format;           /* enum sb_log_format: SB_LOG_TEXT or SB_LOG_JSON */
    sb_cidr *trusted_proxies; /* n_trusted_proxies entries */
    size_t n_trusted_proxies;
    sb_cidr *metrics_allow; /* default 127.0.0.0/8 ::1 */
    size_t n_metrics_allow;
    long max_connections_per_ip; /* 0: no limit */
    double shutdown_timeout;     /* 10 s */
    char ws_path[256];           /* the native endpoint, "/ws" */
    int compression;             /* permessage-deflate offered: yes */
    long compression_min_bytes;  /* smaller payloads go uncompressed: 128 */
} sb_server_cfg;

typedef struct sb_config sb_config;

/* Parse path, apply overrides from envp (NULL-terminated "K=V" strings, e.g.
 * environ) and validate [server]. Errors are logged with file, line, key and
 * why. -> SB_OK | SB_EINVAL (bad value, unknown override: exit 2)
 *        | SB_ENOTFOUND (file missing or unreadable) | SB_ENOMEM */
int sb_config_load(const char *path, char *const *envp, sb_config **out);
/* sb_config_load for --check-config: on SB_EINVAL *out is still the config
 * (bad [server] values left at zero), so the plugin sections can be checked
 * too. */
int sb_config_load_check(const char *path, char *const *envp, sb_config **out);
void sb_config_free(sb_config *cfg);

const sb_server_cfg *sb_config_server(const sb_config *cfg);
/* The config file's path and directory (for resolving relative paths). */
const char *sb_config_path(const sb_config *cfg);
const char *sb_config_dir(const sb_config *cfg);

/* Plugin sections (every section but [server]) in file order; sections
 * created by an override come after them. */
size_t sb_config_n_sections(const sb_config *cfg);
const sb_section *sb_config_section(const sb_config *cfg, size_t i);
const sb_section *sb_config_find(const sb_config *cfg, const char *name);
/* The [server] section as an sb_section (for host->cfg_server). */
const sb_section *sb_config_server_section(const sb_config *cfg);

const char *sb_section_name(const sb_section *s);
/* The raw value or NULL; does not mark the key known. */
const char *sb_section_get(const sb_section *s, const char *key);
/* The line of the section's [name] header (0: made by an override). */
int sb_section_header_line(const sb_section *s);
/* The line of key in the file (0: from the environment or absent). */
int sb_section_line(const sb_section *s, const char *key);
/* "enabled" (default yes) and "optional" (default no); bad values logged. -> SB_OK | SB_EINVAL */
int sb_section_enabled(const sb_section *s, int *enabled);
int sb_section_optional(const sb_section *s, int *optional);
/* Log a warning naming file, line, section and key for each key that no
 * getter asked for ("enabled", "optional", "path" count as known). */
void sb_section_warn_unknown(const sb_section *s);

/* The getters behind host->cfg_*; same contracts as in plugin.h. */
const char *sb_section_string(const sb_section *s, const char *key, const char *def);
int sb_section_int(const sb_section *s, const char *key, long def, long min, long max, long *out);
int sb_section_bool(const sb_section *s, const char *key, int def, int *out);
int sb_section_path(const sb_section *s, const char *key, const char *def, char *out,
                    size_t out_len);
/* A number of seconds (may be fractional) in [min, max]. -> SB_OK | SB_EINVAL */
int sb_section_seconds(const sb_section *s, const char *key, double def, double min, double max,
                       double *out);

/* Parse "a.b.c.d/n", "::1", "10.0.0.0/8" (no prefix: full length). -> SB_OK | SB_EINVAL */
int sb_cidr_parse(const char *s, sb_cidr *out);
/* Whether the address (struct sockaddr_in/in6 bytes via family + 4/16 bytes) is in c. */
int sb_cidr_match(const sb_cidr *c, int family, const unsigned char *addr);

#endif
