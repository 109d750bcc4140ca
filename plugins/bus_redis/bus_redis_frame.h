/* bus_redis_frame: what one PUBLISH on <prefix>bus carries: a one-line JSON
 * header {"node","route","targets","direct"}, a newline, then the envelope
 * bytes as the host framed them. Pure, unit-tested. */
#ifndef BUS_REDIS_FRAME_H
#define BUS_REDIS_FRAME_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* A new frame (malloc; caller frees) and its length, or NULL on ENOMEM. */
char *bus_redis_frame_new(const char *node, int route, const char *const *targets, size_t n_targets,
                          const char *envelope, size_t len, int direct, size_t *out_len);

typedef struct bus_redis_frame {
    cJSON *header;    /* owned: cJSON_Delete through bus_redis_frame_free */
    const char *node; /* in header */
    int route;
    int direct;
    const char **targets; /* malloc'd array into header's strings */
    size_t n_targets;
    const char *envelope; /* into the buffer passed to parse */
    size_t len;
} bus_redis_frame;

/* Parse buf[0..len). -> 0, or -1 with *why (static text). */
int bus_redis_frame_parse(const char *buf, size_t len, bus_redis_frame *out, const char **why);
void bus_redis_frame_free(bus_redis_frame *f);

#endif
