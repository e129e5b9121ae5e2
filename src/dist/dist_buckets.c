/* Gradient sums that advance while the backward pass still computes.
 *
 * A bucket (one layer's gradients) is copied into a buffer of its own and
 * summed in two phases, each rank owning one slice of it (kd_dist_slice's
 * layout, the one kd_dist_sum_floats uses):
 *   1. every rank sends slice s of its copy to rank s and receives every
 *      other rank's copy of its own slice, then adds the N copies in rank
 *      order 0, 1, ..., N-1;
 *   2. it sends its summed slice to every rank and receives theirs.
 * These are kd_dist_sum_floats's reduce-scatter and all-gather: the same
 * bytes, the same additions in the same order, hence the same bits.
 *
 * Point-to-point messages rather than MPI's non-blocking collectives: every
 * rank must start collectives in one order, but phase 2 of a bucket starts
 * when its phase 1 completes, which differs from rank to rank. Messages are
 * matched by tag (bucket number, phase) on a communicator of their own.
 *
 * Open MPI moves data only inside MPI calls. A progress thread therefore
 * tests the buckets in flight every PROGRESS_POLL_US microseconds and
 * sleeps in between, so that a bucket travels while the backward pass runs
 * long matrix products (the backward pass's own kd_dist_buckets_progress
 * calls, between products, alone left most of a bucket to wait on TCP's
 * socket buffers). MPI is called by one thread at a time (the lock below;
 * MPI_THREAD_SERIALIZED): the thread touches MPI only while buckets are in
 * flight, and the caller makes no other MPI call until
 * kd_dist_buckets_finish. Where MPI lacks that thread support, the
 * backward pass's calls are the only progress.
 *
 * Two buckets are in flight at most: a third waits for the oldest, which
 * bounds the copies to two layers' gradients. */
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kd/dist.h"
#include "dist_internal.h"

/* MAX_BUCKETS keeps the tags within the 32767 every MPI allows. */
enum { BUCKET_SLOTS = 2, BUCKET_MAX_PIECES = 16, MAX_BUCKETS = 16000, PROGRESS_POLL_US = 200 };

typedef enum { SLOT_FREE, SLOT_SCATTER, SLOT_GATHER } slot_phase;

typedef struct {
    slot_phase phase;
    int bucket;                  /* its number this round; tags 2*bucket + phase */
    float *pieces[BUCKET_MAX_PIECES];
    size_t counts[BUCKET_MAX_PIECES];
    int piece_count;
    size_t count;                /* floats in the bucket */
    float *packed;               /* the bucket, then its sums */
    float *received;             /* the other ranks' copies of this rank's slice */
    size_t capacity;             /* floats each of packed and received can hold */
    MPI_Request *requests;       /* 2 (N - 1): sends then receives */
} bucket_slot;

static struct {
    int ready;                   /* comm duplicated, requests allocated */
    MPI_Comm comm;
    bucket_slot slots[BUCKET_SLOTS];
    int started;                 /* buckets started this round */
    pthread_mutex_t lock;        /* held around every MPI call and slot change */
    pthread_cond_t wake;         /* a bucket started, or the thread must stop */
    pthread_t thread;
    int thread_running;
    int stopping;
} flight = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void advance_all(void);

static int in_flight(void)
{
    for (int i = 0; i < BUCKET_SLOTS; i++)
        if (flight.slots[i].phase != SLOT_FREE)
            return 1;
    return 0;
}

/* The progress thread: while buckets are in flight, test them, then sleep. */
static void *progress_loop(void *unused)
{
    const struct timespec poll = {0, PROGRESS_POLL_US * 1000L};
    pthread_mutex_lock(&flight.lock);
    while (!flight.stopping) {
        if (!in_flight()) {
            pthread_cond_wait(&flight.wake, &flight.lock);
            continue;
        }
        advance_all();
        pthread_mutex_unlock(&flight.lock);
        nanosleep(&poll, NULL);
        pthread_mutex_lock(&flight.lock);
    }
    pthread_mutex_unlock(&flight.lock);
    return NULL;
}

static kd_status prepare_flight(void)
{
    if (flight.ready)
        return KD_OK;
    int size = kd_dist_size();
    for (int i = 0; i < BUCKET_SLOTS; i++) {
        flight.slots[i].requests = kd_alloc(2 * (size_t)size, sizeof(MPI_Request), "bucket requests");
        if (!flight.slots[i].requests)
            return KD_ERR_NOMEM;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &flight.comm);
    flight.ready = 1;
    flight.stopping = 0;
    flight.thread_running = kd_dist_threads_serialized() &&
                            pthread_create(&flight.thread, NULL, progress_loop, NULL) == 0;
    return KD_OK;
}

