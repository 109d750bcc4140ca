/* Path parsing of the push API: "/api/..." -> which call, its path parameter
 * (percent-decoded) and whether the method fits. Pure: no host state, the
 * decoder is passed in, so it is unit-tested without a server. */
#ifndef API_ROUTES_H
#define API_ROUTES_H

#include <stddef.h>

#include <switchboard/plugin.h>

typedef enum api_route {
    API_ROUTE_NONE = 0,
    API_ROUTE_USER_MESSAGES,   /* POST /api/users/{user}/messages */
    API_ROUTE_USER_DISCONNECT, /* POST /api/users/{user}/disconnect */
    API_ROUTE_USERS,           /* GET  /api/users */
    API_ROUTE_ROOM_PUBLISH,    /* POST /api/rooms/{room}/publish */
    API_ROUTE_ROOM_MEMBERS,    /* GET  /api/rooms/{room}/members */
    API_ROUTE_BROADCAST,       /* POST /api/broadcast */
} api_route;

typedef enum api_param { API_PARAM_NONE = 0, API_PARAM_USER = 1, API_PARAM_ROOM = 2 } api_param;

/* What api_route_match found; checked in this order by the caller. */
typedef enum api_match_status {
    API_MATCH_OK = 0,
    API_MATCH_NOT_FOUND = 1,  /* no such call: 404 */
    API_MATCH_BAD_METHOD = 2, /* the call exists with another method: 405, Allow: m->allow */
    API_MATCH_BAD_PARAM = 3,  /* the {user}/{room} segment does not decode: 400 */
} api_match_status;

/* The room bound is the larger of the two; user_valid/room_valid check the rest. */
#define API_PARAM_MAX SB_ROOM_MAX

typedef struct api_match {
    api_route route;
    const char *allow;             /* the route's method, for the Allow header */
    api_param param;               /* which kind of segment value holds */
    char value[API_PARAM_MAX + 1]; /* the decoded segment, NUL-terminated */
} api_match;

/* Same contract as host->url_decode: decode s[0..len) into out (NUL-terminated). */
typedef int (*api_decode_fn)(const char *s, size_t len, char *out, size_t out_len);

/* Match method + path (without the query, not decoded) against the API's calls.
 * m is always written; m->value is "" unless a parameter decoded.
 * -> API_MATCH_OK | API_MATCH_NOT_FOUND | API_MATCH_BAD_METHOD | API_MATCH_BAD_PARAM */
api_match_status api_route_match(const char *method, const char *path, api_decode_fn decode,
                                 api_match *m);

#endif /* API_ROUTES_H */
