/* Hook chains and provider slots. A chain is an array of copied sb_hooks
 * tables; members past a provider's `size` are treated as absent. */
#include "hooks.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "log.h"
#include "plugin_ctx.h"
#include "stamp.h"
#include "utf8.h"

typedef struct provider {
    sb_hooks h;
    void *ud;
    sb_plugin_ctx *owner;
} provider;

static provider *chain;
static size_t n_chain;
static struct {
    sb_identify_fn fn;
    void *ud;
    sb_plugin_ctx *owner;
} ident;
static struct {
    sb_store s;
    void *ud;
    sb_plugin_ctx *owner;
} store;
static struct {
    sb_bus b;
    void *ud;
    sb_plugin_ctx *owner;
} bus;

/* Copy a size-prefixed table: members past its size stay NULL. */
static void copy_sized(void *dst, size_t dst_size, const void *src)
{
    uint32_t size;
    memcpy(&size, src, sizeof(size));
    memset(dst, 0, dst_size);
    memcpy(dst, src, size < dst_size ? size : dst_size);
}

int sb_hooks_add(const sb_hooks *hooks, void *ud, sb_plugin_ctx *owner)
{
    if (!hooks || hooks->size < sizeof(uint32_t))
        return SB_EINVAL;
    provider *a = realloc(chain, (n_chain + 1) * sizeof(*a));
    if (!a)
        return SB_ENOMEM;
    chain = a;
    copy_sized(&chain[n_chain].h, sizeof(sb_hooks), hooks);
    chain[n_chain].ud = ud;
    chain[n_chain].owner = owner;
    n_chain++;
    return SB_OK;
}

int sb_hooks_set_identify(sb_identify_fn fn, void *ud, sb_plugin_ctx *owner)
{
    if (ident.fn)
        return SB_EEXIST;
    ident.fn = fn;
    ident.ud = ud;
    ident.owner = owner;
    return SB_OK;
}

int sb_hooks_set_store(const sb_store *s, void *ud, sb_plugin_ctx *owner)
{
    if (store.owner) {
        sb_log(SB_LOG_ERROR, "plugin %s: the store slot is taken by %s: enable exactly one store",
               sb_plugin_name(owner), sb_plugin_name(store.owner));
        return SB_EEXIST;
    }
    copy_sized(&store.s, sizeof(sb_store), s);
    store.ud = ud;
    store.owner = owner;
    return SB_OK;
}

int sb_hooks_set_bus(const sb_bus *b, void *ud, sb_plugin_ctx *owner)
{
    if (bus.owner) {
        sb_log(SB_LOG_ERROR, "plugin %s: the bus slot is taken by %s", sb_plugin_name(owner),
               sb_plugin_name(bus.owner));
        return SB_EEXIST;
    }
    copy_sized(&bus.b, sizeof(sb_bus), b);
    bus.ud = ud;
    bus.owner = owner;
    return SB_OK;
}

void sb_hooks_remove_owner(sb_plugin_ctx *owner)
{
    size_t j = 0;
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i].owner != owner)
            chain[j++] = chain[i];
    n_chain = j;
    if (ident.owner == owner)
        memset(&ident, 0, sizeof(ident));
    if (store.owner == owner)
        memset(&store, 0, sizeof(store));
    if (bus.owner == owner)
        memset(&bus, 0, sizeof(bus));
}

void sb_hooks_free(void)
{
    free(chain);
    chain = NULL;
    n_chain = 0;
    memset(&ident, 0, sizeof(ident));
    memset(&store, 0, sizeof(store));
    memset(&bus, 0, sizeof(bus));
}

const sb_store *sb_hooks_store(void **ud)
{
    if (!store.owner)
        return NULL;
    *ud = store.ud;
    return &store.s;
}

int sb_hooks_owns_slot(const sb_plugin_ctx *pc)
{
    return pc && (store.owner == pc || bus.owner == pc);
}

int sb_hooks_ready(const char **why)
{
    if (store.owner && store.s.ready && !store.s.ready(store.ud, why))
        return 0;
    if (bus.owner && bus.b.ready && !bus.b.ready(bus.ud, why))
        return 0;
    return 1;
}

void sb_hooks_bus_publish(int route, const char *const *targets, size_t n, const char *envelope,
                          size_t len, int direct)
{
    if (bus.owner && bus.b.publish)
        bus.b.publish(bus.ud, route, targets, n, envelope, len, direct);
}

int sb_hooks_bus_has_membership(void)
{
    return bus.owner && bus.b.membership;
}

void sb_hooks_bus_membership(int event, const char *user, const char *room)
{
    if (bus.owner && bus.b.membership)
        bus.b.membership(bus.ud, event, user, room);
}

int sb_hooks_bus_users(const char *room, sb_users_fn done, void *arg)
{
    if (!bus.owner || !bus.b.users)
        return SB_ENOTFOUND;
    return bus.b.users(bus.ud, room, done, arg);
}