static kd_status reserve_slot(bucket_slot *slot, size_t count)
{
    if (count <= slot->capacity)
        return KD_OK;
    free(slot->packed);
    free(slot->received);
    slot->capacity = 0;
    slot->packed = malloc(count * sizeof(float));
    slot->received = malloc(count * sizeof(float));
    if (!slot->packed || !slot->received)
        return kd_fail(KD_ERR_NOMEM, "gradient bucket of %zu floats", count);
    slot->capacity = count;
    return KD_OK;
}

/* The other ranks' copies arrive in rank order, skipping this rank's. */
static float *received_copy(bucket_slot *slot, int rank, size_t slice_floats)
{
    int index = rank < kd_dist_rank() ? rank : rank - 1;
    return slot->received + (size_t)index * slice_floats;
}

/* Phase 1: slice s of this rank's copy to rank s; the others' copies of this
 * rank's slice in. */
static void post_scatter(bucket_slot *slot)
{
    int size = kd_dist_size(), me = kd_dist_rank(), n = 0, tag = 2 * slot->bucket;
    size_t begin, end;
    kd_dist_slice_of(slot->count, me, &begin, &end);
    for (int r = 0; r < size; r++) {
        if (r == me)
            continue;
        size_t their_begin, their_end;
        kd_dist_slice_of(slot->count, r, &their_begin, &their_end);
        MPI_Isend(slot->packed + their_begin, (int)(their_end - their_begin), MPI_FLOAT, r, tag,
                  flight.comm, &slot->requests[n++]);
        MPI_Irecv(received_copy(slot, r, end - begin), (int)(end - begin), MPI_FLOAT, r, tag,
                  flight.comm, &slot->requests[n++]);
    }
    kd_dist_count_traffic(0.0, (double)(slot->count - (end - begin)) * sizeof(float));
    slot->phase = SLOT_SCATTER;
}

/* This rank's slice: the ranks' copies added in rank order, as
 * kd_dist_sum_floats adds them. */
static void sum_own_slice(bucket_slot *slot)
{
    int size = kd_dist_size(), me = kd_dist_rank();
    size_t begin, end;
    kd_dist_slice_of(slot->count, me, &begin, &end);
    size_t mine = end - begin;
    float *own = slot->packed + begin;
    const float *copy[size];
    for (int r = 0; r < size; r++)
        copy[r] = r == me ? own : received_copy(slot, r, mine);
    for (size_t i = 0; i < mine; i++) {
        float sum = copy[0][i];
        for (int r = 1; r < size; r++)
            sum += copy[r][i];
        own[i] = sum;
    }
}

/* Phase 2: the summed slice to every rank; theirs into place. */
static void post_gather(bucket_slot *slot)
{
    int size = kd_dist_size(), me = kd_dist_rank(), n = 0, tag = 2 * slot->bucket + 1;
    size_t begin, end;
    kd_dist_slice_of(slot->count, me, &begin, &end);
    for (int r = 0; r < size; r++) {
        if (r == me)
            continue;
        size_t their_begin, their_end;
        kd_dist_slice_of(slot->count, r, &their_begin, &their_end);
        MPI_Isend(slot->packed + begin, (int)(end - begin), MPI_FLOAT, r, tag, flight.comm,
                  &slot->requests[n++]);
        MPI_Irecv(slot->packed + their_begin, (int)(their_end - their_begin), MPI_FLOAT, r, tag,
                  flight.comm, &slot->requests[n++]);
    }
    kd_dist_count_traffic(0.0, (double)(end - begin) * (double)(size - 1) * sizeof(float));
    slot->phase = SLOT_GATHER;
}

static void unpack(bucket_slot *slot)
{
    const float *from = slot->packed;
    for (int i = 0; i < slot->piece_count; i++) {
        memcpy(slot->pieces[i], from, slot->counts[i] * sizeof(float));
        from += slot->counts[i];
    }
    slot->phase = SLOT_FREE;
}

/* Moves a slot on by one phase once its messages are through: waiting for
 * them when `wait`, else only when they already are. */
