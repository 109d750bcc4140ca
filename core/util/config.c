/* plugins.conf: read with libinih into sections of key/value/line, then the
 * SWITCHBOARD_<SECTION>_<KEY> environment overrides, then [server] validated
 * into sb_server_cfg. Also the typed getters behind host->cfg_* and CIDRs.
 * Owns the loaded values only; what a plugin section means is the plugin's. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#ifndef SB_DEFAULT_PLUGIN_DIR
#define SB_DEFAULT_PLUGIN_DIR "plugins"
#endif

#define ENV_PREFIX "SWITCHBOARD_"
/* Debian's inih reads lines into a 200-byte buffer: 199 characters + NUL. */
#define MAX_LINE 199
/* inih copies section names into 50 bytes. */
#define MAX_SECTION_NAME 49

typedef struct kv {
    char *key;
    char *value;
    int line;       /* 0: from the environment or a default */
    int known;      /* a getter asked for it */
    char *env_name; /* the variable that set it, or NULL */
} kv;

struct sb_section {
    char *name;
    int line; /* of its [name] header; 0: made by an override */
    kv *kvs;
    size_t n, cap;
    sb_config *cfg;
};

struct sb_config {
    char *path;
    char *dir;
    sb_section server;
    sb_section **sections; /* plugin sections, file order */
    size_t n_sections, cap_sections;
    sb_server_cfg srv;
};

/* --- small helpers ------------------------------------------------------ */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static kv *section_kv(const sb_section *s, const char *key)
{
    if (!s || !key)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->kvs[i].key, key) == 0)
            return &s->kvs[i];
    }
    return NULL;
}

/* Set key (the last setting wins). -> the entry, or NULL on ENOMEM */
static kv *section_set(sb_section *s, const char *key, const char *value, int line,
                       const char *env_name)
{
    char *v = dup_str(value);
    char *e = env_name ? dup_str(env_name) : NULL;
    if (!v || (env_name && !e)) {
        free(v);
        free(e);
        return NULL;
    }
    kv *k = section_kv(s, key);
    if (!k) {
        char *kcopy = dup_str(key);
        if (!kcopy) {
            free(v);
            free(e);
            return NULL;
        }
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            kv *nk = realloc(s->kvs, cap * sizeof(*nk));
            if (!nk) {
                free(kcopy);
                free(v);
                free(e);
                return NULL;
            }
            s->kvs = nk;
            s->cap = cap;
        }
        k = &s->kvs[s->n++];
        memset(k, 0, sizeof(*k));
        k->key = kcopy;
    }
    free(k->value);
    free(k->env_name);
    k->value = v;
    k->env_name = e;
    k->line = line;
    return k;
}

static void section_clear(sb_section *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->kvs[i].key);
        free(s->kvs[i].value);
        free(s->kvs[i].env_name);
    }
    free(s->kvs);
    free(s->name);
}

static sb_section *config_find_plugin(const sb_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_sections; i++) {
        if (strcmp(cfg->sections[i]->name, name) == 0)
            return cfg->sections[i];
    }
    return NULL;
}

/* The section called name, created (appended) when missing. NULL on ENOMEM. */
static sb_section *config_section(sb_config *cfg, const char *name)
{
    if (strcmp(name, "server") == 0)
        return &cfg->server;
    sb_section *s = config_find_plugin(cfg, name);
    if (s)
        return s;
    if (cfg->n_sections == cfg->cap_sections) {
        size_t cap = cfg->cap_sections ? cfg->cap_sections * 2 : 16;
        sb_section **ns = realloc(cfg->sections, cap * sizeof(*ns));
        if (!ns)
            return NULL;
        cfg->sections = ns;
        cfg->cap_sections = cap;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->name = dup_str(name);
    if (!s->name) {
        free(s);
        return NULL;
    }
    s->cfg = cfg;
    cfg->sections[cfg->n_sections++] = s;
    return s;
}

/* "file:line" or "environment NAME" or "default", for error messages. */
static const char *kv_where(const sb_section *s, const kv *k, char *buf, size_t len)
{
    if (k && k->env_name)
        snprintf(buf, len, "environment %s", k->env_name);
    else if (k && k->line > 0)
        snprintf(buf, len, "%s:%d", s->cfg ? s->cfg->path : "?", k->line);
    else
        snprintf(buf, len, "%s", s->cfg ? s->cfg->path : "?");
    return buf;
}

static void kv_error(const sb_section *s, const kv *k, const char *why)
{
    char where[4200];
    sb_log(SB_LOG_ERROR, "%s: [%s] %s: %s, got \"%s\"", kv_where(s, k, where, sizeof(where)),
           s->name, k->key, why, k->value);
}

/* Join dir and a relative path; absolute paths stay as they are.
 * -> SB_OK | SB_EINVAL (does not fit) */
static int resolve_path(const char *dir, const char *p, char *out, size_t out_len)
{
    int n;
    if (p[0] == '/' || !dir || !dir[0])
        n = snprintf(out, out_len, "%s", p);
    else if (strcmp(p, ".") == 0)
        n = snprintf(out, out_len, "%s", dir);
    else
        n = snprintf(out, out_len, "%s/%s", dir, p);
    return n < 0 || (size_t)n >= out_len ? SB_EINVAL : SB_OK;
}

/* --- value parsers (no logging) ----------------------------------------- */

static int parse_long(const char *v, long min, long max, long *out)
{
    if (!v || !*v || isspace((unsigned char)*v))
        return SB_EINVAL;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < min || x > max)
        return SB_EINVAL;
    *out = x;
    return SB_OK;
}

