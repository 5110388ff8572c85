# shellcheck shell=bash disable=SC2034  # sourced; RMS_* are read by the scripts that source it
# rmscore-job.sh — what the sbatch scripts share; sourced (never run) by rmscore-pipeline.sbatch and
# rmscore-array.sbatch, which look for it next to the script that was submitted.
#
#   rms_init TAG                 binary, threads, launcher; TAG prefixes every log line
#   rms_stop_at                  RMS_STOP_ARGS=(--stop-at T): the job's end time minus a margin
#   rms_run NTASKS ARGS...       rmscore ARGS (under the launcher when NTASKS > 1) with placement, signals
#                                forwarded; returns its exit status
#   rms_finish RC                exit status 3 (work remains): requeue this job, bounded; then exit RC
#
# Environment (all optional): RMSCORE, RMSCORE_LAUNCHER, RMSCORE_OVERSUBSCRIBE, RMSCORE_MPIRUN_FLAGS,
# RMSCORE_SRUN_FLAGS, RMSCORE_STOP_MARGIN, RMSCORE_MAX_REQUEUES, RMSCORE_REQUEUE (slurm/README.md).

rms_log() { echo "$RMS_TAG: [$(date +%Y-%m-%dT%H:%M:%S%z)] $*" >&2; }

rms_init() {
  RMS_TAG=$1
  RMSCORE=${RMSCORE:-${SLURM_SUBMIT_DIR:-.}/build/rmscore}
  if [ ! -x "$RMSCORE" ] && command -v rmscore >/dev/null; then RMSCORE=$(command -v rmscore); fi
  RMS_THREADS=${SLURM_CPUS_PER_TASK:-1}
  export OMP_NUM_THREADS=$RMS_THREADS OPENBLAS_NUM_THREADS=$RMS_THREADS
  RMS_LAUNCHER=${RMSCORE_LAUNCHER:-mpirun}
  case "$RMS_LAUNCHER" in
    mpirun|srun) ;;
    *) rms_log "RMSCORE_LAUNCHER must be mpirun or srun, not '$RMS_LAUNCHER'"; exit 2 ;;
  esac
  RMS_STOP_ARGS=()
  RMS_NOREQUEUE=0
  # signals are caught from here on: one that comes before rmscore starts keeps it from starting
  RMS_CHILD="" RMS_WAITER="" RMS_MODE="" RMS_STOPPING=0 RMS_FORWARDED=0
  trap 'rms_stop TERM' TERM
  trap 'rms_stop INT' INT
  trap 'rms_stop USR1' USR1
  trap 'RMS_NOREQUEUE=1; rms_stop USR2' USR2
}

# The job's end time in Unix seconds (nothing if unknown or unlimited). squeue prints it as local time
# (2026-12-01T08:00:00) on every Slurm version; SLURM_JOB_END_TIME (Unix seconds) is only set by Slurm
# releases newer than 22.05, and is the fallback when the controller does not answer.
rms_job_end() {
  local e=""
  if [ -n "${SLURM_JOB_ID:-}" ] && command -v squeue >/dev/null; then
    for _ in 1 2 3; do
      e=$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null | head -n 1) && [ -n "$e" ] && break
      sleep 2
    done
  fi
  case "$e" in
    ''|NONE|Unknown|N/A|INVALID) ;;
    *) if e=$(date -d "$e" +%s 2>/dev/null); then echo "$e"; return; fi ;;
  esac
  case "${SLURM_JOB_END_TIME:-}" in ''|*[!0-9]*) ;; *) echo "$SLURM_JOB_END_TIME" ;; esac
}

