/* Finding the real assets (tokenizer files, dolly data) without a network:
 * KD_ASSETS, ./assets (scripts/fetch-assets.sh fills it), or the workspace's
 * ../shared/assets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kd/train.h"

static int is_directory(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *kd_assets_dir(void)
{
    const char *from_environment = getenv("KD_ASSETS");
    if (from_environment && *from_environment)
        return is_directory(from_environment) ? from_environment : NULL;
    static const char *const candidates[] = {"assets", "../shared/assets"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
        if (is_directory(candidates[i]))
            return candidates[i];
    return NULL;
}

char *kd_resolve_asset(const char *path)
{
    if (access(path, F_OK) == 0)
        return strdup(path);
    const char *assets = kd_assets_dir();
    if (assets && path[0] != '/') {
        size_t length = strlen(assets) + strlen(path) + 2;
        char *joined = malloc(length);
        if (joined) {
            snprintf(joined, length, "%s/%s", assets, path);
            if (access(joined, F_OK) == 0)
                return joined;
            free(joined);
        }
    }
    if (assets)
        kd_fail(KD_ERR_IO, "%s: not found, nor in the assets directory %s", path, assets);
    else
        kd_fail(KD_ERR_IO, "%s: not found, and no assets directory (set KD_ASSETS)", path);
    return NULL;
}
