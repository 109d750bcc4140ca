/* switchboard plugin SDK: the only header a plugin needs (plus cJSON).
 *
 * A plugin is a .so exporting one symbol, `sb_plugin_entry` (an sb_plugin).
 * The host checks its ABI version, then calls init() with the host API table,
 * through which the plugin registers commands, HTTP routes, hooks, a store or
 * a bus, and reaches the routing primitives. Plugins never link against the
 * server binary, and libev does not appear here: timers, fd watches and
 * thread-safe wake-ups come through the table.
 *
 * ABI rules: every struct that crosses the boundary starts with `size`; the
 * reader never touches a member past `size`. Members are appended only, under
 * a "since 1.N" banner, in the commit that bumps SB_ABI_MINOR. The host loads a
 * plugin when the majors match and the plugin's minor is <= the host's.
 *
 * Ownership, once for the whole header:
 *  - Pointers passed to a function or callback are borrowed for that call.
 *  - The host never keeps a plugin's cJSON; send_* serialize before returning.
 *  - A cJSON handed to a plugin (command data, route bodies) is borrowed.
 *  - A function whose name ends in _new returns something the caller frees
 *    (cJSON: cJSON_Delete; memory: host->free). A _take argument is freed by
 *    the callee, and the caller must not touch it afterwards.
 *  - All calls are loop-thread only unless marked [any thread].
 *  - A completion callback never runs inside the call that started it.
 */
#ifndef SWITCHBOARD_PLUGIN_H
#define SWITCHBOARD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_ABI_MAJOR 1
#define SB_ABI_MINOR 4

#if defined(__GNUC__)
#define SB_PLUGIN_EXPORT __attribute__((visibility("default")))
#define SB_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#else
#define SB_PLUGIN_EXPORT
#define SB_PRINTF(f, a)
#endif

/* --- status codes ------------------------------------------------------- */

/* 0 or negative, grouped by hundreds by who has to act; SB_PENDING (1.3)
 * is the one positive answer. */
enum sb_err {
    SB_OK = 0,
    SB_EAGAIN = -100,       /* retry later: socket full, queue full */
    SB_EUNAVAILABLE = -101, /* the store or bus cannot take it now */
    SB_EINBOX_FULL = -102,  /* a recipient's inbox is at max_inbox */
    SB_EPROTO = -200,       /* the client broke docs/protocol.md */
    SB_EINVAL = -300,       /* the caller broke the contract */
    SB_ENOTFOUND = -301,    /* no such connection, user, room, key */
    SB_ECLOSED = -302,      /* the connection is gone: drop the work, do not retry */
    SB_EEXIST = -303,       /* already registered */
    SB_EPLUGIN = -400,      /* a plugin or a script failed */
    SB_ENOMEM = -500,
    /* since 1.3: not an error: accepted, the answer comes through the call's
     * callback (publish_room with room history on) */
    SB_PENDING = 1,
};

/* Hook answers. DENY ends a chain; ALLOW and PASS let the next provider speak. */
enum sb_hook_result { SB_HOOK_PASS = 0, SB_HOOK_ALLOW = 1, SB_HOOK_DENY = 2 };

enum sb_log_level { SB_LOG_DEBUG = 0, SB_LOG_INFO = 1, SB_LOG_WARN = 2, SB_LOG_ERROR = 3 };

/* Largest user id, room name and message id, in bytes, without the NUL. */
#define SB_USER_MAX 64
#define SB_ROOM_MAX 128
#define SB_ID_LEN   26

/* --- opaque handles ------------------------------------------------------ */

typedef struct sb_plugin_ctx sb_plugin_ctx; /* one per loaded plugin, from init() */
typedef struct sb_section sb_section;       /* a config section */
typedef struct sb_reply sb_reply;           /* a held answer: connection id + ref */
typedef struct sb_timer sb_timer;
typedef struct sb_watch sb_watch;
typedef struct sb_wakeup sb_wakeup;
typedef struct sb_counter sb_counter;

typedef void (*sb_cb_fn)(void *arg);

/* --- what plugins are handed -------------------------------------------- */

/* One WebSocket command, borrowed for the handler call. */
typedef struct sb_cmd {
    uint32_t size;      /* ro */
    uint64_t conn_id;   /* ro: the connection that sent it */
    const char *user;   /* ro: NULL before authentication */
    const char *type;   /* ro */
    const cJSON *ref;   /* ro: NULL when the client sent none */
    const cJSON *data;  /* ro: an object, {} when missing */
    sb_plugin_ctx *pc;  /* private */
    void *host_private; /* private */
} sb_cmd;

typedef struct sb_header {
    const char *name; /* ro: as sent */
    const char *value;
} sb_header;

/* An HTTP request (a route call), or a WebSocket handshake (hooks). */
typedef struct sb_http_req {
    uint32_t size; /* ro */
    uint64_t id;   /* ro: for http_respond; 0 in handshake hooks */
    const char *method;
    const char *path;  /* ro: without the query, not decoded */
    const char *query; /* ro: after '?', not decoded; "" when none */
    const sb_header *headers;
    size_t n_headers;
    const char *body; /* ro: NUL-terminated, dechunked; "" when none */
    size_t body_len;
    const char *ip;     /* ro: the client (X-Forwarded-For from trusted_proxies) */
    const char *origin; /* ro: NULL when absent */
    const char *user;   /* ro: handshake hooks: the identified user, or NULL */
    /* since 1.2 */
    /* ro: identify: a credential an endpoint read from the handshake (its own
     * token parameter), or NULL. When set, an identifier checks it instead of
     * reading its own parameter: as a token, or in auth mode none as the
     * client_id (same rules). */
    const char *token;
} sb_http_req;

