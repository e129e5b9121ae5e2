/* Checkpoints: a model directory plus optimizer.safetensors and state.json,
 * replaced as a whole. The new checkpoint is written to "<dir>.new", then
 * "<dir>" becomes "<dir>.old", "<dir>.new" becomes "<dir>", and "<dir>.old"
 * is removed. Whenever a crash strikes, either "<dir>" or "<dir>.old" is a
 * complete checkpoint, and kd_checkpoint_load finds it. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kd/hf.h"
#include "kd/peft.h"
#include "kd/train.h"

/* "<dir><suffix>", for the sibling directories "<dir>.new" and "<dir>.old". */
static kd_status sibling_path(char *out, const char *dir, const char *suffix)
{
    if (snprintf(out, KD_PATH_CAPACITY, "%s%s", dir, suffix) >= KD_PATH_CAPACITY)
        return kd_fail(KD_ERR_INVALID, "path too long: %s%s", dir, suffix);
    return KD_OK;
}

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Removes a checkpoint directory: it only ever holds plain files. */
static kd_status remove_checkpoint_dir(const char *dir)
{
    DIR *handle = opendir(dir);
    if (!handle)
        return errno == ENOENT ? KD_OK : kd_fail(KD_ERR_IO, "%s: %s", dir, strerror(errno));
    char path[KD_PATH_CAPACITY];
    for (struct dirent *entry; (entry = readdir(handle));) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (kd_path_join(path, sizeof path, dir, entry->d_name) == KD_OK)
            unlink(path);
    }
    closedir(handle);
    if (rmdir(dir) != 0)
        return kd_fail(KD_ERR_IO, "cannot remove %s: %s", dir, strerror(errno));
    return KD_OK;
}

/* A window's sums as "<prefix>steps", "<prefix>loss_sum", ... */
static void add_window(cJSON *json, const char *prefix, const train_window *window)
{
    const char *names[] = {"steps", "loss_sum", "ce_sum", "divergence_sum", "tokens", "cells"};
    const double values[] = {window->steps, window->loss_sum, window->ce_sum,
                             window->divergence_sum, window->tokens, window->cells};
    char key[64];
    for (size_t i = 0; i < KD_COUNTOF(names); i++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        kd_json_add_exact_number(json, key, values[i]);
    }
}

/* Every number exactly (cJSON's own printing settles for 15 digits that
 * read back within an epsilon: a resumed run's loss sums, and so its
 * metrics, would then differ from an uninterrupted run's in the last bit). */
static cJSON *state_to_json(const train_state *state)
{
    cJSON *json = cJSON_CreateObject();
    kd_json_add_exact_number(json, "step", state->step);
    kd_json_add_exact_number(json, "total_steps", state->total_steps);
    kd_json_add_exact_number(json, "data_epoch", (double)state->data.epoch);
    kd_json_add_exact_number(json, "data_batch", (double)state->data.batch);
    kd_json_add_exact_number(json, "best_val_loss", state->best_val_loss); /* inf: null */
    kd_json_add_exact_number(json, "best_step", state->best_step);
    kd_json_add_exact_number(json, "evals_without_improvement", state->evals_without_improvement);
    kd_json_add_exact_number(json, "elapsed_s", state->elapsed_s);
    kd_json_add_exact_number(json, "epoch_loss_sum", state->epoch_loss_sum);
    kd_json_add_exact_number(json, "epoch_loss_count", state->epoch_loss_count);
    kd_json_add_exact_number(json, "epoch_elapsed_s", state->epoch_elapsed_s);
    add_window(json, "window_", &state->eval_window);
    add_window(json, "log_window_", &state->log_window);
    kd_json_add_exact_number(json, "tokens_seen", state->tokens_seen);
    kd_json_add_exact_number(json, "epoch_tokens", state->epoch_tokens);
    kd_json_add_exact_number(json, "epoch_cells", state->epoch_cells);
    kd_json_add_exact_number(json, "skipped_steps", state->skipped_steps);
    kd_json_add_exact_number(json, "consecutive_skips", state->consecutive_skips);
    kd_json_add_exact_number(json, "world_size", state->world_size);
    return json;
}

static kd_status read_number(const cJSON *json, const char *key, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble < 0)
        return kd_fail(KD_ERR_FORMAT, "state.json: \"%s\" is missing or not a number", key);
    *out = item->valuedouble;
    return KD_OK;
}

