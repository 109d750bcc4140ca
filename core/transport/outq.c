/* Output queue: frames leave in order, partially written frames resume at
 * their offset, and the ring is freed when empty so idle connections hold
 * nothing. */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "switchboard/plugin.h"

#define OUTQ_IOV 64

static int outq_grow(sb_outq *q)
{
    size_t cap = q->cap ? q->cap * 2 : 4;
    sb_frame **r = malloc(cap * sizeof(*r));
    if (!r)
        return SB_ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
    return SB_OK;
}

int sb_outq_push(sb_outq *q, sb_frame *f)
{
    if (q->count == q->cap && outq_grow(q) != SB_OK) {
        sb_frame_unref(f);
        return SB_ENOMEM;
    }
    q->ring[(q->head + q->count) % q->cap] = f;
    q->count++;
    q->bytes += f->len;
    if (f->flags & SB_FRAME_BACKLOG)
        q->backlog += f->len;
    return SB_OK;
}

static void outq_pop(sb_outq *q)
{
    if (q->ring[q->head]->flags & SB_FRAME_BACKLOG)
        q->backlog -= q->ring[q->head]->len - q->off; /* the rest went with the writes */
    sb_frame_unref(q->ring[q->head]);
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->off = 0;
    if (q->count == 0) {
        free(q->ring);
        q->ring = NULL;
        q->cap = q->head = 0;
    }
}

static ssize_t outq_writev(void *arg, const struct iovec *iov, int n)
{
    return writev(*(const int *)arg, iov, n);
}

int sb_outq_write(sb_outq *q, int fd)
{
    return sb_outq_write_with(q, outq_writev, &fd);
}

int sb_outq_write_with(sb_outq *q, sb_outq_writer wr, void *arg)
{
    while (q->count) {
        struct iovec iov[OUTQ_IOV];
        int n = 0;
        size_t total = 0;
        for (size_t i = 0; i < q->count && n < OUTQ_IOV; i++, n++) {
            sb_frame *f = q->ring[(q->head + i) % q->cap];
            size_t off = i == 0 ? q->off : 0;
            iov[n].iov_base = f->data + off;
            iov[n].iov_len = f->len - off;
            total += iov[n].iov_len;
        }
        ssize_t w = wr(arg, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return SB_OK;
            return SB_ECLOSED;
        }
        size_t left = (size_t)w;
        q->bytes -= left;
        while (left && q->count) {
            sb_frame *f = q->ring[q->head];
            size_t rest = f->len - q->off;
            if (left >= rest) {
                left -= rest;
                outq_pop(q);
            } else {
                /* bytes counts what is unsent, so backlog must too: else
                 * bytes - backlog underflows on a half-written stored message. */
                if (f->flags & SB_FRAME_BACKLOG)
                    q->backlog -= left;
                q->off += left;
                left = 0;
            }
        }
        if ((size_t)w < total)
            return SB_OK; /* the socket is full */
    }
    return SB_OK;
}

void sb_outq_drop_unstarted(sb_outq *q)
{
    size_t keep = q->off ? 1 : 0;
    while (q->count > keep) {
        size_t last = (q->head + q->count - 1) % q->cap;
        q->bytes -= q->ring[last]->len;
        if (q->ring[last]->flags & SB_FRAME_BACKLOG)
            q->backlog -= q->ring[last]->len;
        sb_frame_unref(q->ring[last]);
        q->count--;
    }
    if (q->count == 0)
        sb_outq_clear(q);
}

int sb_outq_splice(sb_outq *dst, sb_outq *src)
{
    while (src->count) {
        sb_frame *f = src->ring[src->head];
        src->ring[src->head] = NULL;
        src->head = (src->head + 1) % src->cap;
        src->count--;
        src->bytes -= f->len;
        if (f->flags & SB_FRAME_BACKLOG)
            src->backlog -= f->len;
        if (sb_outq_push(dst, f) != SB_OK) {
            sb_outq_clear(src);
            return SB_ENOMEM;
        }
    }
    sb_outq_clear(src);
    return SB_OK;
}

void sb_outq_drop_if(sb_outq *q, int (*drop)(const sb_frame *f, void *arg), void *arg)
{
    size_t w = 0, n = q->count;
    for (size_t r = 0; r < n; r++) {
        sb_frame *f = q->ring[(q->head + r) % q->cap];
        if ((r == 0 && q->off) || !drop(f, arg)) {
            q->ring[(q->head + w++) % q->cap] = f;
            continue;
        }
        q->bytes -= f->len;
        if (f->flags & SB_FRAME_BACKLOG)
            q->backlog -= f->len;
        sb_frame_unref(f);
        q->count--;
    }
    if (q->count == 0)
        sb_outq_clear(q);
}

void sb_outq_clear(sb_outq *q)
{
    for (size_t i = 0; i < q->count; i++)
        sb_frame_unref(q->ring[(q->head + i) % q->cap]);
    free(q->ring);
    q->ring = NULL;
    q->head = q->count = q->cap = q->off = q->bytes = q->backlog = 0;
}
