/* Seed 001 frames <-> native data. A 001 message travels as a native
 * `message` whose data keeps the item as its sender wrote it: the client's
 * `id` under MESSAGING_MSG_ID (the native stamp owns `id`), members the stamp
 * would drop (from, to, ts) and the two reserved names under MESSAGING_EXTRA
 * right after it, everything else (sid and rid included) where it was. The
 * codec reads its names by place, as a format: the first of each name, and
 * MESSAGING_EXTRA only right after MESSAGING_MSG_ID. Encoding reverses that
 * for any message whose sid and rid are its native from and to, so a 001
 * recipient gets the item exactly as written; other native messages are shown
 * with the server's id, the sender as sid and the recipient as rid. */
#include "messaging_codec.h"

#include "../common/printed_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The key a decoded item's id is renamed to: one object, so that a pointer
 * compare finds the renamed member (messaging_send_ref). */
static const char msg_id_key[] = MESSAGING_MSG_ID;

/* 2^53: integers below it in magnitude are exact doubles. */
#define MESSAGING_INT_LIMIT 9007199254740992.0

/* Whether v is an id: a string of 1 to MESSAGING_ID_MAX bytes, or an
 * integer a double holds exactly. */
static int messaging_id_valid(const cJSON *v)
{
    if (v == NULL)
        return 0;
    if ((v->type & 0xFF) == cJSON_String) { /* cJSON_IsString, without the call */
        size_t n = strnlen(v->valuestring, MESSAGING_ID_MAX + 1);
        return n >= 1 && n <= MESSAGING_ID_MAX;
    }
    if ((v->type & 0xFF) != cJSON_Number)
        return 0;
    double d = v->valuedouble;
    return d > -MESSAGING_INT_LIMIT && d < MESSAGING_INT_LIMIT && (double)(long long)d == d;
}

/* n in decimal into out (at most 20 bytes and a NUL): "%lld" without
 * snprintf, for every numeric id of every item. -> its length */
