/* run_options.c: a small, strict option parser for mote-run (no deps). */
#include "run_options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_print_usage(int stream_is_stderr) {
  FILE *f = stream_is_stderr ? stderr : stdout;
  fputs(
      "usage: mote-run MODEL.mote [options]\n"
      "  -p TEXT             prompt text (default: empty, BOS only)\n"
      "  -n N                tokens to generate (default 128)\n"
      "  --temp T            temperature, 0 = greedy (default 0)\n"
      "  --top-k K           keep the K most likely tokens, 0 = off\n"
      "  --top-p P           nucleus sampling, 1.0 = off (default 1.0)\n"
      "  --seed S            sampler seed (default: from the clock)\n"
      "  --threads N         worker threads, 0 = all cores (default 0)\n"
      "  --context N         KV-cache size in tokens, 0 = the bundle's\n"
      "  --no-verify         skip section checksums at open\n"
      "  --read              read the bundle into memory (huge pages) instead of\n"
      "                      mapping it: faster decode, private memory\n"
      "  --tokenize          print the prompt's token ids and exit\n"
      "  --ids \"1 2 3\"       use these ids as the prompt (no BOS, no echo)\n"
      "  --no-bos            do not prepend BOS to the prompt\n"
      "  --adapter FILE      bind a LoRA adapter (motec adapter, docs/lora.md)\n"
      "  --dump-logits FILE  write raw little-endian f32 prompt logits\n"
      "  --step              feed the prompt one token at a time\n"
      "  --print-ids         print generated ids instead of text\n"
      "  -h, --help          this text\n",
      f);
}

/* Strict unsigned parse: the whole string, base 10, within [0, max]. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (s == NULL || *s == '\0' || *s == '-' || *s == '+') return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_f32(const char *s, float *out) {
  if (s == NULL || *s == '\0') return -1;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v)) return -1;
  *out = (float)v;
  return 0;
}

long run_parse_id_list(const char *text, int32_t *out_ids, size_t capacity) {
  long n = 0;
  const char *p = text;
  for (;;) {
    while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
    if (*p == '\0') break;
    if (*p < '0' || *p > '9') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (errno != 0 || v > INT32_MAX) return -1;
    if (*end != '\0' && *end != ' ' && *end != ',' && *end != '\t' &&
        *end != '\n')
      return -1;
    if ((size_t)n < capacity) out_ids[n] = (int32_t)v;
    n++;
    p = end;
  }
  return n;
}

static void set_defaults(run_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->n_generate = 128;
  o->temperature = 0.0f;
  o->top_k = 0;
  o->top_p = 1.0f;
}

static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "mote-run: %s%s%s (see --help)\n", what, arg ? ": " : "",
          arg ? arg : "");
  return 2;
}

/* Boolean flags; returns 1 when `name` was one of them. */
static int parse_flag(const char *name, run_options_t *o) {
  struct { const char *name; int *field; } flags[] = {
      {"--no-verify", &o->no_verify}, {"--tokenize", &o->tokenize_only},
      {"--no-bos", &o->no_bos},       {"--step", &o->step},
      {"--print-ids", &o->print_ids}, {"--help", &o->help},
      {"-h", &o->help},               {"--read", &o->read_into_memory}};
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    if (strcmp(name, flags[i].name) == 0) {
      *flags[i].field = 1;
      return 1;
    }
  }
  return 0;
}

/* Options that take a value. Returns 0, 2 (bad value) or -1 (unknown). */
static int parse_valued(const char *name, const char *v, run_options_t *o) {
  uint64_t u = 0;
  if (strcmp(name, "-p") == 0 || strcmp(name, "--prompt") == 0) {
    o->prompt = v;
  } else if (strcmp(name, "--ids") == 0) {
    o->ids_text = v;
  } else if (strcmp(name, "--adapter") == 0) {
    if (*v == '\0') return usage_error("empty --adapter path", NULL);
    o->adapter = v;
  } else if (strcmp(name, "--dump-logits") == 0) {
    if (*v == '\0') return usage_error("empty --dump-logits path", NULL);
    o->dump_logits = v;
  } else if (strcmp(name, "-n") == 0) {
    if (parse_u64(v, UINT32_MAX, &u)) return usage_error("bad -n", v);
    o->n_generate = (uint32_t)u;
  } else if (strcmp(name, "--temp") == 0) {
    if (parse_f32(v, &o->temperature) || o->temperature < 0.0f)
      return usage_error("bad --temp (want >= 0)", v);
  } else if (strcmp(name, "--top-k") == 0) {
    if (parse_u64(v, INT32_MAX, &u)) return usage_error("bad --top-k", v);
    o->top_k = (int32_t)u;
  } else if (strcmp(name, "--top-p") == 0) {
    if (parse_f32(v, &o->top_p) || !(o->top_p > 0.0f && o->top_p <= 1.0f))
      return usage_error("bad --top-p (want 0 < P <= 1)", v);
  } else if (strcmp(name, "--seed") == 0) {
    if (parse_u64(v, UINT64_MAX, &o->seed)) return usage_error("bad --seed", v);
    o->have_seed = 1;
  } else if (strcmp(name, "--threads") == 0) {
    if (parse_u64(v, 4096, &u)) return usage_error("bad --threads", v);
    o->n_threads = (uint32_t)u;
  } else if (strcmp(name, "--context") == 0) {
    if (parse_u64(v, UINT32_MAX, &u)) return usage_error("bad --context", v);
    o->context = (uint32_t)u;
  } else {
    return -1;
  }
  return 0;
}

/* Accepts "--name value" and "--name=value". */
int run_parse_options(int argc, char **argv, run_options_t *o) {
  set_defaults(o);
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-' || arg[1] == '\0') {
      if (o->model_path != NULL) return usage_error("extra argument", arg);
      o->model_path = arg;
      continue;
    }
    if (parse_flag(arg, o)) continue;
    char name[64];
    const char *value = NULL;
    const char *eq = strchr(arg, '=');
    if (eq != NULL && arg[1] == '-' && (size_t)(eq - arg) < sizeof(name)) {
      memcpy(name, arg, (size_t)(eq - arg));
      name[eq - arg] = '\0';
      value = eq + 1;
    } else {
      if (strlen(arg) >= sizeof(name)) return usage_error("unknown option", arg);
      strcpy(name, arg);
    }
    if (value == NULL && i + 1 < argc) value = argv[i + 1];
    int rc = parse_valued(name, value != NULL ? value : "", o);
    if (rc < 0) return usage_error("unknown option", arg);
    if (value == NULL) return usage_error("missing value for", arg);
    if (rc != 0) return rc;
    if (eq == NULL || arg[1] != '-') i++;
  }
  if (o->help) return 0;
  if (o->model_path == NULL) return usage_error("missing MODEL.mote", NULL);
  if (o->prompt != NULL && o->ids_text != NULL)
    return usage_error("-p and --ids are exclusive", NULL);
  return 0;
}
