/* fuzz-run-config.c — a run config (io/run_config.h: rms_run_config_apply_text) applied to `score`'s option table,
 * as `rmscore score --config FILE` does. Input: the file's bytes. */
#include "tests/fuzz/fuzz_util.h"

#include "io/run_config.h"
#include "src/cli/commands.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_strndup(data, size);
    rms_score_opts o;
    memset(&o, 0, sizeof o);
    rms_options_defaults(&RMS_CMD_SCORE, &o);
    rms_err err;
    if (rms_run_config_apply_text(text, "fuzz/run.json", &RMS_CMD_SCORE, &o, &err) != RMS_OK && !err.msg[0]) abort();
    // Every string option stays a terminated string whatever the config held.
    if (strnlen(o.model, sizeof o.model) == sizeof o.model || strnlen(o.data, sizeof o.data) == sizeof o.data ||
        strnlen(o.out, sizeof o.out) == sizeof o.out)
        abort();
    rms_options_free(&RMS_CMD_SCORE, &o);
    free(text);
    return 0;
}