static size_t messaging_int_text(long long n, char *out)
{
    unsigned long long u = n < 0 ? 0ull - (unsigned long long)n : (unsigned long long)n;
    char digits[24];
    size_t k = 0, o = 0;
    do {
        digits[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (n < 0)
        out[o++] = '-';
    while (k > 0)
        out[o++] = digits[--k];
    out[o] = '\0';
    return o;
}

int messaging_id_text(const cJSON *v, char out[MESSAGING_ID_MAX + 1])
{
    if (!messaging_id_valid(v))
        return -1;
    if (cJSON_IsString(v))
        memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    else
        messaging_int_text((long long)v->valuedouble, out);
    return 0;
}

/* The text of id v: a string's own bytes, or a number's digits in buf.
 * NULL if v is not an id. */
static const char *messaging_id_str(const cJSON *v, char buf[MESSAGING_ID_MAX + 1])
{
    if (v != NULL && (v->type & 0xFF) == cJSON_String)
        return messaging_id_valid(v) ? v->valuestring : NULL;
    return messaging_id_text(v, buf) == 0 ? buf : NULL;
}

/* Whether v's text is text. */
static int messaging_id_is(const cJSON *v, const char *text)
{
    char buf[MESSAGING_ID_MAX + 1];
    return text != NULL && messaging_id_text(v, buf) == 0 && strcmp(buf, text) == 0;
}

void messaging_plan_free(messaging_plan *plan)
{
    cJSON_Delete(plan->sends);
    cJSON_Delete(plan->reads);
    cJSON_Delete(plan->errors);
    memset(plan, 0, sizeof(*plan));
}

/* --- decoding ------------------------------------------------------------- */

/* An id as written, as it travels in a ref. The host prints refs with
 * cJSON's printer, which rounds integers of 16 digits, so a number travels as
 * its text in a one-element array (["11"]) and a string as itself.
 * NULL on ENOMEM. */
static cJSON *messaging_idref_new(const cJSON *id)
{
    char text[MESSAGING_ID_MAX + 1];
    if (!cJSON_IsNumber(id) || messaging_id_text(id, text) != 0)
        return cJSON_Duplicate(id, 1);
    cJSON *a = cJSON_CreateArray();
    cJSON *t = cJSON_CreateString(text);
    if (a == NULL || t == NULL || !cJSON_AddItemToArray(a, t)) {
        cJSON_Delete(t);
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* The id as written, back from its ref form. NULL on ENOMEM. */
static cJSON *messaging_idref_value(const cJSON *r)
{
    if (cJSON_IsArray(r) && cJSON_IsString(r->child))
        return cJSON_CreateNumber(strtod(r->child->valuestring, NULL));
    return cJSON_Duplicate(r, 1);
}

/* The text of an id in its ref form. -> 0 | -1 */
static int messaging_idref_text(const cJSON *r, char out[MESSAGING_ID_MAX + 1])
{
    return messaging_id_text(cJSON_IsArray(r) ? r->child : r, out);
}

/* Add the id as written of ref form r to obj under name. -> 0 | -1 */
static int messaging_add_idref_value(cJSON *obj, const char *name, const cJSON *r)
{
    cJSON *v = messaging_idref_value(r);
    if (v == NULL || !cJSON_AddItemToObject(obj, name, v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

/* {id?, code, message, section?}, taking id (NULL: no id). NULL on ENOMEM. */
static cJSON *messaging_error_new(cJSON *id_take, const char *code, const char *message,
                                  const char *section)
{
    cJSON *e = cJSON_CreateObject();
    if (e == NULL || (id_take != NULL && !cJSON_AddItemToObject(e, "id", id_take))) {
        cJSON_Delete(id_take);
        cJSON_Delete(e);
        return NULL;
    }
    if (cJSON_AddStringToObject(e, "code", code) == NULL ||
        cJSON_AddStringToObject(e, "message", message) == NULL ||
        (section != NULL && cJSON_AddStringToObject(e, "section", section) == NULL)) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* Append an error entry about the item whose id is id (NULL: none) to
 * plan->errors. -> MESSAGING_OK | MESSAGING_NOMEM */
static int messaging_refuse(messaging_plan *plan, const cJSON *id, const char *code,
                            const char *message, const char *section)
{
    if (plan->errors == NULL && (plan->errors = cJSON_CreateArray()) == NULL)
        return MESSAGING_NOMEM;
    cJSON *idr = id != NULL ? messaging_idref_new(id) : NULL;
    if (id != NULL && idr == NULL)
        return MESSAGING_NOMEM;
    cJSON *e = messaging_error_new(idr, code, message, section);
    if (e == NULL || !cJSON_AddItemToArray(plan->errors, e)) {
        cJSON_Delete(e);
        return MESSAGING_NOMEM;
    }
    return MESSAGING_OK;
}

static int messaging_reserved(const char *name)
{
    switch (name[0]) { /* every member of every item comes here: most names pass at once */
    case 'f':
        return strcmp(name, "from") == 0;
    case 't':
        return strcmp(name, "to") == 0 || strcmp(name, "ts") == 0;
    case 'm':
        return strcmp(name, MESSAGING_MSG_ID) == 0 || strcmp(name, MESSAGING_EXTRA) == 0;
    default:
        return 0;
    }
}

/* What a send item's one walk finds: its first id, sid and rid (as
 * cJSON_GetObjectItemCaseSensitive finds them), and whether it has a name
 * the item cannot keep where it is (a reserved one, or a second id). */
typedef struct messaging_send_seen {
    cJSON *id;
    const cJSON *sid, *rid;
    int move;
} messaging_send_seen;

static void messaging_send_members(cJSON *item, messaging_send_seen *seen)
{
    memset(seen, 0, sizeof(*seen));
    for (cJSON *c = item->child; c != NULL; c = c->next) {
        const char *s = c->string;
        if (s == NULL)
            continue;
        if (s[0] == 'i' && s[1] == 'd' && s[2] == '\0') {
            if (seen->id != NULL)
                seen->move = 1;
            else
                seen->id = c;
        } else if ((s[0] == 's' || s[0] == 'r') && s[1] == 'i' && s[2] == 'd' && s[3] == '\0') {
            const cJSON **slot = s[0] == 's' ? &seen->sid : &seen->rid;
            if (*slot == NULL)
                *slot = c;
        } else if (messaging_reserved(s)) {
            seen->move = 1;
        }
    }
}

/* Rename member c `id` to MESSAGING_MSG_ID, in place. */
static void messaging_rename_id(cJSON *c)
{
    if (!(c->type & cJSON_StringIsConst))
        cJSON_free(c->string);
    c->string = (char *)msg_id_key; /* cJSON_Delete leaves a const key */
    c->type |= cJSON_StringIsConst;
}

/* Turn item into native message data in place (see the top of the file):
 * its `id` renamed MESSAGING_MSG_ID, members the stamp would drop moved under
 * MESSAGING_EXTRA, and `to` added first. Nothing is copied: a frame's items
 * are the messages submitted. -> MESSAGING_OK | MESSAGING_NOMEM (item is
 * then half turned: drop it) */
static int messaging_item_to_data(cJSON *item, const messaging_send_seen *seen, const char *rid)
{
    messaging_rename_id(seen->id);
    if (seen->move) {
        cJSON *extra = NULL;
        cJSON *c = item->child;
        while (c != NULL) {
            cJSON *next = c->next;
            if (c != seen->id && (strcmp(c->string, "id") == 0 || messaging_reserved(c->string))) {
                if (extra == NULL && (extra = cJSON_CreateObject()) == NULL)
                    return MESSAGING_NOMEM;
                /* the key stays: an object's members are its array's items */
                cJSON_AddItemToArray(extra, cJSON_DetachItemViaPointer(item, c));
            }
            c = next;
        }
        /* Right after msg_id, where encoding looks for it (the top of the
         * file): a member of that name anywhere else is the sender's own. */
        if (extra != NULL) {
            /* By hand: Debian's cJSON_InsertItemInArray refuses any place
             * but the first and the end. cJSON keeps the last member in the
             * first one's prev. */
            cJSON *id = seen->id;
            extra->string = (char *)MESSAGING_EXTRA;
            extra->type |= cJSON_StringIsConst;
            extra->prev = id;
            extra->next = id->next;
            if (id->next != NULL)
                id->next->prev = extra;
            else
                item->child->prev = extra;
            id->next = extra;
        }
    }
    /* `to` first: the message plugin looks it up twice, and the stamp puts
     * it first in the stored message whatever its place here. */
    /* A string rid is the text itself: `to` borrows it (rid stays in item). */
    cJSON *to = cJSON_IsString(seen->rid) ? cJSON_CreateStringReference(seen->rid->valuestring)
                                          : cJSON_CreateString(rid);
    if (to == NULL)
        return MESSAGING_NOMEM;
    to->string = (char *)"to";
    to->type |= cJSON_StringIsConst;
    if (!cJSON_InsertItemInArray(item, 0, to)) {
        cJSON_Delete(to);
        return MESSAGING_NOMEM;
    }
    return MESSAGING_OK;
}

/* One `send` item: turned into native data (*kept set: it stays in the
 * section, which becomes plan->sends), or refused with a reason. */
static int messaging_decode_send(cJSON *item, const char *user, int (*user_valid)(const char *s),
                                 messaging_plan *plan, int *kept)
{
    char sid_buf[MESSAGING_ID_MAX + 1], rid_buf[MESSAGING_ID_MAX + 1],
        why[2 * MESSAGING_ID_MAX + 64];
    *kept = 0;
    if (!cJSON_IsObject(item))
        return messaging_refuse(plan, NULL, "bad_request", "a message must be an object", "send");
    messaging_send_seen seen;
    messaging_send_members(item, &seen);
    const cJSON *id = seen.id;
    if (!messaging_id_valid(id))
        return messaging_refuse(plan, NULL, "bad_request",
                                "id must be a string (1-256 bytes) or an integer", "send");
    /* A string sid that is the user, or a string rid that is a valid user,
     * is a valid id (1 to SB_USER_MAX bytes): the common item is checked
     * once; anything else is told apart for its error. */
    const char *sid = cJSON_IsString(seen.sid) ? seen.sid->valuestring : NULL;
    if (sid == NULL || strcmp(sid, user) != 0) {
        if ((sid = messaging_id_str(seen.sid, sid_buf)) == NULL)
            return messaging_refuse(plan, id, "bad_request",
                                    "sid must be a string (1-256 bytes) or an integer", "send");
        if (strcmp(sid, user) != 0) {
            snprintf(why, sizeof(why), "sid %s is not your client_id %s", sid, user);
            return messaging_refuse(plan, id, "bad_request", why, "send");
        }
    }
    const char *rid = cJSON_IsString(seen.rid) ? seen.rid->valuestring : NULL;
    if (rid == NULL || !user_valid(rid)) {
        if ((rid = messaging_id_str(seen.rid, rid_buf)) == NULL)
            return messaging_refuse(plan, id, "bad_request",
                                    "rid must be a string (1-256 bytes) or an integer", "send");
        if (!user_valid(rid)) {
            snprintf(why, sizeof(why), "rid %s is not a valid client_id", rid);
            return messaging_refuse(plan, id, "bad_request", why, "send");
        }
    }
    *kept = 1;
    return messaging_item_to_data(item, &seen, rid);
}

/* One `read` item: {id[, sid]}. */
static int messaging_decode_read(const cJSON *item, messaging_plan *plan)
{
    char id[MESSAGING_ID_MAX + 1], sid[MESSAGING_ID_MAX + 1];
    if (!cJSON_IsObject(item))
        return messaging_refuse(plan, NULL, "bad_request", "a read item must be an object", "read");
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(item, "id");
    if (messaging_id_text(idv, id) != 0)
        return messaging_refuse(plan, NULL, "bad_request",
                                "id must be a string (1-256 bytes) or an integer", "read");
    const cJSON *sidv = cJSON_GetObjectItemCaseSensitive(item, "sid");
    if (sidv != NULL && messaging_id_text(sidv, sid) != 0)
        return messaging_refuse(plan, idv, "bad_request",
                                "sid must be a string (1-256 bytes) or an integer", "read");

    cJSON *r = cJSON_CreateObject();
    cJSON *as = r != NULL ? messaging_idref_new(idv) : NULL;
    if (as == NULL || !cJSON_AddItemToObject(r, "as", as)) {
        cJSON_Delete(as);
        cJSON_Delete(r);
        return MESSAGING_NOMEM;
    }
    if (cJSON_AddStringToObject(r, "id", id) == NULL ||
        (sidv != NULL && cJSON_AddStringToObject(r, "sid", sid) == NULL) ||
        (plan->reads == NULL && (plan->reads = cJSON_CreateArray()) == NULL) ||
        !cJSON_AddItemToArray(plan->reads, r)) {
        cJSON_Delete(r);
        return MESSAGING_NOMEM;
    }
    return MESSAGING_OK;
}

/* A section's items, the first max_items planned, the rest refused. The
 * send section's accepted items stay in it, turned into native data, and
 * the section moves out of the frame into plan->sends. */
static int messaging_decode_section(cJSON *frame, cJSON *items, int is_send, const char *user,
                                    size_t max_items, int (*user_valid)(const char *s),
                                    messaging_plan *plan)
{
    const char *name = is_send ? "send" : "read";
    if (items == NULL)
        return MESSAGING_OK;
    if (!cJSON_IsArray(items)) {
        char why[64];
        snprintf(why, sizeof(why), "%s must be an array", name);
        return messaging_refuse(plan, NULL, "bad_request", why, name);
    }
    size_t i = 0;
    cJSON *item = items->child;
    while (item != NULL) {
        cJSON *next = item->next;
        int rc, kept = 0;
        if (i++ >= max_items) {
            char why[96], idt[MESSAGING_ID_MAX + 1];
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
            snprintf(why, sizeof(why), "at most %zu items in one %s section", max_items, name);
            rc = messaging_refuse(plan, messaging_id_text(id, idt) == 0 ? id : NULL, "bad_request",
                                  why, name);
        } else if (is_send) {
            rc = messaging_decode_send(item, user, user_valid, plan, &kept);
        } else {
            rc = messaging_decode_read(item, plan);
        }
        if (rc != MESSAGING_OK)
            return rc;
        if (is_send && !kept)
            cJSON_Delete(cJSON_DetachItemViaPointer(items, item));
        item = next;
    }
    if (is_send) {
        cJSON_DetachItemViaPointer(frame, items);
        if (items->child != NULL)
            plan->sends = items;
        else
            cJSON_Delete(items);
    }
    return MESSAGING_OK;
}

int messaging_decode(cJSON *frame, const char *user, size_t max_items,
                     int (*user_valid)(const char *s), messaging_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    if (!cJSON_IsObject(frame))
        return MESSAGING_NOT_OBJECT;
    /* The two sections (the first of each name) in one walk; others are ignored. */
    cJSON *send = NULL, *read = NULL;
    for (cJSON *c = frame->child; c != NULL; c = c->next) {
        const char *n = c->string;
        if (n[0] == 's' && send == NULL && strcmp(n, "send") == 0)
            send = c;
        else if (n[0] == 'r' && read == NULL && strcmp(n, "read") == 0)
            read = c;
    }
    if (messaging_decode_section(frame, send, 1, user, max_items, user_valid, plan) !=
            MESSAGING_OK ||
        messaging_decode_section(frame, read, 0, user, max_items, user_valid, plan) !=
            MESSAGING_OK) {
        messaging_plan_free(plan);
        return MESSAGING_NOMEM;
    }
    return MESSAGING_OK;
}

/* --- what a 001 client is shown ------------------------------------------- */

/* Whether data is a message as a 001 client wrote it: a valid msg_id, and a
 * sid and rid that are its native from and to (so no native client can pass
 * its message off as someone else's). */
static int messaging_as_written(const cJSON *data)
{
    char buf[MESSAGING_ID_MAX + 1];
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(data, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(data, "to");
    return messaging_id_text(cJSON_GetObjectItemCaseSensitive(data, MESSAGING_MSG_ID), buf) == 0 &&
           cJSON_IsString(from) && cJSON_IsString(to) &&
           messaging_id_is(cJSON_GetObjectItemCaseSensitive(data, "sid"), from->valuestring) &&
           messaging_id_is(cJSON_GetObjectItemCaseSensitive(data, "rid"), to->valuestring);
}

void messaging_shown_id(const cJSON *data, const char *server_id, char out[MESSAGING_ID_MAX + 1])
{
    if (messaging_as_written(data) &&
        messaging_id_text(cJSON_GetObjectItemCaseSensitive(data, MESSAGING_MSG_ID), out) == 0)
        return;
    snprintf(out, MESSAGING_ID_MAX + 1, "%s", server_id);
}

/* Add v to obj under name as a reference: the event's frame is printed while
 * the native data lives, so its values need no copy. -> 0 | -1 */
static int messaging_add_ref(cJSON *obj, const char *name, const cJSON *v)
{
    return cJSON_AddItemReferenceToObject(obj, name, (cJSON *)v) ? 0 : -1;
}

/* The item a 001 sender wrote, rebuilt from native data (references into it:
 * valid while data is). NULL on ENOMEM. */
static cJSON *messaging_item_written(const cJSON *data)
{
    /* The stamp's members and the codec's own, each the first of its name
     * (as the host prints them: first); a later member of the same name is
     * the sender's and shown as it is. The extras are MESSAGING_EXTRA right
     * after msg_id, where decoding puts them. */
    const cJSON *own[4] = {cJSON_GetObjectItemCaseSensitive(data, "id"),
                           cJSON_GetObjectItemCaseSensitive(data, "from"),
                           cJSON_GetObjectItemCaseSensitive(data, "to"),
                           cJSON_GetObjectItemCaseSensitive(data, "ts")};
    const cJSON *msg_id = cJSON_GetObjectItemCaseSensitive(data, MESSAGING_MSG_ID);
    const cJSON *extra = msg_id != NULL ? msg_id->next : NULL;
    if (extra != NULL && (strcmp(extra->string, MESSAGING_EXTRA) != 0 || !cJSON_IsObject(extra)))
        extra = NULL;
    cJSON *item = cJSON_CreateObject();
    const cJSON *c;
    if (item == NULL)
        return NULL;
    cJSON_ArrayForEach(c, data)
    {
        if (c == own[0] || c == own[1] || c == own[2] || c == own[3] || c == extra)
            continue;
        if (messaging_add_ref(item, c == msg_id ? "id" : c->string, c) != 0)
            goto fail;
    }
    if (extra != NULL) {
        cJSON_ArrayForEach(c, extra)
        {
            if (messaging_add_ref(item, c->string, c) != 0)
                goto fail;
        }
    }
    return item;
fail:
    cJSON_Delete(item);
    return NULL;
}

/* A native message as 001 shows it: {id: server id, sid: from, rid: the
 * recipient, then the other members (ts included)}, referring into data.
 * NULL on ENOMEM. */
static cJSON *messaging_item_native(const cJSON *data, const char *user)
{
    cJSON *item = cJSON_CreateObject();
    const cJSON *c;
    if (item == NULL)
        return NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(data, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(data, "to");
    if ((id != NULL && messaging_add_ref(item, "id", id) != 0) ||
        (from != NULL && messaging_add_ref(item, "sid", from) != 0))
        goto fail;
    if (user != NULL ? cJSON_AddStringToObject(item, "rid", user) == NULL
                     : (to != NULL && messaging_add_ref(item, "rid", to) != 0))
        goto fail;
    cJSON_ArrayForEach(c, data)
    {
        const char *name = c->string;
        if (strcmp(name, "id") == 0 || strcmp(name, "from") == 0 || strcmp(name, "to") == 0 ||
            strcmp(name, "sid") == 0 || strcmp(name, "rid") == 0)
            continue;
        if (messaging_add_ref(item, name, c) != 0)
            goto fail;
    }
    return item;
fail:
    cJSON_Delete(item);
    return NULL;
}

int messaging_read_match(const cJSON *reads, const char *server_id, const char *json, size_t len,
                         cJSON *pairs)
{
    cJSON *data = cJSON_ParseWithLength(json, len);
    if (data == NULL)
        return MESSAGING_OK;
    char shown[MESSAGING_ID_MAX + 1];
    messaging_shown_id(data, server_id, shown);
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(data, "from");
    const cJSON *r;
    int rc = MESSAGING_OK;
    cJSON_ArrayForEach(r, reads)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(r, "sid");
        if (!cJSON_IsString(id) || strcmp(id->valuestring, shown) != 0)
            continue;
        if (sid != NULL && (!cJSON_IsString(sid) || !cJSON_IsString(from) ||
                            strcmp(sid->valuestring, from->valuestring) != 0))
            continue;
        cJSON *pair = cJSON_CreateArray();
        cJSON *as = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "as"), 1);
        cJSON *sv = cJSON_CreateString(server_id);
        if (pair == NULL || as == NULL || sv == NULL || !cJSON_AddItemToArray(pair, as)) {
            cJSON_Delete(as);
            cJSON_Delete(sv);
            cJSON_Delete(pair);
            rc = MESSAGING_NOMEM;
            break;
        }
        if (!cJSON_AddItemToArray(pair, sv)) {
            cJSON_Delete(sv);
            cJSON_Delete(pair);
            rc = MESSAGING_NOMEM;
            break;
        }
        if (!cJSON_AddItemToArray(pairs, pair)) {
            cJSON_Delete(pair);
            rc = MESSAGING_NOMEM;
            break;
        }
        break; /* one pair per message: the ids it answers are all the same text */
    }
    cJSON_Delete(data);
    return rc;
}

/* --- encoding ------------------------------------------------------------- */

/* {name: [item]} taking item. NULL on ENOMEM. */
static cJSON *messaging_section_new(const char *name, cJSON *item_take)
{
    cJSON *frame = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (item_take == NULL || frame == NULL || list == NULL ||
        !cJSON_AddItemToObject(frame, name, list)) {
        cJSON_Delete(item_take);
        cJSON_Delete(list);
        cJSON_Delete(frame);
        return NULL;
    }
    if (!cJSON_AddItemToArray(list, item_take)) {
        cJSON_Delete(item_take);
        cJSON_Delete(frame);
        return NULL;
    }
    return frame;
}

static const char *messaging_str(const cJSON *obj, const char *name, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int messaging_strp_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether text is the text of an id already in list (entries {id, ...}). */
static int messaging_listed(const cJSON *list, const char *text)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        if (messaging_id_is(cJSON_GetObjectItemCaseSensitive(e, "id"), text))
            return 1;
    }
    return 0;
}

/* The distinct ids as written of pairs ([[as, server id]...]) whose server id
 * is in removed (NULL: every pair), as entries {id} (error: {id, code,
 * message, section: "read"}) of a new array. NULL on ENOMEM. */
static cJSON *messaging_read_entries(const cJSON *pairs, const cJSON *removed, const cJSON *error)
{
    cJSON *out = cJSON_CreateArray();
    const char **ids = NULL;
    size_t n = 0;
    if (out == NULL)
        return NULL;
    if (removed != NULL) {
        int total = cJSON_GetArraySize(removed);
        ids = total > 0 ? malloc((size_t)total * sizeof(*ids)) : NULL;
        if (total > 0 && ids == NULL)
            goto fail;
        const cJSON *v;
        cJSON_ArrayForEach(v, removed)
        {
            if (cJSON_IsString(v))
                ids[n++] = v->valuestring;
        }
        if (n > 1)
            qsort(ids, n, sizeof(*ids), messaging_strp_cmp);
    }
    const cJSON *pair;
    cJSON_ArrayForEach(pair, pairs)
    {
        const cJSON *as = cJSON_GetArrayItem(pair, 0);
        const cJSON *sv = cJSON_GetArrayItem(pair, 1);
        char text[MESSAGING_ID_MAX + 1];
        if (messaging_idref_text(as, text) != 0 || !cJSON_IsString(sv))
            continue;
        if (removed != NULL &&
            (n == 0 || bsearch(&sv->valuestring, ids, n, sizeof(*ids), messaging_strp_cmp) == NULL))
            continue;
        if (messaging_listed(out, text))
            continue;
        cJSON *e;
        if (error != NULL) {
            cJSON *v = messaging_idref_value(as);
            e = v != NULL ? messaging_error_new(v, messaging_str(error, "code", "internal"),
                                                messaging_str(error, "message", ""), "read")
                          : NULL;
        } else {
            e = cJSON_CreateObject();
            if (e != NULL && messaging_add_idref_value(e, "id", as) != 0) {
                cJSON_Delete(e);
                e = NULL;
            }
        }
        if (e == NULL || !cJSON_AddItemToArray(out, e)) {
            cJSON_Delete(e);
            goto fail;
        }
    }
    free(ids);
    return out;
fail:
    free(ids);
    cJSON_Delete(out);
    return NULL;
}

/* {name: list} taking list. NULL on ENOMEM. */
static cJSON *messaging_list_frame(const char *name, cJSON *list_take)
{
    cJSON *frame = list_take != NULL ? cJSON_CreateObject() : NULL;
    if (frame == NULL || !cJSON_AddItemToObject(frame, name, list_take)) {
        cJSON_Delete(list_take);
        cJSON_Delete(frame);
        return NULL;
    }
    return frame;
}

/* A copy of error entries with their ids back from the ref form. NULL on ENOMEM. */
static cJSON *messaging_errors_values(const cJSON *errors)
{
    cJSON *out = cJSON_Duplicate(errors, 1);
    cJSON *e;
    cJSON_ArrayForEach(e, out)
    {
        cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        cJSON *v = id != NULL ? messaging_idref_value(id) : NULL;
        if (id != NULL && (v == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(e, "id", v))) {
            cJSON_Delete(v);
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

static int messaging_encode_reply(const char *type, const cJSON *ref, const cJSON *data,
                                  cJSON **out)
{
    /* A message's ref is its numeric id, or {"send": id} (messaging_send_ref). */
    const cJSON *send = cJSON_IsNumber(ref) ? ref : cJSON_GetObjectItemCaseSensitive(ref, "send");
    const cJSON *read = cJSON_GetObjectItemCaseSensitive(ref, "read");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(ref, "errors");

    if (strcmp(type, "error") == 0) {
        const char *code = messaging_str(data, "code", "internal");
        const char *message = messaging_str(data, "message", "");
        if (send != NULL) {
            cJSON *v = messaging_idref_value(send);
            *out = v != NULL ? messaging_section_new("errors",
                                                     messaging_error_new(v, code, message, "send"))
                             : NULL;
        } else if (cJSON_IsArray(read))
            *out = messaging_list_frame("errors", messaging_read_entries(read, NULL, data));
        else
            *out = messaging_section_new("errors", messaging_error_new(NULL, code, message, NULL));
    } else if (strcmp(type, "ack") == 0 && send != NULL) {
        cJSON *item = cJSON_CreateObject();
        if (item != NULL && messaging_add_idref_value(item, "id", send) != 0) {
            cJSON_Delete(item);
            item = NULL;
        }
        *out = messaging_section_new("sent", item);
    } else if (strcmp(type, "read") == 0 && cJSON_IsArray(read)) {
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(data, "ids");
        cJSON *empty = NULL;
        if (!cJSON_IsArray(ids) && (ids = empty = cJSON_CreateArray()) == NULL)
            return MESSAGING_NOMEM;
        *out = messaging_list_frame("read", messaging_read_entries(read, ids, NULL));
        cJSON_Delete(empty);
    } else if (strcmp(type, "pong") == 0 && cJSON_IsArray(errors)) {
        *out = messaging_list_frame("errors", messaging_errors_values(errors));
    } else {
        return MESSAGING_OK; /* nothing a 001 client would understand */
    }
    return *out != NULL ? MESSAGING_OK : MESSAGING_NOMEM;
}

int messaging_ack_text(const cJSON *ref, char *buf, size_t cap)
{
    static const char head[] = "{\"sent\":[{\"id\":", tail[] = "}]}";
    /* an integer below 2^53: at most 16 digits and a sign */
    if (!cJSON_IsNumber(ref) || !messaging_id_valid(ref) ||
        sizeof(head) - 1 + 17 + sizeof(tail) > cap)
        return -1;
    memcpy(buf, head, sizeof(head) - 1);
    size_t n = messaging_int_text((long long)ref->valuedouble, buf + sizeof(head) - 1);
    memcpy(buf + sizeof(head) - 1 + n, tail, sizeof(tail));
    return (int)(sizeof(head) - 1 + n + sizeof(tail) - 1);
}

const cJSON *messaging_send_ref(const cJSON *data, cJSON **owned)
{
    const cJSON *id = NULL;
    *owned = NULL;
    /* decode renamed the id to this very constant (messaging_rename_id): a
     * pointer compare finds it, and a member a client named so was moved
     * under MESSAGING_EXTRA */
    for (const cJSON *c = data->child; c != NULL && id == NULL; c = c->next)
        if (c->string == msg_id_key)
            id = c;
    for (const cJSON *c = data->child; c != NULL && id == NULL; c = c->next)
        if (strcmp(c->string, MESSAGING_MSG_ID) == 0)
            id = c;
    if (cJSON_IsNumber(id))
        return id;
    cJSON *ref = cJSON_CreateObject();
    cJSON *v = ref != NULL ? cJSON_Duplicate(id, 1) : NULL;
    if (v == NULL || !cJSON_AddItemToObjectCS(ref, "send", v)) {
        cJSON_Delete(v);
        cJSON_Delete(ref);
        return NULL;
    }
    return *owned = ref;
}

int messaging_encode(int reply, const char *type, const cJSON *ref, const cJSON *data,
                     const char *user, cJSON **out)
{
    *out = NULL;
    if (type == NULL)
        return MESSAGING_OK;
    if (reply)
        return messaging_encode_reply(type, ref, data, out);
    if (strcmp(type, "message") != 0 || !cJSON_IsObject(data))
        return MESSAGING_OK; /* presence, publish, broadcast, receipt: not in 001 */
    cJSON *item = messaging_as_written(data) ? messaging_item_written(data)
                                             : messaging_item_native(data, user);
    *out = messaging_section_new("messages", item);
    return *out != NULL ? MESSAGING_OK : MESSAGING_NOMEM;
}

/* --- events from text ----------------------------------------------------- */

/* The host hands a fan-out's events as the native data's text (compact, as
 * its printer writes it), so a `messages` frame is written from spans of that
 * text: no tree is built, parsed or printed. Anything the spans cannot decide
 * exactly as messaging_encode would (escaped names or ids, non-integer or long
 * numeric ids, repeated names, whitespace) is MESSAGING_FALLBACK: the caller
 * parses and encodes the tree. */

#define MT_DEPTH   64 /* nesting read before falling back */
#define MT_MEMBERS 64 /* top-level members read before falling back */

typedef struct mt_member {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
} mt_member;

/* The value of the four hex digits at p[i], or -1. */
static long mt_hex4(const char *p, size_t len, size_t i)
{
    long v = 0;
    if (len < 4 || i > len - 4)
        return -1;
    for (size_t k = i; k < i + 4; k++) {
        char c = p[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* End of the string at p[i] (a '"'), or 0 if it is not one; *escaped set
 * when it holds an escape. */
static size_t mt_string(const char *p, size_t len, size_t i, int *escaped)
{
    if (i >= len || p[i] != '"')
        return 0;
    /* The common case first: up to the closing quote, no escape, no control
     * byte, eight bytes at a time. */
    const char *q = memchr(p + i + 1, '"', len - i - 1);
    if (q != NULL) {
        size_t end = (size_t)(q - p), j = i + 1;
        uint64_t bad = 0;
        for (; j + 8 <= end; j += 8) { /* a byte below 0x20, or a backslash */
            uint64_t w, e;
            memcpy(&w, p + j, 8);
            e = w ^ 0x5c5c5c5c5c5c5c5cull;
            bad |= (w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull;
            bad |= (e - 0x0101010101010101ull) & ~e & 0x8080808080808080ull;
        }
        for (; j < end; j++)
            bad |= (unsigned char)p[j] < 0x20 || p[j] == '\\';
        if (!bad)
            return end + 1;
    }
    for (size_t j = i + 1; j < len;) {
        unsigned char c = (unsigned char)p[j];
        if (c == '"')
            return j + 1;
        if (c < 0x20)
            return 0;
        if (c != '\\') {
            j++;
            continue;
        }
        if (j + 1 >= len)
            return 0;
        *escaped = 1;
        if (p[j + 1] == 'u') {
            /* As cJSON reads it: a low surrogate alone, or a high one not
             * followed by \u and a low one, is no JSON. */
            long u = mt_hex4(p, len, j + 2);
            if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return 0;
            j += 6;
            if (u >= 0xD800 && u <= 0xDBFF) {
                long low =
                    j + 1 < len && p[j] == '\\' && p[j + 1] == 'u' ? mt_hex4(p, len, j + 2) : -1;
                if (low < 0xDC00 || low > 0xDFFF)
                    return 0;
                j += 6;
            }
        } else if (strchr("\"\\/bfnrt", p[j + 1]) != NULL && p[j + 1] != '\0') {
            j += 2;
        } else {
            return 0;
        }
    }
    return 0;
}

static size_t mt_digits(const char *p, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && p[j] >= '0' && p[j] <= '9')
        j++;
    return j;
}

/* End of the number at p[i], or 0; *integer set when it is digits only.
 * A number a double may not hold (over MT_NUMBER_DIGITS digits before or
 * after the point, an exponent of three digits) is 0 too: the parser turns
 * it into infinity or zero, which prints otherwise, so the tree decides. */
#define MT_NUMBER_DIGITS 200
static size_t mt_number(const char *p, size_t len, size_t i, int *integer)
{
    size_t j = i < len && p[i] == '-' ? i + 1 : i, d;
    *integer = 1;
    if (j >= len || (d = mt_digits(p, len, j)) == j || (p[j] == '0' && d > j + 1) ||
        d - j > MT_NUMBER_DIGITS)
        return 0;
    j = d;
    if (j < len && p[j] == '.') {
        *integer = 0;
        if ((d = mt_digits(p, len, j + 1)) == j + 1 || d - j - 1 > MT_NUMBER_DIGITS)
            return 0;
        j = d;
    }
    if (j < len && (p[j] == 'e' || p[j] == 'E')) {
        *integer = 0;
        j++;
        if (j < len && (p[j] == '+' || p[j] == '-'))
            j++;
        if ((d = mt_digits(p, len, j)) == j || d - j > 2)
            return 0;
        j = d;
    }
    return j;
}

/* End of the compact JSON value at p[i], or 0 if it is not one. */
static size_t mt_value(const char *p, size_t len, size_t i, int depth)
{
    int flag = 0;
    if (i >= len)
        return 0;
    switch (p[i]) {
    case '"':
        return mt_string(p, len, i, &flag);
    case 't':
        return len - i >= 4 && memcmp(p + i, "true", 4) == 0 ? i + 4 : 0;
    case 'f':
        return len - i >= 5 && memcmp(p + i, "false", 5) == 0 ? i + 5 : 0;
    case 'n':
        return len - i >= 4 && memcmp(p + i, "null", 4) == 0 ? i + 4 : 0;
    case '{':
    case '[': {
        char close = p[i] == '{' ? '}' : ']';
        int object = p[i] == '{';
        if (depth >= MT_DEPTH)
            return 0;
        if (++i < len && p[i] == close)
            return i + 1;
        for (;;) {
            if (object && ((i = mt_string(p, len, i, &flag)) == 0 || i >= len || p[i++] != ':'))
                return 0;
            if ((i = mt_value(p, len, i, depth + 1)) == 0 || i >= len)
                return 0;
            if (p[i] == close)
                return i + 1;
            if (p[i++] != ',')
                return 0;
        }
    }
    default:
        return mt_number(p, len, i, &flag);
    }
}

/* Printed text is read eight bytes at a time: the bytes of w equal to c,
 * as 0x80 in their lane. Lanes above a match may be set too (the borrow
 * runs upwards), so only the lowest set lane is to be trusted. */
static inline uint64_t mt_lanes_eq(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (0x0101010101010101ull * c);
    return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

/* Inlined where printed is a constant, so each of mt_written's two uses
 * becomes a loop of its own with no call per value. */
#define MT_INLINE static inline __attribute__((always_inline))

MT_INLINE size_t mt_skip(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (p[i] == '"')
        return printed_string_end(p, len, i);
    if (p[i] != '{' && p[i] != '[') {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        for (; i + 8 <= len; i += 8) { /* the lowest lane is the first byte */
            uint64_t w, m;
            memcpy(&w, p + i, 8);
            if ((m = mt_lanes_eq(w, ',') | mt_lanes_eq(w, '}') | mt_lanes_eq(w, ']')) != 0) {
                i += (size_t)__builtin_ctzll(m) / 8;
                break;
            }
        }
#endif
        while (i < len && p[i] != ',' && p[i] != '}' && p[i] != ']')
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < len) {
        char c = p[i];
        if (c == '"') {
            if ((i = printed_string_end(p, len, i)) == 0)
                return 0;
            continue;
        }
        i++;
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i;
    }
    return 0;
}

/* End of the name string at p[i]: a byte loop over printed text (names
 * are short; an escape goes the checked way), else mt_string. */
MT_INLINE size_t mt_name_end(const char *p, size_t len, size_t i, int printed, int *escaped)
{
    if (printed && i < len && p[i] == '"') {
        for (size_t j = i + 1; j < len && p[j] != '\\'; j++)
            if (p[j] == '"')
                return j + 1;
    }
    return mt_string(p, len, i, escaped);
}

/* End of the value at p[i]: skipped in printed text, else checked. */
MT_INLINE size_t mt_end(const char *p, size_t len, size_t i, int printed)
{
    return printed ? mt_skip(p, len, i) : mt_value(p, len, i, 1);
}

/* The names messaging_encode looks up, as MT_S_* indexes. */
enum { MT_S_ID, MT_S_FROM, MT_S_TO, MT_S_TS, MT_S_SID, MT_S_RID, MT_S_MSG_ID, MT_S_EXTRA, MT_S_N };

/* The MT_S_* index of m's name, or MT_S_N for any other name. */
static int mt_special(const mt_member *m)
{
#define MT_IS(lit) (m->key_len == sizeof(lit) - 1 && memcmp(m->key, lit, sizeof(lit) - 1) == 0)
    switch (m->key_len) {
    case 2:
        return MT_IS("id") ? MT_S_ID : MT_IS("to") ? MT_S_TO : MT_IS("ts") ? MT_S_TS : MT_S_N;
    case 3:
        return MT_IS("sid") ? MT_S_SID : MT_IS("rid") ? MT_S_RID : MT_S_N;
    case 4:
        return MT_IS("from") ? MT_S_FROM : MT_S_N;
    case sizeof(MESSAGING_MSG_ID) - 1:
        return MT_IS(MESSAGING_MSG_ID) ? MT_S_MSG_ID : MT_S_N;
    case sizeof(MESSAGING_EXTRA) - 1:
        return MT_IS(MESSAGING_EXTRA) ? MT_S_EXTRA : MT_S_N;
    default:
        return MT_S_N;
    }
#undef MT_IS
}

/* The top-level members of the object json[0..len). -> their count | -1 */
static int mt_members(const char *json, size_t len, mt_member *out)
{
    int n = 0;
    size_t i = 1;
    if (len < 2 || json[0] != '{')
        return -1;
    if (len == 2 && json[1] == '}')
        return 0;
    for (;;) {
        int escaped = 0;
        size_t k = mt_string(json, len, i, &escaped);
        if (k == 0 || escaped || n == MT_MEMBERS || k >= len || json[k] != ':')
            return -1;
        size_t v = mt_value(json, len, k + 1, 1);
        if (v == 0 || v >= len)
            return -1;
        out[n++] = (mt_member){json + i + 1, k - i - 2, json + k + 1, v - k - 1};
        if (json[v] == '}')
            return v + 1 == len ? n : -1;
        if (json[v] != ',')
            return -1;
        i = v + 1;
    }
}

/* The id text of a value span, as messaging_id_text would give it:
 * 1 (text in out[0..*n)), 0 (not an id), -1 (undecidable here). */
static int mt_id(const mt_member *m, const char **out, size_t *n)
{
    int escaped = 0, integer = 0;
    if (m == NULL)
        return 0;
    if (m->val[0] == '"') {
        mt_string(m->val, m->val_len, 0, &escaped);
        if (escaped)
            return -1;
        *out = m->val + 1;
        *n = m->val_len - 2;
        return *n >= 1 && *n <= MESSAGING_ID_MAX;
    }
    if (m->val[0] >= '1' && m->val[0] <= '9' && m->val_len <= 15) {
        size_t k = 1; /* the common id: a short positive integer */
        while (k < m->val_len && m->val[k] >= '0' && m->val[k] <= '9')
            k++;
        if (k == m->val_len) {
            *out = m->val;
            *n = m->val_len;
            return 1;
        }
    }
    if (m->val[0] != '-' && (m->val[0] < '0' || m->val[0] > '9'))
        return 0;
    if (m->val[0] == '-' && m->val_len > 1 && m->val[1] == '0')
        return -1; /* -0 is 0 */
    mt_number(m->val, m->val_len, 0, &integer);
    if (!integer || m->val_len > 15)
        return -1; /* 11.0, 1e3 or near 2^53: the tree decides */
    *out = m->val;
    *n = m->val_len;
    return 1;
}

/* Whether id span a has the same text as the string span s: 1 | 0 | -1. */
static int mt_same(const mt_member *a, const mt_member *s)
{
    const char *at, *st;
    size_t an, sn;
    int ra = mt_id(a, &at, &an);
    if (ra <= 0)
        return ra;
    if (s->val[0] != '"')
        return 0;
    int rs = mt_id(s, &st, &sn);
    if (rs <= 0)
        return rs;
    return an == sn && memcmp(at, st, an) == 0;
}

typedef struct mt_out {
    char *buf;
    size_t len, cap;
    int first; /* no member written yet */
} mt_out;

static void mt_put(mt_out *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n); /* cap is the input's length plus the frame's own */
    o->len += n;
}

static void mt_member_put(mt_out *o, const char *key, size_t key_len, const char *val,
                          size_t val_len)
{
    if (!o->first)
        mt_put(o, ",", 1);
    o->first = 0;
    mt_put(o, "\"", 1);
    mt_put(o, key, key_len);
    mt_put(o, "\":", 2);
    mt_put(o, val, val_len);
}

/* Whether the id span a names the string span s: the same bytes, a string
 * of 1 to MESSAGING_ID_MAX bytes with no escape (the common case: a sid
 * written as a string), else as mt_same decides. */
static int mt_same_span(const mt_member *a, const mt_member *s)
{
    /* The same bytes are the same text, escapes or not; a string of 1 to
     * MESSAGING_ID_MAX bytes once unescaped is a valid id. */
    if (a->val_len == s->val_len && a->val_len >= 3 && a->val_len <= MESSAGING_ID_MAX + 2 &&
        a->val[0] == '"' && memcmp(a->val, s->val, a->val_len) == 0)
        return 1;
    return mt_same(a, s) == 1;
}

/* Whether a[0..n) is b[0..n), for a constant n of 4 to 16 (the names
 * mt_written expects): two overlapping loads of each, no call. */
MT_INLINE uint64_t mt_word(const char *p, size_t w)
{
    uint64_t x = 0;
    memcpy(&x, p, w);
    return x;
}

MT_INLINE int mt_eq(const char *a, const char *b, size_t n)
{
    size_t w = n >= 8 ? 8 : 4;
    return mt_word(a, w) == mt_word(b, w) && mt_word(a + n - w, w) == mt_word(b + n - w, w);
}

/* The common event: a message a 001 client wrote, as the host stores it,
 * {"id":S,"from":S,"to":S,"ts":N,"msg_id":ID[,"msg_extra":{...}],...the rest
 * of the item} with the rest's first sid and rid naming the from and the to.
 * The stamp's members and msg_id come first and msg_extra next, so each is
 * the first of its name; every later member is the sender's and shown as it
 * is (messaging_item_written). Its frame is msg_id's value, the rest, then
 * the extras' members, behind {"messages":[{"id": . Text the host printed
 * is read only up to the rest's sid and rid and copied from there at once;
 * other text has every value checked.
 * -> MESSAGING_OK (*out) | MESSAGING_NOMEM | MESSAGING_FALLBACK (another
 * shape: the member-by-member way decides) */
MT_INLINE int mt_written(const char *json, size_t len, int printed, char *scratch,
                         size_t scratch_cap, char **out, size_t *out_len)
{
    static const char head[] = "{\"messages\":[{\"id\":";
    static const char extra_lead[] = ",\"" MESSAGING_EXTRA "\":{";
    mt_member st[5], sid = {0}, rid = {0};
    const char *extra = NULL;
    size_t i = 0, extra_len = 0;
    if (len < 2 || json[len - 1] != '}')
        return MESSAGING_FALLBACK;
        /* Each lead a constant compare the compiler writes inline. */
#define MT_LEAD(k, lit)                                                                            \
    do {                                                                                           \
        size_t v_;                                                                                 \
        if (len - i < sizeof(lit) - 1 || !mt_eq(json + i, lit, sizeof(lit) - 1))                   \
            return MESSAGING_FALLBACK;                                                             \
        i += sizeof(lit) - 1;                                                                      \
        if ((v_ = mt_end(json, len, i, printed)) == 0 || v_ >= len)                                \
            return MESSAGING_FALLBACK;                                                             \
        st[k] = (mt_member){NULL, 0, json + i, v_ - i};                                            \
        i = v_;                                                                                    \
    } while (0)
    MT_LEAD(0, "{\"id\":");
    MT_LEAD(1, ",\"from\":");
    MT_LEAD(2, ",\"to\":");
    MT_LEAD(3, ",\"ts\":");
    MT_LEAD(4, ",\"" MESSAGING_MSG_ID "\":");
#undef MT_LEAD
    const char *t;
    size_t tn;
    if (st[1].val[0] != '"' || st[2].val[0] != '"' || mt_id(&st[4], &t, &tn) != 1)
        return MESSAGING_FALLBACK;
    if (len - i > sizeof(extra_lead) - 1 && mt_eq(json + i, extra_lead, sizeof(extra_lead) - 1)) {
        size_t v = mt_end(json, len, i + sizeof(extra_lead) - 2, printed);
        if (v == 0 || v >= len)
            return MESSAGING_FALLBACK;
        extra = json + i + sizeof(extra_lead) - 1; /* its members, without the braces */
        extra_len = v - 1 - (size_t)(extra - json);
        i = v;
    }
    size_t rest = i;
    while (json[i] == ',') {
        int escaped = 0;
        size_t k = mt_name_end(json, len, i + 1, printed, &escaped);
        if (k == 0 || escaped || k >= len || json[k] != ':')
            return MESSAGING_FALLBACK;
        size_t v = mt_end(json, len, k + 1, printed);
        if (v == 0 || v >= len)
            return MESSAGING_FALLBACK;
        mt_member m = {json + i + 2, k - i - 3, json + k + 1, v - k - 1};
        int special = m.key_len == 3 && m.key[1] == 'i' && m.key[2] == 'd'
                          ? (m.key[0] == 's'   ? MT_S_SID
                             : m.key[0] == 'r' ? MT_S_RID
                                               : MT_S_N)
                          : MT_S_N;
        if (special == MT_S_SID && sid.val == NULL)
            sid = m;
        else if (special == MT_S_RID && rid.val == NULL)
            rid = m;
        i = v;
        if (printed && sid.val != NULL && rid.val != NULL) {
            i = len - 1; /* the host's own text: the rest needs no reading */
            break;
        }
    }
    if (json[i] != '}' || i + 1 != len || sid.val == NULL || rid.val == NULL ||
        !mt_same_span(&sid, &st[1]) || !mt_same_span(&rid, &st[2]))
        return MESSAGING_FALLBACK;
    size_t rest_len = len - 1 - rest;
    size_t n = sizeof(head) - 1 + st[4].val_len + rest_len + (extra_len ? extra_len + 1 : 0) + 3;
    char *buf = n < scratch_cap ? scratch : malloc(n + 1);
    if (buf == NULL)
        return MESSAGING_NOMEM;
    char *d = buf;
    memcpy(d, head, sizeof(head) - 1);
    d += sizeof(head) - 1;
    memcpy(d, st[4].val, st[4].val_len);
    d += st[4].val_len;
    memcpy(d, json + rest, rest_len);
    d += rest_len;
    if (extra_len) {
        *d++ = ',';
        memcpy(d, extra, extra_len);
        d += extra_len;
    }
    memcpy(d, "}]}", 4);
    *out = buf;
    *out_len = n;
    return MESSAGING_OK;
}

int messaging_encode_text(const char *type, const char *json, size_t len, int printed,
                          const char *user, char *scratch, size_t scratch_cap, char **out,
                          size_t *out_len)
{
    mt_member m[MT_MEMBERS];
    const mt_member *s[MT_S_N] = {0};
    *out = NULL;
    *out_len = 0;
    if (type == NULL || strcmp(type, "message") != 0)
        return MESSAGING_OK; /* presence, publish, broadcast, receipt: not in 001 */
    int rc = printed ? mt_written(json, len, 1, scratch, scratch_cap, out, out_len)
                     : mt_written(json, len, 0, scratch, scratch_cap, out, out_len);
    if (rc != MESSAGING_FALLBACK)
        return rc;
    int n = mt_members(json, len, m);
    if (n < 0)
        return MESSAGING_FALLBACK;
    for (int i = 0; i < n; i++) {
        int k = mt_special(&m[i]);
        if (k == MT_S_N)
            continue;
        if (s[k] != NULL)
            return MESSAGING_FALLBACK; /* which one counts is the tree's business */
        s[k] = &m[i];
    }
    /* msg_extra is the codec's only right after msg_id (mt_written) */
    if (s[MT_S_EXTRA] != NULL && (s[MT_S_MSG_ID] == NULL || s[MT_S_EXTRA] != s[MT_S_MSG_ID] + 1 ||
                                  s[MT_S_EXTRA]->val[0] != '{'))
        s[MT_S_EXTRA] = NULL;
    const char *t;
    size_t tn;
    int id_ok = mt_id(s[MT_S_MSG_ID], &t, &tn);
    int written = 0;
    if (id_ok < 0)
        return MESSAGING_FALLBACK;
    if (id_ok && s[MT_S_FROM] != NULL && s[MT_S_TO] != NULL && s[MT_S_FROM]->val[0] == '"' &&
        s[MT_S_TO]->val[0] == '"' && s[MT_S_SID] != NULL && s[MT_S_RID] != NULL) {
        int a = mt_same(s[MT_S_SID], s[MT_S_FROM]), b = mt_same(s[MT_S_RID], s[MT_S_TO]);
        if (a < 0 || b < 0)
            return MESSAGING_FALLBACK;
        written = a && b;
    }
    size_t user_len = user != NULL ? strlen(user) : 0;
    for (size_t i = 0; i < user_len; i++) {
        if (user[i] == '"' || user[i] == '\\' || (unsigned char)user[i] < 0x20)
            return MESSAGING_FALLBACK;
    }
    mt_out o = {.cap = len + user_len + 64, .first = 1};
    if ((o.buf = o.cap <= scratch_cap ? scratch : malloc(o.cap)) == NULL)
        return MESSAGING_NOMEM;
    mt_put(&o, "{\"messages\":[{", 14);
    if (written) {
        for (int i = 0; i < n; i++) {
            const mt_member *c = &m[i];
            if (c == s[MT_S_ID] || c == s[MT_S_FROM] || c == s[MT_S_TO] || c == s[MT_S_TS] ||
                c == s[MT_S_EXTRA])
                continue;
            if (c == s[MT_S_MSG_ID])
                mt_member_put(&o, "id", 2, c->val, c->val_len);
            else
                mt_member_put(&o, c->key, c->key_len, c->val, c->val_len);
        }
        if (s[MT_S_EXTRA] != NULL && s[MT_S_EXTRA]->val_len > 2) {
            if (!o.first)
                mt_put(&o, ",", 1);
            o.first = 0;
            mt_put(&o, s[MT_S_EXTRA]->val + 1, s[MT_S_EXTRA]->val_len - 2);
        }
    } else {
        if (s[MT_S_ID] != NULL)
            mt_member_put(&o, "id", 2, s[MT_S_ID]->val, s[MT_S_ID]->val_len);
        if (s[MT_S_FROM] != NULL)
            mt_member_put(&o, "sid", 3, s[MT_S_FROM]->val, s[MT_S_FROM]->val_len);
        if (user != NULL) {
            mt_member_put(&o, "rid", 3, "\"", 1);
            mt_put(&o, user, user_len);
            mt_put(&o, "\"", 1);
        } else if (s[MT_S_TO] != NULL) {
            mt_member_put(&o, "rid", 3, s[MT_S_TO]->val, s[MT_S_TO]->val_len);
        }
        for (int i = 0; i < n; i++) {
            const mt_member *c = &m[i];
            if (c != s[MT_S_ID] && c != s[MT_S_FROM] && c != s[MT_S_TO] && c != s[MT_S_SID] &&
                c != s[MT_S_RID])
                mt_member_put(&o, c->key, c->key_len, c->val, c->val_len);
        }
    }
    mt_put(&o, "}]}", 4); /* with the NUL */
    *out = o.buf;
    *out_len = o.len - 1;
    return MESSAGING_OK;
}