/* A message passed through the filter chain. */
typedef struct sb_filter_msg {
    uint32_t size;
    const char *type; /* ro: message | publish | broadcast */
    const char *from; /* ro */
    const cJSON *to;  /* ro: message: the recipients as written; else NULL */
    const char *room; /* ro: publish: the room; else NULL */
    const char *id;   /* ro: the server id */
    int64_t ts;       /* ro */
} sb_filter_msg;

/* --- plugin-provided tables ---------------------------------------------- */

/* since 1.2: register_command_ex flags. The command may run on a connection
 * that is not authenticated yet (`auth`); others answer `unauthenticated`. */
#define SB_COMMAND_BEFORE_AUTH 1u

/* A command handler. Answer now with reply/reply_error, or hold the answer with
 * reply_hold and answer later; return SB_OK either way. Another code makes the
 * host answer `internal` and log it. */
typedef int (*sb_command_fn)(void *ud, const sb_cmd *cmd);

/* An HTTP route handler: answer with http_respond now or later (keep req->id);
 * return SB_OK. Another code makes the host answer 500. */
typedef int (*sb_route_fn)(void *ud, const sb_http_req *req);

/* Hook providers; any member may be NULL. `reason` (out) must stay valid
 * until the next call into the same provider. */
typedef struct sb_hooks {
    uint32_t size;
    /* Handshake admission; DENY -> 403 with the reason. */
    int (*on_connect)(void *ud, const sb_http_req *req, const char **reason);
    /* Token -> user: ALLOW with user written (NUL-terminated, <= SB_USER_MAX),
     * PASS (no opinion) or DENY. Used by [auth] mode = lua. */
    int (*authenticate)(void *ud, const char *token, const sb_http_req *req,
                        char user[SB_USER_MAX + 1], const char **reason);
    /* action: message | publish | join | broadcast | list | members.
     * target: the recipient (once per recipient), room, or NULL. */
    int (*authorize)(void *ud, const char *user, const char *action, const char *target,
                     const cJSON *data, const char **reason);
    /* May change *data: edit it in place, or cJSON_Delete it and store a new
     * object. DENY drops the message (error `filtered`). */
    int (*filter)(void *ud, const sb_filter_msg *msg, cJSON **data, const char **reason);
    /* A connection was authenticated (user known) / is closing. The registry
     * still holds the closing connection, its user and rooms during on_close. */
    void (*on_open)(void *ud, uint64_t conn_id, const char *user);
    void (*on_close)(void *ud, uint64_t conn_id, const char *user);
    /* since 1.4 */
    /* A filter that only reads, in place of `filter` (a provider with both
     * gets this one called). data is the stamped message, read-only and
     * borrowed for the call (it may borrow the client's data). Leave *out
     * NULL to pass the message on unchanged, or set a new object (the host
     * takes it, whatever the answer) to replace it. DENY drops the message
     * (error `filtered`). While no filter changes a message, the host sends
     * the client's data stamped as with no filter at all: no copy to edit,
     * no second check (host->filter_print). */
    int (*filter_view)(void *ud, const sb_filter_msg *msg, const cJSON *data, cJSON **out,
                       const char **reason);
} sb_hooks;

/* The answer of an identify call (the auth plugin's handshake check). */
enum sb_ident { SB_IDENT_USER = 0, SB_IDENT_LATER = 1, SB_IDENT_REJECT = 2 };

/* Identify the user of a WebSocket handshake: SB_IDENT_USER with user written,
 * SB_IDENT_LATER (no credentials: open unauthenticated, `auth` must follow), or
 * SB_IDENT_REJECT (-> 401 with *reason). Without an identifier the host uses
 * the client_id rules of docs/protocol.md section 1. */
typedef int (*sb_identify_fn)(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                              const char **reason);

/* A stored direct message as the store hands it back: borrowed for the callback. */
typedef struct sb_stored {
    const char *id;   /* SB_ID_LEN chars, NUL-terminated */
    const char *json; /* the message's data object, serialized */
    size_t len;
} sb_stored;

typedef void (*sb_store_done_fn)(void *arg, int status);
/* status SB_OK: msgs[0..n) oldest first; `more` is nonzero when a later page may exist. */
typedef void (*sb_store_page_fn)(void *arg, int status, const sb_stored *msgs, size_t n, int more);
/* status SB_OK: the messages actually removed (unknown ids are left out). */
typedef void (*sb_store_removed_fn)(void *arg, int status, const sb_stored *removed, size_t n);
/* since 1.2: a page of a room's history, msgs[0..n) oldest first. more: a
 * page past this one may exist (later ones for an `after` read, older ones
 * otherwise). reaches: an `after` read found `after` itself, so nothing
 * between it and msgs[0] was trimmed; 0 for other reads. */
typedef void (*sb_history_page_fn)(void *arg, int status, const sb_stored *msgs, size_t n, int more,
                                   int reaches);
/* since 1.3: the later answer to host->publish_room (room history on).
 * status SB_OK: stored, then sent, delivered counting this node's
 * connections; SB_EUNAVAILABLE: the store could not keep it, nothing sent. */
typedef void (*sb_published_fn)(void *arg, int status, size_t delivered);

/* The store slot: inboxes of direct messages. Every operation completes
 * through its callback, never inside the call. A call that returns an error
 * does not call back. */