/* A number that checkpoints written before it existed lack: 0 then. */
static kd_status read_optional_number(const cJSON *json, const char *key, double *out)
{
    *out = 0.0;
    return cJSON_GetObjectItemCaseSensitive(json, key) ? read_number(json, key, out) : KD_OK;
}

static kd_status read_optional_count(const cJSON *json, const char *key, int limit, int *out)
{
    double value;
    kd_status status = read_optional_number(json, key, &value);
    if (status != KD_OK)
        return status;
    if (value > limit || value != (int)value)
        return kd_fail(KD_ERR_FORMAT, "state.json: \"%s\" = %g is impossible", key, value);
    *out = (int)value;
    return KD_OK;
}

/* The sums add_window wrote; `optional`: checkpoints written before the
 * window existed lack it, and it starts empty then. */
static kd_status read_window(const cJSON *json, const char *prefix, int optional,
                             train_window *window)
{
    char key[64];
    *window = (train_window){0};
    snprintf(key, sizeof key, "%ssteps", prefix);
    if (optional && !cJSON_GetObjectItemCaseSensitive(json, key))
        return KD_OK;
    const char *names[] = {"steps", "loss_sum", "ce_sum"};
    double *targets[] = {&window->steps, &window->loss_sum, &window->ce_sum};
    kd_status status = KD_OK;
    for (size_t i = 0; i < KD_COUNTOF(names) && status == KD_OK; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        status = read_number(json, key, targets[i]);
    }
    /* The sampled divergence estimate may dip below zero. */
    snprintf(key, sizeof key, "%sdivergence_sum", prefix);
    const cJSON *divergence = cJSON_GetObjectItemCaseSensitive(json, key);
    if (status == KD_OK && !(cJSON_IsNumber(divergence) && isfinite(divergence->valuedouble)))
        status = kd_fail(KD_ERR_FORMAT, "state.json: \"%s\" is missing or not a number", key);
    if (status == KD_OK)
        window->divergence_sum = divergence->valuedouble;
    /* Padding counts, absent from checkpoints written before they were kept. */
    snprintf(key, sizeof key, "%stokens", prefix);
    if (status == KD_OK)
        status = read_optional_number(json, key, &window->tokens);
    snprintf(key, sizeof key, "%scells", prefix);
    if (status == KD_OK)
        status = read_optional_number(json, key, &window->cells);
    return status;
}

static kd_status state_from_json(const cJSON *json, train_state *state)
{
    double step, total, epoch, batch, best_step, evals;
    kd_status status = KD_OK;
    const char *keys[] = {"step", "total_steps", "data_epoch", "data_batch", "best_step",
                          "evals_without_improvement", "elapsed_s", "epoch_loss_sum",
                          "epoch_loss_count", "epoch_elapsed_s"};
    double *targets[] = {&step, &total, &epoch, &batch, &best_step, &evals, &state->elapsed_s,
                         &state->epoch_loss_sum, &state->epoch_loss_count,
                         &state->epoch_elapsed_s};
    for (size_t i = 0; i < sizeof keys / sizeof *keys && status == KD_OK; i++)
        status = read_number(json, keys[i], targets[i]);
    if (status == KD_OK)
        status = read_window(json, "window_", 0, &state->eval_window);
    if (status == KD_OK)
        status = read_window(json, "log_window_", 1, &state->log_window);
    state->tokens_seen = 0.0; /* unknown to checkpoints written before it was kept */
    if (status == KD_OK && cJSON_GetObjectItemCaseSensitive(json, "tokens_seen"))
        status = read_number(json, "tokens_seen", &state->tokens_seen);
    if (status != KD_OK)
        return status;
    if (step > 1e9 || total > 1e9 || step > total)
        return kd_fail(KD_ERR_FORMAT, "state.json: step %g of %g is impossible", step, total);
    /* Bounded before the casts below, which are undefined past the type's range. */
    if (epoch > 1e9 || batch > 1e12 || best_step > step || evals > step)
        return kd_fail(KD_ERR_FORMAT, "state.json: data position %g/%g, best step %g or %g "
                       "evaluations without improvement is impossible at step %g", epoch, batch,
                       best_step, evals, step);
    if ((status = read_optional_count(json, "skipped_steps", (int)step,
                                      &state->skipped_steps)) != KD_OK ||
        (status = read_optional_count(json, "consecutive_skips", state->skipped_steps,
                                      &state->consecutive_skips)) != KD_OK ||
        (status = read_optional_number(json, "epoch_tokens", &state->epoch_tokens)) != KD_OK ||
        (status = read_optional_number(json, "epoch_cells", &state->epoch_cells)) != KD_OK ||
        (status = read_optional_count(json, "world_size", KD_FILE_MAX_COUNT,
                                      &state->world_size)) != KD_OK)
        return status;
    /* Checkpoints written before it was kept come from one process. */
    state->world_size = state->world_size > 0 ? state->world_size : 1;
    state->step = (int)step;
    state->total_steps = (int)total;
    state->data.epoch = (uint64_t)epoch;
    state->data.batch = (uint64_t)batch;
    state->best_step = (int)best_step;
    state->evals_without_improvement = (int)evals;
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(json, "best_val_loss");
    state->best_val_loss = cJSON_IsNumber(best) ? best->valuedouble : INFINITY;
    return KD_OK;
}

