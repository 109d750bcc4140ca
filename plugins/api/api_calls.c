/* The push API's calls (docs/protocol.md section 6). Each request is checked in the
 * order the protocol fixes: key (401), path (404), method (405), path
 * parameter and body (400); then the call runs. A direct message is answered
 * from the store's completion, the others at once. Every answer is JSON; an
 * error is {"error": code, "message": why}. */
#include "api_calls.h"

#include "api_auth.h"
#include "api_routes.h"
#include "members_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_JSON       "application/json"
#define API_REASON_MAX 256
/* A WebSocket close reason must fit a control frame: 125 bytes minus the code. */
#define API_CLOSE_REASON_MAX 123

#define API_USER_RULES       "1..64 bytes of [A-Za-z0-9._@:-], not \"0\""

/* A direct message waiting for the store: the completion needs the request to
 * answer, the recipient and the stamped message to deliver. */
typedef struct api_put {
    api_state *api;
    uint64_t req_id;
    char user[SB_USER_MAX + 1];
    char id[SB_ID_LEN + 1];
    char *json; /* the stamped message as stored, host->json_print_new's */
    size_t len;
} api_put;

/* --- answers --- */

/* Answer req_id with body_take serialized (NULL: out of memory -> 500). */
static void api_respond_take(api_state *api, uint64_t req_id, int status, const char *headers,
                             cJSON *body_take)
{
    static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";
    char *text = body_take ? cJSON_PrintUnformatted(body_take) : NULL;
    cJSON_Delete(body_take);
    size_t len = text ? strlen(text) : 0;
    /* One line per answer: two curl calls in a row do not run together. */
    char *line = text ? malloc(len + 2) : NULL;
    if (!line) {
        cJSON_free(text);
        api->host->http_respond(api->pc, req_id, 500, API_JSON, NULL, oom, sizeof(oom) - 1);
        return;
    }
    memcpy(line, text, len);
    line[len] = '\n';
    line[len + 1] = '\0';
    cJSON_free(text);
    /* SB_ECLOSED: the client went away; nothing is left to do. */
    api->host->http_respond(api->pc, req_id, status, API_JSON, headers, line, len + 1);
    free(line);
}

static void api_error(api_state *api, uint64_t req_id, int status, const char *headers,
                      const char *code, const char *message)
{
    cJSON *body = cJSON_CreateObject();
    if (body && (!cJSON_AddStringToObject(body, "error", code) ||
                 !cJSON_AddStringToObject(body, "message", message))) {
        cJSON_Delete(body);
        body = NULL;
    }
    api->host->log(api->pc, SB_LOG_DEBUG, "%d %s: %s", status, code, message);
    api_respond_take(api, req_id, status, headers, body);
}

static void api_bad_request(api_state *api, uint64_t req_id, const char *message)
{
    api_error(api, req_id, 400, NULL, "bad_request", message);
}

/* A store failure, from store_put itself or from its completion. */
static void api_store_error(api_state *api, uint64_t req_id, const char *user, int status)
{
    char why[160];
    if (status == SB_EINBOX_FULL) {
        /* 507: the request was fine, the recipient's inbox has no room until
         * it reads; a distinct status lets a backend tell this from an outage. */
        snprintf(why, sizeof(why),
                 "the inbox of %.*s is full (max_inbox); the message was not stored", SB_USER_MAX,
                 user);
        api_error(api, req_id, 507, NULL, "inbox_full", why);
        return;
    }
    api->host->log(api->pc, SB_LOG_WARN, "store refused a message for %s: %d", user, status);
    api_error(api, req_id, 503, "Retry-After: 1\r\n", "unavailable",
              "the store could not take the message; it was not stored");
}

/* --- request pieces --- */

/* The body as a JSON object, or NULL after answering 400. */
static cJSON *api_body_object(api_state *api, const sb_http_req *req)
{
    const sb_host_api *host = api->host;
    const char *why = NULL;
    char msg[200];

    if (req->body_len == 0) {
        api_bad_request(api, req->id, "the body must be a JSON object; it is empty");
        return NULL;
    }
    if (!host->utf8_valid(req->body, req->body_len)) {
        api_bad_request(api, req->id, "the body is not valid UTF-8");
        return NULL;
    }
    cJSON *body = host->json_parse_new(req->body, req->body_len, &why);
    if (!body) {
        snprintf(msg, sizeof(msg), "the body is not valid JSON: %s", why ? why : "parse error");
        api_bad_request(api, req->id, msg);
        return NULL;
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        api_bad_request(api, req->id, "the body must be a JSON object");
        return NULL;
    }
    return body;
}

