/* The memory store's data: a table of users, each with an inbox of messages
 * sorted by id. Pure logic (no host calls), unit-tested on its own; the
 * deferred completions live in store_memory.c. */
#ifndef STORE_MEMORY_INBOX_H
#define STORE_MEMORY_INBOX_H

#include <stddef.h>

/* One stored message, shared by every inbox that holds it and by the
 * operations that hand it out: refcounted, so a page or a removal can borrow
 * it past later changes to the inbox. */
typedef struct store_memory_msg {
    unsigned refs;  /* private */
    size_t len;     /* ro: of json */
    const char *id; /* ro: NUL-terminated, in the same block */
    char json[];    /* ro: NUL-terminated */
} store_memory_msg;

typedef struct store_memory_table store_memory_table;

/* A new empty table whose inboxes hold at most max_inbox messages; NULL on ENOMEM. */
store_memory_table *store_memory_table_new(size_t max_inbox);
/* Free the table and drop its references to messages. NULL is ignored. */
void store_memory_table_free(store_memory_table *t);

/* Store one message (copied) under id in each users[i]'s inbox, all or none.
 * An inbox that already holds id keeps its copy (a retried put is harmless).
 * -> SB_OK | SB_EINBOX_FULL (an inbox is at max_inbox) | SB_ENOMEM */
int store_memory_table_put(store_memory_table *t, const char *const *users, size_t n_users,
                           const char *id, const char *json, size_t len);

/* Remove ids from user's inbox. *out gets a new array (caller: free) of the
 * removed messages in id order, one reference each (caller: unref); unknown
 * and repeated ids are left out. -> SB_OK | SB_ENOMEM (nothing removed) */
int store_memory_table_remove(store_memory_table *t, const char *user, const char *const *ids,
                              size_t n_ids, store_memory_msg ***out, size_t *n_out);

/* Up to limit messages of user with id > after (NULL: from the first), oldest
 * first, in a new array (caller: free) holding one reference each (caller:
 * unref). *more: messages remain past the page. -> SB_OK | SB_ENOMEM */
int store_memory_table_page(store_memory_table *t, const char *user, const char *after,
                            size_t limit, store_memory_msg ***out, size_t *n_out, int *more);

/* Room history uses a table of its own, keyed by room: */
/* Drop the oldest messages of user past keep, and those whose id sorts
 * before expire_before (NULL: none). */
void store_memory_table_trim(store_memory_table *t, const char *user, size_t keep,
                             const char *expire_before);
/* The newest limit messages of user with id < before (NULL: the newest),
 * oldest first, as table_page hands them. *more: older ones remain.
 * -> SB_OK | SB_ENOMEM */
int store_memory_table_page_before(store_memory_table *t, const char *user, const char *before,
                                   size_t limit, store_memory_msg ***out, size_t *n_out, int *more);
/* Whether user's inbox holds id. */
int store_memory_table_has(const store_memory_table *t, const char *user, const char *id);

/* How many messages user's inbox holds; how many users have a non-empty inbox. */
size_t store_memory_table_count(const store_memory_table *t, const char *user);
size_t store_memory_table_users(const store_memory_table *t);

/* Drop one reference; the last frees the message. NULL is ignored. */
void store_memory_msg_unref(store_memory_msg *m);

#endif
