/* lm_sync_directory: fsync the folder that holds path, so that a rename into
 * it survives a crash (best effort: a failure changes nothing). Written once
 * for the clients' output files (outfile.c) and liblamina's (engine/file.c),
 * which compiles sync_dir.c in, hidden, as it does src/bytes/bytes.c. */
#ifndef LAMINA_SYNC_DIR_H
#define LAMINA_SYNC_DIR_H

void lm_sync_directory(const char *path);

#endif
