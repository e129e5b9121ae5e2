/* ROUGE-L as rouge_score computes it for English (no stemming): words are the
 * runs of [a-z0-9] in the lower-cased text, and the score is the F-measure
 * of the longest common subsequence of the two word lists. */
#include <stdlib.h>
#include <string.h>

#include "kd/report.h"

typedef struct {
    char *text;        /* lower-cased copy; words point into it */
    const char **words;
    size_t *lengths;
    size_t count;
} word_list;

static int is_word_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* rouge_score lower-cases first and then keeps only [a-z0-9]; bytes of
 * non-ASCII characters are therefore separators, like punctuation. */
static kd_status split_words(const char *source, word_list *list)
{
    size_t size = strlen(source);
    list->text = malloc(size + 1);
    /* At most one word per two bytes (a byte and a separator), plus one. */
    size_t most = size / 2 + 1;
    list->words = kd_alloc(most, sizeof *list->words, "ROUGE words");
    list->lengths = kd_alloc(most, sizeof *list->lengths, "ROUGE word lengths");
    list->count = 0;
    if (!list->text || !list->words || !list->lengths)
        return kd_fail(KD_ERR_NOMEM, "ROUGE-L: no memory for %zu bytes of text", size);
    for (size_t i = 0; i <= size; i++) {
        char c = source[i];
        list->text[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    for (size_t i = 0; i < size;) {
        if (!is_word_byte(list->text[i])) {
            i++;
            continue;
        }
        size_t begin = i;
        while (i < size && is_word_byte(list->text[i]))
            i++;
        list->words[list->count] = list->text + begin;
        list->lengths[list->count++] = i - begin;
    }
    return KD_OK;
}

static void word_list_free(word_list *list)
{
    free(list->text);
    free(list->words);
    free(list->lengths);
}

static int same_word(const word_list *a, size_t i, const word_list *b, size_t j)
{
    return a->lengths[i] == b->lengths[j] && memcmp(a->words[i], b->words[j], a->lengths[i]) == 0;
}

/* The classic dynamic programme, keeping one row of (|b| + 1) lengths. */
static kd_status lcs_length(const word_list *a, const word_list *b, size_t *length)
{
    size_t *row = kd_alloc(b->count + 1, sizeof *row, "ROUGE-L table");
    if (!row)
        return KD_ERR_NOMEM;
    memset(row, 0, (b->count + 1) * sizeof *row);
    for (size_t i = 0; i < a->count; i++) {
        size_t diagonal = 0; /* row[j] of the previous i */
        for (size_t j = 1; j <= b->count; j++) {
            size_t above = row[j];
            if (same_word(a, i, b, j - 1))
                row[j] = diagonal + 1;
            else if (row[j - 1] > row[j])
                row[j] = row[j - 1];
            diagonal = above;
        }
    }
    *length = row[b->count];
    free(row);
    return KD_OK;
}

kd_status kd_rouge_l(const char *candidate, const char *reference, rouge_score *score)
{
    word_list candidate_words = {0}, reference_words = {0};
    size_t common = 0;
    kd_status status = split_words(candidate, &candidate_words);
    if (status == KD_OK)
        status = split_words(reference, &reference_words);
    if (status == KD_OK)
        status = lcs_length(&candidate_words, &reference_words, &common);
    *score = (rouge_score){0};
    if (status == KD_OK && common > 0) {
        score->precision = (double)common / (double)candidate_words.count;
        score->recall = (double)common / (double)reference_words.count;
        score->f_measure =
            2.0 * score->precision * score->recall / (score->precision + score->recall);
    }
    word_list_free(&candidate_words);
    word_list_free(&reference_words);
    return status;
}
