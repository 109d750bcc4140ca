/* Stamping: the routing fields go first so a reader sees them at a glance, and
 * every member with a stamped name is dropped, not only the first, because a
 * filter's output may repeat keys that the parser refused from the client. All
 * allocation happens before *data is touched, so a failure leaves it whole. */
#include "stamp.h"

#include <string.h>

#include "json_out.h"
#include "switchboard/plugin.h"

/* Whether the member named key gives way to a stamped one. A member without a
 * key is not a valid member: dropped too. */
static int stamp_drops(const char *key, int with_to, int with_room)
{
    if (key == NULL)
        return 1;
    switch (key[0]) { /* one byte decides for most names */
    case 'i':
        return key[1] == 'd' && key[2] == '\0';
    case 'f':
        return strcmp(key, "from") == 0;
    case 't':
        return (key[1] == 's' || (with_to && key[1] == 'o')) && key[2] == '\0';
    case 'r':
        return with_room && strcmp(key, "room") == 0;
    default:
        return 0;
    }
}

/* The member after m if m is the string value named key, else NULL (m NULL too). */
static const cJSON *stamp_next_string(const cJSON *m, const char *key, const char *value)
{
    if (m == NULL || m->string == NULL || strcmp(m->string, key) != 0 || !cJSON_IsString(m) ||
        strcmp(m->valuestring, value) != 0)
        return NULL;
    return m->next;
}

/* Whether a and b print the same, for the shapes `to` has (a string or an
 * array of strings); anything else counts as different (cJSON_Compare
 * calls nearby numbers equal). */
static int stamp_same_to(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a))
        return cJSON_IsString(b) && strcmp(a->valuestring, b->valuestring) == 0;
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b))
        return 0;
    for (a = a->child, b = b->child; a != NULL && b != NULL; a = a->next, b = b->next)
        if (!cJSON_IsString(a) || !cJSON_IsString(b) || strcmp(a->valuestring, b->valuestring) != 0)
            return 0;
    return a == NULL && b == NULL;
}

/* Whether data is already what stamping it would build: the stamped members
 * lead, in order, with these values, and none of the rest would be dropped.
 * The message path stamps twice (the plugin before the filters, the filter
 * chain after them): with no filter changing anything, the second is this
 * check instead of a rebuilt object. */
static int stamp_done(const cJSON *data, const char *id, const char *from, const cJSON *to,
                      const char *room, int64_t ts)
{
    if (!cJSON_IsObject(data))
        return 0;
    /* Each stamped member is followed by another (ts comes last), so NULL
     * is a mismatch at every step. */
    const cJSON *m = stamp_next_string(stamp_next_string(data->child, "id", id), "from", from);
    if (m == NULL)
        return 0;
    if (to != NULL) {
        if (m->string == NULL || strcmp(m->string, "to") != 0 || !stamp_same_to(m, to))
            return 0;
        m = m->next;
    }
    if (room != NULL && (m = stamp_next_string(m, "room", room)) == NULL)
        return 0;
    if (m == NULL || m->string == NULL || strcmp(m->string, "ts") != 0 || !cJSON_IsNumber(m) ||
        m->valuedouble != (double)ts)
        return 0;
    for (m = m->next; m != NULL; m = m->next)
        if (stamp_drops(m->string, to != NULL, room != NULL))
            return 0;
    return 1;
}

/* A member of a view: v's value borrowed (not freed with the view). */
static cJSON *stamp_borrow(const cJSON *v)
{
    cJSON *r = cJSON_CreateNull();
    if (r == NULL)
        return NULL;
    *r = *v;
    r->next = r->prev = NULL;
    r->string = NULL;
    r->type = (v->type & ~cJSON_StringIsConst) | cJSON_IsReference;
    return r;
}

/* Add item under key (borrowed, not freed with the view). 0 on ENOMEM. */
static int stamp_view_add(cJSON *view, const char *key, cJSON *item)
{
    if (item == NULL)
        return 0;
    if (!cJSON_AddItemToObjectCS(view, key, item)) {
        cJSON_Delete(item);
        return 0;
    }
    return 1;
}