static kd_status write_checkpoint_files(const char *dir, const gpt2_model *model,
                                        const train_state *state, const char *tokenizer_dir)
{
    char path[KD_PATH_CAPACITY];
    kd_status status = kd_model_dir_save(dir, model, tokenizer_dir);
    if (status != KD_OK)
        return status;
    safetensors_source moments[2] = {
        {.name = "adam_m", .data = model->adam_m, .ndim = 1, .shape = {(int64_t)model->num_trainable}},
        {.name = "adam_v", .data = model->adam_v, .ndim = 1, .shape = {(int64_t)model->num_trainable}},
    };
    if ((status = kd_path_join(path, sizeof path, dir, KD_CHECKPOINT_OPTIMIZER_FILE)) != KD_OK ||
        (status = kd_safetensors_write(path, moments, 2, SAFETENSORS_F32)) != KD_OK)
        return status;
    /* A LoRA run's adapter files, beside the frozen base (and its biases). */
    if (model->lora && (status = kd_peft_adapter_save(dir, model, NULL)) != KD_OK)
        return status;
    cJSON *json = state_to_json(state);
    char *text = json ? cJSON_Print(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return kd_fail(KD_ERR_NOMEM, "cannot format state.json");
    status = kd_path_join(path, sizeof path, dir, KD_CHECKPOINT_STATE_FILE);
    if (status == KD_OK)
        status = kd_atomic_write_file(path, text, strlen(text));
    free(text);
    return status;
}

kd_status kd_checkpoint_save(const char *dir, const gpt2_model *model, const train_state *state,
                             const char *tokenizer_dir)
{
    char fresh[KD_PATH_CAPACITY], old[KD_PATH_CAPACITY];
    kd_status status;
    if ((status = sibling_path(fresh, dir, ".new")) != KD_OK ||
        (status = sibling_path(old, dir, ".old")) != KD_OK ||
        (status = remove_checkpoint_dir(fresh)) != KD_OK)
        return status;
    status = write_checkpoint_files(fresh, model, state, tokenizer_dir);
    if (status != KD_OK) {
        /* Give back the space a full disk needs; the message stays the write's. */
        char message[1024];
        snprintf(message, sizeof message, "%s", kd_last_error());
        remove_checkpoint_dir(fresh);
        return kd_fail(status, "checkpoint %s: %s", dir, message);
    }
    /* A crash between these steps leaves "<dir>" or "<dir>.old" complete. */
    if ((status = remove_checkpoint_dir(old)) != KD_OK)
        return status;
    if (is_directory(dir) && rename(dir, old) != 0)
        return kd_fail(KD_ERR_IO, "cannot rename %s: %s", dir, strerror(errno));
    if (rename(fresh, dir) != 0)
        return kd_fail(KD_ERR_IO, "cannot rename %s to %s: %s", fresh, dir, strerror(errno));
    return remove_checkpoint_dir(old);
}

/* The complete checkpoint to read: "<dir>", or "<dir>.old" after a crash
 * between the two renames of kd_checkpoint_save. */
static int checkpoint_location(const char *dir, char *out)
{
    char state[KD_PATH_CAPACITY];
    const char *suffixes[] = {"", ".old"};
    for (int i = 0; i < 2; i++) {
        if (sibling_path(out, dir, suffixes[i]) != KD_OK ||
            kd_path_join(state, sizeof state, out, KD_CHECKPOINT_STATE_FILE) != KD_OK)
            return 0;
        if (access(state, R_OK) == 0)
            return 1;
    }
    return 0;
}

int kd_checkpoint_exists(const char *dir)
{
    char location[KD_PATH_CAPACITY];
    return checkpoint_location(dir, location);
}

static kd_status load_moments(const char *path, gpt2_model *model)
{
    safetensors_file file;
    kd_status status = kd_safetensors_open(&file, path);
    if (status != KD_OK)
        return status;
    float *targets[2] = {model->adam_m, model->adam_v};
    const char *names[2] = {"adam_m", "adam_v"};
    for (int i = 0; i < 2 && status == KD_OK; i++) {
        const safetensors_tensor *tensor = kd_safetensors_find(&file, names[i]);
        if (!tensor || kd_safetensors_tensor_elements(tensor) != model->num_trainable)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensor %s is missing or has the wrong size",
                             path, names[i]);
        else
            status = kd_safetensors_read_f32(&file, tensor, 0, model->num_trainable, targets[i]);
        /* Resuming from a NaN, or a negative second moment (whose root AdamW
         * takes), would only fail later and further from the cause. */
        for (size_t j = 0; j < model->num_trainable && status == KD_OK; j++)
            if (!isfinite(targets[i][j]) || (i == 1 && targets[i][j] < 0.0f))
                status = kd_fail(KD_ERR_NUMERIC, "%s: tensor %s: element %zu is %g", path,
                                 names[i], j, (double)targets[i][j]);
    }
    kd_safetensors_close(&file);
    return status;
}