/* A plain decimal number: strtod alone would also take hex, inf and nan. */
static int parse_double(const char *v, double min, double max, double *out)
{
    if (!v || !*v)
        return SB_EINVAL;
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p) && !strchr(".+-eE", *p))
            return SB_EINVAL;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x) || x < min || x > max)
        return SB_EINVAL;
    *out = x;
    return SB_OK;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; v && i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return SB_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return SB_OK;
        }
    }
    return SB_EINVAL;
}

/* --- CIDRs --------------------------------------------------------------- */

int sb_cidr_parse(const char *s, sb_cidr *out)
{
    if (!s || !out)
        return SB_EINVAL;
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return SB_EINVAL;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    sb_cidr c;
    memset(&c, 0, sizeof(c));
    int max;
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        max = 128;
    } else {
        return SB_EINVAL;
    }
    c.prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3)
            return SB_EINVAL;
        int v = 0;
        for (; *p; p++) {
            if (!isdigit((unsigned char)*p))
                return SB_EINVAL;
            v = v * 10 + (*p - '0');
        }
        if (v > max)
            return SB_EINVAL;
        c.prefix = v;
    }
    /* Host bits past the prefix are cleared: 10.1.2.3/8 means 10.0.0.0/8. */
    int bytes = max / 8;
    for (int i = 0; i < bytes; i++) {
        int keep = c.prefix - i * 8;
        if (keep <= 0)
            c.addr[i] = 0;
        else if (keep < 8)
            c.addr[i] &= (unsigned char)(0xff << (8 - keep));
    }
    *out = c;
    return SB_OK;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int sb_cidr_match(const sb_cidr *c, int family, const unsigned char *addr)
{
    if (!c || !addr)
        return 0;
    if (family == c->family)
        return prefix_equal(c->addr, addr, c->prefix);
    /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
    if (c->family == AF_INET && family == AF_INET6 && memcmp(addr, v4_mapped, 12) == 0)
        return prefix_equal(c->addr, addr + 12, c->prefix);
    if (c->family == AF_INET6 && family == AF_INET) {
        unsigned char m[16];
        memcpy(m, v4_mapped, 12);
        memcpy(m + 12, addr, 4);
        return prefix_equal(c->addr, m, c->prefix);
    }
    return 0;
}

/* Split a list value on spaces, tabs and commas. Calls fn for each item;
 * stops at the first nonzero answer and returns it. */
static int list_each(const char *v, int (*fn)(void *arg, const char *item), void *arg)
{
    char item[256];
    const char *p = v;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == ','))
            p++;
        if (!*p)
            break;
        size_t n = 0;
        while (p[n] && !isspace((unsigned char)p[n]) && p[n] != ',')
            n++;
        if (n >= sizeof(item))
            return SB_EINVAL;
        memcpy(item, p, n);
        item[n] = '\0';
        int rc = fn(arg, item);
        if (rc)
            return rc;
        p += n;
    }
    return 0;
}

typedef struct cidr_list {
    sb_cidr *v;
    size_t n, cap;
} cidr_list;

static int cidr_list_add(void *arg, const char *item)
{
    cidr_list *l = arg;
    sb_cidr c;
    if (sb_cidr_parse(item, &c) != SB_OK)
        return SB_EINVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        sb_cidr *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return SB_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = c;
    return 0;
}

typedef struct str_list {
    char **v; /* NULL-terminated */
    size_t n;
} str_list;

static int str_list_add(void *arg, const char *item)
{
    str_list *l = arg;
    char **nv = realloc(l->v, (l->n + 2) * sizeof(*nv));
    if (!nv)
        return SB_ENOMEM;
    l->v = nv;
    l->v[l->n] = dup_str(item);
    if (!l->v[l->n])
        return SB_ENOMEM;
    l->v[++l->n] = NULL;
    return 0;
}

static void str_list_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* --- [server] ----------------------------------------------------------- */

enum srv_kind {
    K_LISTEN,
    K_PATH,
    K_FILE,
    K_TLS_VERSION,
    K_BOOL,
    K_URL_PATH,
    K_LONG,
    K_SECONDS,
    K_RATE,
    K_SESSIONS,
    K_ORIGINS,
    K_LEVEL,
    K_FORMAT,
    K_CIDRS
};

typedef struct srv_key {
    const char *name;
    const char *def;
    int kind;
    size_t off;        /* K_LONG: a long, K_SECONDS and K_RATE: a double in sb_server_cfg */
    long min, max;     /* K_LONG */
    double dmin, dmax; /* K_SECONDS, K_RATE */
} srv_key;

#define OFF(field) offsetof(sb_server_cfg, field)

