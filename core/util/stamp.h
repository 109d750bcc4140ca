/* The delivered form of a message: the server's routing fields over the
 * client's. One function for every plugin (host->stamp), so message, rooms,
 * broadcast and the push API write the same bytes. Pure cJSON, no server state. */
#ifndef SB_STAMP_H
#define SB_STAMP_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Replace *data (an object; NULL or any other value counts as {}) with a new
 * object: id, from, to (a copy, when to is not NULL), room (when not NULL),
 * ts, then *data's other members in their order. Every member named id, from,
 * ts, or to / room when given, is dropped (all copies, case-sensitive); the
 * others are moved, not copied, and the old value is freed. When *data is
 * already that object (stamped before with the same values) it stays as it is.
 * -> SB_OK | SB_ENOMEM (*data unchanged) */
int sb_stamp(cJSON **data, const char *id, const char *from, const cJSON *to, const char *room,
             int64_t ts);

/* What sb_stamp would make of data, as a view that borrows everything (data's
 * members, id, from, to, room): it prints the same bytes, and cJSON_Delete
 * frees the view alone. For printing a message stamped when nothing else needs
 * the tree; data and the strings must outlive the view. NULL on ENOMEM. */
cJSON *sb_stamp_view(const cJSON *data, const char *id, const char *from, const cJSON *to,
                     const char *room, int64_t ts);

/* The bytes sb_json_out prints for sb_stamp_view's view, printed with no
 * view built (no node per member): sb_json_out's buffer, valid until the
 * next print; *len its length. NULL on ENOMEM or a tree deeper than 1000. */
const char *sb_stamp_print(const cJSON *data, const char *id, const char *from, const cJSON *to,
                           const char *room, int64_t ts, size_t *len);

#endif