/* Completes a kd_checkpoint_save that a crash cut short, so that only
 * "<dir>" remains: a run resumed at its last step saves no checkpoint again,
 * and would otherwise keep the siblings forever. "<dir>.old" is the complete
 * one only when "<dir>" is missing (a crash between the two renames). */
static kd_status finish_interrupted_save(const char *dir, const char *location)
{
    char fresh[KD_PATH_CAPACITY], old[KD_PATH_CAPACITY];
    kd_status status;
    if ((status = sibling_path(fresh, dir, ".new")) != KD_OK ||
        (status = sibling_path(old, dir, ".old")) != KD_OK ||
        (status = remove_checkpoint_dir(fresh)) != KD_OK)
        return status;
    if (strcmp(location, old) == 0) {
        if (is_directory(dir) && (status = remove_checkpoint_dir(dir)) != KD_OK)
            return status;
        if (rename(old, dir) != 0)
            return kd_fail(KD_ERR_IO, "cannot rename %s to %s: %s", old, dir, strerror(errno));
        return KD_OK;
    }
    return remove_checkpoint_dir(old);
}

kd_status kd_checkpoint_load(const char *dir, gpt2_model *model, train_state *state)
{
    char location[KD_PATH_CAPACITY], path[KD_PATH_CAPACITY];
    if (!checkpoint_location(dir, location))
        return kd_fail(KD_ERR_IO, "no checkpoint in %s (nothing to resume)", dir);
    kd_status status = finish_interrupted_save(dir, location);
    if (status != KD_OK)
        return status;
    gpt2_config config;
    status = kd_path_join(path, sizeof path, dir, KD_MODEL_CONFIG_FILE);
    if (status == KD_OK)
        status = kd_gpt2_config_read(path, &config);
    if (status == KD_OK && memcmp(&config, &model->config, sizeof config) != 0)
        status = kd_fail(KD_ERR_INVALID, "%s: the checkpoint's model shape differs from the "
                         "run's configuration", dir);
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, dir, KD_MODEL_WEIGHTS_FILE)) == KD_OK)
        status = kd_model_weights_read(path, model);
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, dir, KD_CHECKPOINT_OPTIMIZER_FILE)) == KD_OK)
        status = load_moments(path, model);
    if (status == KD_OK && model->lora)
        status = kd_peft_adapter_read_into(dir, model);
    cJSON *json = NULL;
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, dir, KD_CHECKPOINT_STATE_FILE)) == KD_OK &&
        (status = kd_json_read_file(path, &json)) == KD_OK)
        status = state_from_json(json, state);
    cJSON_Delete(json);
    return status;
}
