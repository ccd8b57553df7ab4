// The Linux system calls Node.js has no API for: mount, umount, mknod and extended attributes;
// and a directory's entries with their lstat in one call (fstatat relative to the directory);
// and two libc settings, glibc's mmap and trim thresholds (js_fix_malloc_thresholds).
// Without them every overlay mount, unmount, whiteout and xattr read was a process of
// mount(8), umount(8), mknod(1), getfattr(1) or setfattr(1) (docs/decisions/0007).
// Each function is synchronous and cheap (no data is copied but names and xattr values), but
// syncFileSystem, which waits for the disk on libuv's thread pool and returns a promise; errors
// are Error objects with Node's `code` (ENOENT, EBUSY, …) and `syscall`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CHECK(call)                                                                              \
  do {                                                                                           \
    if ((call) != napi_ok) {                                                                     \
      napi_throw_error(env, NULL, "syscalls: N-API call failed: " #call);                        \
      return NULL;                                                                               \
    }                                                                                            \
  } while (0)

static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  char message[4200];
  const char *name = strerrorname_np(err);
  snprintf(message, sizeof message, "%s %s: %s", syscall, path, strerror(err));
  napi_value error, code, call, number;
  napi_value text;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &call);
  napi_create_int32(env, -err, &number);
  napi_set_named_property(env, error, "code", code);
  napi_set_named_property(env, error, "syscall", call);
  napi_set_named_property(env, error, "errno", number);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, err, syscall, path));
  return NULL;
}

// A string argument, malloc'ed (freed by the caller); NULL after throwing.
static char *string_arg(napi_env env, napi_value value, const char *what) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "syscalls: %s must be a string", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  char *out = malloc(length + 1);
  if (out == NULL) {
    napi_throw_error(env, NULL, "syscalls: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, out, length + 1, &length);
  return out;
}

// The only argument of a one-path function, malloc'ed (freed by the caller); NULL after throwing.
static char *only_path_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "syscalls: N-API call failed: napi_get_cb_info");
    return NULL;
  }
  return string_arg(env, argv[0], "path");
}

static int int_arg(napi_env env, napi_value value, int64_t *out) {
  if (napi_get_value_int64(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "syscalls: expected a number");
    return -1;
  }
  return 0;
}

struct mount_job {
  const char *cwd, *source, *target, *fstype, *data;
  unsigned long flags;
  int err;
  const char *failed;
};

// A thread of its own file system context (unshare(CLONE_FS)), so that changing to `cwd` for
// relative option paths (overlay lowerdir names) does not move the process's working directory.
static void *mount_in_dir(void *arg) {
  struct mount_job *job = arg;
  job->err = 0;
  if (unshare(CLONE_FS) != 0) {
    job->err = errno;
    job->failed = "unshare";
  } else if (chdir(job->cwd) != 0) {
    job->err = errno;
    job->failed = "chdir";
  } else if (mount(job->source, job->target, job->fstype, job->flags, job->data) != 0) {
    job->err = errno;
    job->failed = "mount";
  }
  return NULL;
}

// mount(source, target, fstype, flags, data, cwd?)
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype cwd_type = napi_undefined;
  if (argc >= 6) CHECK(napi_typeof(env, argv[5], &cwd_type));
  int64_t flags;
  if (int_arg(env, argv[3], &flags) != 0) return NULL;
  char *source = string_arg(env, argv[0], "source");
  char *target = source ? string_arg(env, argv[1], "target") : NULL;
  char *fstype = target ? string_arg(env, argv[2], "fstype") : NULL;
  char *data = fstype ? string_arg(env, argv[4], "data") : NULL;
  char *cwd = data && cwd_type == napi_string ? string_arg(env, argv[5], "cwd") : NULL;
  napi_value result = NULL;
  if (data != NULL && (cwd_type != napi_string || cwd != NULL)) {
    struct mount_job job = {cwd, source, target, fstype, data, (unsigned long)flags, 0, "mount"};
    if (cwd == NULL) {
      if (mount(source, target, fstype, job.flags, data) != 0) job.err = errno;
    } else {
      pthread_t thread;
      int err = pthread_create(&thread, NULL, mount_in_dir, &job);
      if (err != 0) {
        job.err = err;
        job.failed = "pthread_create";
      } else {
        pthread_join(thread, NULL);
      }
    }
    if (job.err != 0) throw_errno(env, job.err, job.failed, target);
    else napi_get_undefined(env, &result);
  }
  free(source);
  free(target);
  free(fstype);
  free(data);
  free(cwd);
  return result;
}

