/* The ranks of a data-parallel job, on MPI. MPI is joined only when mpirun
 * (or another process manager) started this process: a kd run by hand
 * stays the single process it always was, without MPI's start-up. */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "kd/dist.h"
#include "dist_internal.h"

/* The fixed-order float sum moves at most this many floats per round, so
 * that its scratch stays small and MPI's int counts never overflow. */
enum { SUM_PIECE_FLOATS = 1 << 22 };

static struct {
    int started;
    int rank;
    int size;
    int failure_shared;   /* every rank knows of the failure (kd_dist_check, kd_dist_agree) */
    int failure_remote;   /* and it was another rank's */
    int threads;          /* the thread support MPI provides */
    float *scratch;       /* the slices the other ranks send this one */
    size_t scratch_floats;
    double sum_seconds;   /* spent summing and gathering floats */
    double bytes_sent;    /* by this rank, doing so */
} world = {0, 0, 1, 0, 0, MPI_THREAD_SINGLE, NULL, 0, 0.0, 0.0};

static int launched_by_process_manager(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

kd_status kd_dist_start(int *argc, char ***argv)
{
    if (world.started || !launched_by_process_manager())
        return KD_OK;
    /* Serialized: the gradient buckets' progress thread calls MPI while the
     * main thread computes, never both at once (dist_buckets.c). */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &world.threads) != MPI_SUCCESS)
        return kd_fail(KD_ERR_IO, "MPI_Init_thread failed");
    world.started = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    return KD_OK;
}

void kd_dist_stop(int failed)
{
    if (!world.started)
        return;
    free(world.scratch);
    world.scratch = NULL;
    world.scratch_floats = 0;
    kd_dist_buckets_release();
    if (failed && !world.failure_shared)
        MPI_Abort(MPI_COMM_WORLD, 1); /* the others may wait for this rank: end them too */
    MPI_Finalize();
    world.started = 0;
}

int kd_dist_rank(void)
{
    return world.rank;
}

int kd_dist_size(void)
{
    return world.size;
}

int kd_dist_is_writer(void)
{
    return world.rank == 0;
}

int kd_dist_failure_is_remote(void)
{
    return world.failure_remote;
}

kd_status kd_dist_sum_doubles(double *values, int count)
{
    if (world.size == 1 || count == 0)
        return KD_OK;
    double *all = kd_alloc((size_t)count * (size_t)world.size, sizeof *all, "rank sums");
    if (!all)
        return KD_ERR_NOMEM;
    MPI_Allgather(values, count, MPI_DOUBLE, all, count, MPI_DOUBLE, MPI_COMM_WORLD);
    for (int i = 0; i < count; i++) {
        double sum = 0.0;
        for (int r = 0; r < world.size; r++)
            sum += all[(size_t)r * (size_t)count + (size_t)i];
        values[i] = sum;
    }
    free(all);
    return KD_OK;
}

/* Rank r's slice of `count` values: counts[r] values from displs[r]. */
static void slice_layout(int count, int *counts, int *displs)
{
    for (int r = 0; r < world.size; r++) {
        size_t begin, end;
        kd_dist_slice_of((size_t)count, r, &begin, &end);
        counts[r] = (int)(end - begin);
        displs[r] = (int)begin;
    }
}

/* Rank r receives every rank's slice r (MPI_Alltoallv) and adds them in
 * rank order into its own slice of `values`. */
static void reduce_scatter_piece(float *values, int count)
{
    int size = world.size, counts[size], displs[size], recv_counts[size], recv_displs[size];
    slice_layout(count, counts, displs);
    size_t begin, end;
    kd_dist_slice((size_t)count, &begin, &end);
    int mine = (int)(end - begin);
    for (int r = 0; r < size; r++) {
        recv_counts[r] = mine;
        recv_displs[r] = r * mine;
    }
    MPI_Alltoallv(values, counts, displs, MPI_FLOAT, world.scratch, recv_counts, recv_displs,
                  MPI_FLOAT, MPI_COMM_WORLD);
    float *own = values + begin;
    for (int i = 0; i < mine; i++) {
        float sum = world.scratch[i];
        for (int r = 1; r < size; r++)
            sum += world.scratch[(size_t)r * (size_t)mine + (size_t)i];
        own[i] = sum;
    }
    world.bytes_sent += (double)(count - mine) * sizeof(float);
}

/* Every rank's slice to every rank (MPI_Allgatherv, in place). */
static void allgather_piece(float *values, int count)
{
    int size = world.size, counts[size], displs[size];
    slice_layout(count, counts, displs);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, values, counts, displs, MPI_FLOAT,
                   MPI_COMM_WORLD);
    size_t begin, end;
    kd_dist_slice((size_t)count, &begin, &end);
    world.bytes_sent += (double)(end - begin) * (double)(size - 1) * sizeof(float);
}

