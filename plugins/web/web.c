/* The `web` plugin: static files from a directory ([web] root) under a URL
 * prefix ([web] prefix), for the demo client in web/ and small sites next to
 * the messaging. GET and HEAD only; ETag / If-None-Match answer 304; HTML is
 * revalidated on every load (no-cache), other files cached for max_age.
 * Which request path maps to which file is web_path.c (pure, fuzzed); this
 * file checks the disk side: the resolved file must lie inside the root once
 * symlinks are followed, and must be a regular file. Files are read whole on
 * the loop thread, so this is for small assets (at most WEB_MAX_FILE bytes):
 * put a proxy or a CDN in front for anything larger. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <switchboard/plugin.h>

#include "web_http.h"
#include "web_path.h"

#define WEB_MAX_FILE   (16L * 1024 * 1024)
#define WEB_PREFIX_MAX 256

typedef struct web_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    char root[PATH_MAX]; /* realpath of [web] root */
    size_t root_len;
    char prefix[WEB_PREFIX_MAX]; /* starts and ends with '/' */
    const char *index;           /* owned by the config */
    long max_age;
} web_state;

static web_state web_st;

static void web_text(web_state *w, uint64_t req_id, int status, const char *headers,
                     const char *text)
{
    w->host->http_respond(w->pc, req_id, status, "text/plain; charset=utf-8", headers, text,
                          strlen(text));
}

static void web_not_found(web_state *w, const sb_http_req *req, const char *why)
{
    w->host->log(w->pc, SB_LOG_DEBUG, "404 %s: %s", req->path, why);
    web_text(w, req->id, 404, NULL, "no such file\n");
}

/* Whether real (a realpath) is the root or lies under it. */
static int web_inside(const web_state *w, const char *real)
{
    if (strcmp(w->root, "/") == 0)
        return 1;
    return strncmp(real, w->root, w->root_len) == 0 &&
           (real[w->root_len] == '/' || real[w->root_len] == '\0');
}

/* A directory asked for without its '/': send the browser to the '/' form, so
 * that the index's relative links resolve inside it. */
static void web_redirect_dir(web_state *w, const sb_http_req *req)
{
    char headers[PATH_MAX + 32];
    int n = snprintf(headers, sizeof(headers), "Location: %s/\r\n", req->path);
    if (n < 0 || (size_t)n >= sizeof(headers) || strpbrk(req->path, "\r\n")) {
        web_not_found(w, req, "path too long to redirect");
        return;
    }
    web_text(w, req->id, 301, headers, "moved: add a '/'\n");
}

/* Read fd (st.st_size bytes) into a new buffer; NULL on failure. */
static char *web_read_new(int fd, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return NULL; /* an error, or the file shrank under us */
        }
        got += (size_t)r;
    }
    return buf;
}

static void web_serve(web_state *w, const sb_http_req *req, const char *real, int kind)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        web_not_found(w, req, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode) && kind == WEB_PATH_FILE) {
        close(fd);
        web_redirect_dir(w, req);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        web_not_found(w, req, "not a regular file");
        return;
    }
    if (st.st_size > WEB_MAX_FILE) {
        close(fd);
        w->host->log(w->pc, SB_LOG_WARN, "%s: %lld bytes, over the %ld this plugin serves", real,
                     (long long)st.st_size, WEB_MAX_FILE);
        web_text(w, req->id, 500, NULL, "file too large for the web plugin\n");
        return;
    }
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    const char *type = web_content_type(real);
    char cache[64];
    if (strncmp(type, "text/html", 9) == 0 || w->max_age == 0)
        snprintf(cache, sizeof(cache), "no-cache");
    else
        snprintf(cache, sizeof(cache), "public, max-age=%ld", w->max_age);
    char headers[256];
    snprintf(headers, sizeof(headers),
             "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n", etag, cache);

    const char *inm = w->host->http_header(req, "If-None-Match");
    if (inm && web_etag_matches(inm, etag)) {
        close(fd);
        w->host->http_respond(w->pc, req->id, 304, type, headers, "", 0);
        return;
    }
    char *body = web_read_new(fd, (size_t)st.st_size);
    close(fd);
    if (!body) {
        w->host->log(w->pc, SB_LOG_WARN, "cannot read %s", real);
        web_text(w, req->id, 500, NULL, "cannot read the file\n");
        return;
    }
    w->host->http_respond(w->pc, req->id, 200, type, headers, body, (size_t)st.st_size);
    free(body);
}