// umount(target, flags)
static napi_value js_umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t flags;
  if (int_arg(env, argv[1], &flags) != 0) return NULL;
  char *target = string_arg(env, argv[0], "target");
  if (target == NULL) return NULL;
  napi_value result = NULL;
  if (umount2(target, (int)flags) != 0) throw_errno(env, errno, "umount2", target);
  else napi_get_undefined(env, &result);
  free(target);
  return result;
}

// mknod(path, mode, major, minor)
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t mode, major, minor;
  if (int_arg(env, argv[1], &mode) != 0 || int_arg(env, argv[2], &major) != 0 || int_arg(env, argv[3], &minor) != 0) return NULL;
  char *path = string_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  napi_value result = NULL;
  if (mknod(path, (mode_t)mode, makedev((unsigned)major, (unsigned)minor)) != 0) throw_errno(env, errno, "mknod", path);
  else napi_get_undefined(env, &result);
  free(path);
  return result;
}

// fixMallocThresholds(bytes) -> whether libc took them. glibc raises its mmap threshold to the
// size of each mmap-ed block freed (up to 32 MiB) and its trim threshold to twice that, so after
// the first 1 MiB stream buffer is freed the next ones come from the heap, which keeps freed
// pieces resident (the export's peak RSS: ~16 MiB more). Thresholds set by mallopt stay put.
static napi_value js_fix_malloc_thresholds(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t bytes;
  if (int_arg(env, argv[0], &bytes) != 0) return NULL;
  if (bytes < 0 || bytes > INT32_MAX) {
    napi_throw_range_error(env, NULL, "fixMallocThresholds: bytes must be between 0 and 2^31-1");
    return NULL;
  }
  int taken = 0;
#ifdef M_MMAP_THRESHOLD
  taken = mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1 && mallopt(M_TRIM_THRESHOLD, (int)bytes) == 1;
#endif
  napi_value result;
  CHECK(napi_get_boolean(env, taken, &result));
  return result;
}

// lxattrs(path) -> [name, Buffer, name, Buffer, …] (symlinks not followed); undefined when it has
// none or the file system has no xattrs (most files: nothing is allocated for them).
static napi_value js_lxattrs(napi_env env, napi_callback_info info) {
  char *path = only_path_arg(env, info);
  if (path == NULL) return NULL;
  napi_value out = NULL;
  char *names = NULL;
  ssize_t size;
  // The list can grow between the two calls: retry on ERANGE.
  for (;;) {
    size = llistxattr(path, NULL, 0);
    if (size <= 0) break;
    free(names);
    names = malloc((size_t)size);
    if (names == NULL) break;
    ssize_t got = llistxattr(path, names, (size_t)size);
    if (got >= 0 || errno != ERANGE) {
      size = got;
      break;
    }
  }
  if (size > 0 && names == NULL) {
    napi_throw_error(env, NULL, "syscalls: out of memory");
    goto done;
  }
  if (size < 0 && errno != ENOTSUP) {
    throw_errno(env, errno, "llistxattr", path);
    goto done;
  }
  if (size <= 0) {
    napi_get_undefined(env, &out);
    goto done;
  }
  if (napi_create_array(env, &out) != napi_ok) goto done;
  uint32_t index = 0;
  for (ssize_t offset = 0; offset < size; offset += (ssize_t)strlen(names + offset) + 1) {
    const char *name = names + offset;
    ssize_t length = lgetxattr(path, name, NULL, 0);
    if (length < 0 && errno == ENODATA) continue; // removed meanwhile
    if (length < 0) {
      throw_errno(env, errno, "lgetxattr", path);
      out = NULL;
      goto done;
    }
    void *bytes;
    napi_value buffer, js_name;
    if (napi_create_buffer(env, (size_t)length, &bytes, &buffer) != napi_ok) goto done;
    if (length > 0 && lgetxattr(path, name, bytes, (size_t)length) != length) {
      throw_errno(env, errno ? errno : EAGAIN, "lgetxattr", path);
      out = NULL;
      goto done;
    }
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &js_name);
    napi_set_element(env, out, index++, js_name);
    napi_set_element(env, out, index++, buffer);
  }
