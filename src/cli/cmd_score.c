/* cmd_score.c — `rmscore score`: its option table (command line and run config), and the single-process
 * run (the whole model in this process through the local executor). main.c runs the same options under
 * MPI through mpi/pipeline.h. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/run_config.h"
#include "src/base/clock.h"
#include "src/cli/commands.h"
#include "src/engine/gemm.h"
#include "io/config.h"
#include "src/job/preflight.h"
#include "src/job/progress.h"
#include "src/job/score_run.h"

#define O(field) offsetof(rms_score_opts, field)

static const rms_opt SCORE_OPTS[] = {
    {"--model", RMS_OPT_PATH, "DIR", O(model), .required = 1, .help = "Hugging Face checkpoint directory"},
    {"--data", RMS_OPT_PATH, "FILE", O(data), .required = 1, .help = "dataset from `rmscore prepare`"},
    {"--out", RMS_OPT_PATH, "FILE", O(out), .required = 1, .help = "results (created, or resumed if it exists)"},
    {"--max-tokens", RMS_OPT_INT, "N", O(max_tokens), .lo = 1, .hi = INT32_MAX, .shown = "no limit",
     .help = "longest sequence to score"},
    {"--overlong", RMS_OPT_CHOICE, "skip|truncate-left", O(overlong), .value = "skip",
     .help = "a longer pair is skipped (status 2) or keeps its last N\ntokens (RewardBench --force_truncation)"},
    {"--microbatch-tokens", RMS_OPT_INT, "N", O(microbatch_tokens), .lo = 1, .hi = INT32_MAX, .value = "8192",
     .help = "token budget of one packed micro-batch"},
    {"--threads", RMS_OPT_INT, "N", O(threads), .lo = 1, .hi = 1024,
     .shown = "$SLURM_CPUS_PER_TASK, else the CPUs available",
     .help = "compute threads per process (under MPI without pinning, the\nnode's CPUs shared among its compute ranks)"},
    {"--compute", RMS_OPT_CHOICE, "fp32|bf16", O(compute), .value = "fp32", .help = "as score-ids"},
    {"--no-prefix-sharing", RMS_OPT_FLAG, NULL, O(no_prefix_sharing),
     .help = "compute the prompt both sequences of a pair share twice instead\nof once (same scores, bit for bit; "
             "for comparisons)"},
    {"--tokenizer", RMS_OPT_PATH, "DIR", O(tokenizer), .shown = "--model DIR",
     .help = "tokenizer.json to check the dataset against"},
    {"--allow-tokenizer-mismatch", RMS_OPT_FLAG, NULL, O(allow_mismatch),
     .help = "score even if the dataset was tokenized with another\ntokenizer.json"},
    {"--allow-unverified-resume", RMS_OPT_FLAG, NULL, O(allow_unverified_resume),
     .help = "resume an --out written before rmscore recorded the model's\nfingerprint, trusting that --model "
             "scored its rows (what it\nrecords must agree; the fingerprint is recorded from then on)"},
    {"--stages", RMS_OPT_INT, "P", O(stages), .lo = 1, .hi = RMS_MAX_STAGES, .value = "1",
     .help = "pipeline stages under MPI: ranks = 1 root + R x P workers"},
    {"--layer-split", RMS_OPT_INT_LIST, "N,N,...", O(layer_split), .lo = 1, .hi = 1 << 20, .shown = "balanced",
     .help = "decoder layers per stage"},
    {"--shard", RMS_OPT_SHARD, "I/N", O(shard), .value = "0/1", .shown = "all rows",
     .help = "score only the I-th of N contiguous blocks of rows (0 <= I < N),\ne.g. one task of a job array; "
             "`rmscore merge` combines the shards' files"},
    {"--config", RMS_OPT_PATH, "FILE", O(config), .not_in_config = 1,
     .help = "a JSON run config whose keys are these options with _ for -\n(configs/README.md); "
             "command-line flags override it"},
    {"--stop-at", RMS_OPT_PATH, "TIME", O(stop_at_text), .shown = "$SLURM_JOB_END_TIME if set, else none",
     .help = "be stopped, with everything computed written, by TIME (Unix seconds,\n"
             "or ISO 8601 local time 2026-12-01T08:00[:00], or with Z / +HH:MM):\n"
             "no micro-batch is started that the measured speed says would end\n"
             "later; exit status 3 if work remains (rerun to resume)"},
    {"--time-budget", RMS_OPT_INT, "SECONDS", O(time_budget), .lo = 1, .hi = INT32_MAX, .shown = "none",
     .help = "as --stop-at, SECONDS after the start (the earliest of the two and\n"
             "$SLURM_JOB_END_TIME applies)"},
    {"--progress-every", RMS_OPT_INT, "SECONDS", O(progress_every), .lo = 0, .hi = 86400, .value = "10",
     .help = "interval of progress lines on stderr"},
    {"--progress-json", RMS_OPT_FLAG, NULL, O(progress_json),
     .help = "progress, stops and the summary as JSON lines on stderr (one object\n"
             "per line, for dashboards) instead of text"},
    {"--strict", RMS_OPT_FLAG, NULL, O(strict),
     .help = "exit status 4 (instead of 0) when the run completed but rows of\n"
             "the dataset are bad input (status 3) or got a non-finite score (4)"},
    {"--quiet", RMS_OPT_FLAG, NULL, O(quiet), .help = "no progress on stderr"},
    {0}};

const rms_command RMS_CMD_SCORE = {
    .name = "score",
    .synopsis = "usage: [mpirun -np N | srun] rmscore score --model DIR --data pairs.h5 --out scores.h5 [options]",
    .about =
        "Scores every pair of a dataset written by `rmscore prepare` and writes /scores (chosen, rejected,\n"
        "status) aligned with /pairs. Pairs are packed by length into micro-batches; results are written and\n"
        "flushed after every micro-batch, so a killed job loses at most the batches in flight, and a rerun with\n"
        "the same --out scores only the rows not yet scored (the final file equals an uninterrupted run's).\n"
        "A pair whose score is NaN or infinite (bad weights) gets status 4, counted apart by `report`.\n"
        "SIGINT/SIGTERM stop the job cleanly after the batches in flight (exit status 3: rerun to resume).\n"
        "Under MPI, rank 0 reads the options and the dataset, schedules batches to R pipeline replicas of P\n"
        "stages (each stage a contiguous slice of the layers) and writes the results; it does not compute.",
    .opts = SCORE_OPTS,
    .epilog = "exit status: 0 done, 1 error, 2 usage, 3 interrupted or stopped before --stop-at (rerun the same\n"
              "command to resume), 4 done but rows are bad input or non-finite (only with --strict)",
};

/* o->stop_at: the earliest of --stop-at, now + --time-budget and $SLURM_JOB_END_TIME (Slurm sets it in a
 * job's environment on versions that have it; the sbatch scripts also pass --stop-at). */