static int web_route(void *ud, const sb_http_req *req)
{
    web_state *w = ud;
    /* HEAD is answered as GET; the core sends the head without the body. */
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        web_text(w, req->id, 405, "Allow: GET, HEAD\r\n", "method not allowed: use GET\n");
        return SB_OK;
    }
    char rel[PATH_MAX];
    int kind = web_path_resolve(w->prefix, req->path, rel, sizeof(rel));
    if (kind == WEB_PATH_REFUSED) {
        web_not_found(w, req, "path refused");
        return SB_OK;
    }
    char full[PATH_MAX];
    int n = snprintf(full, sizeof(full), "%s/%s%s", w->root, rel,
                     kind == WEB_PATH_INDEX ? w->index : "");
    char real[PATH_MAX];
    if (n < 0 || (size_t)n >= sizeof(full) || !realpath(full, real)) {
        web_not_found(w, req, "no such file");
        return SB_OK;
    }
    if (!web_inside(w, real)) {
        web_not_found(w, req, "outside the root"); /* a symlink leading out */
        return SB_OK;
    }
    web_serve(w, req, real, kind);
    return SB_OK;
}

static int web_config(web_state *w, const sb_section *cfg)
{
    const sb_host_api *host = w->host;
    char root[PATH_MAX];
    if (host->cfg_path(cfg, "root", "web", root, sizeof(root)) != SB_OK) {
        host->log(w->pc, SB_LOG_ERROR, "root: path too long");
        return SB_EINVAL;
    }
    if (!realpath(root, w->root)) {
        host->log(w->pc, SB_LOG_ERROR, "root %s: %s", root, strerror(errno));
        return SB_EINVAL;
    }
    w->root_len = strlen(w->root);
    const char *prefix = host->cfg_string(cfg, "prefix", "/");
    size_t plen = strlen(prefix);
    if (prefix[0] != '/' || plen + 2 > sizeof(w->prefix) || strpbrk(prefix, "?#%\\ ")) {
        host->log(w->pc, SB_LOG_ERROR, "prefix \"%s\": a URL path starting with '/' is needed",
                  prefix);
        return SB_EINVAL;
    }
    snprintf(w->prefix, sizeof(w->prefix), "%s%s", prefix, prefix[plen - 1] == '/' ? "" : "/");
    w->index = host->cfg_string(cfg, "index", "index.html");
    if (!w->index[0] || strchr(w->index, '/') || w->index[0] == '.') {
        host->log(w->pc, SB_LOG_ERROR, "index \"%s\": a file name is needed", w->index);
        return SB_EINVAL;
    }
    if (host->cfg_int(cfg, "max_age", 60, 0, 31536000, &w->max_age) != SB_OK)
        return SB_EINVAL;
    return SB_OK;
}

static int web_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                    void **userdata)
{
    web_state *w = &web_st;
    memset(w, 0, sizeof(*w));
    w->host = host;
    w->pc = pc;
    int rc = web_config(w, cfg);
    if (rc != SB_OK)
        return rc;
    rc = host->register_route(pc, w->prefix, web_route, w);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the route %s: %d", w->prefix, rc);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "serving %s on %s", w->root, w->prefix);
    *userdata = w;
    return SB_OK;
}

static void web_fini(void *userdata)
{
    (void)userdata; /* nothing allocated: the config owns its strings */
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT, .name = "web", .version = "1.0.0", .init = web_init, .fini = web_fini,
};