done:
  free(names);
  free(path);
  return out;
}

// lsetxattr(path, name, value)
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *bytes;
  size_t length;
  if (napi_get_buffer_info(env, argv[2], &bytes, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "syscalls: value must be a Buffer");
    return NULL;
  }
  char *path = string_arg(env, argv[0], "path");
  char *name = path ? string_arg(env, argv[1], "name") : NULL;
  napi_value result = NULL;
  if (name != NULL) {
    if (lsetxattr(path, name, bytes, length, 0) != 0) throw_errno(env, errno, "lsetxattr", path);
    else napi_get_undefined(env, &result);
  }
  free(path);
  free(name);
  return result;
}

// Per entry of readDirectory's stats: mode, uid, gid, size, nlink, ino, then seconds and
// nanoseconds of atime, mtime and ctime (doubles hold all of them exactly).
#define STAT_FIELDS 12

// readDirectory(path, withXattrs) -> [names, Float64Array of STAT_FIELDS per name, Float64Array of
// xattr list sizes per name (withXattrs only)]: the entries of a directory (without . and ..) and
// their lstat. Each stat is an fstatat relative to the open directory, not a lookup of the whole
// path; an entry removed between the listing and its stat is left out. The xattr list size
// (llistxattr) tells which entries have any xattrs at all: most have none.
static napi_value js_read_directory(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool with_xattrs = false;
  if (argc > 1 && napi_get_value_bool(env, argv[1], &with_xattrs) != napi_ok) with_xattrs = false;
  char *path = string_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  napi_value out = NULL, names, stats_buffer, stats, xattr_buffer, xattr_sizes;
  double *fields = NULL, *sizes = NULL;
  size_t count = 0, capacity = 0;
  char entry_path[PATH_MAX];
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = fd < 0 ? NULL : fdopendir(fd);
  if (dir == NULL) {
    throw_errno(env, errno, "opendir", path);
    if (fd >= 0) close(fd);
    free(path);
    return NULL;
  }
  if (napi_create_array(env, &names) != napi_ok) goto done;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (entry == NULL) {
      if (errno != 0) {
        throw_errno(env, errno, "readdir", path);
        goto done;
      }
      break;
    }
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      throw_errno(env, errno, "lstat", entry->d_name);
      goto done;
    }
    if (count == capacity) {
      capacity = capacity ? capacity * 2 : 64;
      double *grown = realloc(fields, capacity * STAT_FIELDS * sizeof(double));
      double *grown_sizes = grown == NULL ? NULL : realloc(sizes, capacity * sizeof(double));
      if (grown != NULL) fields = grown;
      if (grown_sizes != NULL) sizes = grown_sizes;
      if (grown == NULL || grown_sizes == NULL) {
        napi_throw_error(env, NULL, "syscalls: out of memory");
        goto done;
      }
    }
    sizes[count] = 0;
    if (with_xattrs) {
      snprintf(entry_path, sizeof entry_path, "%s/%s", path, entry->d_name);
      ssize_t listed = llistxattr(entry_path, NULL, 0);
      if (listed < 0 && errno != ENOTSUP && errno != ENOENT) {
        throw_errno(env, errno, "llistxattr", entry_path);
        goto done;
      }
      sizes[count] = listed > 0 ? (double)listed : 0;
    }
    double *f = fields + count * STAT_FIELDS;
    f[0] = st.st_mode, f[1] = st.st_uid, f[2] = st.st_gid, f[3] = (double)st.st_size, f[4] = (double)st.st_nlink;
    f[5] = (double)st.st_ino;
    f[6] = (double)st.st_atim.tv_sec, f[7] = (double)st.st_atim.tv_nsec;
    f[8] = (double)st.st_mtim.tv_sec, f[9] = (double)st.st_mtim.tv_nsec;
    f[10] = (double)st.st_ctim.tv_sec, f[11] = (double)st.st_ctim.tv_nsec;
    napi_value name;
    if (napi_create_string_utf8(env, entry->d_name, NAPI_AUTO_LENGTH, &name) != napi_ok) goto done;
    if (napi_set_element(env, names, (uint32_t)count, name) != napi_ok) goto done;
    count++;
  }
  void *data;
  size_t bytes = count * STAT_FIELDS * sizeof(double);
  if (napi_create_arraybuffer(env, bytes, &data, &stats_buffer) != napi_ok) goto done;
  if (bytes > 0) memcpy(data, fields, bytes);
  if (napi_create_typedarray(env, napi_float64_array, count * STAT_FIELDS, stats_buffer, 0, &stats) != napi_ok) goto done;
  if (napi_create_array_with_length(env, with_xattrs ? 3 : 2, &out) != napi_ok) goto done;
  napi_set_element(env, out, 0, names);
  napi_set_element(env, out, 1, stats);
  if (with_xattrs) {
    if (napi_create_arraybuffer(env, count * sizeof(double), &data, &xattr_buffer) != napi_ok) goto done;
    if (count > 0) memcpy(data, sizes, count * sizeof(double));
    if (napi_create_typedarray(env, napi_float64_array, count, xattr_buffer, 0, &xattr_sizes) != napi_ok) goto done;
    napi_set_element(env, out, 2, xattr_sizes);
  }
