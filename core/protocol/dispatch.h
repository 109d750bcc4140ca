/* Text frames to commands: rate limit, envelope checks, the authentication
 * gate, the command table (type -> plugin handler), `ping`, and the answers
 * (replies and errors echo the request's ref). */
#ifndef SB_DISPATCH_H
#define SB_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "switchboard/plugin.h"

struct sb_reply {
    uint64_t conn_id;
    char *ref_json; /* NULL: no ref */
};

/* One text frame from c: the rate limit, then the connection's decode (the
 * native envelope, or a dialect's). */
void sb_dispatch_text(sb_conn *c, const char *buf, size_t len);
/* One decoded command: the authentication gate, `ping`, the command table,
 * the handler. ref (borrowed, NULL: none) and ref_json, its serialized form,
 * come back in the answers. */
void sb_dispatch_command(sb_conn *c, const char *type, const cJSON *ref, const char *ref_json,
                         const cJSON *data);
/* flags: SB_COMMAND_*. -> SB_OK | SB_EEXIST | SB_ENOMEM */
int sb_dispatch_register(const char *type, sb_command_fn fn, void *ud, sb_plugin_ctx *owner,
                         uint32_t flags);
void sb_dispatch_remove_owner(sb_plugin_ctx *owner);
void sb_dispatch_free(void);
/* Send {type, ref, data} to conn_id. -> SB_OK | SB_ECLOSED | SB_ENOMEM */
int sb_dispatch_answer(uint64_t conn_id, const char *ref_json, const char *type, const cJSON *data);
int sb_dispatch_error(uint64_t conn_id, const char *ref_json, const char *code,
                      const char *message);
/* The reply target of a command being handled (host_private of sb_cmd). */
const struct sb_reply *sb_dispatch_cmd_reply(const sb_cmd *cmd);

#endif
