/* Fuzz target: the grpc plugin's request path (plugins/grpc/): bytes from a
 * client go through nghttp2's server session, the stream and message framing
 * of grpc_conn.c, the protobuf-c decoding of the three calls and of
 * reflection requests, the Any conversion, and the answers. The host is a
 * stub table: the core's own stamp, UTF-8 and name checks; sends that print
 * the event once; a store whose completions run after the bytes are fed;
 * timers (deadlines) fired at the end.
 * Byte 0 picks the order of the end: bit 0 frees the connection before the
 * store completions (their streams are then detached), bits 1-2 pick the
 * completions' status (OK, inbox full, unavailable), bit 3 turns room
 * history on (NotifyRoom then answers from publish_room's completion). The rest is what the
 * client sends, starting with the HTTP/2 preface.
 * Invariants: no crash, no leak, no sanitizer report. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <switchboard/plugin.h>

#include "grpc_conn.h"
#include "grpc_notify.h"
#include "grpc_reflect.h"
#include "grpc_state.h"
#include "names.h"
#include "stamp.h"
#include "utf8.h"

struct sb_timer {
    sb_cb_fn cb;
    void *arg;
    struct sb_timer *next;
};

typedef struct fuzz_put {
    sb_store_done_fn done;     /* a store_put's completion, or */
    sb_published_fn published; /* a publish_room's (room history on) */
    void *arg;
    struct fuzz_put *next;
} fuzz_put;

static struct sb_timer *timers;
static fuzz_put *puts_head, **puts_tail = &puts_head;
static unsigned ids;
static int history_on; /* publish_room stores first and answers later */

static void f_log(sb_plugin_ctx *pc, int level, const char *fmt, ...)
{
    (void)pc;
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap); /* formats are checked too */
    va_end(ap);
}

static int f_utf8_valid(const char *s, size_t len)
{
    return sb_utf8_valid((const uint8_t *)s, len);
}

static void f_id_new(sb_plugin_ctx *pc, char out[SB_ID_LEN + 1])
{
    (void)pc;
    snprintf(out, SB_ID_LEN + 1, "%026u", ++ids);
}

static int64_t f_now_ms(void)
{
    return 1700000000000;
}

static int f_run_filter(sb_plugin_ctx *pc, const sb_filter_msg *msg, cJSON **data, char *reason,
                        size_t reason_len)
{
    (void)pc;
    (void)msg;
    (void)data;
    (void)reason;
    (void)reason_len;
    return SB_HOOK_ALLOW;
}

/* Serialize once, as the host would, and drop it. */
static int f_print(const cJSON *data, size_t *delivered)
{
    char *text = cJSON_PrintUnformatted(data);
    if (!text)
        return SB_ENOMEM;
    cJSON_free(text);
    if (delivered)
        *delivered = 1;
    return SB_OK;
}

static int f_send_users_json(sb_plugin_ctx *pc, const char *const *users, size_t n_users,
                             const char *type, const char *data_json, size_t len,
                             uint64_t skip_conn, int direct, size_t *delivered)
{
    (void)pc;
    (void)users;
    (void)n_users;
    (void)type;
    (void)skip_conn;
    (void)direct;
    if (!data_json || len == 0 || data_json[0] != '{')
        return SB_EINVAL; /* the host takes only an object's text */
    if (delivered)
        *delivered = 1;
    return SB_OK;
}

/* The host's printer is cJSON's here: the bytes matter, not their style. */
static char *f_json_print_new(const cJSON *j, size_t *len)
{
    char *text = cJSON_PrintUnformatted(j);
    if (text && len)
        *len = strlen(text);
    return text;
}

static int f_send_users(sb_plugin_ctx *pc, const char *const *users, size_t n_users,
                        const char *type, const cJSON *data, uint64_t skip_conn, int direct,
                        size_t *delivered)
{
    size_t len = 0;
    char *text = f_json_print_new(data, &len);
    if (!text)
        return SB_ENOMEM;
    int rc = f_send_users_json(pc, users, n_users, type, text, len, skip_conn, direct, delivered);
    cJSON_free(text);
    return rc;
}

static int f_send_room(sb_plugin_ctx *pc, const char *room, const char *type, const cJSON *data,
                       uint64_t skip_conn, const char *skip_user, size_t *delivered)
{
    (void)pc;
    (void)room;
    (void)type;
    (void)skip_conn;
    (void)skip_user;
    return f_print(data, delivered);
}