static rms_status resolve_stop_at(rms_score_opts *o, rms_err *err) {
    o->stop_at = 0;
    o->stop_at_source[0] = '\0';
    int64_t t;
    if (o->stop_at_text[0]) {
        if (rms_parse_time(o->stop_at_text, &t) != 0)
            return rms_fail(err, RMS_ERR_USAGE,
                            "score: --stop-at '%s' is not a time (Unix seconds, or 2026-12-01T08:00:00 local time, "
                            "or with Z / +HH:MM)",
                            o->stop_at_text);
        o->stop_at = t;
        snprintf(o->stop_at_source, sizeof o->stop_at_source, "--stop-at");
    }
    if (o->time_budget > 0) {
        t = (int64_t)rms_unix_seconds() + o->time_budget;
        if (!o->stop_at || t < o->stop_at) {
            o->stop_at = t;
            snprintf(o->stop_at_source, sizeof o->stop_at_source, "--time-budget %lld", (long long)o->time_budget);
        }
    }
    const char *env = getenv("SLURM_JOB_END_TIME");
    if (env && *env && rms_parse_time(env, &t) == 0 && t > 0 && (!o->stop_at || t < o->stop_at)) {
        o->stop_at = t;
        snprintf(o->stop_at_source, sizeof o->stop_at_source, "SLURM_JOB_END_TIME");
    }
    return RMS_OK;
}