/* Take "from" out of body into from (default "server"): the stamp sets it
 * again. -> 0, or -1 after answering 400. */
static int api_take_from(api_state *api, uint64_t req_id, cJSON *body, char from[SB_USER_MAX + 1])
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "from");
    if (!f) {
        snprintf(from, SB_USER_MAX + 1, "%s", "server");
        return 0;
    }
    if (!cJSON_IsString(f) || !api->host->user_valid(f->valuestring)) {
        api_bad_request(api, req_id, "\"from\" must be a user id: " API_USER_RULES);
        return -1;
    }
    snprintf(from, SB_USER_MAX + 1, "%s", f->valuestring);
    cJSON_DeleteItemFromObjectCaseSensitive(body, "from");
    return 0;
}

/* Stamp *body with fm's fields, as the WebSocket commands do, so a filter
 * sees the same shape however a message entered, then run the filter chain
 * (which stamps it again). -> 0, or -1 after answering (403 or 500). */
static int api_filter(api_state *api, uint64_t req_id, const sb_filter_msg *fm, cJSON **body)
{
    char reason[API_REASON_MAX] = "";
    if (api->host->stamp(body, fm->id, fm->from, fm->to, fm->room, fm->ts) != SB_OK) {
        api_error(api, req_id, 500, NULL, "internal", "out of memory");
        return -1;
    }
    if (api->host->run_filter(api->pc, fm, body, reason, sizeof(reason)) == SB_HOOK_DENY) {
        reason[sizeof(reason) - 1] = '\0';
        api_error(api, req_id, 403, NULL, "filtered",
                  reason[0] ? reason : "a message filter dropped the message");
        return -1;
    }
    if (!cJSON_IsObject(*body)) {
        api->host->log(api->pc, SB_LOG_ERROR, "the filter chain returned no object");
        api_error(api, req_id, 500, NULL, "internal", "the filter chain returned no object");
        return -1;
    }
    return 0;
}

/* --- the calls --- */

static void api_put_done(void *arg, int status)
{
    api_put *put = arg;
    api_state *api = put->api;
    const sb_host_api *host = api->host;

    api->pending--;
    if (api->closing) {
        /* fini ran: the server is going down and may have dropped the
         * connection; the message is stored (or not) either way. */
        host->free(put->json);
        free(put);
        if (api->pending == 0)
            api_state_free(api);
        return;
    }
    if (status != SB_OK) {
        api_store_error(api, put->req_id, put->user, status);
    } else {
        const char *users[1] = {put->user};
        /* The bytes stored are the bytes framed: nothing printed twice. */
        int rc =
            host->send_users_json(api->pc, users, 1, "message", put->json, put->len, 0, 1, NULL);
        if (rc != SB_OK) /* stored all the same: the next connection's backlog has it */
            host->log(api->pc, SB_LOG_WARN, "message %s stored but not sent to %s: %d", put->id,
                      put->user, rc);
        if (api->messages)
            host->counter_add(api->messages, 1);
        cJSON *body = cJSON_CreateObject();
        if (body && !cJSON_AddStringToObject(body, "id", put->id)) {
            cJSON_Delete(body);
            body = NULL;
        }
        api_respond_take(api, put->req_id, 202, NULL, body);
    }
    host->free(put->json);
    free(put);
}

