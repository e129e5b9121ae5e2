/* A tiny training setup for tests: synthetic instruction records and a run
 * configuration for a model small enough to train in seconds. */
#ifndef KD_TEST_TRAIN_FIXTURE_H
#define KD_TEST_TRAIN_FIXTURE_H

/* Writes dir/data.jsonl with `records` short records (deterministic text)
 * and dir/config.json for a 1-layer, `width`-wide model trained for
 * `max_steps` steps; returns the config path (caller frees). The data is
 * tokenized with the real GPT-2 tokenizer: callers first call
 * test_need_asset("gpt2/vocab.json"), which names it when it is missing. */
char *train_fixture_write(const char *dir, int records, int width, int max_steps,
                          const char *extra_train_settings);

#endif
