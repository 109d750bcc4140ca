/* WebSocket phase: wslay_event (server role) parses, validates and answers
 * control frames; text messages go to the on_text event (the layers above). Idle connections
 * hibernate: their wslay context is freed and rebuilt on the next readable event. */
#ifndef SB_WS_H
#define SB_WS_H

#include "conn.h"

void sb_ws_on_readable(sb_conn *c);
/* Free the wslay context if the connection is at a frame boundary and has
 * been quiet; returns 1 when hibernated. */
int sb_ws_hibernate(sb_conn *c);
void sb_ws_free(sb_conn *c);
/* The periodic trim that returns hibernated connections' memory. */
void sb_ws_start_trim(void);
void sb_ws_stop_trim(void);

/* The WebSocket phase of a connection (sb_conn_upgraded). */
extern const sb_conn_phase_ops sb_ws_phase;

#endif