rms_status rms_score_opts_parse(int argc, char **argv, rms_score_opts *o, rms_err *err) {
    memset(o, 0, sizeof *o);
    if (rms_options_want_help(argc, argv, 2)) return RMS_HELP; // even when the config cannot be read
    rms_options_defaults(&RMS_CMD_SCORE, o);
    // the run config first, then the command line over it (a flag given on both: the command line wins)
    const char *cfg = rms_options_find(argc, argv, 2, "--config");
    rms_status st = cfg ? rms_run_config_apply(cfg, &RMS_CMD_SCORE, o, o->config_sha256, err) : RMS_OK;
    if (st != RMS_OK) return rms_fail_prefix(err, st, "with --config %s", cfg);
    if ((st = rms_options_parse_over(&RMS_CMD_SCORE, argc, argv, 2, o, err)) != RMS_OK) return st;
    if (o->overlong == RMS_OVERLONG_TRUNCATE_LEFT && o->max_tokens <= 0)
        return rms_fail(err, RMS_ERR_USAGE, "score: --overlong truncate-left needs --max-tokens N");
    if (o->layer_split.n && o->layer_split.n != o->stages)
        return rms_fail(err, RMS_ERR_USAGE, "score: --layer-split has %lld entries for --stages %lld",
                        (long long)o->layer_split.n, (long long)o->stages);
    return resolve_stop_at(o, err);
}

/* The whole model in this process: its memory need against what it may use, before the weights are touched. */
static rms_status preflight(const rms_score_job *j, const rms_score_opts *o, int threads, rms_err *err) {
    rms_config cfg;
    rms_status st = rms_config_load(&cfg, o->model, err);
    if (st != RMS_OK) return st;
    rms_mem_need need;
    rms_preflight_need(&cfg, 0, cfg.n_layers, rms_preflight_largest_batch(j), rms_preflight_longest(j), threads, 0,
                       &need);
    if (!o->quiet) rms_preflight_log(&need, 1, "one process (all layers)");
    return rms_preflight_check(&need, 1, "one process (all layers)", err);
}

rms_status rms_cmd_score_local(const rms_score_opts *o, volatile sig_atomic_t *stop, rms_err *err) {
    if (o->stages != 1)
        return rms_fail(err, RMS_ERR_USAGE, "--stages %lld needs an MPI launch with at least %lld ranks (mpirun -np N)",
                        (long long)o->stages, (long long)o->stages + 1);
    const int64_t threads = o->threads > 0 ? o->threads : rms_default_threads();
    rms_status st = rms_engine_start((int)threads, err);
    if (st != RMS_OK) return st;
    const double t0 = rms_now_seconds();
    rms_score_job j;
    rms_local_executor x;
    memset(&x, 0, sizeof x);
    rms_executor ex;
    st = rms_score_job_open(&j, o, 1, 1, err);
    if (st == RMS_OK) st = preflight(&j, o, (int)threads, err);
    if (st == RMS_OK && (st = rms_local_executor_init(&x, o->model, (rms_compute)o->compute, &ex, err)) == RMS_OK) {
        if (!o->quiet)
        {
            char engine[192];
            rms_engine_describe(engine, sizeof engine, o->compute == RMS_COMPUTE_BF16);
            fprintf(stderr, "rmscore: score: single process, %lld threads, %s\n", (long long)threads, engine);
        }
        if (!o->quiet && o->stop_at > 0) {
            char when[48];
            rms_format_time(when, sizeof when, o->stop_at);
            fprintf(stderr, "rmscore: score: deadline %s (%s)\n", when, o->stop_at_source);
        }
        st = rms_score_run(&j, &ex, stop, err);
        rms_progress_summary(&j, st, rms_status_exit_code(st), rms_now_seconds() - t0);
    }
    rms_score_job_close(&j, &st, err);
    rms_local_executor_free(&x);
    if (st == RMS_OK && !o->quiet) fprintf(stderr, "rmscore: score: wrote %s in %.1f s\n", o->out, rms_now_seconds() - t0);
    return st;
}