typedef struct sb_store {
    uint32_t size;
    /* Store json under id in each users[i]'s inbox; done once, when durable.
     * done status: SB_OK | SB_EUNAVAILABLE | SB_EINBOX_FULL.
     * -> SB_OK | SB_EUNAVAILABLE (queue full) | SB_ENOMEM */
    int (*put)(void *ud, const char *const *users, size_t n_users, const char *id, const char *json,
               size_t len, sb_store_done_fn done, void *arg);
    /* Remove ids from user's inbox; done gets the removed messages.
     * -> SB_OK | SB_EUNAVAILABLE | SB_ENOMEM */
    int (*remove)(void *ud, const char *user, const char *const *ids, size_t n_ids,
                  sb_store_removed_fn done, void *arg);
    /* Up to limit messages of user with id > after (after NULL: from the
     * start), oldest first. -> SB_OK | SB_EUNAVAILABLE | SB_ENOMEM */
    int (*page)(void *ud, const char *user, const char *after, size_t limit, sb_store_page_fn done,
                void *arg);
    /* Whether the store answers now; on no, *why says why. Synchronous. */
    int (*ready)(void *ud, const char **why);
    /* since 1.2: room history (NULL: the store keeps none, and the host's
     * store_history_* answer SB_EUNAVAILABLE). */
    /* Append json under id to room's history and, in the same commit, drop
     * the oldest entries past keep and every entry whose id sorts before
     * expire_before (NULL: none; ids sort in time order); done once, when
     * durable. done status: SB_OK | SB_EUNAVAILABLE.
     * -> SB_OK | SB_EUNAVAILABLE | SB_EINVAL | SB_ENOMEM */
    int (*history_put)(void *ud, const char *room, const char *id, const char *json, size_t len,
                       size_t keep, const char *expire_before, sb_store_done_fn done, void *arg);
    /* after set: up to limit entries of room with id > after, oldest first.
     * Else: the newest limit entries with id < before (NULL: the newest of
     * all), handed oldest first. -> SB_OK | SB_EUNAVAILABLE | SB_EINVAL | SB_ENOMEM */
    int (*history_page)(void *ud, const char *room, const char *after, const char *before,
                        size_t limit, sb_history_page_fn done, void *arg);
} sb_store;

/* Where a bus delivery goes. */
enum sb_route {
    SB_ROUTE_USERS = 0,
    /* targets[0] the room. since 1.1, to a bus with `membership`: a second
     * target, when present, is a user whose connections are skipped (a
     * user's own presence never reaches it, on any node). */
    SB_ROUTE_ROOM = 1,
    SB_ROUTE_ALL = 2,
    /* since 1.1: close a user's connections on every node (user_close,
     * sessions = replace). targets[0] is the user, the envelope
     * {"code":N,"reason":"...","before":ms}: connections opened before `before`
     * (epoch ms; 0: all) close with code. Only handed to a bus that has
     * `membership`. */
    SB_ROUTE_CLOSE = 3,
};

/* since 1.1: what a bus learns of this node's membership (sb_bus.membership). */
enum sb_member_event {
    SB_MEMBER_ONLINE = 0,  /* the user's first connection on this node authenticated */
    SB_MEMBER_OFFLINE = 1, /* the user's last connection on this node closed */
    SB_MEMBER_JOIN = 2,    /* the user's first connection on this node joined room */
    SB_MEMBER_LEAVE = 3,   /* the user's last connection on this node left room */
};

/* since 1.1: a list of user names: users is a borrowed array of strings
 * (valid for the call), sorted and without duplicates when the host calls
 * (host->users_query); status SB_OK or SB_EUNAVAILABLE (then users holds
 * what is known, possibly nothing). */
typedef void (*sb_users_fn)(void *arg, int status, const cJSON *users);

/* The bus slot: cross-node delivery. The host delivers to its own connections
 * first, then hands the framed payload (the whole envelope as JSON text) to the
 * bus, which calls host->deliver_local on the other nodes. */
typedef struct sb_bus {
    uint32_t size;
    /* targets: the users (SB_ROUTE_USERS), one room, or none (SB_ROUTE_ALL).
     * direct: nonzero for a stored direct message. -> SB_OK | SB_EUNAVAILABLE */
    int (*publish)(void *ud, int route, const char *const *targets, size_t n_targets,
                   const char *envelope, size_t len, int direct);
    int (*ready)(void *ud, const char **why);
    /* since 1.1 */
    /* This node's membership changed (enum sb_member_event; room is NULL for
     * ONLINE and OFFLINE). Called in the order things happen; the bus keeps
     * the deployment's view from it. */
    void (*membership)(void *ud, int event, const char *user, const char *room);
    /* The users online on any node (room NULL) or in room on any node, as far
     * as the bus knows; done once, never inside the call. The names may come
     * in any order and repeat: the host merges its own view, sorts and drops
     * repeats. -> SB_OK | SB_EUNAVAILABLE | SB_ENOMEM */
    int (*users)(void *ud, const char *room, sb_users_fn done, void *arg);
} sb_bus;

/* --- since 1.2: WebSocket endpoints and their codecs ----------------------- */

/* An endpoint is a WebSocket path with a codec: `decode` turns one incoming
 * text frame into native commands (host->submit), `encode` turns a native
 * reply or event into this dialect's frame. Everything between (auth, hooks,
 * rate limit, routing, store, bus, metrics) is the native path. The native
 * protocol is the core's own endpoint ([server] ws_path, default /ws). */

/* The endpoint needs a user at the handshake: SB_IDENT_LATER answers 401. */
#define SB_ENDPOINT_NEED_USER 1u
/* A new connection of a user closes the user's older connections on this
 * endpoint (this node) with 4001, whatever [server] sessions says. */
#define SB_ENDPOINT_REPLACE 2u
/* since 1.3: encode takes a fan-out's events as text (sb_encode_in data_json)
 * and the host does not parse them into a tree first. */
#define SB_ENDPOINT_EVENT_TEXT 4u
/* since 1.4: the connection that sent a broadcast or a room publication
 * (send_all, send_room, publish_room) gets it too, with the same frame as
 * everyone else; the native path leaves it out. Events that leave out the
 * sending user (presence) still do. */
#define SB_ENDPOINT_ECHO 8u

