/* pages.c: how the OS holds the mapped bundle (resident bytes, and of those
 * the bytes mapped by huge pages), for the page-aware roofline. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* realpath */
#endif

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#if defined(__linux__)
/* A smaps header line ("start-end perms offset dev inode   path"): returns
 * its path (NULL for an anonymous mapping), or NULL with *is_header = 0 for
 * a field line ("Rss:   12 kB"). */
static const char *smaps_header_path(char *line, int *is_header) {
  unsigned long long start, end;
  int consumed = 0;
  *is_header = sscanf(line, "%llx-%llx %*s %*s %*s %*s%n", &start, &end, &consumed) == 2 &&
               consumed > 0;
  if (!*is_header) return NULL;
  char *p = line + consumed;
  while (*p == ' ' || *p == '\t') p++;
  p[strcspn(p, "\n")] = '\0';
  return *p ? p : NULL;
}

/* "Key:   N kB" -> N * 1024 when the line starts with key (and a colon). */
static int smaps_field(const char *line, const char *key, uint64_t *bytes) {
  size_t n = strlen(key);
  if (strncmp(line, key, n) != 0 || line[n] != ':') return 0;
  unsigned long long kb = 0;
  if (sscanf(line + n + 1, "%llu", &kb) != 1) return 0;
  *bytes += (uint64_t)kb * 1024u;
  return 1;
}

int bench_mapping_pages(const char *path, uint64_t *resident, uint64_t *huge) {
  char want[PATH_MAX];
  if (realpath(path, want) == NULL) return -1;
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return -1;
  char line[PATH_MAX + 256];
  int in_bundle = 0, found = 0;
  *resident = *huge = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    int is_header = 0;
    const char *p = smaps_header_path(line, &is_header);
    if (is_header) {
      in_bundle = p != NULL && strcmp(p, want) == 0;
      found |= in_bundle;
      continue;
    }
    if (!in_bundle) continue;
    if (!smaps_field(line, "Rss", resident)) smaps_field(line, "FilePmdMapped", huge);
  }
  fclose(f);
  return found ? 0 : -1;
}
#else
int bench_mapping_pages(const char *path, uint64_t *resident, uint64_t *huge) {
  (void)path;
  *resident = *huge = 0;
  return -1;
}
#endif
