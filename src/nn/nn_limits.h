/* Fixed sizes shared inside nn. */
#ifndef KD_NN_LIMITS_H
#define KD_NN_LIMITS_H

/* Rows of logits the fused head computes at once. Each chunk's three sgemms
 * repack all of wte and rewrite all of its gradient, so more rows per chunk
 * cost less per row: 512 trains the 4-layer/256 shape ~5% faster than 256
 * (bench/README.md), while (512, V) floats (103 MB at V = 50257) stay an
 * eighth of the (B, T, V) tensor at distilgpt2's 8 x 512. */
enum { HEAD_MAX_ROWS = 512 };

/* bf16 head chunks are padded with zero rows to a multiple of this, so the
 * few shapes a run meets each get one oneDNN primitive, made once, rather
 * than one for every count of loss-carrying rows a batch happens to have. */
enum { HEAD_ROW_ALIGN = 32 };

static inline int kd_head_padded_rows(int rows)
{
    return (rows + HEAD_ROW_ALIGN - 1) / HEAD_ROW_ALIGN * HEAD_ROW_ALIGN;
}

/* The head's hidden-state gradient is summed over this many fixed ranges of
 * the vocabulary, one single-threaded sgemm each (see head.c). Fixed, not
 * the thread count, so the sum is the same bits on any machine; 8 keeps up
 * to 8 threads busy for (rows, C, V) products that take ~50 ms at 2. */
enum { HEAD_VOCAB_PARTS = 8 };

/* Loops over fewer floats than this run on one thread: forking a team
 * costs more than it saves, and on a busy machine every barrier may wait a
 * whole scheduler slice for a descheduled thread. Decoding one token is
 * made of such small loops. */
enum { PARALLEL_MIN_FLOATS = 1 << 15 };

#endif