/* Every [server] key of docs/design.md "Configuration keys", with its default. */
static const srv_key srv_keys[] = {
    {"listen", "0.0.0.0:8080", K_LISTEN, 0, 0, 0, 0, 0},
    {"plugin_dir", SB_DEFAULT_PLUGIN_DIR, K_PATH, 0, 0, 0, 0, 0},
    {"tls_listen", "", K_LISTEN, 1, 0, 0, 0, 0},
    {"tls_cert", "", K_FILE, OFF(tls_cert), 0, 0, 0, 0},
    {"tls_key", "", K_FILE, OFF(tls_key), 0, 0, 0, 0},
    {"tls_min_version", "1.2", K_TLS_VERSION, 0, 0, 0, 0, 0},
    {"max_connections", "100000", K_LONG, OFF(max_connections), 1, 10000000, 0, 0},
    {"max_message_bytes", "65536", K_LONG, OFF(max_message_bytes), 1, 1073741824, 0, 0},
    {"max_outbound_bytes", "1048576", K_LONG, OFF(max_outbound_bytes), 1, 1099511627776L, 0, 0},
    {"max_recipients", "100", K_LONG, OFF(max_recipients), 1, 1000000, 0, 0},
    {"ping_interval", "30", K_SECONDS, OFF(ping_interval), 0, 0, 0.001, 86400},
    {"idle_timeout", "75", K_SECONDS, OFF(idle_timeout), 0, 0, 0.001, 86400},
    {"auth_timeout", "10", K_SECONDS, OFF(auth_timeout), 0, 0, 0.001, 86400},
    {"sessions", "multi", K_SESSIONS, 0, 0, 0, 0, 0},
    {"rate_limit", "50", K_RATE, OFF(rate_limit), 0, 0, 0, 1e9},
    {"rate_burst", "100", K_LONG, OFF(rate_burst), 1, 1000000000, 0, 0},
    {"max_header_bytes", "8192", K_LONG, OFF(max_header_bytes), 64, 1048576, 0, 0},
    {"header_timeout", "10", K_SECONDS, OFF(header_timeout), 0, 0, 0.001, 86400},
    {"allowed_origins", "", K_ORIGINS, 0, 0, 0, 0, 0},
    {"log_level", "info", K_LEVEL, 0, 0, 0, 0, 0},
    {"log_format", "text", K_FORMAT, 0, 0, 0, 0, 0},
    {"trusted_proxies", "", K_CIDRS, OFF(trusted_proxies), 0, 0, 0, 0},
    {"max_connections_per_ip", "0", K_LONG, OFF(max_connections_per_ip), 0, 10000000, 0, 0},
    {"metrics_allow", "127.0.0.0/8 ::1", K_CIDRS, OFF(metrics_allow), 0, 0, 0, 0},
    {"shutdown_timeout", "10", K_SECONDS, OFF(shutdown_timeout), 0, 0, 0, 86400},
    {"ws_path", "/ws", K_URL_PATH, 0, 0, 0, 0, 0},
    {"compression", "yes", K_BOOL, OFF(compression), 0, 0, 0, 0},
    {"compression_min_bytes", "128", K_LONG, OFF(compression_min_bytes), 0, 1073741824, 0, 0},
};

static const srv_key *srv_key_find(const char *name)
{
    for (size_t i = 0; i < sizeof(srv_keys) / sizeof(srv_keys[0]); i++) {
        if (strcmp(srv_keys[i].name, name) == 0)
            return &srv_keys[i];
    }
    return NULL;
}

/* A key of [server] whose value is a list: continuation lines allowed. */
static int srv_list_key(const char *name)
{
    return strcmp(name, "allowed_origins") == 0 || strcmp(name, "trusted_proxies") == 0 ||
           strcmp(name, "metrics_allow") == 0;
}

/* "host:port" or "[v6]:port", port 0..65535 (0: any free port). */
static int listen_valid(const char *v)
{
    const char *colon;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return 0;
        char host[INET6_ADDRSTRLEN];
        size_t n = (size_t)(close - v - 1);
        unsigned char a[16];
        if (n == 0 || n >= sizeof(host))
            return 0;
        memcpy(host, v + 1, n);
        host[n] = '\0';
        if (inet_pton(AF_INET6, host, a) != 1)
            return 0;
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || colon == v)
            return 0;
        for (const char *p = v; p < colon; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
                return 0;
        }
    }
    const char *digits = colon + 1;
    size_t n = strlen(digits);
    if (n == 0 || n > 5 || strspn(digits, "0123456789") != n)
        return 0;
    return atol(digits) <= 65535;
}

