/* The endpoint table and the codec step on the way out. Entries live until
 * their owner is removed; a connection keeps a pointer to its entry, which
 * is safe because plugins are removed only before connections exist (a
 * failed init) or after they are gone (shutdown). */
#include "endpoint.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "native.h"
#include "log.h"
#include "plugin_ctx.h"

static sb_endpoint_entry *entries[SB_ENDPOINTS_MAX];

static int entry_add(const char *path, const sb_endpoint *ep, void *ud, sb_plugin_ctx *owner)
{
    static const char *const builtin[] = {"/health", "/ready", "/metrics"};
    for (size_t i = 0; i < sizeof(builtin) / sizeof(*builtin); i++) {
        if (strcmp(path, builtin[i]) == 0) {
            sb_log(SB_LOG_ERROR, "endpoint %s: claimed by %s, but the core serves it", path,
                   sb_plugin_name(owner));
            return SB_EEXIST;
        }
    }
    unsigned slot = SB_ENDPOINTS_MAX;
    for (unsigned i = 0; i < SB_ENDPOINTS_MAX; i++) {
        if (entries[i] && strcmp(entries[i]->path, path) == 0) {
            sb_log(SB_LOG_ERROR, "endpoint %s: claimed by %s and by %s", path,
                   sb_plugin_name(entries[i]->owner), sb_plugin_name(owner));
            return SB_EEXIST;
        }
        if (!entries[i] && slot == SB_ENDPOINTS_MAX)
            slot = i;
    }
    if (slot == SB_ENDPOINTS_MAX) {
        sb_log(SB_LOG_ERROR, "endpoint %s: no room (at most %d endpoints)", path, SB_ENDPOINTS_MAX);
        return SB_ENOMEM;
    }
    sb_endpoint_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path))) {
        free(e);
        return SB_ENOMEM;
    }
    if (ep) /* a plugin built for an older 1.x passes a shorter table */
        memcpy(&e->ep, ep, ep->size < sizeof(e->ep) ? ep->size : sizeof(e->ep));
    e->ep.size = sizeof(e->ep);
    e->ud = ud;
    e->owner = owner;
    e->index = slot;
    entries[slot] = e;
    return SB_OK;
}

int sb_endpoint_init(const char *native_path)
{
    return entry_add(native_path, NULL, NULL, NULL);
}

int sb_endpoint_add(const sb_endpoint *ep, void *ud, sb_plugin_ctx *owner)
{
    if (!ep || ep->size < offsetof(sb_endpoint, delivered) || !ep->path || ep->path[0] != '/' ||
        !ep->decode || !ep->encode || !owner)
        return SB_EINVAL;
    return entry_add(ep->path, ep, ud, owner);
}

const sb_endpoint_entry *sb_endpoint_find(const char *path)
{
    for (unsigned i = 0; i < SB_ENDPOINTS_MAX; i++)
        if (entries[i] && strcmp(entries[i]->path, path) == 0)
            return entries[i];
    return NULL;
}

static void entry_free(unsigned i)
{
    free(entries[i]->path);
    free(entries[i]);
    entries[i] = NULL;
}

void sb_endpoint_remove_owner(sb_plugin_ctx *owner)
{
    for (unsigned i = 0; i < SB_ENDPOINTS_MAX; i++)
        if (entries[i] && owner && entries[i]->owner == owner)
            entry_free(i);
}

void sb_endpoint_free(void)
{
    for (unsigned i = 0; i < SB_ENDPOINTS_MAX; i++)
        if (entries[i])
            entry_free(i);
}

int sb_endpoint_decode(const sb_endpoint_entry *e, uint64_t conn_id, const char *user,
                       const char *buf, size_t len, const char **code, const char **why)
{
    if (!e->ep.decode_tree)
        return e->ep.decode(e->ud, conn_id, user, buf, len, code, why);
    /* The tree lives for the call: the parse arena builds it with no malloc
     * per node and frees it with no free per node, as for a native frame. */
    int held = 0;
    cJSON *frame = sb_json_parse_held(buf, len, why, &held);
    if (!frame) {
        *code = "bad_json";
        return SB_EPROTO;
    }
    int rc = e->ep.decode_tree(e->ud, conn_id, user, frame, code, why);
    sb_json_free_held(frame, held);
    return rc;
}

/* The buffer lent to encode (sb_encode_in.scratch): one loop thread, and
 * a frame is made from it before the next encode. An encode that encodes
 * again (nothing in the tree does) gets none. */
#define SCRATCH_BYTES 16384
static char scratch[SCRATCH_BYTES];
static int scratch_lent;