# RMS_STOP_ARGS=(--stop-at T) with T = the job's end - RMSCORE_STOP_MARGIN seconds: rmscore schedules no
# micro-batch it cannot finish and flush by T, exits 3 if work remains, and the margin covers the rest
# (MPI teardown, this script's requeue). Default margin: 180 s, or a quarter of the time left when that is
# shorter (jobs under 12 minutes). Keep it above the --signal time + 60 s, so that the warning signal
# (sent up to 60 s early) only ever reaches a job that overran its --stop-at.
rms_stop_at() {
  local end now left margin
  end=$(rms_job_end)
  if [ -z "$end" ]; then
    rms_log "no end time known for this job (no time limit, or squeue failed): no --stop-at"
    return 0
  fi
  now=$(date +%s)
  left=$((end - now))
  margin=${RMSCORE_STOP_MARGIN:-}
  if [ -z "$margin" ]; then
    margin=180
    [ $((left / 4)) -lt $margin ] && margin=$((left / 4))
  fi
  case "$margin" in ''|*[!0-9]*) rms_log "RMSCORE_STOP_MARGIN must be seconds, not '$margin'"; exit 2 ;; esac
  RMS_STOP_ARGS=(--stop-at "$((end - margin))")
  rms_log "job ends $(date -d "@$end" +%Y-%m-%dT%H:%M:%S) (in ${left} s): --stop-at $((end - margin))" \
          "($(date -d "@$((end - margin))" +%Y-%m-%dT%H:%M:%S), ${margin} s before)"
}

# rms_run NTASKS ARGS...: runs `rmscore ARGS` — itself when NTASKS is 1, else NTASKS ranks under mpirun or
# srun, each rank on its own --cpus-per-task cores — and waits for it. SIGTERM/SIGINT/SIGUSR1 to this script
# (--signal=B:TERM, scancel --batch --signal=…) ask rmscore to stop after the micro-batches in flight;
# SIGUSR2 does the same and also keeps the job from requeueing itself. Returns rmscore's exit status.
rms_run() {
  local n=$1 rc
  shift
  if [ "$RMS_STOPPING" = 1 ]; then
    return 3
  fi
  RMS_MODE=direct
  if [ "$n" -gt 1 ]; then RMS_MODE=$RMS_LAUNCHER; fi
  # bash may lose the exit status of a child whose `wait` a trapped signal interrupted (seen with 5.2): a
  # subshell that ignores the signals (after starting rmscore, which keeps the default ones) waits for it
  # and writes its pid and exit status to a file
  RMS_STATUS=$(mktemp "${TMPDIR:-/tmp}/rmscore-job.XXXXXX")
  (
    rms_launch "$n" "$@" &
    c=$!
    trap '' TERM INT USR1 USR2
    echo "pid $c" >"$RMS_STATUS"
    wait "$c"
    echo "status $?" >>"$RMS_STATUS"
  ) &
  RMS_WAITER=$!
  for _ in $(seq 200); do
    RMS_CHILD=$(sed -n 's/^pid //p' "$RMS_STATUS")
    [ -n "$RMS_CHILD" ] && break
    kill -0 "$RMS_WAITER" 2>/dev/null || break
    sleep 0.05
  done
  # a signal that came while rmscore was being started
  [ "$RMS_STOPPING" = 1 ] && [ "$RMS_FORWARDED" = 0 ] && [ -n "$RMS_CHILD" ] && rms_forward
  # `wait` returns early when a trapped signal arrives: wait again until the waiter has exited
  while kill -0 "$RMS_WAITER" 2>/dev/null; do
    wait "$RMS_WAITER"
  done
  rc=$(sed -n 's/^status //p' "$RMS_STATUS")
  rm -f "$RMS_STATUS"
  if [ -z "$rc" ]; then
    rms_log "rmscore's exit status is unknown (its waiter was killed)"
    rc=1
  fi
  return "$rc"
}