done:
  closedir(dir);
  free(fields);
  free(sizes);
  free(path);
  return out;
}

struct sync_job {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int err;
  const char *failed;
};

static void sync_execute(napi_env env, void *data) {
  (void)env;
  struct sync_job *job = data;
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    job->err = errno, job->failed = "open";
    return;
  }
  if (syncfs(fd) != 0) job->err = errno, job->failed = "syncfs";
  close(fd);
}

static void sync_complete(napi_env env, napi_status status, void *data) {
  struct sync_job *job = data;
  napi_value result;
  if (status != napi_ok) {
    napi_value text;
    napi_create_string_utf8(env, "syscalls: syncfs was cancelled", NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, NULL, text, &result);
    napi_reject_deferred(env, job->deferred, result);
  } else if (job->err != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->failed, job->path));
  } else {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

// syncFileSystem(path) -> Promise<void>: syncfs(2) of the file system holding path, off the main thread.
static napi_value js_sync_file_system(napi_env env, napi_callback_info info) {
  char *path = only_path_arg(env, info);
  if (path == NULL) return NULL;
  struct sync_job *job = calloc(1, sizeof *job);
  napi_value promise, name;
  if (job == NULL) {
    free(path);
    napi_throw_error(env, NULL, "syscalls: out of memory");
    return NULL;
  }
  job->path = path;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "tsbuild:syncfs", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, sync_execute, sync_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(path);
    free(job);
    napi_throw_error(env, NULL, "syscalls: N-API call failed: syncFileSystem");
    return NULL;
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"umount", NULL, js_umount, NULL, NULL, NULL, napi_default, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
      {"lxattrs", NULL, js_lxattrs, NULL, NULL, NULL, napi_default, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"readDirectory", NULL, js_read_directory, NULL, NULL, NULL, napi_default, NULL},
      {"fixMallocThresholds", NULL, js_fix_malloc_thresholds, NULL, NULL, NULL, napi_default, NULL},
      {"syncFileSystem", NULL, js_sync_file_system, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
