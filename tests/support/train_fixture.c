#include "train_fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "test_support.h"

static const char *const subjects[] = {"camels", "owls", "rivers", "comets", "violins", "maples"};
static const char *const facts[] = {
    "store fat in their humps and lose little water",
    "hunt at night with silent feathers",
    "carry water from mountains to the sea",
    "are balls of ice that grow tails near the sun",
    "have four strings and are played with a bow",
    "turn red in autumn and give sweet sap",
};

char *train_fixture_write(const char *dir, int records, int width, int max_steps,
                          const char *extra_train_settings)
{
    char *data_path = test_path(dir, "data.jsonl");
    FILE *data = fopen(data_path, "w");
    assert_non_null(data);
    for (int i = 0; i < records; i++) {
        int s = i % 6;
        fprintf(data,
                "{\"instruction\": \"Tell me about %s (%d).\", \"context\": \"%s\", "
                "\"response\": \"%s %s.\", \"category\": \"open_qa\"}\n",
                subjects[s], i, i % 3 == 0 ? "A short note." : "", subjects[s], facts[s]);
    }
    assert_int_equal(fclose(data), 0);

    char *config_path = test_path(dir, "config.json");
    FILE *config = fopen(config_path, "w");
    assert_non_null(config);
    fprintf(config,
            "{\"model\": {\"n_layer\": 1, \"n_head\": 2, \"n_embd\": %d, \"n_positions\": 64,"
            " \"vocab_size\": 50257},\n"
            " \"train\": {\"max_steps\": %d, \"batch_size\": 4, \"seq_len\": 48,"
            " \"learning_rate\": 0.003, \"warmup_steps\": 2, \"eval_interval\": 4,"
            " \"seed\": 5, \"threads\": 2, \"validation_fraction\": 0.25%s%s},\n"
            " \"data\": {\"files\": [\"%s\"], \"tokenizer\": \"%s/gpt2\","
            " \"prompts\": [\"Tell me about owls.\"]}}\n",
            width, max_steps, extra_train_settings ? ", " : "",
            extra_train_settings ? extra_train_settings : "", data_path, KD_ASSETS_DIR);
    assert_int_equal(fclose(config), 0);
    free(data_path);
    return config_path;
}