/* Scratch for `floats` received floats (the slices of one piece). */
static kd_status reserve_scratch(size_t floats)
{
    if (floats <= world.scratch_floats)
        return KD_OK;
    float *grown = realloc(world.scratch, floats * sizeof(float));
    if (!grown)
        return kd_fail(KD_ERR_NOMEM, "all-reduce scratch of %zu floats", floats);
    world.scratch = grown;
    world.scratch_floats = floats;
    return KD_OK;
}

/* A reduce-scatter then an all-gather, what a ring all-reduce moves, but
 * with the order of the additions fixed; in pieces, so that the scratch
 * stays small and MPI's int counts never overflow. */
kd_status kd_dist_sum_floats(float *values, size_t count)
{
    if (world.size == 1)
        return KD_OK;
    kd_status status = reserve_scratch(SUM_PIECE_FLOATS + (size_t)world.size);
    if (status != KD_OK)
        return status;
    double start = kd_now_seconds();
    for (size_t at = 0; at < count; at += SUM_PIECE_FLOATS) {
        size_t piece = count - at < SUM_PIECE_FLOATS ? count - at : SUM_PIECE_FLOATS;
        reduce_scatter_piece(values + at, (int)piece);
        allgather_piece(values + at, (int)piece);
    }
    world.sum_seconds += kd_now_seconds() - start;
    return KD_OK;
}

/* One of ZeRO-1's halves over the whole buffer as one piece, so that each
 * rank's slice is one range (kd_dist_slice). */
static kd_status whole_buffer(void (*half)(float *values, int count), float *values, size_t count)
{
    if (world.size == 1)
        return KD_OK;
    if (count > (size_t)INT_MAX)
        return kd_fail(KD_ERR_UNSUPPORTED, "%zu floats in one reduce-scatter (at most %d)",
                       count, INT_MAX);
    kd_status status = reserve_scratch(count + (size_t)world.size);
    if (status != KD_OK)
        return status;
    double start = kd_now_seconds();
    half(values, (int)count);
    world.sum_seconds += kd_now_seconds() - start;
    return KD_OK;
}

kd_status kd_dist_reduce_scatter_floats(float *values, size_t count)
{
    return whole_buffer(reduce_scatter_piece, values, count);
}

kd_status kd_dist_gather_floats(float *values, size_t count)
{
    return whole_buffer(allgather_piece, values, count);
}

void kd_dist_slice_of(size_t count, int rank, size_t *begin, size_t *end)
{
    size_t slice = (count + (size_t)world.size - 1) / (size_t)world.size;
    *begin = (size_t)rank * slice < count ? (size_t)rank * slice : count;
    *end = *begin + slice < count ? *begin + slice : count;
}

void kd_dist_slice(size_t count, size_t *begin, size_t *end)
{
    kd_dist_slice_of(count, world.rank, begin, end);
}

int kd_dist_threads_serialized(void)
{
    return world.threads >= MPI_THREAD_SERIALIZED;
}

void kd_dist_count_traffic(double seconds, double bytes_sent)
{
    world.sum_seconds += seconds;
    world.bytes_sent += bytes_sent;
}

void kd_dist_traffic(double *seconds, double *bytes_sent)
{
    *seconds = world.sum_seconds;
    *bytes_sent = world.bytes_sent;
}

kd_status kd_dist_check(kd_status local)
{
    if (world.size == 1)
        return local;
    int failed = local != KD_OK ? world.rank : world.size, first = world.size;
    MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == world.size)
        return KD_OK;
    world.failure_shared = 1;
    if (local != KD_OK)
        return local;
    world.failure_remote = 1;
    return kd_fail(KD_ERR_INVALID, "rank %d failed", first);
}

kd_status kd_dist_writer_first(kd_status (*step)(void *context), void *context)
{
    kd_status status = kd_dist_check(world.rank == 0 ? step(context) : KD_OK);
    return status == KD_OK && world.rank != 0 ? step(context) : status;
}

kd_status kd_dist_agree(const char *what, uint64_t value)
{
    if (world.size == 1)
        return KD_OK;
    uint64_t all[world.size];
    MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int differs = 0;
    while (differs < world.size && all[differs] == all[0])
        differs++;
    if (differs == world.size)
        return KD_OK;
    world.failure_shared = 1;
    world.failure_remote = world.rank != 0; /* rank 0 says it for all */
    return kd_fail(KD_ERR_INVALID, "the ranks do not agree on %s: rank %d's differs from rank "
                   "0's (%016llx against %016llx)", what, differs,
                   (unsigned long long)all[differs], (unsigned long long)all[0]);
}