cJSON *sb_stamp_view(const cJSON *data, const char *id, const char *from, const cJSON *to,
                     const char *room, int64_t ts)
{
    cJSON *view = cJSON_CreateObject();
    if (view == NULL || !stamp_view_add(view, "id", cJSON_CreateStringReference(id)) ||
        !stamp_view_add(view, "from", cJSON_CreateStringReference(from)) ||
        (to != NULL && !stamp_view_add(view, "to", stamp_borrow(to))) ||
        (room != NULL && !stamp_view_add(view, "room", cJSON_CreateStringReference(room))) ||
        !stamp_view_add(view, "ts", cJSON_CreateNumber((double)ts)))
        goto nomem;
    if (cJSON_IsObject(data)) {
        for (const cJSON *m = data->child; m != NULL; m = m->next)
            if (!stamp_drops(m->string, to != NULL, room != NULL) &&
                !stamp_view_add(view, m->string, stamp_borrow(m)))
                goto nomem;
    }
    return view;
nomem:
    cJSON_Delete(view);
    return NULL;
}

/* sb_json_out_object's skip: the stamp's drops, as with_to and with_room
 * in arg (bit 0, bit 1). */
static int stamp_skips(const char *key, void *arg)
{
    unsigned with = *(const unsigned *)arg;
    return stamp_drops(key, with & 1u, (with & 2u) != 0);
}

const char *sb_stamp_print(const cJSON *data, const char *id, const char *from, const cJSON *to,
                           const char *room, int64_t ts, size_t *len)
{
    /* The stamped members as nodes on the stack: nothing is allocated. */
    cJSON id_v = {.type = cJSON_String, .valuestring = (char *)id};
    cJSON from_v = {.type = cJSON_String, .valuestring = (char *)from};
    cJSON room_v = {.type = cJSON_String, .valuestring = (char *)room};
    cJSON ts_v = {.type = cJSON_Number, .valuedouble = (double)ts};
    sb_json_member lead[5] = {{"id", &id_v}, {"from", &from_v}};
    size_t n = 2;
    if (to != NULL)
        lead[n++] = (sb_json_member){"to", to};
    if (room != NULL)
        lead[n++] = (sb_json_member){"room", &room_v};
    lead[n++] = (sb_json_member){"ts", &ts_v};
    unsigned with = (to != NULL ? 1u : 0u) | (room != NULL ? 2u : 0u);
    return sb_json_out_object(lead, n, data, stamp_skips, &with, len);
}

int sb_stamp(cJSON **data, const char *id, const char *from, const cJSON *to, const char *room,
             int64_t ts)
{
    if (stamp_done(*data, id, from, to, room, ts))
        return SB_OK;
    cJSON *out = cJSON_CreateObject();
    cJSON *to_copy = NULL;
    if (out == NULL || cJSON_AddStringToObject(out, "id", id) == NULL ||
        cJSON_AddStringToObject(out, "from", from) == NULL)
        goto nomem;
    if (to != NULL) {
        to_copy = cJSON_Duplicate(to, 1);
        if (to_copy == NULL || !cJSON_AddItemToObject(out, "to", to_copy))
            goto nomem;
        to_copy = NULL; /* out owns it */
    }
    if ((room != NULL && cJSON_AddStringToObject(out, "room", room) == NULL) ||
        cJSON_AddNumberToObject(out, "ts", (double)ts) == NULL)
        goto nomem;

    cJSON *old = *data;
    if (cJSON_IsObject(old)) {
        cJSON *item = old->child;
        while (item != NULL) {
            cJSON *next = item->next;
            if (!stamp_drops(item->string, to != NULL, room != NULL)) {
                /* Objects and arrays share the child list: AddItemToArray
                 * links the member with its key as is, so the move cannot
                 * fail for lack of memory. */
                cJSON_DetachItemViaPointer(old, item);
                cJSON_AddItemToArray(out, item);
            }
            item = next;
        }
    }
    cJSON_Delete(old);
    *data = out;
    return SB_OK;
nomem:
    cJSON_Delete(to_copy);
    cJSON_Delete(out);
    return SB_ENOMEM;
}
