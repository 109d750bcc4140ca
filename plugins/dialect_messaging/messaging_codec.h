/* Seed 001 ("WebSocket protocol for messaging") frames <-> native commands,
 * replies and events. Pure logic (no host calls): messaging.c feeds it parsed
 * frames and native data and submits what it plans; unit-tested and fuzzed on
 * its own. The wire protocol it implements is docs/dialects/messaging.md. */
#ifndef MESSAGING_CODEC_H
#define MESSAGING_CODEC_H

#include <stddef.h>

#include <switchboard/plugin.h>

/* Longest id, sid or rid as text, in bytes. */
#define MESSAGING_ID_MAX 256

/* Where a 001 message keeps, in native data, what the native stamp would
 * overwrite: the client's own `id`, and any member named from, to, ts,
 * msg_id or msg_extra (moved into an object under MESSAGING_EXTRA). */
#define MESSAGING_MSG_ID "msg_id"
#define MESSAGING_EXTRA  "msg_extra"

enum messaging_status {
    MESSAGING_OK = 0,
    MESSAGING_NOT_OBJECT = 1,
    MESSAGING_NOMEM = 2,
    MESSAGING_FALLBACK = 3 /* messaging_encode_text: encode the parsed tree instead */
};

/* The text of an id: a string as it is (1..MESSAGING_ID_MAX bytes), an
 * integer of magnitude below 2^53 in decimal ("11" for 11 and 11.0).
 * -> 0 | -1 (anything else: no text) */
int messaging_id_text(const cJSON *v, char out[MESSAGING_ID_MAX + 1]);

/* What one frame asks for. Every member is NULL when empty. */
typedef struct messaging_plan {
    /* The frame's send section with its accepted items turned into native
     * `message` data, in frame order: one native `message` each, submitted
     * with messaging_send_ref. */
    cJSON *sends;
    /* [{"id": text, "as": id as written[, "sid": text]}]: the read items. */
    cJSON *reads;
    /* Error entries of refused items ({id?, code, message, section?}). */
    cJSON *errors;
} messaging_plan;

/* Plan a parsed frame of user's: sections `send` and `read`, others ignored;
 * at most max_items items of each section, the rest refused. Members of the
 * frame are moved into the plan, so frame is changed. user_valid says whether
 * a rid names a user. -> MESSAGING_OK (*plan filled; release it with
 * messaging_plan_free) | MESSAGING_NOT_OBJECT | MESSAGING_NOMEM (*plan empty) */
int messaging_decode(cJSON *frame, const char *user, size_t max_items,
                     int (*user_valid)(const char *s), messaging_plan *plan);
void messaging_plan_free(messaging_plan *plan);

/* The id a 001 client is shown for a native message's data whose server id
 * is server_id, written to out: its sender's own id when it came from a 001
 * client (see messaging_as_written), else the server id. */
void messaging_shown_id(const cJSON *data, const char *server_id, char out[MESSAGING_ID_MAX + 1]);

/* Add [as, server_id] to pairs for every read item the stored message
 * (json[0..len), stored under server_id) answers: its shown id equals the
 * item's id and, when the item names a sid, its sender is that sid.
 * -> MESSAGING_OK | MESSAGING_NOMEM (unparsable json matches nothing) */
int messaging_read_match(const cJSON *reads, const char *server_id, const char *json, size_t len,
                         cJSON *pairs);

/* The frame for a native reply (reply nonzero, with the ref messaging.c gave
 * it) or event, for recipient user (a direct message's, else NULL); *out NULL
 * when 001 clients get nothing for it. An event's frame refers into data:
 * print it before data goes. -> MESSAGING_OK | MESSAGING_NOMEM */
int messaging_encode(int reply, const char *type, const cJSON *ref, const cJSON *data,
                     const char *user, cJSON **out);

/* The frame for an event of type whose native data is the compact JSON text
 * json[0..len), for recipient user (NULL: not a direct message), written from
 * spans of the text; the same bytes messaging_encode's tree prints to. *out
 * (NUL-terminated; NULL: nothing for 001 clients) of *out_len bytes: scratch
 * when the frame fits its scratch_cap bytes (sb_encode_in.scratch), else
 * malloc'd. printed: the host printed json (sb_encode_in.data_printed), so
 * the common shape's values are skipped, not checked. -> MESSAGING_OK |
 * MESSAGING_NOMEM | MESSAGING_FALLBACK (the text is not one this can decide:
 * parse it and use messaging_encode) */
int messaging_encode_text(const char *type, const char *json, size_t len, int printed,
                          const char *user, char *scratch, size_t scratch_cap, char **out,
                          size_t *out_len);

/* The ref a planned message (an item of plan->sends) is submitted with, so
 * that its ack or error comes back to encode as an entry about it: its id
 * itself when numeric (the host echoes an integer ref exactly, as digits),
 * else {"send": id}, new in *owned (the caller deletes it after submit;
 * NULL when nothing was made). -> the ref | NULL on ENOMEM */
const cJSON *messaging_send_ref(const cJSON *data, cJSON **owned);

/* The `sent` frame of an ack whose ref is a numeric id (the common case),
 * written to buf without building a tree. -> its length | -1 (another ref:
 * use messaging_encode) */
int messaging_ack_text(const cJSON *ref, char *buf, size_t cap);

#endif