/* Parse one [server] value into srv. -> SB_OK | SB_EINVAL (logged) | SB_ENOMEM */
static int srv_apply(sb_config *cfg, const srv_key *sk, const kv *k)
{
    sb_server_cfg *srv = &cfg->srv;
    const sb_section *s = &cfg->server;
    const char *v = k->value;
    char why[160];
    long l = 0;
    double d = 0;
    int rc = SB_OK;

    switch (sk->kind) {
    case K_LISTEN: {
        /* off 1: tls_listen. Empty switches the listener off. */
        char *dst = sk->off ? srv->tls_listen : srv->listen;
        if (strlen(v) >= sizeof(srv->listen) || (*v && !listen_valid(v))) {
            kv_error(s, k, "must be host:port or [ipv6]:port with a port from 0 to 65535");
            return SB_EINVAL;
        }
        snprintf(dst, sizeof(srv->listen), "%s", v);
        return SB_OK;
    }
    case K_FILE: {
        char *dst = (char *)srv + sk->off;
        dst[0] = '\0';
        if (*v && resolve_path(cfg->dir, v, dst, sizeof(srv->tls_cert)) != SB_OK) {
            kv_error(s, k, "must be a file path of at most 4095 bytes");
            return SB_EINVAL;
        }
        return SB_OK;
    }
    case K_BOOL:
        if (parse_bool(v, (int *)((char *)srv + sk->off)) != SB_OK) {
            kv_error(s, k, "must be yes or no");
            return SB_EINVAL;
        }
        return SB_OK;
    case K_TLS_VERSION:
        if (strcmp(v, "1.2") == 0) {
            srv->tls_min_version = 12;
        } else if (strcmp(v, "1.3") == 0) {
            srv->tls_min_version = 13;
        } else {
            kv_error(s, k, "must be 1.2 or 1.3");
            return SB_EINVAL;
        }
        return SB_OK;
    case K_PATH:
        if (!*v || resolve_path(cfg->dir, v, srv->plugin_dir, sizeof(srv->plugin_dir)) != SB_OK) {
            kv_error(s, k, "must be a directory path of at most 4095 bytes");
            return SB_EINVAL;
        }
        return SB_OK;
    case K_LONG:
        if (parse_long(v, sk->min, sk->max, &l) != SB_OK) {
            snprintf(why, sizeof(why), "must be an integer from %ld to %ld", sk->min, sk->max);
            kv_error(s, k, why);
            return SB_EINVAL;
        }
        break;
    case K_SECONDS:
    case K_RATE:
        if (parse_double(v, sk->dmin, sk->dmax, &d) != SB_OK) {
            if (sk->kind == K_RATE)
                snprintf(why, sizeof(why), "must be a number of commands per second from %g to %g",
                         sk->dmin, sk->dmax);
            else if (sk->dmin > 0)
                snprintf(why, sizeof(why), "must be a number of seconds above 0, at most %g",
                         sk->dmax);
            else
                snprintf(why, sizeof(why), "must be a number of seconds from 0 to %g", sk->dmax);
            kv_error(s, k, why);
            return SB_EINVAL;
        }
        break;
    case K_URL_PATH:
        /* A request path as it arrives: absolute, no query, no spaces. */
        if (v[0] != '/' || strlen(v) >= sizeof(srv->ws_path) || strpbrk(v, "?# \t")) {
            kv_error(s, k, "must be an absolute request path such as /ws (no query)");
            return SB_EINVAL;
        }
        memcpy(srv->ws_path, v, strlen(v) + 1);
        return SB_OK;
    case K_SESSIONS:
        if (strcmp(v, "multi") == 0) {
            srv->sessions = SB_SESSIONS_MULTI;
        } else if (strcmp(v, "replace") == 0) {
            srv->sessions = SB_SESSIONS_REPLACE;
        } else {
            kv_error(s, k, "must be multi or replace");
            return SB_EINVAL;
        }
        return SB_OK;
    case K_LEVEL:
        if (sb_log_level_parse(v, &srv->log_level) != SB_OK) {
            kv_error(s, k, "must be debug, info, warn or error");
            return SB_EINVAL;
        }
        return SB_OK;
    case K_FORMAT:
        if (sb_log_format_parse(v, &srv->log_format) != SB_OK) {
            kv_error(s, k, "must be text or json");
            return SB_EINVAL;
        }
        return SB_OK;
    case K_ORIGINS: {
        str_list list = {NULL, 0};
        rc = list_each(v, str_list_add, &list);
        if (rc == SB_OK && !list.v) {
            list.v = calloc(1, sizeof(*list.v)); /* the empty list: any origin */
            if (!list.v)
                rc = SB_ENOMEM;
        }
        if (rc != SB_OK) {
            str_list_free(list.v);
            if (rc != SB_ENOMEM)
                kv_error(s, k, "must be space-separated origins of at most 255 bytes each");
            return rc;
        }
        str_list_free(srv->allowed_origins);
        srv->allowed_origins = list.v;
        return SB_OK;
    }
    case K_CIDRS: {
        cidr_list list = {NULL, 0, 0};
        rc = list_each(v, cidr_list_add, &list);
        if (rc != SB_OK) {
            free(list.v);
            if (rc != SB_ENOMEM)
                kv_error(s, k,
                         "must be space-separated addresses or CIDRs such as 10.0.0.0/8 "
                         "or ::1");
            return rc;
        }
        if (sk->off == OFF(trusted_proxies)) {
            free(srv->trusted_proxies);
            srv->trusted_proxies = list.v;
            srv->n_trusted_proxies = list.n;
        } else {
            free(srv->metrics_allow);
            srv->metrics_allow = list.v;
            srv->n_metrics_allow = list.n;
        }
        return SB_OK;
    }
    }

    if (sk->kind == K_LONG)
        *(long *)((char *)srv + sk->off) = l;
    else
        *(double *)((char *)srv + sk->off) = d;
    return SB_OK;
}

/* Fill defaults into [server] (so cfg_server readers see them), warn about
 * unknown keys, and parse every key. -> SB_OK | SB_EINVAL | SB_ENOMEM */
