// The Linux system calls Node.js has no API for: mount, umount, mknod and extended attributes;
// and a directory's entries with their lstat in one call (fstatat relative to the directory);
// and two libc settings, glibc's mmap and trim thresholds (js_fix_malloc_thresholds); and a batch
// of small files copied off the main thread in one hand-off (copyFiles, for COPY of a tree).
// Without them every overlay mount, unmount, whiteout and xattr read was a process of
// mount(8), umount(8), mknod(1), getfattr(1) or setfattr(1) (docs/decisions/0007).
// Each function is synchronous and cheap (no data is copied but names and xattr values), but
// syncFileSystem and copyFiles, which work on libuv's thread pool and return a promise; errors
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

// Rejects a promise with a plain Error of `message` (for failures that have no errno).
static void reject_with_message(napi_env env, napi_deferred deferred, const char *message) {
  napi_value text, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_reject_deferred(env, deferred, error);
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
    reject_with_message(env, job->deferred, "syscalls: syncfs was cancelled");
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

// Per file of copyFiles' attrs: uid, gid, mode (permission and set-id bits), atime and mtime in ms.
#define COPY_FIELDS 5
// Where a file's content goes once the batch's buffer is full (its bytes are then not handed back).
#define COPY_SCRATCH (64 << 10)

struct copy_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref content_ref;
  char *paths; // source\0target\0 per file
  double *attrs;
  double *copied;
  size_t count;
  unsigned char *content;
  size_t capacity;
  int err;
  const char *failed;
  const char *failed_path;
};

static int write_all(int fd, const unsigned char *bytes, size_t length) {
  while (length > 0) {
    ssize_t put = write(fd, bytes, length);
    if (put < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    bytes += put, length -= (size_t)put;
  }
  return 0;
}

static struct timespec ms_to_timespec(double ms) {
  double seconds = ms / 1000;
  struct timespec ts = {(time_t)seconds, 0};
  if ((double)ts.tv_sec > seconds) ts.tv_sec--; // before 1970: round down, nanoseconds stay positive
  double rest = ms - (double)ts.tv_sec * 1000;
  ts.tv_nsec = (long)(rest * 1000000);
  if (ts.tv_nsec > 999999999) ts.tv_nsec = 999999999;
  return ts;
}

// One file: its content into job->content at *cursor while it fits (else through scratch, and its
// entry in job->copied is -1), then owner, mode and times. Returns -1 with job->err set.
static int copy_one(struct copy_job *job, size_t i, const char *source, const char *target, unsigned char *scratch, size_t *cursor) {
  const double *a = job->attrs + i * COPY_FIELDS;
  uid_t uid = (uid_t)a[0];
  gid_t gid = (gid_t)a[1];
  mode_t mode = (mode_t)a[2];
  int in = open(source, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    job->err = errno, job->failed = "open", job->failed_path = source;
    return -1;
  }
  int out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
  if (out < 0) {
    job->err = errno, job->failed = "open", job->failed_path = target;
    close(in);
    return -1;
  }
  size_t start = *cursor;
  int fits = 1, rc = -1;
  for (;;) {
    unsigned char *into = fits && *cursor < job->capacity ? job->content + *cursor : scratch;
    size_t want = into == scratch ? COPY_SCRATCH : job->capacity - *cursor;
    ssize_t got = read(in, into, want);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      job->err = errno, job->failed = "read", job->failed_path = source;
      goto done;
    }
    if (got == 0) break;
    if (write_all(out, into, (size_t)got) != 0) {
      job->err = errno, job->failed = "write", job->failed_path = target;
      goto done;
    }
    if (into == scratch) fits = 0;
    else *cursor += (size_t)got;
    // A regular file reads short only at its end: a small file takes one read, not two.
    if ((size_t)got < want) break;
  }
  if (!fits) *cursor = start;
  job->copied[i] = fits ? (double)(*cursor - start) : -1;
  // A new file is its creator's, with the permission bits above less the umask: most need
  // neither call. chown before chmod, which it would undo (chown clears the set-id bits).
  struct stat st;
  if (fstat(out, &st) != 0) {
    job->err = errno, job->failed = "fstat", job->failed_path = target;
    goto done;
  }
  if ((st.st_uid != uid || st.st_gid != gid) && fchown(out, uid, gid) != 0) {
    job->err = errno, job->failed = "fchown", job->failed_path = target;
    goto done;
  }
  if ((st.st_mode & 07777) != mode && fchmod(out, mode) != 0) {
    job->err = errno, job->failed = "fchmod", job->failed_path = target;
    goto done;
  }
  struct timespec times[2] = {ms_to_timespec(a[3]), ms_to_timespec(a[4])};
  if (futimens(out, times) != 0) {
    job->err = errno, job->failed = "futimens", job->failed_path = target;
    goto done;
  }
  rc = 0;
done:
  close(in);
  if (close(out) != 0 && rc == 0) {
    job->err = errno, job->failed = "close", job->failed_path = target;
    rc = -1;
  }
  return rc;
}

