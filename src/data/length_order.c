/* Examples ordered by length, longest first: a stable merge sort, so ties
 * keep their order and the result is the same on every platform (qsort's
 * order of ties is not), in O(n log n) with the caller's scratch memory. */
#include "data_internal.h"

static size_t length_of(const dataset *data, size_t index)
{
    return data->offsets[index + 1] - data->offsets[index];
}

/* Merges the sorted runs from[lo, mid) and from[mid, hi) into to[lo, hi). */
static void merge_runs(const dataset *data, const size_t *from, size_t *to, size_t lo,
                       size_t mid, size_t hi)
{
    size_t left = lo, right = mid;
    for (size_t at = lo; at < hi; at++) {
        int take_left = right >= hi ||
                        (left < mid && length_of(data, from[left]) >= length_of(data, from[right]));
        to[at] = take_left ? from[left++] : from[right++];
    }
}

void kd_dataset_sort_by_length(const dataset *data, size_t *indices, size_t count, size_t *scratch)
{
    size_t *from = indices, *to = scratch;
    for (size_t width = 1; width < count; width *= 2) {
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = count - lo < width ? count : lo + width;
            size_t hi = count - mid < width ? count : mid + width;
            merge_runs(data, from, to, lo, mid, hi);
        }
        size_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != indices)
        for (size_t i = 0; i < count; i++)
            indices[i] = from[i];
}
