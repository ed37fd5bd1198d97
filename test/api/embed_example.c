/* embed_example.c: generate text with Mote in under 30 lines (docs/c-api.md). */
#include <stdio.h>
#include <string.h>
#include "mote/mote.h"
int main(int argc, char **argv) {
  const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
  mote_model_t *model; mote_session_t *sess; mote_sampler_t *smp;
  mote_model_info_t info; int32_t ids[256]; size_t n; const float *logits;
  mote_sampler_params_t greedy = {0.0f, 0, 1.0f, 0};
  if (argc < 2 || mote_model_open(argv[1], NULL, &model) != MOTE_OK ||
      mote_model_get_info(model, &info) != MOTE_OK ||
      mote_session_create(model, NULL, &sess) != MOTE_OK ||
      mote_sampler_create(&greedy, info.vocab_size, NULL, &smp) != MOTE_OK ||
      mote_tokenize(model, prompt, strlen(prompt), -1, ids, 256, &n) != MOTE_OK ||
      mote_session_prefill(sess, ids, n, &logits) != MOTE_OK) {
    fprintf(stderr, "error: %s\n", mote_last_error());
    return 1;
  }
  printf("%s", prompt);
  for (int32_t i = 0, prev = ids[n - 1], tok; i < 40; ++i, prev = tok) {
    const char *text; size_t len;
    tok = mote_sampler_sample(smp, logits);
    if (tok == info.eos_id || mote_token_text(model, prev, tok, &text, &len) != MOTE_OK ||
        mote_session_decode(sess, tok, &logits) != MOTE_OK) break;
    printf("%.*s", (int)len, text);
  }
  printf("\n");
  mote_sampler_destroy(smp); mote_session_destroy(sess); mote_model_close(model);
  return 0;
}