/* POST /api/users/{user}/messages: stamp, filter, store, then deliver and 202. */
static void api_user_message(api_state *api, const sb_http_req *req, const char *user)
{
    const sb_host_api *host = api->host;
    char from[SB_USER_MAX + 1];
    char id[SB_ID_LEN + 1];

    cJSON *body = api_body_object(api, req);
    if (!body)
        return;
    if (api_take_from(api, req->id, body, from) != 0) {
        cJSON_Delete(body);
        return;
    }
    host->id_new(api->pc, id);
    int64_t ts = host->now_ms();
    cJSON *to = cJSON_CreateString(user);
    if (!to) {
        cJSON_Delete(body);
        api_error(api, req->id, 500, NULL, "internal", "out of memory");
        return;
    }
    sb_filter_msg fm = {.size = sizeof(fm),
                        .type = "message",
                        .from = from,
                        .to = to,
                        .room = NULL,
                        .id = id,
                        .ts = ts};
    /* The server's fields first, the payload's after, none of them spoofed. */
    int rc = api_filter(api, req->id, &fm, &body);
    cJSON_Delete(to);
    if (rc != 0) {
        cJSON_Delete(body);
        return;
    }

    api_put *put = calloc(1, sizeof(*put));
    size_t len = 0;
    char *json = put ? host->json_print_new(body, &len) : NULL;
    cJSON_Delete(body);
    if (!json) {
        free(put);
        api_error(api, req->id, 500, NULL, "internal", "out of memory");
        return;
    }
    put->api = api;
    put->req_id = req->id;
    /* user passed host->user_valid, so it fits (at most SB_USER_MAX bytes). */
    snprintf(put->user, sizeof(put->user), "%.*s", SB_USER_MAX, user);
    memcpy(put->id, id, sizeof(put->id));
    put->json = json;
    put->len = len;
    const char *users[1] = {put->user};
    rc = host->store_put(api->pc, users, 1, put->id, json, len, api_put_done, put);
    if (rc != SB_OK) { /* no callback comes: answer now */
        api_store_error(api, req->id, user, rc);
        host->free(json);
        free(put);
        return;
    }
    api->pending++;
}

/* 202 {"id", "delivered"} for the live-only calls. */
static void api_delivered(api_state *api, uint64_t req_id, const char *id, size_t delivered)
{
    cJSON *body = cJSON_CreateObject();
    if (body && (!cJSON_AddStringToObject(body, "id", id) ||
                 !cJSON_AddNumberToObject(body, "delivered", (double)delivered))) {
        cJSON_Delete(body);
        body = NULL;
    }
    api_respond_take(api, req_id, 202, NULL, body);
}

/* A push-API publication waiting for publish_room's answer (after the
 * store's commit when room history is on). */
typedef struct api_published {
    api_state *api;
    uint64_t req_id;
    char id[SB_ID_LEN + 1];
} api_published;

static void api_published_answer(void *arg, int status, size_t delivered)
{
    api_published *p = arg;
    api_state *api = p->api;
    api->pending--;
    if (api->closing) {
        /* fini ran: the publication is stored and sent (or not) either way. */
        free(p);
        if (api->pending == 0)
            api_state_free(api);
        return;
    }
    if (status != SB_OK)
        api_error(api, p->req_id, 503, "Retry-After: 1\r\n", "unavailable",
                  "the store could not keep the publication; it was not sent");
    else
        api_delivered(api, p->req_id, p->id, delivered);
    free(p);
}

/* POST /api/rooms/{room}/publish: through the host's one road for room
 * publications, so it is in the room's history as a WebSocket one is; the
 * 202 comes after the store's commit when history is on. */
static void api_publish(api_state *api, uint64_t req_id, const char *room, const char *id,
                        const cJSON *msg)
{
    api_published *p = calloc(1, sizeof(*p));
    if (!p) {
        api_error(api, req_id, 500, NULL, "internal", "out of memory");
        return;
    }
    p->api = api;
    p->req_id = req_id;
    memcpy(p->id, id, sizeof(p->id));
    size_t delivered = 0;
    int rc = api->host->publish_room(api->pc, room, msg, 0, &delivered, api_published_answer, p);
    if (rc == SB_PENDING) {
        api->pending++;
        return;
    }
    free(p);
    if (rc == SB_OK) {
        api_delivered(api, req_id, id, delivered);
        return;
    }
    if (rc == SB_EUNAVAILABLE) {
        api_error(api, req_id, 503, "Retry-After: 1\r\n", "unavailable",
                  "the store could not take the publication; it was not sent");
        return;
    }
    api->host->log(api->pc, SB_LOG_ERROR, "publish %s failed: %d", id, rc);
    api_error(api, req_id, 500, NULL, "internal", "delivery failed; the log says more");
}

/* POST /api/rooms/{room}/publish and POST /api/broadcast (room NULL): the
 * body stamped and filtered, then published (above) or sent to everyone at
 * once (a broadcast is live only). */