static int srv_load(sb_config *cfg)
{
    sb_section *s = &cfg->server;
    int rc = SB_OK;
    for (size_t i = 0; i < s->n; i++) {
        kv *k = &s->kvs[i];
        if (srv_key_find(k->key)) {
            k->known = 1;
        } else {
            char where[4200];
            sb_log(SB_LOG_WARN, "%s: [server] %s: unknown key (ignored)",
                   kv_where(s, k, where, sizeof(where)), k->key);
        }
    }
    for (size_t i = 0; i < sizeof(srv_keys) / sizeof(srv_keys[0]); i++) {
        const srv_key *sk = &srv_keys[i];
        kv *k = section_kv(s, sk->name);
        if (!k) {
            k = section_set(s, sk->name, sk->def, 0, NULL);
            if (!k)
                return SB_ENOMEM;
            k->known = 1;
        }
        int r = srv_apply(cfg, sk, k);
        if (r == SB_ENOMEM)
            return r;
        if (r != SB_OK)
            rc = SB_EINVAL;
    }
    if (rc == SB_OK && !cfg->srv.listen[0] && !cfg->srv.tls_listen[0]) {
        sb_log(SB_LOG_ERROR, "%s: [server] listen and tls_listen are both empty: nothing to serve",
               cfg->path);
        rc = SB_EINVAL;
    }
    if (rc == SB_OK && cfg->srv.tls_listen[0] && (!cfg->srv.tls_cert[0] || !cfg->srv.tls_key[0])) {
        sb_log(SB_LOG_ERROR, "%s: [server] tls_listen needs tls_cert and tls_key", cfg->path);
        rc = SB_EINVAL;
    }
    return rc;
}

/* --- reading the file with inih ----------------------------------------- */

typedef struct conf_parse {
    sb_config *cfg;
    FILE *fp;
    char *buf;
    size_t cap;
    int lineno;
    int errors;
    int nomem;
    /* What the reader saw of the line inih is about to parse. */
    int line_cont; /* a continuation of the previous key */
    int have_prev; /* inih's prev_name is set: an indented line continues it */
    /* The entry a continuation appends to (an index: kvs may move). */
    sb_section *prev_section; /* NULL: none */
    size_t prev_idx;
} conf_parse;

/* inih's find_chars_or_comment: the first of chars, or of an inline comment
 * (";" after whitespace), or the end. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;
    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* Classify the line the way inih will (it calls the handler for key lines
 * only, so section headers, the line kind and syntax errors are seen here). */
static void classify_line(conf_parse *p, const char *line)
{
    const char *start = line;
    if (p->lineno == 1 && memcmp(start, "\xEF\xBB\xBF", 3) == 0)
        start += 3;
    const char *bol = start;
    while (*start && isspace((unsigned char)*start))
        start++;
    p->line_cont = 0;
    if (!*start || *start == ';' || *start == '#')
        return;
    if (p->have_prev && start > bol) {
        p->line_cont = 1;
        return;
    }
    if (*start == '[') {
        const char *end = find_chars_or_comment(start + 1, "]");
        if (*end != ']') {
            sb_log(SB_LOG_ERROR, "%s:%d: a section header needs a closing ]", p->cfg->path,
                   p->lineno);
            p->errors++;
            return;
        }
        size_t n = (size_t)(end - start - 1);
        char name[MAX_SECTION_NAME + 1];
        int bad = n == 0 || n > MAX_SECTION_NAME;
        for (size_t i = 0; !bad && i < n; i++)
            bad = isspace((unsigned char)start[1 + i]);
        if (bad) {
            sb_log(SB_LOG_ERROR,
                   "%s:%d: a section name must be 1 to %d characters without spaces, got \"%.*s\"",
                   p->cfg->path, p->lineno, MAX_SECTION_NAME, (int)n, start + 1);
            p->errors++;
            p->have_prev = 0;
            p->prev_section = NULL;
            return;
        }
        memcpy(name, start + 1, n);
        name[n] = '\0';
        sb_section *s = config_section(p->cfg, name);
        if (!s)
            p->nomem = 1;
        else if (s->line == 0)
            s->line = p->lineno;
        p->have_prev = 0;
        p->prev_section = NULL;
        return;
    }
    const char *end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
        sb_log(SB_LOG_ERROR, "%s:%d: expected key = value, [section] or a comment", p->cfg->path,
               p->lineno);
        p->errors++;
    }
}

