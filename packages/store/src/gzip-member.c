// link: -l:libdeflate.a
// apt: libdeflate-dev
//
// One gzip member from one buffer, with libdeflate (docs/decisions/0013), on libuv's thread pool:
// compressMember(buffer, level) -> Promise<Buffer>. libdeflate compresses a whole buffer at once,
// which is what ParallelGzipStream hands it (1 MiB pieces): at level 1 ~40% less CPU than zlib
// for ~4% smaller output. Its output depends only on the input, the level and libdeflate's version:
// the CPU-specific code in it computes checksums and initialises tables, never picks matches.
#include <libdeflate.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_LEVEL 12

#define CHECK(call)                                                                              \
  do {                                                                                           \
    if ((call) != napi_ok) {                                                                     \
      napi_throw_error(env, NULL, "gzip-member: N-API call failed: " #call);                     \
      return NULL;                                                                               \
    }                                                                                            \
  } while (0)

// A compressor is not thread-safe but is reusable, and allocating one costs more than compressing
// a small piece: each pool thread keeps one per level for its lifetime (the pool's threads live
// as long as the process).
static __thread struct libdeflate_compressor *compressors[MAX_LEVEL + 1];

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref; // keeps the input Buffer alive (and unmoved) while a pool thread reads it
  const void *input;
  size_t input_size;
  int level;
  void *output;
  size_t output_size;
  char error[160]; // empty on success
} Job;

static void execute(napi_env env, void *data) {
  (void)env;
  Job *job = data;
  struct libdeflate_compressor *compressor = compressors[job->level];
  if (!compressor) {
    compressor = compressors[job->level] = libdeflate_alloc_compressor(job->level);
    if (!compressor) {
      snprintf(job->error, sizeof job->error, "gzip-member: libdeflate could not allocate a compressor for level %d (out of memory)", job->level);
      return;
    }
  }
  size_t bound = libdeflate_gzip_compress_bound(compressor, job->input_size);
  job->output = malloc(bound);
  if (!job->output) {
    snprintf(job->error, sizeof job->error, "gzip-member: could not allocate %zu bytes for the member of a %zu-byte piece (out of memory)", bound, job->input_size);
    return;
  }
  job->output_size = libdeflate_gzip_compress(compressor, job->input, job->input_size, job->output, bound);
  if (job->output_size == 0) {
    snprintf(job->error, sizeof job->error, "gzip-member: libdeflate_gzip_compress gave no output for a %zu-byte piece at level %d (its output exceeded libdeflate_gzip_compress_bound)", job->input_size, job->level);
  }
}

static void free_output(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *job = data;
  napi_value result;
  napi_status made;
  if (status != napi_ok) {
    snprintf(job->error, sizeof job->error, "gzip-member: the compression was cancelled (N-API status %d)", (int)status);
  }
  if (job->error[0]) {
    napi_value message;
    made = napi_create_string_utf8(env, job->error, NAPI_AUTO_LENGTH, &message);
    if (made == napi_ok) made = napi_create_error(env, NULL, message, &result);
  } else {
    // The output itself, not a copy (perf: copying the members and faulting in the copies' pages
    // was 2-3% of the main thread's CPU on the small-files export), cut to the member's size: it
    // was allocated at the bound (~the input's size). free_output frees it when V8 collects it.
    void *shrunk = realloc(job->output, job->output_size ? job->output_size : 1);
    if (shrunk) job->output = shrunk;
    made = napi_create_external_buffer(env, job->output_size, job->output, free_output, NULL, &result);
    if (made == napi_ok) job->output = NULL;
    // A Node whose V8 sandbox forbids external buffers gets a copy.
    else made = napi_create_buffer_copy(env, job->output_size, job->output, NULL, &result);
  }
  if (made == napi_ok) {
    if (job->error[0]) napi_reject_deferred(env, job->deferred, result);
    else napi_resolve_deferred(env, job->deferred, result);
  } else {
    // Out of memory in V8 (or an exception pending): reject with whatever we can make.
    napi_value message, error;
    napi_create_string_utf8(env, "gzip-member: could not create the member Buffer (out of memory)", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
  }
  free(job->output);
  napi_delete_reference(env, job->input_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

// compressMember(buffer: Buffer, level: number): Promise<Buffer>
static napi_value compress_member(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  bool is_buffer = false;
  if (argc < 2 || napi_is_buffer(env, args[0], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "gzip-member: compressMember(buffer, level) takes a Buffer first");
    return NULL;
  }
  int32_t level;
  if (napi_get_value_int32(env, args[1], &level) != napi_ok || level < 0 || level > MAX_LEVEL) {
    napi_throw_range_error(env, NULL, "gzip-member: the level must be an integer from 0 to 12 (libdeflate's levels)");
    return NULL;
  }
  Job *job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, NULL, "gzip-member: out of memory");
    return NULL;
  }
  void *input;
  napi_value promise, name;
  if (napi_get_buffer_info(env, args[0], &input, &job->input_size) != napi_ok ||
      napi_create_reference(env, args[0], 1, &job->input_ref) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "gzip-member: could not hold the input Buffer");
    return NULL;
  }
  job->input = input;
  job->level = level;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "tsbuild:gzip-member", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok) {
    napi_delete_reference(env, job->input_ref);
    free(job);
    napi_throw_error(env, NULL, "gzip-member: could not set up the compression");
    return NULL;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    napi_delete_reference(env, job->input_ref);
    free(job);
    napi_throw_error(env, NULL, "gzip-member: could not queue the compression");
    return NULL;
  }
  return promise;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  CHECK(napi_create_function(env, "compressMember", NAPI_AUTO_LENGTH, compress_member, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "compressMember", fn));
  return exports;
}
