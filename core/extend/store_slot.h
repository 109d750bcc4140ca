/* The one road to the store slot: every put, remove and page read, from a
 * plugin (host->store_*) or from the core's backlog, goes through these
 * wrappers, so /metrics counts and times all of the store's work; room
 * history's operations pass here too. */
#ifndef SB_STORE_SLOT_H
#define SB_STORE_SLOT_H

#include <stddef.h>

#include "switchboard/plugin.h"

/* The store's put, remove and page (sb_store), counted in sb_metrics_core;
 * a put is also timed until its done. -> the store's answer, or
 * SB_EUNAVAILABLE when no store fills the slot (or it lacks the operation). */
int sb_store_slot_put(const char *const *users, size_t n_users, const char *id, const char *json,
                      size_t len, sb_store_done_fn done, void *arg);
int sb_store_slot_remove(const char *user, const char *const *ids, size_t n_ids,
                         sb_store_removed_fn done, void *arg);
int sb_store_slot_page(const char *user, const char *after, size_t limit, sb_store_page_fn done,
                       void *arg);

/* Room history (sb_store.history_put / history_page, 1.2).
 * -> the store's answer | SB_EUNAVAILABLE (no store, or one without history) | SB_EINVAL */
int sb_store_slot_history_put(const char *room, const char *id, const char *json, size_t len,
                              size_t keep, const char *expire_before, sb_store_done_fn done,
                              void *arg);
int sb_store_slot_history_page(const char *room, const char *after, const char *before,
                               size_t limit, sb_history_page_fn done, void *arg);

#endif