const char *sb_hooks_slot_owner(const char *slot)
{
    sb_plugin_ctx *owner = NULL;
    if (strcmp(slot, "store") == 0)
        owner = store.owner;
    else if (strcmp(slot, "bus") == 0)
        owner = bus.owner;
    return owner ? sb_plugin_name(owner) : NULL;
}

static void set_reason(char *out, size_t len, const char *why, const char *fallback)
{
    if (out && len)
        snprintf(out, len, "%s", why && *why ? why : fallback);
}

int sb_hooks_identify(const sb_http_req *req, char user[SB_USER_MAX + 1], char *reason,
                      size_t reason_len)
{
    if (!ident.fn)
        return -1;
    const char *why = NULL;
    user[0] = 0;
    int r = ident.fn(ident.ud, req, user, &why);
    if (r == SB_IDENT_USER && (!user[0] || strlen(user) > SB_USER_MAX))
        r = SB_IDENT_REJECT;
    if (r == SB_IDENT_REJECT)
        set_reason(reason, reason_len, why, "identity rejected");
    return r;
}

int sb_hooks_on_connect(const sb_http_req *req, char *reason, size_t reason_len)
{
    for (size_t i = 0; i < n_chain; i++) {
        const char *why = NULL;
        if (chain[i].h.on_connect &&
            chain[i].h.on_connect(chain[i].ud, req, &why) == SB_HOOK_DENY) {
            set_reason(reason, reason_len, why, "refused by policy");
            return SB_HOOK_DENY;
        }
    }
    return SB_HOOK_ALLOW;
}

int sb_hooks_authenticate(const char *token, const sb_http_req *req, char user[SB_USER_MAX + 1],
                          char *reason, size_t reason_len)
{
    for (size_t i = 0; i < n_chain; i++) {
        const char *why = NULL;
        if (!chain[i].h.authenticate)
            continue;
        user[0] = 0;
        int r = chain[i].h.authenticate(chain[i].ud, token, req, user, &why);
        if (r == SB_HOOK_DENY) {
            set_reason(reason, reason_len, why, "invalid token");
            return SB_HOOK_DENY;
        }
        if (r == SB_HOOK_ALLOW && user[0] && strlen(user) <= SB_USER_MAX)
            return SB_HOOK_ALLOW;
    }
    set_reason(reason, reason_len, NULL, "invalid token");
    return SB_HOOK_DENY;
}

int sb_hooks_authorize(const char *user, const char *action, const char *target, const cJSON *data,
                       char *reason, size_t reason_len)
{
    for (size_t i = 0; i < n_chain; i++) {
        const char *why = NULL;
        if (chain[i].h.authorize &&
            chain[i].h.authorize(chain[i].ud, user, action, target, data, &why) == SB_HOOK_DENY) {
            set_reason(reason, reason_len, why, "not allowed");
            return SB_HOOK_DENY;
        }
    }
    return SB_HOOK_ALLOW;
}

/* Every string (keys too) must be valid UTF-8 for the frame to be valid. */
static int json_utf8_ok(const cJSON *j, int depth)
{
    if (depth > 256)
        return 0;
    for (; j; j = j->next) {
        if (j->string && !sb_utf8_valid((const uint8_t *)j->string, strlen(j->string)))
            return 0;
        if (cJSON_IsString(j) &&
            !sb_utf8_valid((const uint8_t *)j->valuestring, strlen(j->valuestring)))
            return 0;
        if (j->child && !json_utf8_ok(j->child, depth + 1))
            return 0;
    }
    return 1;
}

/* A message on its way through the filter chain: a tree the chain owns, or
 * (filter_print) a view borrowing the client's data until a filter replaces
 * it or needs a tree it may edit. */
typedef struct filter_run {
    const sb_filter_msg *msg;
    cJSON *data;
    int owned;           /* data is a tree of its own, not a view */
    const cJSON *client; /* what a view borrows */
} filter_run;

/* Whether msg carries the routing fields the host restores after the chain. */
static int filter_msg_ok(const sb_filter_msg *msg)
{
    return msg && msg->size >= offsetof(sb_filter_msg, ts) + sizeof(msg->ts) && msg->id &&
           msg->from;
}

/* Give a filter that may edit in place a stamped copy of the client's data
 * instead of the view. -> SB_OK | SB_ENOMEM (the view kept) */
static int filter_own(filter_run *run)
{
    const sb_filter_msg *msg = run->msg;
    cJSON *copy = NULL;
    if (cJSON_IsObject(run->client) && (copy = cJSON_Duplicate(run->client, 1)) == NULL)
        return SB_ENOMEM;
    if (sb_stamp(&copy, msg->id, msg->from, msg->to, msg->room, msg->ts) != SB_OK) {
        cJSON_Delete(copy);
        return SB_ENOMEM;
    }
    cJSON_Delete(run->data);
    run->data = copy;
    run->owned = 1;
    return SB_OK;
}

/* Run every filter over run->data. A filter_view that passes the message on
 * unchanged costs no check; any other output is checked before the next
 * filter sees it. -> SB_HOOK_ALLOW | SB_HOOK_DENY (reason written) | SB_ENOMEM */
