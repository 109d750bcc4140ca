/* A connection's output queue: a ring of frame references plus the offset
 * into the first, written with writev. Counts its bytes for
 * max_outbound_bytes. */
#ifndef SB_OUTQ_H
#define SB_OUTQ_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "frame.h"

typedef struct sb_outq {
    sb_frame **ring;
    size_t head, count, cap;
    size_t off;     /* bytes of ring[head] already written */
    size_t bytes;   /* unsent bytes */
    size_t backlog; /* bytes of SB_FRAME_BACKLOG frames not yet fully written */
} sb_outq;

/* Append a reference (the queue takes it). -> SB_OK | SB_ENOMEM */
int sb_outq_push(sb_outq *q, sb_frame *f_take);
/* Write as much as the socket takes. -> SB_OK (all or some written, or
 * EAGAIN) | SB_ECLOSED (write error: drop the connection) */
int sb_outq_write(sb_outq *q, int fd);
/* The same through a writer with writev's contract (-1 and errno EAGAIN when
 * full): a connection's TLS session. After EAGAIN the writer is offered the
 * same leading bytes again. */
typedef ssize_t (*sb_outq_writer)(void *arg, const struct iovec *iov, int n);
int sb_outq_write_with(sb_outq *q, sb_outq_writer w, void *arg);
/* Drop every frame not yet started; the partly written head stays. */
void sb_outq_drop_unstarted(sb_outq *q);
/* Move every frame of src to the end of dst. -> SB_OK | SB_ENOMEM */
int sb_outq_splice(sb_outq *dst, sb_outq *src);
/* Drop (unref) every frame for which drop(f, arg) is nonzero, keeping the
 * order of the rest; a partly written head always stays. */
void sb_outq_drop_if(sb_outq *q, int (*drop)(const sb_frame *f, void *arg), void *arg);
/* Release everything, including the ring. */
void sb_outq_clear(sb_outq *q);
static inline int sb_outq_empty(const sb_outq *q)
{
    return q->count == 0;
}

#endif