static void copy_execute(napi_env env, void *data) {
  (void)env;
  struct copy_job *job = data;
  unsigned char *scratch = malloc(COPY_SCRATCH);
  if (scratch == NULL) {
    job->err = ENOMEM, job->failed = "malloc", job->failed_path = "";
    return;
  }
  size_t cursor = 0;
  const char *p = job->paths;
  for (size_t i = 0; i < job->count; i++) {
    const char *source = p;
    const char *target = source + strlen(source) + 1;
    p = target + strlen(target) + 1;
    if (copy_one(job, i, source, target, scratch, &cursor) != 0) break;
  }
  free(scratch);
}

static void copy_complete(napi_env env, napi_status status, void *data) {
  struct copy_job *job = data;
  napi_value result, buffer;
  void *bytes;
  if (status != napi_ok) {
    reject_with_message(env, job->deferred, "syscalls: copyFiles was cancelled");
  } else if (job->err != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->failed, job->failed_path));
  } else if (napi_create_arraybuffer(env, job->count * sizeof(double), &bytes, &buffer) != napi_ok ||
             napi_create_typedarray(env, napi_float64_array, job->count, buffer, 0, &result) != napi_ok) {
    reject_with_message(env, job->deferred, "syscalls: copyFiles could not make its result");
  } else {
    if (job->count > 0) memcpy(bytes, job->copied, job->count * sizeof(double));
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_reference(env, job->content_ref);
  napi_delete_async_work(env, job->work);
  free(job->paths);
  free(job->attrs);
  free(job->copied);
  free(job);
}

// copyFiles(paths, attrs, content) -> Promise<Float64Array>: on libuv's thread pool, copies each
// file of `paths` ("source\0target\0" per file) to its new target (O_EXCL) with the owner, mode and
// times of `attrs` (COPY_FIELDS per file). The files' bytes are left one after another in
// `content`, which the caller must not touch until the promise settles; the result holds each
// file's length there, or -1 for a file that no longer fit. Stops at the first error and rejects
// with it (the files copied until then stay).
static napi_value js_copy_files(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type type;
  size_t fields;
  void *attrs;
  void *content;
  size_t capacity;
  if (napi_get_typedarray_info(env, argv[1], &type, &fields, &attrs, NULL, NULL) != napi_ok || type != napi_float64_array ||
      fields % COPY_FIELDS != 0) {
    napi_throw_type_error(env, NULL, "syscalls: copyFiles attrs must be a Float64Array of 5 numbers per file");
    return NULL;
  }
  if (napi_get_buffer_info(env, argv[2], &content, &capacity) != napi_ok) {
    napi_throw_type_error(env, NULL, "syscalls: copyFiles content must be a Buffer");
    return NULL;
  }
  size_t length;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "syscalls: copyFiles paths must be a string");
    return NULL;
  }
  struct copy_job *job = calloc(1, sizeof *job);
  size_t count = fields / COPY_FIELDS;
  if (job != NULL) {
    job->paths = malloc(length + 1);
    job->attrs = malloc(fields * sizeof(double) + 1);
    job->copied = calloc(count + 1, sizeof(double));
  }
  if (job == NULL || job->paths == NULL || job->attrs == NULL || job->copied == NULL) {
    if (job != NULL) free(job->paths), free(job->attrs), free(job->copied);
    free(job);
    napi_throw_error(env, NULL, "syscalls: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], job->paths, length + 1, &length);
  // Every file's two names must be there: the worker walks them by their terminating NULs.
  size_t names = 0;
  for (size_t i = 0; i < length; i++) names += job->paths[i] == '\0';
  if (names != 2 * count) {
    free(job->paths), free(job->attrs), free(job->copied), free(job);
    napi_throw_type_error(env, NULL, "syscalls: copyFiles paths must hold a source and a target, each ending in \\0, per file");
    return NULL;
  }
  memcpy(job->attrs, attrs, fields * sizeof(double));
  job->count = count;
  job->content = content;
  job->capacity = capacity;
  napi_value promise, name;
  if (napi_create_reference(env, argv[2], 1, &job->content_ref) != napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "tsbuild:copyFiles", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, copy_execute, copy_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->content_ref != NULL) napi_delete_reference(env, job->content_ref);
    if (job->work != NULL) napi_delete_async_work(env, job->work);
    free(job->paths), free(job->attrs), free(job->copied), free(job);
    napi_throw_error(env, NULL, "syscalls: N-API call failed: copyFiles");
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
      {"copyFiles", NULL, js_copy_files, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
