/* The ranks of a data-parallel job, on MPI. MPI is joined only when mpirun
 * (or another process manager) started this process: a kd run by hand
 * stays the single process it always was, without MPI's start-up. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "kd/dist.h"

/* The fixed-order float sum moves at most this many floats per round, so
 * that its scratch stays small and MPI's int counts never overflow. */
enum { SUM_PIECE_FLOATS = 1 << 22 };

static struct {
    int started;
    int rank;
    int size;
    int failure_shared;   /* every rank knows of the failure (kd_dist_check, kd_dist_agree) */
    int failure_remote;   /* and it was another rank's */
    float *scratch;       /* (SUM_PIECE_FLOATS) the pieces the other ranks send this one */
    double sum_seconds;   /* spent in kd_dist_sum_floats */
    double bytes_sent;    /* by it */
} world = {0, 0, 1, 0, 0, NULL, 0.0, 0.0};

static int launched_by_process_manager(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

kd_status kd_dist_start(int *argc, char ***argv)
{
    if (world.started || !launched_by_process_manager())
        return KD_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return kd_fail(KD_ERR_IO, "MPI_Init failed");
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

/* One piece: rank r receives every rank's r-th slice (MPI_Alltoallv),
 * adds them in rank order, and the sums go back to all (MPI_Allgatherv).
 * A reduce-scatter and an all-gather, as a ring all-reduce moves, but with
 * the order of the additions fixed. */
static void sum_piece(float *values, int count)
{
    int size = world.size, slice = (count + size - 1) / size;
    int counts[size], displs[size], recv_counts[size], recv_displs[size];
    for (int r = 0; r < size; r++) {
        int begin = r * slice < count ? r * slice : count;
        int end = begin + slice < count ? begin + slice : count;
        counts[r] = end - begin;
        displs[r] = begin;
    }
    int mine = counts[world.rank];
    for (int r = 0; r < size; r++) {
        recv_counts[r] = mine;
        recv_displs[r] = r * mine;
    }
    MPI_Alltoallv(values, counts, displs, MPI_FLOAT, world.scratch, recv_counts, recv_displs,
                  MPI_FLOAT, MPI_COMM_WORLD);
    float *own = values + displs[world.rank];
    for (int i = 0; i < mine; i++) {
        float sum = world.scratch[i];
        for (int r = 1; r < size; r++)
            sum += world.scratch[(size_t)r * (size_t)mine + (size_t)i];
        own[i] = sum;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, values, counts, displs, MPI_FLOAT,
                   MPI_COMM_WORLD);
    /* The slices this rank sent to the others, then its own sums to each. */
    world.bytes_sent += (double)(count - mine) * sizeof(float) +
                        (double)mine * (double)(size - 1) * sizeof(float);
}

kd_status kd_dist_sum_floats(float *values, size_t count)
{
    if (world.size == 1)
        return KD_OK;
    if (!world.scratch &&
        !(world.scratch = kd_alloc(SUM_PIECE_FLOATS, sizeof(float), "all-reduce scratch")))
        return KD_ERR_NOMEM;
    double start = kd_now_seconds();
    for (size_t at = 0; at < count; at += SUM_PIECE_FLOATS) {
        size_t piece = count - at < SUM_PIECE_FLOATS ? count - at : SUM_PIECE_FLOATS;
        sum_piece(values + at, (int)piece);
    }
    world.sum_seconds += kd_now_seconds() - start;
    return KD_OK;
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