static int f_send_all(sb_plugin_ctx *pc, const char *type, const cJSON *data, uint64_t skip_conn,
                      size_t *delivered)
{
    (void)pc;
    (void)type;
    (void)skip_conn;
    return f_print(data, delivered);
}

static int f_store_put(sb_plugin_ctx *pc, const char *const *users, size_t n_users, const char *id,
                       const char *json, size_t len, sb_store_done_fn done, void *arg)
{
    (void)pc;
    (void)users;
    (void)n_users;
    (void)id;
    (void)json;
    (void)len;
    fuzz_put *p = calloc(1, sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    p->done = done;
    p->arg = arg;
    *puts_tail = p;
    puts_tail = &p->next;
    return SB_OK;
}

static int f_publish_room(sb_plugin_ctx *pc, const char *room, const cJSON *data,
                          uint64_t skip_conn, size_t *delivered, sb_published_fn done, void *arg)
{
    int rc = f_send_room(pc, room, "publish", data, skip_conn, NULL, delivered);
    if (rc != SB_OK || !history_on)
        return rc;
    fuzz_put *p = calloc(1, sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    p->published = done;
    p->arg = arg;
    *puts_tail = p;
    puts_tail = &p->next;
    return SB_PENDING;
}

static sb_timer *f_timer_new(sb_plugin_ctx *pc, double after, double repeat, sb_cb_fn cb, void *arg)
{
    (void)pc;
    (void)after;
    (void)repeat;
    struct sb_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cb = cb;
    t->arg = arg;
    t->next = timers;
    timers = t;
    return t;
}

static void f_timer_free(sb_timer *t)
{
    for (struct sb_timer **p = &timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            free(t);
            return;
        }
}

static void f_counter_add(sb_counter *c, uint64_t n)
{
    (void)c;
    (void)n;
}

static const sb_host_api host = {
    .size = sizeof(sb_host_api),
    .log = f_log,
    .utf8_valid = f_utf8_valid,
    .user_valid = sb_user_valid,
    .room_valid = sb_room_valid,
    .id_new = f_id_new,
    .now_ms = f_now_ms,
    .run_filter = f_run_filter,
    .stamp = sb_stamp,
    .send_users = f_send_users,
    .send_users_json = f_send_users_json,
    .json_print_new = f_json_print_new,
    .free = cJSON_free,
    .send_room = f_send_room,
    .send_all = f_send_all,
    .store_put = f_store_put,
    .publish_room = f_publish_room,
    .timer_new = f_timer_new,
    .timer_free = f_timer_free,
    .counter_add = f_counter_add,
};

static void fuzz_complete(int status)
{
    while (puts_head) {
        fuzz_put *p = puts_head;
        puts_head = p->next;
        if (!puts_head)
            puts_tail = &puts_head;
        if (p->published)
            p->published(p->arg, status == SB_OK ? SB_OK : SB_EUNAVAILABLE, 1);
        else
            p->done(p->arg, status);
        free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static grpc_reflect *reflect;
    static const int statuses[] = {SB_OK, SB_EINBOX_FULL, SB_EUNAVAILABLE, SB_OK};
    if (size < 1)
        return 0;
    if (!reflect)
        reflect = grpc_reflect_new();
    grpc_state st = {
        .host = &host,
        .from = "server",
        .max_msg = 4096,
        .max_streams = 100,
        .reflect = reflect,
        .listen_fd = -1,
    };
    const char *bad = NULL;
    grpc_allow_parse("127.0.0.0/8 ::1", &st.allow, &bad);
    for (size_t i = 0; i < GRPC_NOTIFY_METHODS; i++)
        st.methods[st.n_methods++] = &grpc_notify_methods[i];
    for (size_t i = 0; i < GRPC_REFLECT_METHODS; i++)
        st.methods[st.n_methods++] = &grpc_reflect_methods[i];
    int mode = data[0];
    int status = statuses[(mode >> 1) & 3];
    history_on = mode >> 3 & 1;

    grpc_conn *c = grpc_conn_new(&st, -1, "127.0.0.1");
    int alive = c && grpc_conn_feed(c, data + 1, size - 1) == 0;
    if (alive && (mode & 1)) {
        grpc_conn_free(c);
        alive = 0;
    }
    fuzz_complete(status);
    while (timers && st.conns) /* deadlines: each firing frees its timer */
        timers->cb(timers->arg);
    if (st.conns)
        grpc_conn_free(st.conns);
    while (timers) /* a timer of a detached stream cannot remain; be safe */
        f_timer_free(timers);
    grpc_allow_free(&st.allow);
    return 0;
}
