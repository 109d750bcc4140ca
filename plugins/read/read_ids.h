/* The `read` command's data: the ids a reader names, the reply listing the
 * removed ones, and the receipt for each message's sender. Pure logic (no
 * host calls), unit-tested on its own. */
#ifndef READ_IDS_H
#define READ_IDS_H

#include <stddef.h>

#include <switchboard/plugin.h>

enum read_ids_status { READ_IDS_OK = 0, READ_IDS_BAD = 1, READ_IDS_NOMEM = 2 };

/* Distinct ids of length id_len, borrowed from the parsed array. */
typedef struct read_ids {
    const char **ids; /* ro: owned array, borrowed strings */
    size_t n;         /* ro */
} read_ids;

/* Parse `ids` (may be NULL): an array of strings, else READ_IDS_BAD. Strings
 * of another length than id_len cannot name a stored message and are left
 * out, as are repeats. out is valid while ids is; release with read_ids_free. */
int read_ids_parse(const cJSON *ids, size_t id_len, read_ids *out);
void read_ids_free(read_ids *r);

/* Copy the `from` of a stored message's json into out. -> 0 | -1 (no string
 * from, unparsable, or too long for out) */
int read_sender_of(const char *json, size_t len, char *out, size_t out_len);

/* {ids: [...]} of the removed messages, in the store's order, borrowing
 * their ids (print or drop it while removed is valid). NULL on ENOMEM. */
cJSON *read_reply_new(const sb_stored *removed, size_t n);

/* {id, by, status: "read"}. NULL on ENOMEM. */
cJSON *read_receipt_new(const char *id, const char *by);

/* The same receipt as JSON text in out, byte for byte what the host prints
 * for read_receipt_new's object, with no tree built. -> its length | 0 when
 * id or by needs escaping or out is too small (build the object instead) */
size_t read_receipt_text(const char *id, const char *by, char *out, size_t out_len);

#endif
