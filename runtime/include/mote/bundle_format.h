/* Fixed header of a Mote bundle: shared by the compiler's writer and the
 * runtime's reader, the single source of truth for the container layout.
 * Full spec: docs/bundle-format.md. All integers little-endian. */
#ifndef MOTE_BUNDLE_FORMAT_H
#define MOTE_BUNDLE_FORMAT_H

#include <stdint.h>

#define MOTE_BUNDLE_MAGIC "MOTEBNDL"      /* 8 bytes, no NUL */
#define MOTE_ADAPTER_MAGIC "MOTELORA"     /* same container, adapter kind */
#define MOTE_BUNDLE_FORMAT_VERSION 1u
#define MOTE_BUNDLE_HEADER_SIZE 64u
#define MOTE_BUNDLE_WEIGHT_ALIGN 4096u    /* weight sections */
#define MOTE_BUNDLE_MIN_ALIGN 64u         /* every other section */

/* Byte layout of the 64-byte header:
 *   0  char[8]  magic
 *   8  u32      format_version
 *  12  u32      header_size (64)
 *  16  u64      manifest_offset   (from file start; 64 today)
 *  24  u64      manifest_size
 *  32  u64      manifest_xxh64    (XXH64, seed 0, of the manifest bytes)
 *  40  u64      file_size         (the whole file; detects truncation)
 *  48  u64      flags             (0)
 *  56  u64      header_xxh64      (XXH64, seed 0, of bytes 0..55)
 * The manifest (protobuf mote.bundle.Manifest) follows; sections follow it,
 * each at an offset that is a multiple of its alignment. */
#define MOTE_HDR_OFF_MAGIC 0
#define MOTE_HDR_OFF_VERSION 8
#define MOTE_HDR_OFF_HEADER_SIZE 12
#define MOTE_HDR_OFF_MANIFEST_OFFSET 16
#define MOTE_HDR_OFF_MANIFEST_SIZE 24
#define MOTE_HDR_OFF_MANIFEST_XXH64 32
#define MOTE_HDR_OFF_FILE_SIZE 40
#define MOTE_HDR_OFF_FLAGS 48
#define MOTE_HDR_OFF_HEADER_XXH64 56

#ifdef __cplusplus
extern "C" {
#endif

/* XXH64 (seed given), implemented in runtime/src/xxh64.c; the compiler
 * links the same file so writer and reader cannot disagree. */
uint64_t mote_xxh64(const void *data, uint64_t len, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_BUNDLE_FORMAT_H */