static void advance(bucket_slot *slot, int wait)
{
    if (slot->phase == SLOT_FREE)
        return;
    int messages = 2 * (kd_dist_size() - 1), done = 1;
    if (wait)
        MPI_Waitall(messages, slot->requests, MPI_STATUSES_IGNORE);
    else
        MPI_Testall(messages, slot->requests, &done, MPI_STATUSES_IGNORE);
    if (!done)
        return;
    if (slot->phase == SLOT_SCATTER) {
        sum_own_slice(slot);
        post_gather(slot);
    } else {
        unpack(slot);
    }
}

static void complete(bucket_slot *slot)
{
    while (slot->phase != SLOT_FREE)
        advance(slot, 1);
}

/* Every slot moved on as far as its messages allow, oldest first. */
static void advance_all(void)
{
    for (int i = 0; i < BUCKET_SLOTS; i++)
        advance(&flight.slots[(flight.started + i) % BUCKET_SLOTS], 0);
}

static kd_status pack(bucket_slot *slot, float *const *pieces, const size_t *counts,
                      int piece_count)
{
    if (piece_count > BUCKET_MAX_PIECES)
        return kd_fail(KD_ERR_UNSUPPORTED, "a gradient bucket of %d pieces (at most %d)",
                       piece_count, BUCKET_MAX_PIECES);
    size_t count = 0;
    for (int i = 0; i < piece_count; i++)
        count += counts[i];
    if (count > (size_t)INT_MAX)
        return kd_fail(KD_ERR_UNSUPPORTED, "a gradient bucket of %zu floats (at most %d)", count,
                       INT_MAX);
    kd_status status = reserve_slot(slot, count);
    if (status != KD_OK)
        return status;
    float *to = slot->packed;
    for (int i = 0; i < piece_count; i++) {
        slot->pieces[i] = pieces[i];
        slot->counts[i] = counts[i];
        memcpy(to, pieces[i], counts[i] * sizeof(float));
        to += counts[i];
    }
    slot->piece_count = piece_count;
    slot->count = count;
    return KD_OK;
}

kd_status kd_dist_bucket_start(float *const *pieces, const size_t *counts, int piece_count)
{
    if (kd_dist_size() == 1)
        return KD_OK;
    if (flight.started >= MAX_BUCKETS)
        return kd_fail(KD_ERR_UNSUPPORTED, "more than %d gradient buckets in one step",
                       MAX_BUCKETS);
    double start = kd_now_seconds();
    pthread_mutex_lock(&flight.lock);
    kd_status status = prepare_flight();
    bucket_slot *slot = &flight.slots[flight.started % BUCKET_SLOTS];
    if (status == KD_OK) {
        complete(slot); /* the oldest in flight, when both slots are taken */
        status = pack(slot, pieces, counts, piece_count);
    }
    if (status == KD_OK) {
        slot->bucket = flight.started++;
        post_scatter(slot);
        pthread_cond_signal(&flight.wake);
    }
    pthread_mutex_unlock(&flight.lock);
    kd_dist_count_traffic(kd_now_seconds() - start, 0.0);
    return status;
}

void kd_dist_buckets_progress(void)
{
    /* the progress thread may be at it: then there is nothing to add */
    if (!flight.ready || pthread_mutex_trylock(&flight.lock) != 0)
        return;
    double start = kd_now_seconds();
    advance_all();
    pthread_mutex_unlock(&flight.lock);
    kd_dist_count_traffic(kd_now_seconds() - start, 0.0);
}

kd_status kd_dist_buckets_finish(void)
{
    if (!flight.ready)
        return KD_OK;
    double start = kd_now_seconds();
    pthread_mutex_lock(&flight.lock);
    for (int i = 0; i < BUCKET_SLOTS; i++)
        complete(&flight.slots[(flight.started + i) % BUCKET_SLOTS]);
    flight.started = 0;
    pthread_mutex_unlock(&flight.lock);
    kd_dist_count_traffic(kd_now_seconds() - start, 0.0);
    return KD_OK;
}

void kd_dist_buckets_release(void)
{
    if (flight.thread_running) {
        pthread_mutex_lock(&flight.lock);
        flight.stopping = 1;
        pthread_cond_signal(&flight.wake);
        pthread_mutex_unlock(&flight.lock);
        pthread_join(flight.thread, NULL);
        flight.thread_running = 0;
    }
    for (int i = 0; i < BUCKET_SLOTS; i++) {
        bucket_slot *slot = &flight.slots[i];
        free(slot->packed);
        free(slot->received);
        free(slot->requests);
        *slot = (bucket_slot){0};
    }
    if (flight.ready)
        MPI_Comm_free(&flight.comm);
    flight.ready = 0;
    flight.started = 0;
}
