/* Routing primitives: one envelope, serialized and framed once, queued by
 * reference to every target connection on this node, then handed to the
 * bus (when one is registered) for the other nodes. */
#ifndef SB_ROUTE_H
#define SB_ROUTE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

int sb_route_users(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn, int direct,
                   size_t *delivered);
/* sb_route_users for a frame this node's host printed (a local send, not one
 * from the bus): a dialect may copy its data text without checking it. */
int sb_route_users_printed(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn,
                           int direct, size_t *delivered);
int sb_route_room(const char *room, sb_frame *f, uint64_t skip_conn, const char *skip_user,
                  size_t *delivered);
int sb_route_all(sb_frame *f, uint64_t skip_conn, size_t *delivered);
/* The same for a frame this node's host printed (as sb_route_users_printed). */
int sb_route_room_printed(const char *room, sb_frame *f, uint64_t skip_conn, const char *skip_user,
                          size_t *delivered);
int sb_route_all_printed(sb_frame *f, uint64_t skip_conn, size_t *delivered);
/* Hand an envelope to the bus, if any. */
void sb_route_to_bus(int route, const char *const *targets, size_t n, const sb_frame *f,
                     int direct);

#endif
