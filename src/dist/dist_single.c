/* The ranks of a job in a build without MPI: this process alone. */
#include "kd/dist.h"

kd_status kd_dist_start(int *argc, char ***argv)
{
    return KD_OK;
}

void kd_dist_stop(int failed)
{
}

int kd_dist_rank(void)
{
    return 0;
}

int kd_dist_size(void)
{
    return 1;
}

int kd_dist_is_writer(void)
{
    return 1;
}

kd_status kd_dist_sum_doubles(double *values, int count)
{
    return KD_OK;
}

kd_status kd_dist_sum_floats(float *values, size_t count)
{
    return KD_OK;
}

kd_status kd_dist_reduce_scatter_floats(float *values, size_t count)
{
    return KD_OK;
}

kd_status kd_dist_gather_floats(float *values, size_t count)
{
    return KD_OK;
}

kd_status kd_dist_bucket_start(float *const *pieces, const size_t *counts, int piece_count)
{
    return KD_OK;
}

void kd_dist_buckets_progress(void)
{
}

kd_status kd_dist_buckets_finish(void)
{
    return KD_OK;
}

void kd_dist_slice(size_t count, size_t *begin, size_t *end)
{
    *begin = 0;
    *end = count;
}

void kd_dist_traffic(double *seconds, double *bytes_sent)
{
    *seconds = *bytes_sent = 0.0;
}

kd_status kd_dist_check(kd_status local)
{
    return local;
}

kd_status kd_dist_writer_first(kd_status (*step)(void *context), void *context)
{
    return step(context);
}

kd_status kd_dist_agree(const char *what, uint64_t value)
{
    return KD_OK;
}

int kd_dist_failure_is_remote(void)
{
    return 0;
}