/* What encode is asked to turn into a frame. Borrowed for the call. */
typedef struct sb_encode_in {
    uint32_t size;     /* ro */
    uint64_t conn_id;  /* ro: the connection it is encoded for (the first of a fan-out) */
    const char *user;  /* ro: the recipient user of a direct message (every connection of
                        * that user on this endpoint gets the same frame), else NULL */
    int reply;         /* ro: nonzero: the answer to a submitted command (per connection) */
    const char *type;  /* ro: the native type: a reply (ack, error, join, ...) or an event
                        * (message, publish, broadcast, presence, receipt) */
    const cJSON *ref;  /* ro: a reply: the ref given to submit (NULL: none); events: NULL */
    const cJSON *data; /* ro: the native data object; NULL when data_json is set */
    /* since 1.3 */
    /* ro: with SB_ENDPOINT_EVENT_TEXT, an event of a fan-out: its native data
     * object as JSON text of data_len bytes (not NUL-terminated), as the
     * sender's node framed it; otherwise NULL and data is the tree. */
    const char *data_json;
    size_t data_len;
    /* since 1.4 */
    /* ro: with data_json: nonzero when this node's host printed it (a local
     * send, send_all, send_room or publish_room: json_print_new's compact
     * JSON, or send_users_json's text, which is that by its contract), so a
     * codec may copy spans of it without checking that it is JSON; 0 when it
     * came from elsewhere (the bus). */
    int data_printed;
    /* rw: a buffer of scratch_cap bytes the host lends for this call (NULL,
     * 0: none). An encode whose frame fits, its NUL included, may write it
     * there and set *out = scratch: the host frames it from there and frees
     * nothing, so a frame costs no allocation. */
    char *scratch;
    size_t scratch_cap;
} sb_encode_in;

typedef struct sb_endpoint {
    uint32_t size;
    const char *path; /* the request path it answers, exactly ("/messaging"); copied */
    uint32_t flags;   /* SB_ENDPOINT_* */
    /* Optional (NULL: the server's identifier, as for the native endpoint).
     * Same contract as sb_identify_fn; it may call host->identify. */
    sb_identify_fn identify;
    /* One text frame (valid UTF-8, at most max_message_bytes) from conn_id,
     * whose user is `user` (NULL before authentication). Call host->submit
     * once per native command, now or later. Return SB_OK, or SB_EPROTO with
     * *code ("bad_json" | "bad_request") and *why (static or valid until the
     * next call): the host then encodes an `error` reply without ref. */
    int (*decode)(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                  const char **code, const char **why);
    /* A native reply or event -> *out (allocated with host->alloc, or
     * in->scratch; the host takes it) of *out_len bytes, sent as one text
     * frame; *out NULL: nothing is sent to this endpoint's connections. For an event the result is
     * built once per fan-out and shared by every connection of this endpoint
     * (of one user, for a direct message). -> SB_OK | SB_ENOMEM (not sent) */
    int (*encode)(void *ud, const sb_encode_in *in, char **out, size_t *out_len);
    /* Optional: the stored direct message `id` (data.id of a `message` event)
     * was queued to conn_id of user, live or from the backlog. */
    void (*delivered)(void *ud, uint64_t conn_id, const char *user, const char *id);
    /* since 1.4 */
    /* Optional (NULL: decode): decode a frame the host has parsed under
     * host->json_parse_new's rules (text that fails them is answered with a
     * bad_json error, and this is not called). frame is the host's, built
     * cheaply for the call: the codec may change it (detach, rename, delete
     * members; nodes it adds are freed with it) and pass parts of it to
     * host->submit, but keeps no part of it past the return. Same returns
     * as decode. */
    int (*decode_tree)(void *ud, uint64_t conn_id, const char *user, cJSON *frame,
                       const char **code, const char **why);
} sb_endpoint;

#define SB_ENDPOINT_INIT .size = sizeof(sb_endpoint)

/* --- the host API table ----------------------------------------------------- */