# rms_launch NTASKS ARGS...: rmscore itself, or NTASKS ranks under mpirun or srun with their cores
rms_launch() {
  local n=$1 flags placement
  shift
  case "$RMS_MODE" in
    direct) exec "$RMSCORE" "$@" ;;
    srun)
      # Slurm 22.05-23.02 do not hand --cpus-per-task from sbatch down to srun: pass it
      placement=${RMSCORE_SRUN_FLAGS-"--cpu-bind=cores"}
      # shellcheck disable=SC2086  # a list of words
      exec srun --mpi=pmix --ntasks="$n" --cpus-per-task="$RMS_THREADS" $placement "$RMSCORE" "$@" ;;
    mpirun)
      flags=(-np "$n")
      if [ "${RMSCORE_OVERSUBSCRIBE:-0}" = 1 ]; then
        flags+=(--oversubscribe)
        placement="--map-by slot:PE=$RMS_THREADS --bind-to core:overload-allowed"
      else
        placement="--map-by slot:PE=$RMS_THREADS --bind-to core"
      fi
      [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
      placement=${RMSCORE_MPIRUN_FLAGS-$placement}
      # shellcheck disable=SC2086  # a list of words
      exec mpirun "${flags[@]}" $placement "$RMSCORE" "$@" ;;
  esac
}

rms_stop() {
  [ "$RMS_STOPPING" = 1 ] && return
  RMS_STOPPING=1
  if [ -z "${RMS_WAITER:-}" ]; then
    rms_log "SIG$1 before rmscore started: not starting it$([ "$RMS_NOREQUEUE" = 1 ] && echo ', not requeueing')"
    return
  fi
  rms_log "SIG$1: asking rmscore to stop after the micro-batches in flight$([ "$RMS_NOREQUEUE" = 1 ] &&
          echo ', and not to requeue')"
  [ -n "$RMS_CHILD" ] && rms_forward   # else rms_run does once it knows rmscore's pid
}

rms_forward() {
  RMS_FORWARDED=1
  case "$RMS_MODE" in
    direct) kill -TERM "$RMS_CHILD" 2>/dev/null ;;
    # every step of this job but this batch script: srun's tasks, on every node
    srun) scancel --signal=TERM "$SLURM_JOB_ID" ;;
    # the ranks mpirun started on this node (rank 0, the root, which drains the pipelines, among them);
    # never mpirun itself: on SIGTERM it kills the ranks within a second
    mpirun) for _ in $(seq 20); do pkill -TERM -P "$RMS_CHILD" && break; sleep 0.5; done ;;  # (still starting)
  esac
}

rms_job_state() {
  local state=""
  for _ in 1 2 3; do
    state=$(squeue -h -j "$SLURM_JOB_ID" -o %T 2>/dev/null | head -n 1) && [ -n "$state" ] && break
    sleep 2
  done
  echo "$state"
}

# rms_finish RC: exit status 3 (stopped with work left) requeues this job — the same job id, its log
# appended, rmscore resuming from its --out — while it has been restarted fewer than RMSCORE_MAX_REQUEUES
# times (default 20; RMSCORE_REQUEUE=0 or SIGUSR2 turn requeueing off). Exits with RC otherwise.
rms_finish() {
  local rc=$1 restarts=${SLURM_RESTART_COUNT:-0} max=${RMSCORE_MAX_REQUEUES:-20}
  rms_log "rmscore exit status $rc"
  if [ "$rc" -eq 3 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    local state=""
    if [ "${RMSCORE_REQUEUE:-1}" = 0 ] || [ "$RMS_NOREQUEUE" = 1 ]; then
      rms_log "not requeueing (requeue turned off): resubmit the same job to resume"
    # only a job still RUNNING: scancel, preemption and the time limit leave it COMPLETING, and Slurm would
    # requeue even a cancelled job
    elif state=$(rms_job_state); [ "$state" != RUNNING ]; then
      rms_log "not requeueing: the job is ${state:-of unknown state} (cancelled, preempted or at its time limit);" \
              "resubmit the same job to resume"
    elif [ "$restarts" -ge "$max" ]; then
      rms_log "not requeueing: the job has been restarted $restarts times (RMSCORE_MAX_REQUEUES=$max);" \
              "resubmit the same job to resume"
    else
      rms_log "requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most $max): it resumes from its --out file"
      trap '' TERM   # Slurm ends the requeued run's processes with SIGTERM: nothing is left to stop
      if scontrol requeue "$SLURM_JOB_ID"; then
        exit 3
      fi
      rms_log "scontrol requeue failed: resubmit the same job to resume"
    fi
  fi
  exit "$rc"
}