/* A dialect's encode, its text framed as one text frame. */
static sb_frame *dialect_frame(const sb_endpoint_entry *e, sb_encode_in *in, int *rc)
{
    char *out = NULL;
    size_t len = 0;
    int lend = !scratch_lent;
    if (lend) {
        in->scratch = scratch;
        in->scratch_cap = sizeof(scratch);
        scratch_lent = 1;
    }
    *rc = e->ep.encode(e->ud, in, &out, &len);
    if (lend)
        scratch_lent = 0;
    int own = out != NULL && !(lend && out == scratch); /* host->alloc'd: ours to free */
    if (*rc != SB_OK) {
        if (own)
            free(out);
        sb_log(SB_LOG_WARN, "endpoint %s: encoding %s failed (%d)", e->path, in->type, *rc);
        *rc = *rc == SB_ENOMEM ? SB_ENOMEM : SB_OK;
        return NULL;
    }
    if (!out)
        return NULL;
    sb_frame *f = sb_frame_ws(1, out, len);
    if (own)
        free(out); /* host->alloc is malloc */
    if (!f)
        *rc = SB_ENOMEM;
    return f;
}

/* An integer ref as sb_native_ref_json writes one (digits, at most 15, so
 * exact) into *num, a number borrowed for the call: no parse, no node to
 * allocate. -> 1 | 0 (another ref: parse it) */
static int ref_integer(const char *text, cJSON *num)
{
    const char *p = text + (text[0] == '-');
    uint64_t v = 0;
    size_t n = 0;
    for (; p[n] >= '0' && p[n] <= '9'; n++) {
        if (n == 15)
            return 0;
        v = v * 10 + (uint64_t)(p[n] - '0');
    }
    if (n == 0 || p[n] != '\0')
        return 0;
    memset(num, 0, sizeof(*num));
    num->type = cJSON_Number;
    num->valuedouble = text[0] == '-' ? -(double)v : (double)v;
    num->valueint = num->valuedouble >= INT_MAX   ? INT_MAX
                    : num->valuedouble <= INT_MIN ? INT_MIN
                                                  : (int)num->valuedouble;
    return 1;
}

sb_frame *sb_endpoint_frame(const sb_endpoint_entry *e, int reply, const char *type,
                            const char *ref_json, const cJSON *data, uint64_t conn_id,
                            const char *user, int *rc)
{
    *rc = SB_OK;
    if (sb_endpoint_native(e)) {
        sb_frame *f = sb_native_encode(type, ref_json, data);
        if (!f)
            *rc = SB_ENOMEM;
        return f;
    }
    cJSON num;
    int integer = ref_json && ref_integer(ref_json, &num);
    cJSON *ref = integer ? NULL : ref_json ? cJSON_Parse(ref_json) : NULL;
    cJSON *empty = data ? NULL : cJSON_CreateObject();
    if ((ref_json && !integer && !ref) || (!data && !empty)) {
        cJSON_Delete(ref);
        *rc = SB_ENOMEM;
        return NULL;
    }
    sb_encode_in in = {
        .size = sizeof(in),
        .conn_id = conn_id,
        .user = user,
        .reply = reply,
        .type = type,
        .ref = integer ? &num : ref,
        .data = data ? data : empty,
    };
    sb_frame *f = dialect_frame(e, &in, rc);
    cJSON_Delete(ref);
    cJSON_Delete(empty);
    return f;
}

sb_frame *sb_endpoint_frame_text(const sb_endpoint_entry *e, const char *type,
                                 const char *data_json, size_t data_len, int printed,
                                 uint64_t conn_id, const char *user, int *rc)
{
    *rc = SB_OK;
    sb_encode_in in = {
        .size = sizeof(in),
        .conn_id = conn_id,
        .user = user,
        .reply = 0,
        .type = type,
        .ref = NULL,
        .data = NULL,
        .data_json = data_json,
        .data_len = data_len,
        .data_printed = printed,
    };
    return dialect_frame(e, &in, rc);
}

sb_frame *sb_endpoint_frame_event(const sb_endpoint_entry *e, const sb_frame *native,
                                  const cJSON *env, uint64_t conn_id, const char *user, int *rc)
{
    *rc = SB_OK;
    if (sb_endpoint_native(e))
        return sb_frame_ref((sb_frame *)native);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(env, "type");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(env, "data");
    if (!cJSON_IsString(type) || !cJSON_IsObject(data))
        return NULL; /* not an envelope of ours: nothing to encode */
    sb_encode_in in = {
        .size = sizeof(in),
        .conn_id = conn_id,
        .user = user,
        .reply = 0,
        .type = type->valuestring,
        .ref = NULL,
        .data = data,
    };
    return dialect_frame(e, &in, rc);
}