typedef struct sb_host_api {
    uint32_t size; /* sizeof(sb_host_api) of the host */
    uint16_t abi_major, abi_minor;
    const char *version; /* the server's version string */

    /* --- memory and logging --- */

    /* Allocate memory that may be freed on the other side of the boundary. */
    void *(*alloc)(size_t n);
    /* Free memory from host->alloc or from a _new function that says so. */
    void (*free)(void *p);
    /* Log one line, prefixed with the plugin's name. [loop thread or any thread] */
    void (*log)(sb_plugin_ctx *pc, int level, const char *fmt, ...) SB_PRINTF(3, 4);

    /* --- configuration --- */

    /* The value of key in section, or def when absent; the string belongs to
     * the config. Marks the key known (unknown keys are warned after init). */
    const char *(*cfg_string)(const sb_section *s, const char *key, const char *def);
    /* An integer in [min, max], def when absent. A bad value is logged with
     * file, line and key. -> SB_OK | SB_EINVAL */
    int (*cfg_int)(const sb_section *s, const char *key, long def, long min, long max, long *out);
    /* yes/no/true/false/on/off/1/0. -> SB_OK | SB_EINVAL (logged) */
    int (*cfg_bool)(const sb_section *s, const char *key, int def, int *out);
    /* A path value resolved against the config file's directory, written to
     * out. -> SB_OK | SB_ENOTFOUND (absent and def NULL) | SB_EINVAL (too long) */
    int (*cfg_path)(const sb_section *s, const char *key, const char *def, char *out,
                    size_t out_len);
    /* The [server] section, for shared limits such as max_recipients. */
    const sb_section *(*cfg_server)(sb_plugin_ctx *pc);

    /* --- registration --- */

    /* Handle WebSocket frames of `type`. -> SB_OK | SB_EEXIST | SB_ENOMEM */
    int (*register_command)(sb_plugin_ctx *pc, const char *type, sb_command_fn fn, void *ud);
    /* Handle HTTP requests whose path starts with prefix (longest prefix wins).
     * -> SB_OK | SB_EEXIST | SB_ENOMEM */
    int (*register_route)(sb_plugin_ctx *pc, const char *prefix, sb_route_fn fn, void *ud);
    /* Add a hook provider; providers run in plugins.conf order. hooks is copied. */
    int (*register_hooks)(sb_plugin_ctx *pc, const sb_hooks *hooks, void *ud);
    /* Become the handshake identifier (one per server). -> SB_OK | SB_EEXIST */
    int (*register_identify)(sb_plugin_ctx *pc, sb_identify_fn fn, void *ud);
    /* Fill the store slot; store is copied. -> SB_OK | SB_EEXIST */
    int (*register_store)(sb_plugin_ctx *pc, const sb_store *store, void *ud);
    /* Fill the bus slot; bus is copied. -> SB_OK | SB_EEXIST */
    int (*register_bus)(sb_plugin_ctx *pc, const sb_bus *bus, void *ud);

    /* --- answering commands --- */

    /* Answer cmd now with {type, ref, data}; data may be NULL ({}). -> SB_OK | SB_ECLOSED */
    int (*reply)(sb_plugin_ctx *pc, const sb_cmd *cmd, const char *type, const cJSON *data);
    /* Answer cmd now with an error {code, message}. -> SB_OK | SB_ECLOSED */
    int (*reply_error)(sb_plugin_ctx *pc, const sb_cmd *cmd, const char *code, const char *message);
    /* Keep cmd's answer for later; the handle must reach exactly one of
     * reply_later, reply_later_error or reply_drop. NULL on ENOMEM. */
    sb_reply *(*reply_hold)(sb_plugin_ctx *pc, const sb_cmd *cmd);
    /* Answer a held command and free the handle; dropped if the connection is gone.
     * -> SB_OK | SB_ECLOSED */
    int (*reply_later)(sb_plugin_ctx *pc, sb_reply *r_take, const char *type, const cJSON *data);
    int (*reply_later_error)(sb_plugin_ctx *pc, sb_reply *r_take, const char *code,
                             const char *message);
    /* Free a held answer without answering. */
    void (*reply_drop)(sb_plugin_ctx *pc, sb_reply *r_take);
    /* The connection a held answer goes to. */
    uint64_t (*reply_conn)(const sb_reply *r);

    /* --- HTTP --- */

    /* Answer HTTP request id; headers is "Name: value\r\n"* or NULL; body is
     * copied. Pipelined answers leave in request order. -> SB_OK | SB_ECLOSED */
    int (*http_respond)(sb_plugin_ctx *pc, uint64_t req_id, int status, const char *content_type,
                        const char *headers, const char *body, size_t body_len);
    /* The value of header name (case-insensitive), or NULL. */
    const char *(*http_header)(const sb_http_req *req, const char *name);
    /* Percent-decode query parameter name into out (NUL-terminated).
     * -> SB_OK | SB_ENOTFOUND | SB_EINVAL (too long or bad escape) */
    int (*query_param)(const char *query, const char *name, char *out, size_t out_len);
    /* Percent-decode s[0..len) into out. -> SB_OK | SB_EINVAL */
    int (*url_decode)(const char *s, size_t len, char *out, size_t out_len);

    /* --- connections and identity --- */

    /* Whether s satisfies the client_id rules (1..64 of [A-Za-z0-9._@:-], not "0"). */
    int (*user_valid)(const char *s);
    /* Whether s is a valid room name (1..SB_ROOM_MAX bytes of UTF-8, no control chars). */
    int (*room_valid)(const char *s);
    /* Authenticate conn_id as user: registers it, applies sessions = replace,
     * runs on_open hooks, starts the stored backlog (after this call returns).
     * -> SB_OK | SB_ECLOSED | SB_EINVAL (bad user, or already another user) */
    int (*conn_set_user)(sb_plugin_ctx *pc, uint64_t conn_id, const char *user);
    /* The user of conn_id (borrowed, valid until the loop runs again), or NULL. */
    const char *(*conn_user)(sb_plugin_ctx *pc, uint64_t conn_id);
    /* When conn_id opened (epoch ms) and its handshake request's ip (text
     * borrowed until conn_info is called again: copy it to keep it).
     * -> SB_OK | SB_ECLOSED */
    int (*conn_info)(sb_plugin_ctx *pc, uint64_t conn_id, int64_t *since_ms, const char **ip);
    /* Close conn_id with a WebSocket close code and reason. -> SB_OK | SB_ECLOSED */
    int (*conn_close)(sb_plugin_ctx *pc, uint64_t conn_id, int code, const char *reason);
    /* Close every connection of user; *closed counts this node's. With a bus
     * that has `membership` (1.1), the other nodes close theirs too. -> SB_OK */
    int (*user_close)(sb_plugin_ctx *pc, const char *user, int code, const char *reason,
                      size_t *closed);
    /* Whether user has a connection on this node. */
    int (*user_online)(sb_plugin_ctx *pc, const char *user);
    /* A new array of the online users' names, sorted. Caller: cJSON_Delete. */
    cJSON *(*users_new)(sb_plugin_ctx *pc);

    /* --- rooms --- */

    /* Add conn_id to room; *user_was_in: the user already had a connection in
     * it (no presence due). -> SB_OK | SB_ECLOSED | SB_EINVAL | SB_ENOMEM */
    int (*room_join)(sb_plugin_ctx *pc, uint64_t conn_id, const char *room, int *user_was_in);
    /* Remove conn_id from room; *user_still_in: another of the user's
     * connections is still in it. -> SB_OK | SB_ENOTFOUND (was not in it) */
    int (*room_leave)(sb_plugin_ctx *pc, uint64_t conn_id, const char *room, int *user_still_in);
    /* Whether conn_id has joined room. */
    int (*room_has_conn)(sb_plugin_ctx *pc, const char *room, uint64_t conn_id);
    /* A new sorted array of the users in room (empty when none). Caller: cJSON_Delete. */
    cJSON *(*room_users_new)(sb_plugin_ctx *pc, const char *room);
    /* A new sorted array of the rooms conn_id has joined. Caller: cJSON_Delete. */
    cJSON *(*conn_rooms_new)(sb_plugin_ctx *pc, uint64_t conn_id);

    /* --- routing: the core to clients; each serializes and frames once --- */

    /* Send {type, data} (no ref) to one connection. -> SB_OK | SB_ECLOSED | SB_ENOMEM */
    int (*send_conn)(sb_plugin_ctx *pc, uint64_t conn_id, const char *type, const cJSON *data);
    /* Send to every connection of each user but skip_conn (0: none).
     * direct: a stored direct message; connections still receiving their
     * backlog skip it (the backlog reaches it). Also handed to the bus.
     * *delivered (may be NULL) counts local connections. -> SB_OK | SB_ENOMEM */
    int (*send_users)(sb_plugin_ctx *pc, const char *const *users, size_t n_users, const char *type,
                      const cJSON *data, uint64_t skip_conn, int direct, size_t *delivered);
    /* Send to the connections in room but skip_conn and skip_user's (NULL: none). */
    int (*send_room)(sb_plugin_ctx *pc, const char *room, const char *type, const cJSON *data,
                     uint64_t skip_conn, const char *skip_user, size_t *delivered);
    /* Send to every authenticated connection but skip_conn. */
    int (*send_all)(sb_plugin_ctx *pc, const char *type, const cJSON *data, uint64_t skip_conn,
                    size_t *delivered);
    /* For a bus: deliver an envelope from another node to this node's
     * connections only. -> SB_OK | SB_EINVAL | SB_ENOMEM */
    int (*deliver_local)(sb_plugin_ctx *pc, int route, const char *const *targets, size_t n_targets,
                         const char *envelope, size_t len, int direct);

    /* --- hook chains, for command plugins --- */

    /* Run the authorize chain; DENY writes the reason into reason[0..len).
     * -> SB_HOOK_ALLOW | SB_HOOK_DENY */
    int (*run_authorize)(sb_plugin_ctx *pc, const char *user, const char *action,
                         const char *target, const cJSON *data, char *reason, size_t reason_len);
    /* Run the filter chain over *data (may be replaced, see sb_hooks.filter).
     * Hand it the stamped shape (host->stamp) so every filter sees the same
     * message; afterwards the host stamps *data again from msg, so a filter
     * cannot change id, from, to, room or ts (as ABI 1.0 promised).
     * -> SB_HOOK_ALLOW | SB_HOOK_DENY (also ENOMEM, or msg without id/from) */
    int (*run_filter)(sb_plugin_ctx *pc, const sb_filter_msg *msg, cJSON **data, char *reason,
                      size_t reason_len);
    /* Run the authenticate chain: the first provider naming a user wins.
     * -> SB_HOOK_ALLOW (user written) | SB_HOOK_DENY */
    int (*run_authenticate)(sb_plugin_ctx *pc, const char *token, const sb_http_req *req,
                            char user[SB_USER_MAX + 1], char *reason, size_t reason_len);

    /* --- store, through the slot --- */

    /* The store slot's operations, or SB_EUNAVAILABLE when no store is registered. */
    int (*store_put)(sb_plugin_ctx *pc, const char *const *users, size_t n_users, const char *id,
                     const char *json, size_t len, sb_store_done_fn done, void *arg);
    int (*store_remove)(sb_plugin_ctx *pc, const char *user, const char *const *ids, size_t n_ids,
                        sb_store_removed_fn done, void *arg);
    int (*store_page)(sb_plugin_ctx *pc, const char *user, const char *after, size_t limit,
                      sb_store_page_fn done, void *arg);

    /* --- ids and time --- */

    /* Write a new id (SB_ID_LEN chars + NUL): unique, increasing as strings on this node. */
    void (*id_new)(sb_plugin_ctx *pc, char out[SB_ID_LEN + 1]);
    /* Wall-clock time in Unix epoch milliseconds. [any thread] */
    int64_t (*now_ms)(void);

    /* --- loop services --- */

    /* Call cb(arg) after `after` seconds, then every `repeat` (0: once). */
    sb_timer *(*timer_new)(sb_plugin_ctx *pc, double after, double repeat, sb_cb_fn cb, void *arg);
    /* Stop and free a timer (also a fired one-shot). NULL is ignored. */
    void (*timer_free)(sb_timer *t);
    /* Watch fd for events (SB_READ | SB_WRITE); cb(arg, revents). */
    sb_watch *(*watch_new)(sb_plugin_ctx *pc, int fd, int events,
                           void (*cb)(void *arg, int revents), void *arg);
    /* Change the events watched (0 stops watching). -> SB_OK */
    int (*watch_set)(sb_watch *w, int events);
    void (*watch_free)(sb_watch *w);
    /* A wake-up a plugin thread signals; cb(arg) runs on the loop thread. */
    sb_wakeup *(*wakeup_new)(sb_plugin_ctx *pc, sb_cb_fn cb, void *arg);
    /* Wake the loop; several signals may fold into one cb. [any thread] */
    void (*wakeup_signal)(sb_wakeup *w);
    void (*wakeup_free)(sb_wakeup *w);
    /* Call cb(arg) once on the next loop iteration, never inside this call.
     * -> SB_OK | SB_ENOMEM */
    int (*later)(sb_plugin_ctx *pc, sb_cb_fn cb, void *arg);

    /* --- metrics (Prometheus text on /metrics) --- */

    /* A counter named name (prefixed "switchboard_"); the host frees it at exit. */
    sb_counter *(*counter_new)(sb_plugin_ctx *pc, const char *name, const char *help);
    void (*counter_add)(sb_counter *c, uint64_t n);
    /* A gauge read from fn(arg) each time /metrics is served. -> SB_OK | SB_ENOMEM */
    int (*gauge_fn)(sb_plugin_ctx *pc, const char *name, const char *help, double (*fn)(void *arg),
                    void *arg);

    /* --- JSON and text --- */

    /* Parse buf[0..len) as docs/protocol.md section 2 does: valid UTF-8, no U+0000,
     * no duplicate keys. A new cJSON (caller: cJSON_Delete), or NULL with *why. */
    cJSON *(*json_parse_new)(const char *buf, size_t len, const char **why);
    /* Whether s[0..len) is valid UTF-8. */
    int (*utf8_valid)(const char *s, size_t len);

    /* since 1.1 */

    /* The users online on any node (room NULL) or in room on any node: this
     * node's registry merged with the bus's view (a bus with `users`);
     * without such a bus, this node's. done once, never inside the call; on
     * a bus failure status is SB_EUNAVAILABLE and users this node's view.
     * -> SB_OK | SB_ENOMEM */
    int (*users_query)(sb_plugin_ctx *pc, const char *room, sb_users_fn done, void *arg);
    /* A new sorted array of the rooms with a connection on this node. Caller: cJSON_Delete. */
    cJSON *(*rooms_new)(sb_plugin_ctx *pc);
    /* The name of the plugin filling slot "store" or "bus", or NULL when
     * empty. Plugins load in plugins.conf order: during init() only the
     * earlier ones have registered. */
    const char *(*slot_owner)(sb_plugin_ctx *pc, const char *slot);
    /* Replace *data (an object; NULL or anything else counts as {}) with a new
     * object {id, from, [to], [room], ts, then the old members in order}: a copy
     * of to and room are added when not NULL; every old member named id, from,
     * ts, or to / room when given, is dropped (all copies); the old value is
     * freed, its members moved, not copied. -> SB_OK | SB_ENOMEM (*data unchanged) */
    int (*stamp)(cJSON **data, const char *id, const char *from, const cJSON *to, const char *room,
                 int64_t ts);

    /* since 1.2 */

    /* Serve a WebSocket endpoint (see sb_endpoint); ep is copied, ud handed
     * back to its functions. Register once per path. -> SB_OK | SB_EEXIST
     * (the path is taken: logged with both owners) | SB_EINVAL | SB_ENOMEM */
    int (*register_endpoint)(sb_plugin_ctx *pc, const sb_endpoint *ep, void *ud);
    /* Run one native command for conn_id as if its client had sent
     * {type, ref, data} on the native endpoint: the authentication check,
     * the command table, the handler. Replies go to the connection's encode
     * with a copy of ref (borrowed here; NULL: none); data (borrowed; NULL:
     * {}) must be an object. The frame's rate limit was taken before decode.
     * -> SB_OK | SB_ECLOSED | SB_EINVAL */
    int (*submit)(sb_plugin_ctx *pc, uint64_t conn_id, const char *type, const cJSON *ref,
                  const cJSON *data);
    /* Run the server's handshake identifier (the auth plugin's, or the
     * client_id rules when none is registered) on req; for an endpoint's
     * identify that adds to it. -> SB_IDENT_USER | SB_IDENT_LATER | SB_IDENT_REJECT */
    int (*identify)(sb_plugin_ctx *pc, const sb_http_req *req, char user[SB_USER_MAX + 1],
                    const char **reason);
    /* register_command with flags (SB_COMMAND_*). -> SB_OK | SB_EEXIST | SB_ENOMEM */
    int (*register_command_ex)(sb_plugin_ctx *pc, const char *type, sb_command_fn fn, void *ud,
                               uint32_t flags);
    /* The host's compact JSON for j, the bytes send_* would frame (numbers
     * print back to the same double, integers below 2^53 exactly): a new
     * NUL-terminated string (caller: host->free), *len its length. NULL on
     * ENOMEM or a tree deeper than 1000. */
    char *(*json_print_new)(const cJSON *j, size_t *len);
    /* send_users with the data object already serialized (json_print_new's
     * output, as stored): the same bytes are framed, nothing is parsed or
     * printed again. -> SB_OK | SB_EINVAL (not an object) | SB_ENOMEM */
    int (*send_users_json)(sb_plugin_ctx *pc, const char *const *users, size_t n_users,
                           const char *type, const char *data_json, size_t len, uint64_t skip_conn,
                           int direct, size_t *delivered);

    /* Room history through the store slot (sb_store.history_*); a store
     * without them answers SB_EUNAVAILABLE, as does an empty slot. */
    int (*store_history_put)(sb_plugin_ctx *pc, const char *room, const char *id, const char *json,
                             size_t len, size_t keep, const char *expire_before,
                             sb_store_done_fn done, void *arg);
    int (*store_history_page)(sb_plugin_ctx *pc, const char *room, const char *after,
                              const char *before, size_t limit, sb_history_page_fn done, void *arg);
    /* Hold the events (not the replies) sent to conn_id in a queue until a
     * matching conn_release; holds nest. -> SB_OK | SB_ECLOSED */
    int (*conn_hold)(sb_plugin_ctx *pc, uint64_t conn_id);
    /* End one hold: send msgs[0..n) (borrowed) as `type` events ahead of the
     * held ones, drop held native events whose data.id is one of theirs
     * (sent already; a native `publish` copy arriving within 3 s is dropped
     * too), and once no hold and no stored backlog remains, send the held
     * events in order. -> SB_OK | SB_ECLOSED | SB_EINVAL | SB_ENOMEM */
    int (*conn_release)(sb_plugin_ctx *pc, uint64_t conn_id, const char *type,
                        const sb_stored *msgs, size_t n);

    /* since 1.3 */

    /* *users: how many users have a connection in room on this node (0 for
     * a room nobody is in); constant time, for a decision that must not
     * cost a list. -> SB_OK | SB_EINVAL (room NULL) */
    int (*room_size)(sb_plugin_ctx *pc, const char *room, size_t *users);

    /* Publish to room, the one road of every room publication whoever makes
     * it (a `publish` command, the push API, gRPC): data (borrowed) is its
     * stamped form after the filter chain and carries its `id`. It goes as a
     * `publish` event to room's connections but skip_conn (0: none) and to
     * the bus. With room history off it goes out within the call: SB_OK,
     * *delivered (may be NULL) counts this node's connections, and done is
     * not called. With history on ([rooms] history_size) the store keeps it
     * first, trimmed by history_size and history_ttl in the same commit, and
     * nothing is sent before that commit: SB_PENDING, and done runs once,
     * never inside the call; answer the publisher (ack, HTTP 202) there.
     * -> SB_OK | SB_PENDING | SB_EUNAVAILABLE (no store can keep it: nothing
     * sent, done not called) | SB_EINVAL | SB_ENOMEM */
    int (*publish_room)(sb_plugin_ctx *pc, const char *room, const cJSON *data, uint64_t skip_conn,
                        size_t *delivered, sb_published_fn done, void *arg);

    /* When no filter hook is installed, what run_filter and json_print_new
     * would make of data (borrowed, left as it is) with msg's routing
     * fields: the stamped message's bytes, printed without building it (a
     * new string, caller: host->free; *len its length). NULL with *filtered
     * set when a filter is installed (build the tree and run the chain), or
     * with *filtered 0 on ENOMEM. */
    char *(*print_unfiltered_new)(sb_plugin_ctx *pc, const sb_filter_msg *msg, const cJSON *data,
                                  size_t *len, int *filtered);

    /* since 1.4 */

    /* A message through the filter chain, printed: in *json (a new string,
     * caller: host->free; *len its length) what run_filter and json_print_new
     * make of a stamped copy of data (borrowed, left as it is) with msg's
     * routing fields. A message a filter dropped, whose filter output is
     * invalid, or msg without id or from, leaves *json NULL and the reason
     * in reason[0..reason_len). While no filter changes the message (no
     * filter installed, or filter_view ones passing it on), nothing is
     * copied or checked again: the bytes are print_unfiltered_new's.
     * -> SB_OK | SB_ENOMEM */
    int (*filter_print)(sb_plugin_ctx *pc, const sb_filter_msg *msg, const cJSON *data, char **json,
                        size_t *len, char *reason, size_t reason_len);

    /* Room history as the plugin owning the rooms' configuration reads it
     * (the rooms plugin, from [rooms] history_size and history_ttl): keep
     * publications per room (0: no history, publications live only), each
     * for ttl_s seconds (0: no age limit). publish_room stores by it; call
     * it from init (no publication is made before every plugin has loaded);
     * the last call wins. Without a call there is no history.
     * -> SB_OK | SB_EINVAL (a negative value: nothing changed) */
    int (*room_history_configure)(sb_plugin_ctx *pc, long keep, long ttl_s);

} sb_host_api;

