/* file_lock.c — placeholder until implemented. */
typedef int rms_placeholder_file_lock;