/* inih's reader: one line per call, counted, checked for length. */
static char *conf_reader(char *str, int num, void *stream)
{
    conf_parse *p = stream;
    ssize_t n = getline(&p->buf, &p->cap, p->fp);
    if (n < 0)
        return NULL;
    p->lineno++;
    while (n > 0 && (p->buf[n - 1] == '\n' || p->buf[n - 1] == '\r'))
        p->buf[--n] = '\0';
    size_t limit = num - 1 < MAX_LINE ? (size_t)num - 1 : MAX_LINE;
    if ((size_t)n > limit || memchr(p->buf, '\0', (size_t)n)) {
        if ((size_t)n > limit)
            sb_log(SB_LOG_ERROR, "%s:%d: line longer than %zu characters", p->cfg->path, p->lineno,
                   limit);
        else
            sb_log(SB_LOG_ERROR, "%s:%d: line contains a NUL byte", p->cfg->path, p->lineno);
        p->errors++;
        p->line_cont = 0;
        str[0] = '\0'; /* inih sees a blank line */
        return str;
    }
    classify_line(p, p->buf);
    memcpy(str, p->buf, (size_t)n + 1);
    return str;
}

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
    conf_parse *p = user;
    sb_config *cfg = p->cfg;
    if (p->line_cont) {
        /* An indented line: inih passes the previous key again. */
        sb_section *s = p->prev_section;
        if (!s)
            return 1;
        kv *k = &s->kvs[p->prev_idx];
        if (s == &cfg->server && !srv_list_key(k->key)) {
            sb_log(SB_LOG_ERROR,
                   "%s:%d: [server] %s: continuation lines are only allowed for list keys "
                   "(allowed_origins, trusted_proxies, metrics_allow)",
                   cfg->path, p->lineno, k->key);
            p->errors++;
            return 1;
        }
        /* inih 55 keeps an inline comment on a continuation line; drop it
         * as on any other line. */
        size_t b = (size_t)(find_chars_or_comment(value, NULL) - value);
        while (b > 0 && isspace((unsigned char)value[b - 1]))
            b--;
        if (b == 0)
            return 1;
        size_t a = strlen(k->value);
        char *nv = malloc(a + b + 2);
        if (!nv) {
            p->nomem = 1;
            return 1;
        }
        memcpy(nv, k->value, a);
        nv[a] = ' ';
        memcpy(nv + a + 1, value, b);
        nv[a + 1 + b] = '\0';
        if (a == 0)
            memmove(nv, nv + 1, b + 1);
        free(k->value);
        k->value = nv;
        return 1;
    }
    /* inih now holds this name as the one an indented line continues. */
    p->have_prev = name[0] != '\0';
    p->prev_section = NULL;
    if (!section[0]) {
        sb_log(SB_LOG_ERROR, "%s:%d: %s: a key outside any [section]", cfg->path, p->lineno, name);
        p->errors++;
        return 1;
    }
    if (!name[0]) {
        sb_log(SB_LOG_ERROR, "%s:%d: [%s]: a value without a key", cfg->path, p->lineno, section);
        p->errors++;
        return 1;
    }
    if (strpbrk(name, " \t")) {
        /* "listen 0.0.0.0:80" parses as key "listen 0.0.0.0" (':' separates too). */
        sb_log(SB_LOG_ERROR, "%s:%d: [%s] %s: a key must not contain spaces", cfg->path, p->lineno,
               section, name);
        p->errors++;
        return 1;
    }
    sb_section *s = config_section(cfg, section);
    kv *k = s ? section_set(s, name, value, p->lineno, NULL) : NULL;
    if (!k) {
        p->nomem = 1;
        return 1;
    }
    p->prev_section = s;
    p->prev_idx = (size_t)(k - s->kvs);
    return 1;
}

/* --- environment overrides ---------------------------------------------- */

/* Whether name, upper-cased, followed by '_' starts rest (compared without case). */
static int env_prefix(const char *rest, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(rest, name, n) == 0 && rest[n] == '_' && rest[n + 1] != '\0';
}

typedef struct env_names {
    char **v;
    size_t n;
} env_names;

/* The plugins in dir: every "<name>.so". A missing directory gives none. */
static int scan_plugins(const char *dir, env_names *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return SB_OK;
    struct dirent *e;
    int rc = SB_OK;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 3 || strcmp(e->d_name + n - 3, ".so") != 0)
            continue;
        char **nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
        if (!nv) {
            rc = SB_ENOMEM;
            break;
        }
        out->v = nv;
        out->v[out->n] = strndup(e->d_name, n - 3);
        if (!out->v[out->n]) {
            rc = SB_ENOMEM;
            break;
        }
        out->n++;
    }
    closedir(d);
    return rc;
}