static void api_live(api_state *api, const sb_http_req *req, const char *room)
{
    const sb_host_api *host = api->host;
    char from[SB_USER_MAX + 1];
    char id[SB_ID_LEN + 1];
    size_t delivered = 0;

    cJSON *body = api_body_object(api, req);
    if (!body)
        return;
    if (api_take_from(api, req->id, body, from) != 0) {
        cJSON_Delete(body);
        return;
    }
    host->id_new(api->pc, id);
    int64_t ts = host->now_ms();
    const char *type = room ? "publish" : "broadcast";
    sb_filter_msg fm = {.size = sizeof(fm),
                        .type = type,
                        .from = from,
                        .to = NULL,
                        .room = room,
                        .id = id,
                        .ts = ts};
    if (api_filter(api, req->id, &fm, &body) != 0) {
        cJSON_Delete(body);
        return;
    }
    if (room) {
        api_publish(api, req->id, room, id, body);
        cJSON_Delete(body);
        return;
    }
    int rc = host->send_all(api->pc, type, body, 0, &delivered);
    cJSON_Delete(body);
    if (rc != SB_OK) {
        host->log(api->pc, SB_LOG_ERROR, "%s %s failed: %d", type, id, rc);
        api_error(api, req->id, 500, NULL, "internal", "delivery failed; the log says more");
        return;
    }
    api_delivered(api, req->id, id, delivered);
}

/* 200 {"users": [...]} from users (borrowed): all of them, or with
 * page->paged the page and "more" (members_page.c, as native `members`).
 * users NULL (out of memory): 500. */
static void api_users_respond(api_state *api, uint64_t req_id, const cJSON *users,
                              const members_page *page)
{
    cJSON *body = users ? members_data_new(NULL, users, page) : NULL;
    api_respond_take(api, req_id, 200, NULL, body); /* NULL -> 500 */
}

typedef struct api_users_pending {
    api_state *api;
    uint64_t req_id;
    members_page page;
} api_users_pending;

static void api_users_answer(void *arg, int status, const cJSON *users)
{
    api_users_pending *p = arg;
    if (status != SB_OK)
        api_error(p->api, p->req_id, 503, "Retry-After: 1\r\n", "unavailable",
                  "the other nodes cannot be asked now (bus down); retry later");
    else
        api_users_respond(p->api, p->req_id, users, &p->page);
    free(p);
}

/* GET /api/users and GET /api/rooms/{room}/members: 200 {"users": [...]}
 * (a page and "more" for members), from this node's registry, or with a
 * bus from every node (later). */
static void api_users(api_state *api, uint64_t req_id, const char *room, const members_page *page)
{
    const sb_host_api *host = api->host;
    if (!host->slot_owner(api->pc, "bus")) {
        cJSON *users = room ? host->room_users_new(api->pc, room) : host->users_new(api->pc);
        api_users_respond(api, req_id, users, page);
        cJSON_Delete(users);
        return;
    }
    api_users_pending *p = malloc(sizeof(*p));
    if (p) {
        p->api = api;
        p->req_id = req_id;
        p->page = *page;
    }
    if (!p || host->users_query(api->pc, room, api_users_answer, p) != SB_OK) {
        free(p);
        api_respond_take(api, req_id, 500, NULL, NULL);
    }
}

/* The members call's query, ?after=USER&limit=N (both optional), into page
 * as native `members` takes them. -> 0, or -1 after answering 400 */
static int api_members_page(api_state *api, const sb_http_req *req, members_page *page)
{
    const sb_host_api *host = api->host;
    char value[SB_USER_MAX + 1];
    page->paged = 1;
    page->limit = MEMBERS_PAGE_DEFAULT;
    page->after[0] = '\0';
    int rc = host->query_param(req->query, "after", value, sizeof value);
    if (rc == SB_OK)
        snprintf(page->after, sizeof page->after, "%s", value);
    if (rc != SB_OK && rc != SB_ENOTFOUND) {
        api_bad_request(api, req->id, "after must be a user id (the last of the previous page)");
        return -1;
    }
    rc = host->query_param(req->query, "limit", value, sizeof value);
    if (rc == SB_ENOTFOUND)
        return 0;
    char *end = NULL;
    long limit = rc == SB_OK && value[0] >= '0' && value[0] <= '9' ? strtol(value, &end, 10) : 0;
    if (!end || *end || limit < 1 || limit > MEMBERS_PAGE_MAX) {
        api_bad_request(api, req->id, "limit must be an integer, 1 to 1000");
        return -1;
    }
    page->limit = (size_t)limit;
    return 0;
}

/* POST /api/users/{user}/disconnect: close every connection of user with 1008.
 * The body may be empty, or an object with an optional "reason". */
