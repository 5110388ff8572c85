/* preflight.c — placeholder until implemented. */
typedef int rms_placeholder_preflight;
