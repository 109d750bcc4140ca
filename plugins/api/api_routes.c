/* Routing of the push API: splits "/api/<segments>" on raw '/' (so an encoded
 * "%2F" stays inside its segment), matches the literal segments, checks the
 * method, and percent-decodes the one {user}/{room} segment. Validating the
 * decoded name (user_valid/room_valid) is the caller's job. */
#include "api_routes.h"

#include <string.h>

#define API_PREFIX   "/api/"
#define API_MAX_SEGS 4

typedef struct api_seg {
    const char *s;
    size_t len;
} api_seg;

typedef struct api_call {
    api_route route;
    const char *method;
    api_param param;
    size_t n_segs;
    const char *segs[3]; /* NULL marks the parameter's place */
} api_call;

static const api_call api_calls[] = {
    {API_ROUTE_BROADCAST, "POST", API_PARAM_NONE, 1, {"broadcast"}},
    {API_ROUTE_USERS, "GET", API_PARAM_NONE, 1, {"users"}},
    {API_ROUTE_USER_MESSAGES, "POST", API_PARAM_USER, 3, {"users", NULL, "messages"}},
    {API_ROUTE_USER_DISCONNECT, "POST", API_PARAM_USER, 3, {"users", NULL, "disconnect"}},
    {API_ROUTE_ROOM_PUBLISH, "POST", API_PARAM_ROOM, 3, {"rooms", NULL, "publish"}},
    {API_ROUTE_ROOM_MEMBERS, "GET", API_PARAM_ROOM, 3, {"rooms", NULL, "members"}},
};

/* Split rest on '/'; -1 when there are too many segments to be any call. */
static int api_split(const char *rest, api_seg *segs, size_t max)
{
    size_t n = 0;
    const char *p = rest;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == max)
            return -1;
        segs[n].s = p;
        segs[n].len = len;
        n++;
        if (!slash)
            return (int)n;
        p = slash + 1;
    }
}

static int api_seg_is(const api_seg *seg, const char *lit)
{
    return strlen(lit) == seg->len && memcmp(seg->s, lit, seg->len) == 0;
}

/* "%00" would decode to a NUL that cuts the name short of what was sent, so
 * "alice%00x" would pass as "alice": refuse it before decoding. */
static int api_has_nul_escape(const api_seg *seg)
{
    for (size_t i = 0; i + 2 < seg->len; i++) {
        if (seg->s[i] == '%' && seg->s[i + 1] == '0' && seg->s[i + 2] == '0')
            return 1;
    }
    return 0;
}

static int api_call_fits(const api_call *c, const api_seg *segs, size_t n)
{
    if (c->n_segs != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (c->segs[i] == NULL) {
            if (segs[i].len == 0)
                return 0;
        } else if (!api_seg_is(&segs[i], c->segs[i])) {
            return 0;
        }
    }
    return 1;
}

api_match_status api_route_match(const char *method, const char *path, api_decode_fn decode,
                                 api_match *m)
{
    api_seg segs[API_MAX_SEGS];

    memset(m, 0, sizeof(*m));
    m->route = API_ROUTE_NONE;
    if (!path || strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0)
        return API_MATCH_NOT_FOUND;
    int n = api_split(path + strlen(API_PREFIX), segs, API_MAX_SEGS);
    if (n < 0)
        return API_MATCH_NOT_FOUND;

    const api_call *call = NULL;
    for (size_t i = 0; i < sizeof(api_calls) / sizeof(api_calls[0]); i++) {
        if (api_call_fits(&api_calls[i], segs, (size_t)n)) {
            call = &api_calls[i];
            break;
        }
    }
    if (!call)
        return API_MATCH_NOT_FOUND;
    m->route = call->route;
    m->allow = call->method;
    m->param = call->param;
    if (!method || strcmp(method, call->method) != 0)
        return API_MATCH_BAD_METHOD;
    if (call->param == API_PARAM_NONE)
        return API_MATCH_OK;

    /* The parameter is always the second segment. */
    const api_seg *seg = &segs[1];
    if (api_has_nul_escape(seg) || decode(seg->s, seg->len, m->value, sizeof(m->value)) != SB_OK) {
        m->value[0] = '\0';
        return API_MATCH_BAD_PARAM;
    }
    return API_MATCH_OK;
}