#define SB_READ  1
#define SB_WRITE 2

/* --- the plugin descriptor --------------------------------------------------- */

typedef struct sb_plugin {
    uint32_t size; /* sizeof(sb_plugin) as the plugin was built */
    uint16_t abi_major, abi_minor;
    const char *name;
    const char *version;
    /* Register everything; keep host and pc. *userdata comes back in fini and
     * reload. A nonzero return fails the plugin (the reason logged by it). */
    int (*init)(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg, void **userdata);
    /* Release everything; called in reverse load order at shutdown. */
    void (*fini)(void *userdata);
    /* Optional (NULL): SIGHUP. -> SB_OK, or an error logged by the plugin. */
    int (*reload)(void *userdata, const sb_section *cfg);
    /* since 1.2 */
    uint32_t flags; /* SB_PLUGIN_* */
    /* Optional (NULL): shutdown has begun (SIGTERM/SIGINT). Called on the loop
     * once when it begins, then every 20 ms while the loop still runs; the
     * server ends the loop when its own connections are gone and every drain
     * returns 0, or when shutdown_timeout passes. A plugin serving its own
     * sockets stops accepting on the first call and returns nonzero while
     * calls it has taken are still in flight. fini follows after the loop. */
    int (*drain)(void *userdata);
    /* Optional (NULL): `switchboard --check-config`. Read and validate cfg
     * as init would, but open nothing (no file, socket, thread or lock),
     * register nothing and keep nothing; log each problem with host->log.
     * Without it, --check-config runs init, then fini: a plugin whose init
     * takes a lock or needs a server up should have one.
     * -> SB_OK, or an error logged by the plugin */
    int (*check)(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg);
} sb_plugin;

/* since 1.2: sb_plugin.flags. The plugin cannot work without a store: the
 * server refuses to start when it is enabled and no store is. */
#define SB_PLUGIN_NEEDS_STORE 1u

#define SB_PLUGIN_INIT                                                                             \
    .size = sizeof(sb_plugin), .abi_major = SB_ABI_MAJOR, .abi_minor = SB_ABI_MINOR
#define SB_HOOKS_INIT .size = sizeof(sb_hooks)
#define SB_STORE_INIT .size = sizeof(sb_store)
#define SB_BUS_INIT   .size = sizeof(sb_bus)

/* The one symbol a plugin exports:
 *   SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = { SB_PLUGIN_INIT, .name = ..., };
 */
#define SB_PLUGIN_SYMBOL "sb_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* SWITCHBOARD_PLUGIN_H */