/* Copy of s without surrounding whitespace (inih trims file values too). */
static char *trimmed(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* Apply one "SWITCHBOARD_..=value" to the section its longest prefix names.
 * -> SB_OK | SB_ENOTFOUND (matches nothing) | SB_ENOMEM */
static int env_apply(sb_config *cfg, const char *entry, const env_names *plugins)
{
    const char *eq = strchr(entry, '=');
    if (!eq)
        return SB_OK;
    char *var = strndup(entry, (size_t)(eq - entry));
    if (!var)
        return SB_ENOMEM;
    const char *rest = var + strlen(ENV_PREFIX);
    const char *best = NULL;
    size_t best_len = 0;
#define CONSIDER(nm)                                                                               \
    do {                                                                                           \
        const char *c_ = (nm);                                                                     \
        if (strlen(c_) > best_len && env_prefix(rest, c_)) {                                       \
            best = c_;                                                                             \
            best_len = strlen(c_);                                                                 \
        }                                                                                          \
    } while (0)
    CONSIDER("server");
    for (size_t i = 0; i < cfg->n_sections; i++)
        CONSIDER(cfg->sections[i]->name);
    for (size_t i = 0; i < plugins->n; i++)
        CONSIDER(plugins->v[i]);
#undef CONSIDER
    if (!best) {
        free(var);
        return SB_ENOTFOUND;
    }
    char *key = dup_str(rest + best_len + 1);
    char *value = trimmed(eq + 1);
    /* best may point into a section about to move: copy the name first. */
    char *sname = dup_str(best);
    int rc = SB_ENOMEM;
    if (key && value && sname) {
        for (char *q = key; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        sb_section *s = config_section(cfg, sname);
        if (s && section_set(s, key, value, 0, var))
            rc = SB_OK;
    }
    free(key);
    free(value);
    free(sname);
    free(var);
    return rc;
}

static int env_is_ours(const char *entry)
{
    return strncmp(entry, ENV_PREFIX, strlen(ENV_PREFIX)) == 0;
}

/* plugin_dir's override first (it decides which plugins name sections),
 * then every override in order. -> SB_OK | SB_EINVAL (logged) | SB_ENOMEM */
static int env_load(sb_config *cfg, char *const *envp)
{
    if (!envp)
        return SB_OK;
    static const char pd[] = ENV_PREFIX "SERVER_PLUGIN_DIR=";
    for (size_t i = 0; envp[i]; i++) {
        if (strncmp(envp[i], pd, sizeof(pd) - 1) == 0) {
            char *v = trimmed(envp[i] + sizeof(pd) - 1);
            kv *k =
                v ? section_set(&cfg->server, "plugin_dir", v, 0, "SWITCHBOARD_SERVER_PLUGIN_DIR")
                  : NULL;
            free(v);
            if (!k)
                return SB_ENOMEM;
        }
    }
    const char *raw_dir = sb_section_get(&cfg->server, "plugin_dir");
    char dir[4096];
    if (resolve_path(cfg->dir, raw_dir ? raw_dir : SB_DEFAULT_PLUGIN_DIR, dir, sizeof(dir)) !=
        SB_OK)
        dir[0] = '\0';
    env_names plugins = {NULL, 0};
    int rc = dir[0] ? scan_plugins(dir, &plugins) : SB_OK;
    for (size_t i = 0; rc != SB_ENOMEM && envp[i]; i++) {
        if (!env_is_ours(envp[i]))
            continue;
        int r = env_apply(cfg, envp[i], &plugins);
        if (r == SB_ENOTFOUND) {
            const char *eq = strchr(envp[i], '=');
            int n = eq ? (int)(eq - envp[i]) : (int)strlen(envp[i]);
            sb_log(SB_LOG_ERROR,
                   "environment %.*s: names no section of %s and no plugin in %s "
                   "(expected SWITCHBOARD_<SECTION>_<KEY>)",
                   n, envp[i], cfg->path, dir[0] ? dir : "plugin_dir");
            rc = SB_EINVAL;
        } else if (r != SB_OK) {
            rc = r;
        }
    }
    for (size_t i = 0; i < plugins.n; i++)
        free(plugins.v[i]);
    free(plugins.v);
    return rc;
}

/* --- load / free ---------------------------------------------------------- */

/* The absolute directory of path (symlinks in the directory resolved). */
static char *dir_of(const char *path)
{
    char *copy = dup_str(path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    if (!slash)
        strcpy(copy, ".");
    else if (slash == copy)
        copy[1] = '\0';
    else
        *slash = '\0';
    char *abs = realpath(copy, NULL);
    if (abs) {
        free(copy);
        return abs;
    }
    return copy;
}

static int config_load(const char *path, char *const *envp, int keep_bad, sb_config **out);

int sb_config_load(const char *path, char *const *envp, sb_config **out)
{
    return config_load(path, envp, 0, out);
}

int sb_config_load_check(const char *path, char *const *envp, sb_config **out)
{
    return config_load(path, envp, 1, out);
}

static int config_load(const char *path, char *const *envp, int keep_bad, sb_config **out)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        sb_log(SB_LOG_ERROR, "%s: cannot read the config file: %s", path, strerror(errno));
        return SB_ENOTFOUND;
    }
    sb_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        fclose(fp);
        return SB_ENOMEM;
    }
    cfg->path = dup_str(path);
    cfg->dir = dir_of(path);
    cfg->server.name = dup_str("server");
    cfg->server.cfg = cfg;
    if (!cfg->path || !cfg->dir || !cfg->server.name) {
        fclose(fp);
        sb_config_free(cfg);
        return SB_ENOMEM;
    }

    conf_parse p;
    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.fp = fp;
    int r = ini_parse_stream(conf_reader, &p, conf_handler, &p);
    if (ferror(fp)) {
        sb_log(SB_LOG_ERROR, "%s: cannot read the config file: %s", path, strerror(errno));
        r = -1;
    }
    fclose(fp);
    free(p.buf);
    int rc = SB_OK;
    if (p.nomem || r == -2)
        rc = SB_ENOMEM;
    else if (r == -1)
        rc = SB_ENOTFOUND;
    else if (r > 0 || p.errors)
        rc = SB_EINVAL;
    if (r > 0 && !p.errors)
        sb_log(SB_LOG_ERROR, "%s:%d: syntax error", path, r);

    if (rc == SB_OK || rc == SB_EINVAL) {
        int e = env_load(cfg, envp);
        if (e == SB_ENOMEM || (e != SB_OK && rc == SB_OK))
            rc = e;
    }
    if (rc == SB_OK || rc == SB_EINVAL) {
        int s = srv_load(cfg);
        if (s == SB_ENOMEM || (s != SB_OK && rc == SB_OK))
            rc = s;
    }
    if (rc != SB_OK && !(keep_bad && rc == SB_EINVAL)) {
        sb_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return rc;
}

void sb_config_free(sb_config *cfg)
{
    if (!cfg)
        return;
    section_clear(&cfg->server);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        section_clear(cfg->sections[i]);
        free(cfg->sections[i]);
    }
    free(cfg->sections);
    str_list_free(cfg->srv.allowed_origins);
    free(cfg->srv.trusted_proxies);
    free(cfg->srv.metrics_allow);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const sb_server_cfg *sb_config_server(const sb_config *cfg)
{
    return &cfg->srv;
}

const char *sb_config_path(const sb_config *cfg)
{
    return cfg->path;
}

const char *sb_config_dir(const sb_config *cfg)
{
    return cfg->dir;
}

size_t sb_config_n_sections(const sb_config *cfg)
{
    return cfg->n_sections;
}

const sb_section *sb_config_section(const sb_config *cfg, size_t i)
{
    return i < cfg->n_sections ? cfg->sections[i] : NULL;
}

const sb_section *sb_config_find(const sb_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    if (strcmp(name, "server") == 0)
        return &cfg->server;
    return config_find_plugin(cfg, name);
}

const sb_section *sb_config_server_section(const sb_config *cfg)
{
    return &cfg->server;
}

/* --- section getters ------------------------------------------------------ */

const char *sb_section_name(const sb_section *s)
{
    return s ? s->name : NULL;
}

const char *sb_section_get(const sb_section *s, const char *key)
{
    const kv *k = section_kv(s, key);
    return k ? k->value : NULL;
}

int sb_section_header_line(const sb_section *s)
{
    return s ? s->line : 0;
}

int sb_section_line(const sb_section *s, const char *key)
{
    const kv *k = section_kv(s, key);
    return k ? k->line : 0;
}

/* The entry for key, marked known; NULL when absent. */
static kv *section_ask(const sb_section *s, const char *key)
{
    kv *k = section_kv(s, key);
    if (k)
        k->known = 1;
    return k;
}

const char *sb_section_string(const sb_section *s, const char *key, const char *def)
{
    const kv *k = section_ask(s, key);
    return k ? k->value : def;
}

int sb_section_int(const sb_section *s, const char *key, long def, long min, long max, long *out)
{
    const kv *k = section_ask(s, key);
    if (!k) {
        *out = def;
        return SB_OK;
    }
    if (parse_long(k->value, min, max, out) != SB_OK) {
        char why[128];
        snprintf(why, sizeof(why), "must be an integer from %ld to %ld", min, max);
        kv_error(s, k, why);
        return SB_EINVAL;
    }
    return SB_OK;
}

int sb_section_bool(const sb_section *s, const char *key, int def, int *out)
{
    const kv *k = section_ask(s, key);
    if (!k) {
        *out = def;
        return SB_OK;
    }
    if (parse_bool(k->value, out) != SB_OK) {
        kv_error(s, k, "must be yes or no (also true/false, on/off, 1/0)");
        return SB_EINVAL;
    }
    return SB_OK;
}

int sb_section_path(const sb_section *s, const char *key, const char *def, char *out,
                    size_t out_len)
{
    const kv *k = section_ask(s, key);
    const char *v = k && k->value[0] ? k->value : def;
    if (!v)
        return SB_ENOTFOUND;
    if (resolve_path(s && s->cfg ? s->cfg->dir : NULL, v, out, out_len) != SB_OK) {
        if (k && v == k->value) {
            char why[96];
            snprintf(why, sizeof(why), "must be a path of at most %zu bytes once resolved",
                     out_len ? out_len - 1 : 0);
            kv_error(s, k, why);
        } else {
            sb_log(SB_LOG_ERROR, "[%s] %s: the default path \"%s\" is too long", s ? s->name : "?",
                   key, v);
        }
        return SB_EINVAL;
    }
    return SB_OK;
}

int sb_section_seconds(const sb_section *s, const char *key, double def, double min, double max,
                       double *out)
{
    const kv *k = section_ask(s, key);
    if (!k) {
        *out = def;
        return SB_OK;
    }
    if (parse_double(k->value, min, max, out) != SB_OK) {
        char why[128];
        snprintf(why, sizeof(why), "must be a number of seconds from %g to %g", min, max);
        kv_error(s, k, why);
        return SB_EINVAL;
    }
    return SB_OK;
}

int sb_section_enabled(const sb_section *s, int *enabled)
{
    return sb_section_bool(s, "enabled", 1, enabled);
}

int sb_section_optional(const sb_section *s, int *optional)
{
    return sb_section_bool(s, "optional", 0, optional);
}

void sb_section_warn_unknown(const sb_section *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        const kv *k = &s->kvs[i];
        if (k->known || strcmp(k->key, "enabled") == 0 || strcmp(k->key, "optional") == 0 ||
            strcmp(k->key, "path") == 0)
            continue;
        char where[4200];
        sb_log(SB_LOG_WARN, "%s: [%s] %s: unknown key (ignored)",
               kv_where(s, k, where, sizeof(where)), s->name, k->key);
    }
}