static int filter_chain(filter_run *run, char *reason, size_t reason_len)
{
    for (size_t i = 0; i < n_chain; i++) {
        const sb_hooks *h = &chain[i].h;
        const char *why = NULL;
        int r;
        if (h->filter_view) {
            cJSON *out = NULL;
            r = h->filter_view(chain[i].ud, run->msg, run->data, &out, &why);
            if (r != SB_HOOK_DENY && out == NULL)
                continue;
            if (r == SB_HOOK_DENY) {
                cJSON_Delete(out);
            } else {
                cJSON_Delete(run->data); /* a view: the view alone */
                run->data = out;
                run->owned = 1;
            }
        } else if (h->filter) {
            if (!run->owned && filter_own(run) != SB_OK)
                return SB_ENOMEM;
            r = h->filter(chain[i].ud, run->msg, &run->data, &why);
        } else {
            continue;
        }
        if (r == SB_HOOK_DENY) {
            set_reason(reason, reason_len, why, "dropped by a filter");
            return SB_HOOK_DENY;
        }
        if (!run->data || !cJSON_IsObject(run->data) || !json_utf8_ok(run->data->child, 0)) {
            sb_log(SB_LOG_WARN, "plugin %s: filter output is not a valid UTF-8 JSON object",
                   sb_plugin_name(chain[i].owner));
            set_reason(reason, reason_len, NULL, "filter output is invalid");
            return SB_HOOK_DENY;
        }
    }
    return SB_HOOK_ALLOW;
}

/* A msg without its routing fields (too short, no id or from) is refused. */
static int filter_refuse_unrouted(const sb_filter_msg *msg, char *reason, size_t reason_len)
{
    if (filter_msg_ok(msg))
        return 0;
    sb_log(SB_LOG_ERROR, "run_filter: the message lacks its routing fields");
    set_reason(reason, reason_len, NULL, "internal error");
    return 1;
}

/* The routing fields are the host's: after the chain they are restored from
 * msg, whatever a filter did to them, so no caller (a 1.0 plugin cannot
 * stamp) has to. */
int sb_hooks_filter(const sb_filter_msg *msg, cJSON **data, char *reason, size_t reason_len)
{
    if (filter_refuse_unrouted(msg, reason, reason_len))
        return SB_HOOK_DENY;
    filter_run run = {.msg = msg, .data = *data, .owned = 1};
    int r = filter_chain(&run, reason, reason_len);
    *data = run.data;
    if (r == SB_HOOK_DENY)
        return SB_HOOK_DENY;
    if (r != SB_HOOK_ALLOW ||
        sb_stamp(data, msg->id, msg->from, msg->to, msg->room, msg->ts) != SB_OK) {
        set_reason(reason, reason_len, NULL, "out of memory");
        return SB_HOOK_DENY;
    }
    return SB_HOOK_ALLOW;
}

int sb_hooks_filter_print(const sb_filter_msg *msg, const cJSON *data, char **json, size_t *len,
                          char *reason, size_t reason_len)
{
    *json = NULL;
    if (filter_refuse_unrouted(msg, reason, reason_len))
        return SB_OK;
    if (!sb_hooks_has_filter()) {
        /* No filter to see a tree: the stamped message printed as is. */
        size_t n = 0;
        const char *text =
            sb_stamp_print(data, msg->id, msg->from, msg->to, msg->room, msg->ts, &n);
        if (text == NULL || (*json = malloc(n + 1)) == NULL)
            return SB_ENOMEM;
        memcpy(*json, text, n + 1);
        *len = n;
        return SB_OK;
    }
    filter_run run = {.msg = msg, .client = data};
    run.data = sb_stamp_view(data, msg->id, msg->from, msg->to, msg->room, msg->ts);
    if (run.data == NULL)
        return SB_ENOMEM;
    int rc = SB_OK;
    int r = filter_chain(&run, reason, reason_len);
    if (r == SB_HOOK_ALLOW && run.owned &&
        sb_stamp(&run.data, msg->id, msg->from, msg->to, msg->room, msg->ts) != SB_OK)
        r = SB_ENOMEM;
    if (r == SB_HOOK_ALLOW) {
        size_t n = 0;
        const char *text = sb_json_out(run.data, &n);
        if (text != NULL && (*json = malloc(n + 1)) != NULL) {
            memcpy(*json, text, n + 1);
            *len = n;
        } else {
            rc = SB_ENOMEM;
        }
    } else if (r != SB_HOOK_DENY) {
        rc = SB_ENOMEM;
    }
    cJSON_Delete(run.data);
    return rc;
}

int sb_hooks_has_filter(void)
{
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i].h.filter || chain[i].h.filter_view)
            return 1;
    return 0;
}

void sb_hooks_on_open(uint64_t conn_id, const char *user)
{
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i].h.on_open)
            chain[i].h.on_open(chain[i].ud, conn_id, user);
}

void sb_hooks_on_close(uint64_t conn_id, const char *user)
{
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i].h.on_close)
            chain[i].h.on_close(chain[i].ud, conn_id, user);
}
