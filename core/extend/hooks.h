/* Hook chains that plugins fill (on_connect, authenticate, authorize,
 * filter, on_open, on_close) and the handshake identifier. Providers run in
 * plugins.conf order; DENY ends a chain. The core knows nothing of Lua. */
#ifndef SB_HOOKS_H
#define SB_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "switchboard/plugin.h"

int sb_hooks_add(const sb_hooks *hooks, void *ud, sb_plugin_ctx *owner);
int sb_hooks_set_identify(sb_identify_fn fn, void *ud, sb_plugin_ctx *owner);
void sb_hooks_remove_owner(sb_plugin_ctx *owner);
void sb_hooks_free(void);

/* SB_IDENT_* from the identifier, or -1 when none is registered. */
int sb_hooks_identify(const sb_http_req *req, char user[SB_USER_MAX + 1], char *reason,
                      size_t reason_len);
int sb_hooks_on_connect(const sb_http_req *req, char *reason, size_t reason_len);
int sb_hooks_authenticate(const char *token, const sb_http_req *req, char user[SB_USER_MAX + 1],
                          char *reason, size_t reason_len);
int sb_hooks_authorize(const char *user, const char *action, const char *target, const cJSON *data,
                       char *reason, size_t reason_len);
int sb_hooks_filter(const sb_filter_msg *msg, cJSON **data, char *reason, size_t reason_len);
/* host->filter_print: the chain over a view of data (borrowed) stamped with
 * msg's fields, a copy made only for a filter that may edit it; *json the
 * outcome printed (malloc), NULL with reason written when dropped.
 * -> SB_OK | SB_ENOMEM */
int sb_hooks_filter_print(const sb_filter_msg *msg, const cJSON *data, char **json, size_t *len,
                          char *reason, size_t reason_len);
/* Whether any plugin has a filter hook (sb_hooks_filter would only stamp). */
int sb_hooks_has_filter(void);
void sb_hooks_on_open(uint64_t conn_id, const char *user);
void sb_hooks_on_close(uint64_t conn_id, const char *user);

/* --- provider slots: one store, one bus --- */
int sb_hooks_set_store(const sb_store *store, void *ud, sb_plugin_ctx *owner);
int sb_hooks_set_bus(const sb_bus *bus, void *ud, sb_plugin_ctx *owner);
/* The store's table and ud, or NULL. */
const sb_store *sb_hooks_store(void **ud);
/* Whether pc fills the store or the bus slot. */
int sb_hooks_owns_slot(const sb_plugin_ctx *pc);
int sb_hooks_ready(const char **why);
void sb_hooks_bus_publish(int route, const char *const *targets, size_t n, const char *envelope,
                          size_t len, int direct);
/* Whether the bus takes membership calls (a 1.1 bus); then it also gets
 * SB_ROUTE_CLOSE publications. */
int sb_hooks_bus_has_membership(void);
void sb_hooks_bus_membership(int event, const char *user, const char *room);
/* The bus's users(); SB_ENOTFOUND when there is no such bus. */
int sb_hooks_bus_users(const char *room, sb_users_fn done, void *arg);
/* The name of the plugin filling "store" or "bus", or NULL. */
const char *sb_hooks_slot_owner(const char *slot);

#endif