static void api_disconnect(api_state *api, const sb_http_req *req, const char *user)
{
    const char *reason = "disconnected by the server";
    cJSON *body = NULL;
    size_t closed = 0;

    if (req->body_len > 0) {
        body = api_body_object(api, req);
        if (!body)
            return;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "reason");
        if (r && (!cJSON_IsString(r) || strlen(r->valuestring) > API_CLOSE_REASON_MAX)) {
            cJSON_Delete(body);
            api_bad_request(api, req->id, "\"reason\" must be a string of at most 123 bytes");
            return;
        }
        if (r)
            reason = r->valuestring;
    }
    api->host->user_close(api->pc, user, 1008, reason, &closed);
    cJSON_Delete(body);
    api->host->log(api->pc, SB_LOG_INFO, "disconnected %s: %zu connection(s)", user, closed);

    cJSON *out = cJSON_CreateObject();
    if (out && !cJSON_AddNumberToObject(out, "closed", (double)closed)) {
        cJSON_Delete(out);
        out = NULL;
    }
    api_respond_take(api, req->id, 200, NULL, out);
}

/* --- the route --- */

/* Validate the decoded {user}/{room}. -> 0, or -1 after answering 400. */
static int api_check_param(api_state *api, uint64_t req_id, const api_match *m)
{
    if (m->param == API_PARAM_USER && !api->host->user_valid(m->value)) {
        api_bad_request(api, req_id, "invalid user in the path: " API_USER_RULES);
        return -1;
    }
    if (m->param == API_PARAM_ROOM && !api->host->room_valid(m->value)) {
        api_bad_request(api, req_id,
                        "invalid room in the path: 1..128 bytes of UTF-8, no control characters");
        return -1;
    }
    return 0;
}

int api_handle(void *ud, const sb_http_req *req)
{
    api_state *api = ud;
    const sb_host_api *host = api->host;
    api_match m;
    char allow[32];

    if (api->requests)
        host->counter_add(api->requests, 1);
    /* The key comes first, before the path and the method: a caller without
     * it learns nothing about which calls exist (401 before 404/405). */
    if (api->key_len == 0) {
        api_error(api, req->id, 401, "WWW-Authenticate: Bearer\r\n", "unauthorized",
                  "the push API is disabled: [api] api_key is empty");
        return SB_OK;
    }
    if (!api_auth_check(host->http_header(req, "Authorization"), api->key, api->key_len)) {
        api_error(api, req->id, 401, "WWW-Authenticate: Bearer\r\n", "unauthorized",
                  "missing or wrong \"Authorization: Bearer <api_key>\"");
        return SB_OK;
    }

    switch (api_route_match(req->method, req->path, host->url_decode, &m)) {
    case API_MATCH_OK:
        break;
    case API_MATCH_NOT_FOUND:
        api_error(api, req->id, 404, NULL, "not_found", "no such API call");
        return SB_OK;
    case API_MATCH_BAD_METHOD:
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", m.allow);
        api_error(api, req->id, 405, allow, "method_not_allowed",
                  strcmp(m.allow, "GET") == 0 ? "this call takes GET" : "this call takes POST");
        return SB_OK;
    case API_MATCH_BAD_PARAM:
        api_bad_request(api, req->id,
                        m.param == API_PARAM_USER ? "the user in the path does not decode"
                                                  : "the room in the path does not decode");
        return SB_OK;
    }
    if (api_check_param(api, req->id, &m) != 0)
        return SB_OK;

    switch (m.route) {
    case API_ROUTE_USER_MESSAGES:
        api_user_message(api, req, m.value);
        break;
    case API_ROUTE_USER_DISCONNECT:
        api_disconnect(api, req, m.value);
        break;
    case API_ROUTE_USERS: {
        members_page all = {.paged = 0};
        api_users(api, req->id, NULL, &all);
        break;
    }
    case API_ROUTE_ROOM_PUBLISH:
        api_live(api, req, m.value);
        break;
    case API_ROUTE_ROOM_MEMBERS: {
        members_page page;
        if (api_members_page(api, req, &page) == 0)
            api_users(api, req->id, m.value, &page);
        break;
    }
    case API_ROUTE_BROADCAST:
        api_live(api, req, NULL);
        break;
    case API_ROUTE_NONE:
        api_error(api, req->id, 404, NULL, "not_found", "no such API call");
        break;
    }
    return SB_OK;
}

void api_state_free(api_state *api)
{
    if (!api)
        return;
    free(api->key);
    free(api);
}
