/* A room publication's one road, whoever makes it (the rooms plugin's
 * `publish`, the push API, gRPC, a dialect through the rooms command): with
 * room history on it is stored first and sent on the commit, else sent at
 * once; the publisher hears back through one callback either way. */
#ifndef SB_PUBLISH_H
#define SB_PUBLISH_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/plugin.h"

/* Room history as the plugin owning it says (host->room_history_configure):
 * keep publications per room (0: no history), each for ttl_s seconds (0: no
 * age limit). Reset to none at start-up, set while the plugins load. */
void sb_publish_configure(long keep, long ttl_s);

/* Send data (borrowed: a stamped publication carrying its `id`) as a
 * `publish` event to room's connections but skip_conn, and to the bus.
 * History off: sent within the call, *delivered (may be NULL) set, done not
 * called: SB_OK. History on: sent once the store has committed it (trimmed
 * in the same commit): SB_PENDING, then done(arg, status, delivered) once,
 * never inside the call, with SB_OK (sent) or SB_EUNAVAILABLE (the store
 * refused it: nothing sent).
 * -> SB_OK | SB_PENDING | SB_EUNAVAILABLE (nothing sent, done not called) | SB_EINVAL | SB_ENOMEM
 */
int sb_publish_room(const char *room, const cJSON *data, uint64_t skip_conn, size_t *delivered,
                    sb_published_fn done, void *arg);

#endif
