// SPDX-License-Identifier: Apache-2.0
/*
 * lanner.node: a thin N-API addon over libbpf 1.1. Mechanism only, no policy.
 *
 * Objects: open a BPF object file, list its programs and maps, configure it before load
 * (const volatile globals, map sizes, autoload/autoattach), load it, attach programs (one
 * link per attach point; the same program may be attached many times), map operations on
 * caller-supplied buffers, ring-buffer consumers, close. src/native/ is the only importer.
 * Iterator links are read whole (iterRead). Beyond objects: the system's programs and maps
 * by id (progIds, progInfo, mapIds, mapInfoById) and run-time statistics (enableStats).
 *
 * RING BUFFER BATCH FRAMING (exported as RECORD_HEADER_SIZE / RECORD_ALIGN):
 *   A consumer copies raw ring records into ONE JS-owned buffer (the batch) and calls the
 *   JS callback cb(bytesUsed, recordCount) once per filled batch. Inside the batch every
 *   record is
 *       u32 len     (little-endian; bytes of payload, without header and padding)
 *       u32 zero    (reserved, always 0)
 *       u8  payload[len]
 *       u8  pad[round_up(len, 8) - len]   (zeroed)
 *   so every record header and payload starts 8-byte aligned; the next record starts at
 *   offset + 8 + round_up(len, 8). Records appear in ring order. The batch is reused: JS
 *   must finish with it before the callback returns.
 *
 * The consumer reads the ring itself through its own mmap of the map (the kernel's layout:
 * consumer page RW; producer page then the data area mapped twice, RO), not through
 * libbpf's ring_buffer__consume. Two reasons. libbpf 1.1 publishes consumer_pos after every
 * record, and the producer reads that cache line on every reserve: while we drain, each of
 * those stores costs the traced CPU a cache miss. We publish it once per batch. And a record
 * that does not fit in the batch simply stays in the ring for the next batch: no loss, no
 * duplication, no copy (libbpf's callback cannot un-consume a record). A record that is larger
 * than the whole batch (8 + round_up(len, 8) > capacity) can never be delivered; it is
 * consumed and counted in stats().oversized.
 *
 * Delivery: uv_poll on ring_buffer__epoll_fd() (forced wakeups; libbpf's ring_buffer object
 * is kept for that epoll set only) plus a uv_timer every pollMs (the normal path: BPF submits
 * with BPF_RB_NO_WAKEUP). One turn delivers batches until the ring is empty or
 * maxBatchesPerTurn is reached; in the latter case a uv_idle handle resumes the drain on the
 * next loop iteration. The JS callback is never called while records are being copied, so
 * JS may close the consumer (or the whole object) inside the callback.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define LN_REC_HDR 8u
#define LN_REC_ALIGN 8u
#define LN_LOG_TAIL 8192u
#define LN_MSG_TAIL 1024u
#define LN_LOGQ_MAX 256u
#define LN_DEFAULT_POLL_MS 10u
#define LN_DEFAULT_MAX_BATCHES 64u

static size_t round8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* ------------------------------------------------------------------------------------ */
/* errno names and errors                                                                */

static const char *errno_code(int e)
{
	switch (e) {
#define C(x) \
	case x:  \
		return #x;
		C(EPERM) C(ENOENT) C(ESRCH) C(EINTR) C(EIO) C(ENXIO) C(E2BIG) C(ENOEXEC) C(EBADF)
		C(EAGAIN) C(ENOMEM) C(EACCES) C(EFAULT) C(EBUSY) C(EEXIST) C(EXDEV) C(ENODEV)
		C(ENOTDIR) C(EISDIR) C(EINVAL) C(ENFILE) C(EMFILE) C(EFBIG) C(ENOSPC) C(ESPIPE)
		C(EROFS) C(ERANGE) C(EDEADLK) C(ENAMETOOLONG) C(ENOSYS) C(ELOOP) C(ENOMSG)
		C(ENODATA) C(ENOLINK) C(EPROTO) C(EBADMSG) C(EOVERFLOW) C(EILSEQ) C(EOPNOTSUPP)
		C(EAFNOSUPPORT) C(EADDRINUSE) C(ENETDOWN) C(ETIMEDOUT) C(ECANCELED)
#undef C
	case 524:
		return "ENOTSUPP"; /* kernel-internal, leaks out of bpf(2) */
	default:
		return "EUNKNOWN";
	}
}

/* Creates an Error "<what>: <CODE>: <detail or strerror>" with errno and code properties. */
static napi_value make_error(napi_env env, int err, const char *what, const char *detail)
{
	napi_value msg, error, v;
	const char *code;
	char *text;
	size_t n;

	if (err < 0)
		err = -err;
	code = errno_code(err);
	if (!detail || !*detail)
		detail = strerror(err);
	n = strlen(what) + strlen(code) + strlen(detail) + 8;
	text = malloc(n);
	if (!text)
		return NULL;
	snprintf(text, n, "%s: %s: %s", what, code, detail);
	napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
	free(text);
	napi_create_error(env, NULL, msg, &error);
	napi_create_int32(env, err, &v);
	napi_set_named_property(env, error, "errno", v);
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, error, "code", v);
	return error;
}

static void throw_errno(napi_env env, int err, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	napi_value e;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	e = make_error(env, err, what, NULL);
	if (e)
		napi_throw(env, e);
}

/* Like throw_errno, with a detail instead of strerror: "<what>: <CODE>: <detail>". */
static void throw_errd(napi_env env, int err, const char *detail, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	napi_value e;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	e = make_error(env, err, what, detail);
	if (e)
		napi_throw(env, e);
}

static void throw_type(napi_env env, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
}

/* ------------------------------------------------------------------------------------ */
/* libbpf logging                                                                        */
/*
 * One print callback for the process. Messages at or below the JS-configured level are
 * queued and handed to the JS logger when the current addon call returns (never from
 * inside libbpf). During load, WARN messages (they carry the verifier log) are also kept
 * in a tail buffer of LN_LOG_TAIL bytes for the load error.
 */

struct logq_ent {
	int level;
	char *msg;
};

static struct {
	int js_level; /* -1 silent, else LIBBPF_WARN/INFO/DEBUG */
	napi_ref fn;  /* JS logger or NULL (then stderr) */
	napi_env fn_env;
	struct logq_ent q[LN_LOGQ_MAX];
	unsigned qn;
	unsigned long dropped;
	bool capture;
	char tail[LN_LOG_TAIL];
	size_t tail_len;
	char fail_name[128];
	char fail_kind[8]; /* "program" or "map" */
} g_log = {.js_level = -1};

static void tail_append(const char *s, size_t n)
{
	if (n >= LN_LOG_TAIL) {
		memcpy(g_log.tail, s + n - LN_LOG_TAIL, LN_LOG_TAIL);
		g_log.tail_len = LN_LOG_TAIL;
		return;
	}
	if (g_log.tail_len + n > LN_LOG_TAIL) {
		size_t drop = g_log.tail_len + n - LN_LOG_TAIL;
		memmove(g_log.tail, g_log.tail + drop, g_log.tail_len - drop);
		g_log.tail_len -= drop;
	}
	memcpy(g_log.tail + g_log.tail_len, s, n);
	g_log.tail_len += n;
}

/* Remembers the first program/map named in a failure message: "prog 'x': ... fail...". */
static void note_failure(const char *s)
{
	const char *p, *q;
	const char *kind;
	size_t n;

	if (g_log.fail_name[0] || !strstr(s, "fail"))
		return;
	if ((p = strstr(s, "prog '")) != NULL) {
		p += 6;
		kind = "program";
	} else if ((p = strstr(s, "map '")) != NULL) {
		p += 5;
		kind = "map";
	} else {
		return;
	}
	q = strchr(p, '\'');
	if (!q)
		return;
	n = (size_t)(q - p);
	if (n >= sizeof(g_log.fail_name))
		n = sizeof(g_log.fail_name) - 1;
	memcpy(g_log.fail_name, p, n);
	g_log.fail_name[n] = 0;
	snprintf(g_log.fail_kind, sizeof(g_log.fail_kind), "%s", kind);
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	bool cap = g_log.capture && level == LIBBPF_WARN;
	bool js = (int)level <= g_log.js_level;
	va_list ap2;
	char *s;
	int n;

	if (!cap && !js)
		return 0;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return 0;
	s = malloc((size_t)n + 1);
	if (!s)
		return 0;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	if (cap) {
		tail_append(s, (size_t)n);
		note_failure(s);
	}
	if (js && g_log.qn < LN_LOGQ_MAX) {
		g_log.q[g_log.qn].level = (int)level;
		g_log.q[g_log.qn].msg = s;
		g_log.qn++;
		return 0;
	}
	if (js)
		g_log.dropped++;
	free(s);
	return 0;
}

static void capture_begin(void)
{
	g_log.capture = true;
	g_log.tail_len = 0;
	g_log.fail_name[0] = 0;
	g_log.fail_kind[0] = 0;
}

static void capture_end(void) { g_log.capture = false; }

static const char *level_name(int l)
{
	return l == LIBBPF_WARN ? "warn" : l == LIBBPF_INFO ? "info" : "debug";
}

/* Hands queued libbpf messages to the JS logger (or stderr). Called before each return. */
static void flush_logs(napi_env env)
{
	napi_value fn = NULL, argv[2], result, exc;
	bool pending = false;
	unsigned i, n = g_log.qn;

	if (!n)
		return;
	g_log.qn = 0;
	if (g_log.fn && g_log.fn_env == env)
		napi_get_reference_value(env, g_log.fn, &fn);
	napi_is_exception_pending(env, &pending);
	for (i = 0; i < n; i++) {
		char *m = g_log.q[i].msg;
		size_t len = strlen(m);

		while (len && m[len - 1] == '\n')
			m[--len] = 0;
		if (fn && !pending) {
			napi_create_string_utf8(env, level_name(g_log.q[i].level), NAPI_AUTO_LENGTH,
						&argv[0]);
			napi_create_string_utf8(env, m, len, &argv[1]);
			if (napi_call_function(env, fn, fn, 2, argv, &result) != napi_ok)
				napi_get_and_clear_last_exception(env, &exc); /* a logger must not throw */
		} else if (!fn) {
			fprintf(stderr, "libbpf: %s: %s\n", level_name(g_log.q[i].level), m);
		}
		free(m);
	}
}

/* ------------------------------------------------------------------------------------ */
/* argument helpers                                                                      */

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	size_t i;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return false;
	for (i = argc; i < want; i++)
		napi_get_undefined(env, &argv[i]);
	return true;
}

static bool is_nullish(napi_env env, napi_value v)
{
	napi_valuetype t;

	if (!v)
		return true;
	napi_typeof(env, v, &t);
	return t == napi_undefined || t == napi_null;
}

/* Reads a string into a malloc'd buffer; NULL (and a thrown TypeError) on failure. */
static char *get_string(napi_env env, napi_value v, const char *what)
{
	size_t n;
	char *s;

	if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
		throw_type(env, "%s must be a string", what);
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		throw_errno(env, ENOMEM, "%s", what);
		return NULL;
	}
	napi_get_value_string_utf8(env, v, s, n + 1, &n);
	return s;
}

/* Optional string property; *out = NULL when absent. Returns false after throwing. */
static bool get_opt_string_prop(napi_env env, napi_value obj, const char *name, char **out)
{
	napi_value v;
	bool has = false;

	*out = NULL;
	if (is_nullish(env, obj))
		return true;
	if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has)
		return true;
	napi_get_named_property(env, obj, name, &v);
	if (is_nullish(env, v))
		return true;
	*out = get_string(env, v, name);
	return *out != NULL;
}

static bool get_opt_int64_prop(napi_env env, napi_value obj, const char *name, int64_t *out,
			       bool *present)
{
	napi_value v;
	bool has = false;
	napi_valuetype t;

	if (present)
		*present = false;
	if (is_nullish(env, obj))
		return true;
	if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has)
		return true;
	napi_get_named_property(env, obj, name, &v);
	napi_typeof(env, v, &t);
	if (t == napi_undefined || t == napi_null)
		return true;
	if (t == napi_bigint) {
		bool lossless;
		napi_get_value_bigint_int64(env, v, out, &lossless);
	} else if (napi_get_value_int64(env, v, out) != napi_ok) {
		throw_type(env, "%s must be a number", name);
		return false;
	}
	if (present)
		*present = true;
	return true;
}

static bool get_opt_bool_prop(napi_env env, napi_value obj, const char *name, bool *out)
{
	napi_value v;
	bool has = false;

	if (is_nullish(env, obj))
		return true;
	if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has)
		return true;
	napi_get_named_property(env, obj, name, &v);
	if (is_nullish(env, v))
		return true;
	if (napi_get_value_bool(env, v, out) != napi_ok) {
		throw_type(env, "%s must be a boolean", name);
		return false;
	}
	return true;
}

static bool get_u32(napi_env env, napi_value v, const char *what, uint32_t *out)
{
	if (napi_get_value_uint32(env, v, out) != napi_ok) {
		throw_type(env, "%s must be a number", what);
		return false;
	}
	return true;
}

/* Bytes of a TypedArray, DataView or ArrayBuffer. */
static bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len)
{
	bool is = false;

	napi_is_typedarray(env, v, &is);
	if (is) {
		napi_typedarray_type t;
		size_t n, off;
		napi_value ab;
		size_t el = 1;

		napi_get_typedarray_info(env, v, &t, &n, data, &ab, &off);
		switch (t) {
		case napi_int16_array:
		case napi_uint16_array:
			el = 2;
			break;
		case napi_int32_array:
		case napi_uint32_array:
		case napi_float32_array:
			el = 4;
			break;
		case napi_float64_array:
		case napi_bigint64_array:
		case napi_biguint64_array:
			el = 8;
			break;
		default:
			el = 1;
		}
		*len = n * el;
		return true;
	}
	napi_is_dataview(env, v, &is);
	if (is) {
		napi_value ab;
		size_t off;

		napi_get_dataview_info(env, v, len, data, &ab, &off);
		return true;
	}
	napi_is_arraybuffer(env, v, &is);
	if (is) {
		napi_get_arraybuffer_info(env, v, data, len);
		return true;
	}
	throw_type(env, "%s must be a Buffer, TypedArray, DataView or ArrayBuffer", what);
	return false;
}

static napi_value make_u32(napi_env env, uint32_t x)
{
	napi_value v;
	napi_create_uint32(env, x, &v);
	return v;
}

static napi_value make_i64(napi_env env, int64_t x)
{
	napi_value v;
	napi_create_int64(env, x, &v);
	return v;
}

static napi_value make_bool(napi_env env, bool x)
{
	napi_value v;
	napi_get_boolean(env, x, &v);
	return v;
}

static napi_value make_str(napi_env env, const char *s)
{
	napi_value v;
	if (!s)
		napi_get_null(env, &v);
	else
		napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
	return v;
}

/* ------------------------------------------------------------------------------------ */
/* objects, links                                                                        */

enum ln_link_kind {
	LK_LIBBPF = 1, /* a struct bpf_link */
	LK_TC = 2,     /* a tc filter: libbpf 1.1 has no tc link, so hook + handle/priority */
};

struct ln_link {
	int kind; /* 0 = free slot */
	struct bpf_link *link;
	/* LK_TC: where the filter is, to detach it (the clsact qdisc is left in place) */
	int tc_ifindex;
	int tc_point;
	__u32 tc_handle, tc_priority;
	char *desc;
};

struct ln_ring;

struct ln_obj {
	struct bpf_object *obj;
	bool loaded;
	bool closed;
	struct bpf_program **progs;
	size_t nprogs;
	struct bpf_map **maps;
	size_t nmaps;
	struct ln_link *links; /* link id = index + 1 */
	size_t nlinks;
	struct ln_ring *rings;
};

struct ln_ring {
	napi_env env;
	struct ln_obj *parent;
	struct ln_ring *next;
	int epfd; /* epoll fd watching the map (the ring's wakeups); -1 when closed */
	uv_poll_t poll;
	uv_timer_t timer;
	uv_idle_t idle;   /* "come back on the next loop iteration" after a capped turn */
	int handles_open; /* uv handles not yet closed */
	bool wrapper_gone;
	bool closed;
	bool started;
	bool in_cb;
	bool redrain_armed;
	napi_ref buf_ref, cb_ref, self_ref;
	napi_ref obj_ref; /* the parent object's handle: an open reader keeps it alive */
	napi_async_context actx;
	uint8_t *buf;
	size_t cap, used;
	uint32_t count;
	bool full;
	/* our own view of the ring (see the header comment) */
	uint64_t *cons_pos;       /* consumer page, RW */
	const uint64_t *prod_pos; /* producer page, RO; the data area follows it */
	const uint8_t *data;      /* max_entries bytes, mapped twice back to back */
	uint64_t mask;
	size_t cons_len, prod_len;
	uint32_t poll_ms, max_batches;
	char map_name[64];
	/* counters */
	uint64_t st_records, st_bytes, st_batches, st_turns, st_cap_hits, st_oversized,
		st_deferred, st_errors, st_wakeups;
	int last_err;
};

static void ring_close(struct ln_ring *r);

static void link_destroy(struct ln_link *l)
{
	if (l->kind == LK_LIBBPF && l->link)
		bpf_link__destroy(l->link);
	if (l->kind == LK_TC) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->tc_ifindex,
			    .attach_point = (enum bpf_tc_attach_point)l->tc_point);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = l->tc_handle, .priority = l->tc_priority);

		bpf_tc_detach(&hook, &opts); /* fails harmlessly if the device is gone */
	}
	free(l->desc);
	memset(l, 0, sizeof(*l));
}

static void obj_close(struct ln_obj *o)
{
	size_t i;

	if (o->closed)
		return;
	o->closed = true;
	while (o->rings) {
		struct ln_ring *r = o->rings;

		o->rings = r->next;
		r->next = NULL;
		r->parent = NULL;
		ring_close(r);
	}
	for (i = 0; i < o->nlinks; i++)
		link_destroy(&o->links[i]);
	free(o->links);
	o->links = NULL;
	o->nlinks = 0;
	if (o->obj)
		bpf_object__close(o->obj);
	o->obj = NULL;
	free(o->progs);
	free(o->maps);
	o->progs = NULL;
	o->maps = NULL;
	o->nprogs = o->nmaps = 0;
}

static void obj_finalize(napi_env env, void *data, void *hint)
{
	struct ln_obj *o = data;

	(void)env;
	(void)hint;
	obj_close(o);
	free(o);
}

static struct ln_obj *get_obj(napi_env env, napi_value v, bool need_open)
{
	struct ln_obj *o = NULL;

	if (napi_unwrap(env, v, (void **)&o) != napi_ok || !o) {
		throw_type(env, "not a BPF object handle");
		return NULL;
	}
	if (need_open && o->closed) {
		throw_errd(env, EBADF, "object is closed", "using BPF object");
		return NULL;
	}
	return o;
}

static struct bpf_program *get_prog(napi_env env, struct ln_obj *o, napi_value v)
{
	uint32_t i;

	if (!get_u32(env, v, "program index", &i))
		return NULL;
	if (i >= o->nprogs) {
		throw_type(env, "program index %u out of range", i);
		return NULL;
	}
	return o->progs[i];
}

static struct bpf_map *get_map(napi_env env, struct ln_obj *o, napi_value v)
{
	uint32_t i;

	if (!get_u32(env, v, "map index", &i))
		return NULL;
	if (i >= o->nmaps) {
		throw_type(env, "map index %u out of range", i);
		return NULL;
	}
	return o->maps[i];
}

/* openObject(path, opts?: { objectName?, pinRootPath?, btfCustomPath? }) -> handle */
static napi_value js_open_object(napi_env env, napi_callback_info info)
{
	napi_value argv[2], handle;
	char *path = NULL, *oname = NULL, *pin = NULL, *btfp = NULL;
	struct bpf_object *obj;
	struct bpf_program *p;
	struct bpf_map *m;
	struct ln_obj *o;
	size_t n;
	int err;

	if (!get_args(env, info, 2, argv))
		return NULL;
	path = get_string(env, argv[0], "path");
	if (!path)
		return NULL;
	if (!get_opt_string_prop(env, argv[1], "objectName", &oname) ||
	    !get_opt_string_prop(env, argv[1], "pinRootPath", &pin) ||
	    !get_opt_string_prop(env, argv[1], "btfCustomPath", &btfp))
		goto out;
	{
		LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = oname, .pin_root_path = pin,
			    .btf_custom_path = btfp);
		obj = bpf_object__open_file(path, &opts);
	}
	if (!obj) {
		err = errno;
		flush_logs(env);
		throw_errno(env, err, "opening BPF object %s", path);
		goto out;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		bpf_object__close(obj);
		throw_errno(env, ENOMEM, "opening BPF object %s", path);
		goto out;
	}
	o->obj = obj;
	n = 0;
	bpf_object__for_each_program(p, obj) n++;
	o->progs = calloc(n ? n : 1, sizeof(*o->progs));
	n = 0;
	bpf_object__for_each_program(p, obj) o->progs[n++] = p;
	o->nprogs = n;
	n = 0;
	bpf_object__for_each_map(m, obj) n++;
	o->maps = calloc(n ? n : 1, sizeof(*o->maps));
	n = 0;
	bpf_object__for_each_map(m, obj) o->maps[n++] = m;
	o->nmaps = n;
	napi_create_object(env, &handle);
	if (napi_wrap(env, handle, o, obj_finalize, NULL, NULL) != napi_ok) {
		obj_close(o);
		free(o);
		throw_errno(env, EINVAL, "wrapping BPF object");
		goto out;
	}
	flush_logs(env);
	free(path);
	free(oname);
	free(pin);
	free(btfp);
	return handle;
out:
	free(path);
	free(oname);
	free(pin);
	free(btfp);
	return NULL;
}

/* objectInfo(h) -> { name, loaded, programs: [...], maps: [...] } (indices = array order) */
static napi_value js_object_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res, arr, e;
	struct ln_obj *o;
	size_t i;

	if (!get_args(env, info, 1, argv) || !(o = get_obj(env, argv[0], true)))
		return NULL;
	napi_create_object(env, &res);
	napi_set_named_property(env, res, "name", make_str(env, bpf_object__name(o->obj)));
	napi_set_named_property(env, res, "loaded", make_bool(env, o->loaded));
	napi_create_array_with_length(env, o->nprogs, &arr);
	for (i = 0; i < o->nprogs; i++) {
		struct bpf_program *p = o->progs[i];
		enum bpf_prog_type t = bpf_program__type(p);

		napi_create_object(env, &e);
		napi_set_named_property(env, e, "name", make_str(env, bpf_program__name(p)));
		napi_set_named_property(env, e, "section",
					make_str(env, bpf_program__section_name(p)));
		napi_set_named_property(env, e, "type", make_u32(env, (uint32_t)t));
		napi_set_named_property(env, e, "typeName",
					make_str(env, libbpf_bpf_prog_type_str(t)));
		napi_set_named_property(env, e, "autoload",
					make_bool(env, bpf_program__autoload(p)));
		napi_set_named_property(env, e, "autoattach",
					make_bool(env, bpf_program__autoattach(p)));
		napi_set_named_property(env, e, "fd", make_i64(env, bpf_program__fd(p)));
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	napi_set_named_property(env, res, "programs", arr);
	napi_create_array_with_length(env, o->nmaps, &arr);
	for (i = 0; i < o->nmaps; i++) {
		struct bpf_map *m = o->maps[i];
		enum bpf_map_type t = bpf_map__type(m);

		napi_create_object(env, &e);
		napi_set_named_property(env, e, "name", make_str(env, bpf_map__name(m)));
		napi_set_named_property(env, e, "type", make_u32(env, (uint32_t)t));
		napi_set_named_property(env, e, "typeName",
					make_str(env, libbpf_bpf_map_type_str(t)));
		napi_set_named_property(env, e, "keySize", make_u32(env, bpf_map__key_size(m)));
		napi_set_named_property(env, e, "valueSize", make_u32(env, bpf_map__value_size(m)));
		napi_set_named_property(env, e, "maxEntries",
					make_u32(env, bpf_map__max_entries(m)));
		napi_set_named_property(env, e, "internal",
					make_bool(env, bpf_map__is_internal(m)));
		napi_set_named_property(env, e, "fd", make_i64(env, bpf_map__fd(m)));
		napi_set_element(env, arr, (uint32_t)i, e);
	}
	napi_set_named_property(env, res, "maps", arr);
	return res;
}

/*
 * setGlobal(h, name, bytes): writes a global variable (typically `const volatile`) before
 * load. The variable is looked up by name in the object's BTF, in the DATASECs .rodata*,
 * .data* and .bss; `bytes` must have exactly the variable's size.
 */
static napi_value js_set_global(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct ln_obj *o;
	char *name;
	void *data;
	size_t len;
	struct btf *btf;
	__u32 id, nt;
	int found_id = -1;
	__u32 found_off = 0, found_size = 0;
	const char *found_sec = NULL;

	if (!get_args(env, info, 3, argv) || !(o = get_obj(env, argv[0], true)))
		return NULL;
	name = get_string(env, argv[1], "name");
	if (!name)
		return NULL;
	if (!get_bytes(env, argv[2], "value", &data, &len))
		goto out;
	if (o->loaded) {
		throw_errd(env, EBUSY, "object already loaded", "setting global %s", name);
		goto out;
	}
	btf = bpf_object__btf(o->obj);
	if (!btf) {
		throw_errd(env, ENOENT, "object has no BTF", "setting global %s", name);
		goto out;
	}
	nt = btf__type_cnt(btf);
	for (id = 1; id < nt && found_id < 0; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_var_secinfo *vs;
		const char *sec;
		int i, vlen;

		if (!btf_is_datasec(t))
			continue;
		sec = btf__name_by_offset(btf, t->name_off);
		if (!sec || (strncmp(sec, ".rodata", 7) && strncmp(sec, ".data", 5) &&
			     strcmp(sec, ".bss")))
			continue;
		vs = btf_var_secinfos(t);
		vlen = btf_vlen(t);
		for (i = 0; i < vlen; i++, vs++) {
			const struct btf_type *vt = btf__type_by_id(btf, vs->type);
			const char *vn;

			if (!vt || !btf_is_var(vt))
				continue;
			vn = btf__name_by_offset(btf, vt->name_off);
			if (vn && !strcmp(vn, name)) {
				found_id = (int)vs->type;
				found_off = vs->offset;
				found_size = vs->size;
				found_sec = sec;
				break;
			}
		}
	}
	if (found_id < 0) {
		throw_errd(env, ENOENT, "no such variable in .rodata/.data/.bss",
			   "setting global %s", name);
		goto out;
	}
	if (len != found_size) {
		char d[96];

		snprintf(d, sizeof(d), "size is %u bytes, got %zu", found_size, len);
		throw_errd(env, EINVAL, d, "setting global %s", name);
		goto out;
	}
	{
		struct bpf_map *m = bpf_object__find_map_by_name(o->obj, found_sec);
		const void *cur;
		size_t sz = 0;
		void *copy;
		int err;

		if (!m) {
			throw_errd(env, ENOENT, "no map for its section", "setting global %s", name);
			goto out;
		}
		cur = bpf_map__initial_value(m, &sz);
		if (!cur || (size_t)found_off + len > sz) {
			throw_errd(env, ERANGE, "outside its section", "setting global %s", name);
			goto out;
		}
		copy = malloc(sz);
		if (!copy) {
			throw_errno(env, ENOMEM, "setting global %s", name);
			goto out;
		}
		memcpy(copy, cur, sz);
		memcpy((uint8_t *)copy + found_off, data, len);
		err = bpf_map__set_initial_value(m, copy, sz);
		free(copy);
		if (err) {
			flush_logs(env);
			throw_errno(env, err, "setting global %s", name);
			goto out;
		}
	}
out:
	free(name);
	return NULL;
}

/* setMaxEntries(h, mapIndex, n) */
static napi_value js_set_max_entries(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct ln_obj *o;
	struct bpf_map *m;
	uint32_t n;
	int err;

	if (!get_args(env, info, 3, argv) || !(o = get_obj(env, argv[0], true)) ||
	    !(m = get_map(env, o, argv[1])) || !get_u32(env, argv[2], "maxEntries", &n))
		return NULL;
	err = bpf_map__set_max_entries(m, n);
	flush_logs(env);
	if (err)
		throw_errno(env, err, "setting max_entries of map %s to %u", bpf_map__name(m), n);
	return NULL;
}

/* The (h, progIndex, bool) arguments of setAutoload/setAutoattach; false with a JS error
 * pending when they are not that. */
static bool get_prog_flag(napi_env env, napi_callback_info info, const char *what,
			  struct bpf_program **p, bool *on)
{
	napi_value argv[3];
	struct ln_obj *o;

	if (!get_args(env, info, 3, argv) || !(o = get_obj(env, argv[0], true)) ||
	    !(*p = get_prog(env, o, argv[1])))
		return false;
	if (napi_get_value_bool(env, argv[2], on) != napi_ok) {
		throw_type(env, "%s must be a boolean", what);
		return false;
	}
	return true;
}

/* setAutoload(h, progIndex, bool) */
static napi_value js_set_autoload(napi_env env, napi_callback_info info)
{
	struct bpf_program *p;
	bool on;
	int err;

	if (!get_prog_flag(env, info, "autoload", &p, &on))
		return NULL;
	err = bpf_program__set_autoload(p, on);
	if (err)
		throw_errno(env, err, "setting autoload of program %s", bpf_program__name(p));
	return NULL;
}

/* setAutoattach(h, progIndex, bool) */
static napi_value js_set_autoattach(napi_env env, napi_callback_info info)
{
	struct bpf_program *p;
	bool on;

	if (!get_prog_flag(env, info, "autoattach", &p, &on))
		return NULL;
	bpf_program__set_autoattach(p, on);
	return NULL;
}

/* Last line-aligned LN_MSG_TAIL bytes of the verifier log (or of libbpf's messages). */
static void short_tail(char *out, size_t outsz)
{
	const char *s = g_log.tail, *end = g_log.tail + g_log.tail_len;
	const char *b = strstr(s, "-- BEGIN PROG LOAD LOG --");
	const char *e;
	const char *start;
	size_t n;

	if (b) {
		const char *nb;
		/* the last BEGIN marker in the kept tail */
		while ((nb = strstr(b + 1, "-- BEGIN PROG LOAD LOG --")) != NULL)
			b = nb;
		e = strstr(b, "-- END PROG LOAD LOG --");
		s = b + strlen("-- BEGIN PROG LOAD LOG --");
		if (e)
			end = e;
	}
	while (end > s && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end - (size_t)(end - s > (long)LN_MSG_TAIL ? LN_MSG_TAIL : end - s);
	if (start > s) {
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		if (nl)
			start = nl + 1;
	}
	while (start < end && *start == '\n')
		start++;
	n = (size_t)(end - start);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, start, n);
	out[n] = 0;
}

/*
 * The verifier gives up with EAGAIN when a signal is pending on the loading thread, and
 * libbpf retries a program load only five times: under a sampling profiler (node --cpu-prof
 * sends the thread SIGPROF every millisecond) or any busy timer, programs whose verification
 * takes longer than the interval never load. So the load runs with the asynchronous signals
 * blocked on this thread; a signal sent to the thread stays pending until the mask is
 * restored, one sent to the process (SIGINT, SIGTERM) is taken by another thread and Node's
 * handler sees it once the load returns. Fault signals stay unblocked: a fault with them
 * blocked would kill the process without a report.
 */
static void block_async_signals(sigset_t *old)
{
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGTRAP);
	sigdelset(&set, SIGABRT);
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

/* load(h): throws Error{errno, code, program?, map?, log} */
static napi_value js_load(napi_env env, napi_callback_info info)
{
	napi_value argv[1], e;
	struct ln_obj *o;
	sigset_t oldmask;
	int err;

	if (!get_args(env, info, 1, argv) || !(o = get_obj(env, argv[0], true)))
		return NULL;
	if (o->loaded) {
		throw_errd(env, EBUSY, "already loaded", "loading BPF object %s",
			   bpf_object__name(o->obj));
		return NULL;
	}
	g_log.tail[0] = 0;
	capture_begin();
	block_async_signals(&oldmask);
	err = bpf_object__load(o->obj);
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	capture_end();
	/* loading parsed the kernel's BTF (megabytes) and freed it: give the pages back */
	malloc_trim(0);
	if (err) {
		char what[256], detail[LN_MSG_TAIL + 1];
		size_t tl = g_log.tail_len < LN_LOG_TAIL ? g_log.tail_len : LN_LOG_TAIL - 1;

		g_log.tail[tl] = 0;
		if (g_log.fail_name[0] && !strcmp(g_log.fail_kind, "map"))
			snprintf(what, sizeof(what), "creating map %s", g_log.fail_name);
		else if (g_log.fail_name[0])
			snprintf(what, sizeof(what), "loading program %s", g_log.fail_name);
		else
			snprintf(what, sizeof(what), "loading BPF object %s",
				 bpf_object__name(o->obj));
		short_tail(detail, sizeof(detail));
		flush_logs(env);
		e = make_error(env, err, what, detail[0] ? detail : NULL);
		if (!e)
			return NULL;
		if (g_log.fail_name[0])
			napi_set_named_property(env, e, g_log.fail_kind[0] == 'm' ? "map" : "program",
						make_str(env, g_log.fail_name));
		napi_set_named_property(env, e, "log", make_str(env, g_log.tail));
		napi_throw(env, e);
		return NULL;
	}
	o->loaded = true;
	flush_logs(env);
	return NULL;
}

static int add_slot(struct ln_obj *o)
{
	size_t i;
	struct ln_link *nl;

	for (i = 0; i < o->nlinks; i++)
		if (!o->links[i].kind)
			return (int)i;
	nl = realloc(o->links, (o->nlinks + 1) * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	o->links = nl;
	memset(&o->links[o->nlinks], 0, sizeof(*nl));
	return (int)o->nlinks++;
}

static int add_link(struct ln_obj *o, struct bpf_link *link, const char *desc)
{
	int i = add_slot(o);

	if (i < 0)
		return i;
	o->links[i].kind = LK_LIBBPF;
	o->links[i].link = link;
	o->links[i].desc = strdup(desc);
	return i + 1;
}

/*
 * attach(h, progIndex, spec) -> link id (> 0). spec.kind:
 *   'auto'                          bpf_program__attach (section-derived)
 *   'tracepoint'  {category, name, cookie?}
 *   'rawTracepoint' {name}
 *   'trace'                         tp_btf / fentry / fexit (BTF target from the section)
 *   'lsm'
 *   'xdp'         {ifindex}
 *   'cgroup'      {path}            cgroup v2 directory
 *   'uprobe'      {binaryPath, funcName?, offset?, pid?, retprobe?, cookie?}
 *   'tc'          {ifindex, direction: 'ingress'|'egress', priority?, handle?}
 *                 creates the clsact qdisc if missing (and leaves it on detach)
 *   'iter'        {pid?, tid?, mapFd?}  a BPF iterator link (iter/...): task iterators may be
 *                 limited to one process (pid) or one thread (tid), map iterators need mapFd;
 *                 read it with iterRead
 * New kinds go here: parse the spec, set `desc`, produce a link (or a tc-like slot).
 */
static napi_value js_attach(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct ln_obj *o;
	struct bpf_program *p;
	char *kind = NULL, *s1 = NULL, *s2 = NULL;
	struct bpf_link *link = NULL;
	char desc[512];
	const char *pname;
	int err = 0, id;

	if (!get_args(env, info, 3, argv) || !(o = get_obj(env, argv[0], true)) ||
	    !(p = get_prog(env, o, argv[1])))
		return NULL;
	pname = bpf_program__name(p);
	if (!get_opt_string_prop(env, argv[2], "kind", &kind))
		return NULL;
	if (!kind) {
		throw_type(env, "attach spec needs a kind");
		return NULL;
	}
	if (!o->loaded) {
		throw_errd(env, EINVAL, "object not loaded", "attaching program %s", pname);
		goto out;
	}
	if (bpf_program__fd(p) < 0) {
		throw_errd(env, EINVAL, "program not loaded (autoload off)", "attaching program %s",
			   pname);
		goto out;
	}
	if (!strcmp(kind, "auto")) {
		snprintf(desc, sizeof(desc), "auto-attaching program %s (%s)", pname,
			 bpf_program__section_name(p));
		link = bpf_program__attach(p);
	} else if (!strcmp(kind, "tracepoint")) {
		int64_t cookie = 0;
		LIBBPF_OPTS(bpf_tracepoint_opts, topts);

		if (!get_opt_string_prop(env, argv[2], "category", &s1) ||
		    !get_opt_string_prop(env, argv[2], "name", &s2) ||
		    !get_opt_int64_prop(env, argv[2], "cookie", &cookie, NULL))
			goto out;
		if (!s1 || !s2) {
			throw_type(env, "tracepoint attach needs category and name");
			goto out;
		}
		topts.bpf_cookie = (__u64)cookie;
		snprintf(desc, sizeof(desc), "attaching program %s to tracepoint %s/%s", pname, s1,
			 s2);
		link = bpf_program__attach_tracepoint_opts(p, s1, s2, &topts);
	} else if (!strcmp(kind, "rawTracepoint")) {
		if (!get_opt_string_prop(env, argv[2], "name", &s1))
			goto out;
		if (!s1) {
			throw_type(env, "rawTracepoint attach needs name");
			goto out;
		}
		snprintf(desc, sizeof(desc), "attaching program %s to raw tracepoint %s", pname,
			 s1);
		link = bpf_program__attach_raw_tracepoint(p, s1);
	} else if (!strcmp(kind, "trace")) {
		snprintf(desc, sizeof(desc), "attaching program %s (%s)", pname,
			 bpf_program__section_name(p));
		link = bpf_program__attach_trace(p);
	} else if (!strcmp(kind, "lsm")) {
		snprintf(desc, sizeof(desc), "attaching LSM program %s (%s)", pname,
			 bpf_program__section_name(p));
		link = bpf_program__attach_lsm(p);
	} else if (!strcmp(kind, "xdp")) {
		int64_t ifindex = 0;
		bool have = false;

		if (!get_opt_int64_prop(env, argv[2], "ifindex", &ifindex, &have))
			goto out;
		if (!have || ifindex <= 0) {
			throw_type(env, "xdp attach needs ifindex > 0");
			goto out;
		}
		snprintf(desc, sizeof(desc), "attaching XDP program %s to ifindex %lld", pname,
			 (long long)ifindex);
		link = bpf_program__attach_xdp(p, (int)ifindex);
	} else if (!strcmp(kind, "cgroup")) {
		int fd;

		if (!get_opt_string_prop(env, argv[2], "path", &s1))
			goto out;
		if (!s1) {
			throw_type(env, "cgroup attach needs path");
			goto out;
		}
		snprintf(desc, sizeof(desc), "attaching program %s to cgroup %s", pname, s1);
		fd = open(s1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
		} else {
			link = bpf_program__attach_cgroup(p, fd);
			if (!link)
				err = errno;
			close(fd);
			errno = err;
		}
	} else if (!strcmp(kind, "uprobe")) {
		int64_t off = 0, pid = -1, cookie = 0;
		bool ret = false;
		LIBBPF_OPTS(bpf_uprobe_opts, uopts);

		if (!get_opt_string_prop(env, argv[2], "binaryPath", &s1) ||
		    !get_opt_string_prop(env, argv[2], "funcName", &s2) ||
		    !get_opt_int64_prop(env, argv[2], "offset", &off, NULL) ||
		    !get_opt_int64_prop(env, argv[2], "pid", &pid, NULL) ||
		    !get_opt_int64_prop(env, argv[2], "cookie", &cookie, NULL) ||
		    !get_opt_bool_prop(env, argv[2], "retprobe", &ret))
			goto out;
		if (!s1) {
			throw_type(env, "uprobe attach needs binaryPath");
			goto out;
		}
		uopts.retprobe = ret;
		uopts.func_name = s2;
		uopts.bpf_cookie = (__u64)cookie;
		snprintf(desc, sizeof(desc), "attaching program %s to %s %s:%s+%lld", pname,
			 ret ? "uretprobe" : "uprobe", s1, s2 ? s2 : "", (long long)off);
		link = bpf_program__attach_uprobe_opts(p, (pid_t)pid, s1, (size_t)off, &uopts);
	} else if (!strcmp(kind, "iter")) {
		int64_t pid = 0, tid = 0, map_fd = 0;
		union bpf_iter_link_info li;
		LIBBPF_OPTS(bpf_iter_attach_opts, iopts);

		if (!get_opt_int64_prop(env, argv[2], "pid", &pid, NULL) ||
		    !get_opt_int64_prop(env, argv[2], "tid", &tid, NULL) ||
		    !get_opt_int64_prop(env, argv[2], "mapFd", &map_fd, NULL))
			goto out;
		if (pid < 0 || tid < 0 || map_fd < 0 || (pid && tid) || ((pid || tid) && map_fd)) {
			throw_type(env, "iter attach takes pid or tid (task iterators), or mapFd");
			goto out;
		}
		memset(&li, 0, sizeof(li));
		if (map_fd) {
			li.map.map_fd = (__u32)map_fd;
		} else {
			li.task.pid = (__u32)pid;
			li.task.tid = (__u32)tid;
		}
		if (pid || tid || map_fd) {
			iopts.link_info = &li;
			iopts.link_info_len = sizeof(li);
		}
		if (pid || tid)
			snprintf(desc, sizeof(desc), "attaching iterator %s (%s) to %s %lld", pname,
				 bpf_program__section_name(p), pid ? "pid" : "tid",
				 (long long)(pid ? pid : tid));
		else
			snprintf(desc, sizeof(desc), "attaching iterator %s (%s)", pname,
				 bpf_program__section_name(p));
		link = bpf_program__attach_iter(p, &iopts);
	} else if (!strcmp(kind, "tc")) {
		int64_t ifindex = 0, prio = 0, handle = 0;
		bool have = false;
		int slot;

		if (!get_opt_int64_prop(env, argv[2], "ifindex", &ifindex, &have) ||
		    !get_opt_string_prop(env, argv[2], "direction", &s1) ||
		    !get_opt_int64_prop(env, argv[2], "priority", &prio, NULL) ||
		    !get_opt_int64_prop(env, argv[2], "handle", &handle, NULL))
			goto out;
		if (!have || ifindex <= 0 || !s1 || (strcmp(s1, "ingress") && strcmp(s1, "egress"))) {
			throw_type(env, "tc attach needs ifindex > 0 and direction 'ingress' or 'egress'");
			goto out;
		}
		snprintf(desc, sizeof(desc), "attaching tc program %s to ifindex %lld %s", pname,
			 (long long)ifindex, s1);
		{
			LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
				    .attach_point = s1[0] == 'i' ? BPF_TC_INGRESS : BPF_TC_EGRESS);
			LIBBPF_OPTS(bpf_tc_opts, topts, .prog_fd = bpf_program__fd(p),
				    .handle = (__u32)handle, .priority = (__u32)prio);

			err = bpf_tc_hook_create(&hook);
			if (err && err != -EEXIST) {
				flush_logs(env);
				throw_errno(env, err, "%s: creating clsact qdisc", desc);
				goto out;
			}
			err = bpf_tc_attach(&hook, &topts);
			if (err) {
				flush_logs(env);
				throw_errno(env, err, "%s", desc);
				goto out;
			}
			slot = add_slot(o);
			if (slot < 0) {
				LIBBPF_OPTS(bpf_tc_opts, dopts, .handle = topts.handle,
					    .priority = topts.priority);
				bpf_tc_detach(&hook, &dopts);
				throw_errno(env, ENOMEM, "%s", desc);
				goto out;
			}
			o->links[slot].kind = LK_TC;
			o->links[slot].tc_ifindex = (int)ifindex;
			o->links[slot].tc_point = (int)hook.attach_point;
			o->links[slot].tc_handle = topts.handle;
			o->links[slot].tc_priority = topts.priority;
			o->links[slot].desc = strdup(desc);
			flush_logs(env);
			free(kind);
			free(s1);
			free(s2);
			return make_u32(env, (uint32_t)slot + 1);
		}
	} else {
		throw_errd(env, EOPNOTSUPP, "unknown attach kind", "attaching program %s (%s)", pname,
			   kind);
		goto out;
	}
	if (!link) {
		if (!err)
			err = errno ? errno : EINVAL;
		flush_logs(env);
		throw_errno(env, err, "%s", desc);
		goto out;
	}
	id = add_link(o, link, desc);
	if (id < 0) {
		bpf_link__destroy(link);
		throw_errno(env, -id, "%s", desc);
		goto out;
	}
	flush_logs(env);
	free(kind);
	free(s1);
	free(s2);
	return make_u32(env, (uint32_t)id);
out:
	free(kind);
	free(s1);
	free(s2);
	return NULL;
}

/* detach(h, linkId) -> bool (false when unknown or already detached). Closed object: false. */
static napi_value js_detach(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct ln_obj *o;
	uint32_t id;

	if (!get_args(env, info, 2, argv) || !(o = get_obj(env, argv[0], false)) ||
	    !get_u32(env, argv[1], "link id", &id))
		return NULL;
	if (o->closed || id == 0 || id > o->nlinks || !o->links[id - 1].kind)
		return make_bool(env, false);
	link_destroy(&o->links[id - 1]);
	flush_logs(env);
	return make_bool(env, true);
}

/* linkCount(h) -> live links (for leak checks) */
static napi_value js_link_count(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ln_obj *o;
	uint32_t n = 0;
	size_t i;

	if (!get_args(env, info, 1, argv) || !(o = get_obj(env, argv[0], false)))
		return NULL;
	for (i = 0; i < o->nlinks; i++)
		if (o->links[i].kind)
			n++;
	return make_u32(env, n);
}

static napi_value js_close_object(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ln_obj *o;

	if (!get_args(env, info, 1, argv) || !(o = get_obj(env, argv[0], false)))
		return NULL;
	obj_close(o);
	flush_logs(env);
	return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* map operations                                                                        */

static struct bpf_map *loaded_map(napi_env env, napi_value *argv, struct ln_obj **po)
{
	struct ln_obj *o;
	struct bpf_map *m;

	if (!(o = get_obj(env, argv[0], true)) || !(m = get_map(env, o, argv[1])))
		return NULL;
	if (bpf_map__fd(m) < 0) {
		throw_errd(env, EBADF, "object not loaded", "using map %s", bpf_map__name(m));
		return NULL;
	}
	*po = o;
	return m;
}

static bool get_flags(napi_env env, napi_value v, __u64 *flags)
{
	int64_t f = 0;

	*flags = 0;
	if (is_nullish(env, v))
		return true;
	if (napi_get_value_int64(env, v, &f) != napi_ok) {
		throw_type(env, "flags must be a number");
		return false;
	}
	*flags = (__u64)f;
	return true;
}

/* The (h, mapIndex, key, value, flags?) arguments of mapLookup/mapUpdate; false with a JS
 * error pending when they are not that. */
static bool get_kv_args(napi_env env, napi_callback_info info, struct bpf_map **m, void **k,
			size_t *kl, void **v, size_t *vl, __u64 *flags)
{
	napi_value argv[5];
	struct ln_obj *o;

	return get_args(env, info, 5, argv) && (*m = loaded_map(env, argv, &o)) &&
	       get_bytes(env, argv[2], "key", k, kl) && get_bytes(env, argv[3], "value", v, vl) &&
	       get_flags(env, argv[4], flags);
}

/* mapLookup(h, mapIndex, key, valueOut, flags?) -> bool found */
static napi_value js_map_lookup(napi_env env, napi_callback_info info)
{
	struct bpf_map *m;
	void *k, *v;
	size_t kl, vl;
	__u64 flags;
	int err;

	if (!get_kv_args(env, info, &m, &k, &kl, &v, &vl, &flags))
		return NULL;
	err = bpf_map__lookup_elem(m, k, kl, v, vl, flags);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err) {
		throw_errno(env, err, "looking up in map %s (key %zu B, value %zu B)",
			    bpf_map__name(m), kl, vl);
		return NULL;
	}
	return make_bool(env, true);
}

/* mapUpdate(h, mapIndex, key, value, flags?) */
static napi_value js_map_update(napi_env env, napi_callback_info info)
{
	struct bpf_map *m;
	void *k, *v;
	size_t kl, vl;
	__u64 flags;
	int err;

	if (!get_kv_args(env, info, &m, &k, &kl, &v, &vl, &flags))
		return NULL;
	err = bpf_map__update_elem(m, k, kl, v, vl, flags);
	if (err)
		throw_errno(env, err, "updating map %s (key %zu B, value %zu B)", bpf_map__name(m),
			    kl, vl);
	return NULL;
}

/* mapDelete(h, mapIndex, key, flags?) -> bool deleted */
static napi_value js_map_delete(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	struct ln_obj *o;
	struct bpf_map *m;
	void *k;
	size_t kl;
	__u64 flags;
	int err;

	if (!get_args(env, info, 4, argv) || !(m = loaded_map(env, argv, &o)) ||
	    !get_bytes(env, argv[2], "key", &k, &kl) || !get_flags(env, argv[3], &flags))
		return NULL;
	err = bpf_map__delete_elem(m, k, kl, flags);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err) {
		throw_errno(env, err, "deleting from map %s", bpf_map__name(m));
		return NULL;
	}
	return make_bool(env, true);
}

/* mapNextKey(h, mapIndex, keyOrNull, nextOut) -> bool (false at the end) */
static napi_value js_map_next_key(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	struct ln_obj *o;
	struct bpf_map *m;
	void *k = NULL, *nk;
	size_t kl = 0, nkl;
	int err;

	if (!get_args(env, info, 4, argv) || !(m = loaded_map(env, argv, &o)))
		return NULL;
	if (!is_nullish(env, argv[2]) && !get_bytes(env, argv[2], "key", &k, &kl))
		return NULL;
	if (!get_bytes(env, argv[3], "next key", &nk, &nkl))
		return NULL;
	if (k && kl != nkl) {
		throw_errd(env, EINVAL, "key sizes differ", "iterating map %s", bpf_map__name(m));
		return NULL;
	}
	err = bpf_map__get_next_key(m, k, nk, nkl);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err) {
		throw_errno(env, err, "iterating map %s", bpf_map__name(m));
		return NULL;
	}
	return make_bool(env, true);
}

/* ------------------------------------------------------------------------------------ */
/* ring-buffer consumer                                                                  */

static void put_record(struct ln_ring *r, const void *data, size_t len)
{
	uint8_t *d = r->buf + r->used;
	uint32_t hdr[2] = {(uint32_t)len, 0};
	size_t padded = round8(len);

	memcpy(d, hdr, sizeof(hdr));
	memcpy(d + LN_REC_HDR, data, len);
	if (padded != len)
		memset(d + LN_REC_HDR + len, 0, padded - len);
	r->used += LN_REC_HDR + padded;
	r->count++;
}

/* The kernel's record header: u32 len with these two flag bits, u32 page offset. */
#define LN_RB_BUSY (1u << 31)
#define LN_RB_DISCARD (1u << 30)
#define LN_RB_HDR 8u

/*
 * Copies committed records into the batch until the ring is empty, a record is still being
 * written (BUSY), or the next record does not fit (r->full; it stays in the ring). Publishes
 * consumer_pos once, at the end.
 */
static void ring_fill(struct ln_ring *r)
{
	uint64_t cons = __atomic_load_n(r->cons_pos, __ATOMIC_RELAXED);
	uint64_t prod = __atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE);
	uint64_t start = cons;

	for (;;) {
		const uint8_t *rec;
		uint32_t hdr, len;
		size_t need;

		if (cons >= prod) {
			prod = __atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE);
			if (cons >= prod)
				break;
		}
		rec = r->data + (cons & r->mask);
		hdr = __atomic_load_n((const uint32_t *)rec, __ATOMIC_ACQUIRE);
		if (hdr & LN_RB_BUSY)
			break;
		len = hdr & ~(LN_RB_BUSY | LN_RB_DISCARD);
		if (!(hdr & LN_RB_DISCARD)) {
			need = LN_REC_HDR + round8(len);
			if (need > r->cap) {
				r->st_oversized++; /* can never fit: skip it */
			} else if (need > r->cap - r->used) {
				r->st_deferred++;
				r->full = true;
				break;
			} else {
				put_record(r, rec + LN_RB_HDR, len);
			}
		}
		cons += round8(len + LN_RB_HDR);
		if (r->cap - r->used < LN_REC_HDR) {
			r->full = true;
			break;
		}
	}
	if (cons != start)
		__atomic_store_n(r->cons_pos, cons, __ATOMIC_RELEASE);
}

/* Maps the ring as the kernel lays it out; 0 or a negative errno. */
static int ring_map(struct ln_ring *r, int fd, uint32_t max_entries)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *c, *p;

	r->cons_len = page;
	r->prod_len = page + 2 * (size_t)max_entries;
	c = mmap(NULL, r->cons_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	p = mmap(NULL, r->prod_len, PROT_READ, MAP_SHARED, fd, (off_t)page);
	if (p == MAP_FAILED) {
		int err = -errno;

		munmap(c, r->cons_len);
		return err;
	}
	r->cons_pos = c;
	r->prod_pos = p;
	r->data = (const uint8_t *)p + page;
	r->mask = (uint64_t)max_entries - 1;
	return 0;
}

static void ring_unmap(struct ln_ring *r)
{
	if (r->cons_pos)
		munmap(r->cons_pos, r->cons_len);
	if (r->prod_pos)
		munmap((void *)r->prod_pos, r->prod_len);
	r->cons_pos = NULL;
	r->prod_pos = NULL;
	r->data = NULL;
}

static void ring_maybe_free(struct ln_ring *r)
{
	if (r->handles_open == 0 && r->wrapper_gone) {
		free(r);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ln_ring *r = h->data;

	r->handles_open--;
	ring_maybe_free(r);
}

static void ring_close(struct ln_ring *r)
{
	if (r->closed)
		return;
	r->closed = true;
	r->started = false;
	if (r->parent) {
		struct ln_ring **pp = &r->parent->rings;

		while (*pp && *pp != r)
			pp = &(*pp)->next;
		if (*pp)
			*pp = r->next;
		r->parent = NULL;
		r->next = NULL;
	}
	if (r->handles_open) {
		uv_poll_stop(&r->poll);
		uv_timer_stop(&r->timer);
		uv_idle_stop(&r->idle);
		uv_close((uv_handle_t *)&r->poll, on_handle_closed);
		uv_close((uv_handle_t *)&r->timer, on_handle_closed);
		uv_close((uv_handle_t *)&r->idle, on_handle_closed);
	}
	if (r->epfd >= 0)
		close(r->epfd);
	r->epfd = -1;
	ring_unmap(r);
	r->buf = NULL;
	if (r->cb_ref)
		napi_delete_reference(r->env, r->cb_ref);
	if (r->buf_ref)
		napi_delete_reference(r->env, r->buf_ref);
	if (r->self_ref)
		napi_delete_reference(r->env, r->self_ref);
	if (r->obj_ref)
		napi_delete_reference(r->env, r->obj_ref);
	r->cb_ref = r->buf_ref = r->self_ref = r->obj_ref = NULL;
	/* inside the callback, napi_make_callback still uses the context: deliver() frees it */
	if (r->actx && !r->in_cb) {
		napi_async_destroy(r->env, r->actx);
		r->actx = NULL;
	}
}

static void ring_finalize(napi_env env, void *data, void *hint)
{
	struct ln_ring *r = data;

	(void)env;
	(void)hint;
	r->wrapper_gone = true;
	ring_close(r);
	ring_maybe_free(r);
}

/* Calls cb(used, count). Returns false if the callback threw (async: reported as uncaught). */
static bool deliver(struct ln_ring *r, bool async)
{
	napi_env env = r->env;
	napi_value cb, recv, argv[2], result, exc;
	napi_status st;

	r->st_batches++;
	r->st_records += r->count;
	r->st_bytes += r->used;
	if (napi_get_reference_value(env, r->cb_ref, &cb) != napi_ok || !cb)
		return false;
	napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
	napi_create_uint32(env, (uint32_t)r->used, &argv[0]);
	napi_create_uint32(env, r->count, &argv[1]);
	r->in_cb = true;
	if (async)
		st = napi_make_callback(env, r->actx, recv, cb, 2, argv, &result);
	else
		st = napi_call_function(env, recv, cb, 2, argv, &result);
	r->in_cb = false;
	if (r->closed && r->actx) {
		napi_async_destroy(env, r->actx);
		r->actx = NULL;
	}
	if (st == napi_ok)
		return true;
	if (async) {
		bool pending = false;

		napi_is_exception_pending(env, &pending);
		if (pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok)
			napi_fatal_exception(env, exc);
	}
	return false;
}

/*
 * Delivers up to max_batches batches (0 = until empty). Returns records delivered, or -1
 * if the JS callback threw (sync: exception left pending). *capped is set when it stopped
 * at max_batches with data left.
 */
static int64_t drain_batches(struct ln_ring *r, uint32_t max_batches, bool async, bool *capped)
{
	int64_t total = 0;
	uint32_t b;

	*capped = false;
	for (b = 0; !r->closed && (max_batches == 0 || b < max_batches); b++) {
		r->used = 0;
		r->count = 0;
		r->full = false;
		ring_fill(r);
		if (r->count == 0)
			break;
		total += r->count;
		if (!deliver(r, async))
			return -1;
		if (r->closed || !r->full)
			break;
		if (max_batches && b + 1 == max_batches)
			*capped = true;
	}
	return total;
}

static void on_idle(uv_idle_t *h);

static void drain_async(struct ln_ring *r)
{
	napi_handle_scope scope;
	bool capped = false;

	if (r->closed || !r->started || r->in_cb)
		return;
	r->st_turns++;
	napi_open_handle_scope(r->env, &scope);
	drain_batches(r, r->max_batches, true, &capped);
	napi_close_handle_scope(r->env, scope);
	if (r->closed || !r->started)
		return;
	if (capped) {
		/* More data: come back on the next loop iteration. Not a 0 ms timer: libuv runs a
		 * timer re-armed with 0 again in the same timers phase, starving the loop. */
		r->st_cap_hits++;
		uv_idle_start(&r->idle, on_idle);
	}
}

static void on_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	drain_async(h->data);
}

static void on_timer(uv_timer_t *t) { drain_async(t->data); }

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct ln_ring *r = p->data;

	(void)events;
	if (status < 0) {
		r->st_errors++;
		r->last_err = -status;
		return;
	}
	r->st_wakeups++;
	drain_async(r);
}

static struct ln_ring *get_ring(napi_env env, napi_value v, bool need_open)
{
	struct ln_ring *r = NULL;

	if (napi_unwrap(env, v, (void **)&r) != napi_ok || !r) {
		throw_type(env, "not a ring consumer handle");
		return NULL;
	}
	if (need_open && r->closed) {
		throw_errd(env, EBADF, "consumer is closed", "using ring consumer %s", r->map_name);
		return NULL;
	}
	return r;
}

/*
 * ringOpen(h, mapIndex, batch, cb, opts?: {pollMs?, maxBatchesPerTurn?}) -> ring handle.
 * Not started: call ringStart. The batch buffer is kept alive by the consumer.
 */
static napi_value js_ring_open(napi_env env, napi_callback_info info)
{
	napi_value argv[5], handle, name;
	struct ln_obj *o;
	struct bpf_map *m;
	struct ln_ring *r;
	napi_valuetype t;
	uv_loop_t *loop;
	void *data;
	size_t len;
	int64_t poll_ms = LN_DEFAULT_POLL_MS, maxb = LN_DEFAULT_MAX_BATCHES;
	int err;

	if (!get_args(env, info, 5, argv) || !(m = loaded_map(env, argv, &o)))
		return NULL;
	if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF) {
		throw_errd(env, EINVAL, "not a ringbuf map", "opening ring consumer on map %s",
			   bpf_map__name(m));
		return NULL;
	}
	if (!get_bytes(env, argv[2], "batch buffer", &data, &len))
		return NULL;
	if (len < 64 || len > 0x7fffffffu) {
		throw_type(env, "batch buffer must be 64 B .. 2 GiB, got %zu", len);
		return NULL;
	}
	napi_typeof(env, argv[3], &t);
	if (t != napi_function) {
		throw_type(env, "callback must be a function");
		return NULL;
	}
	if (!get_opt_int64_prop(env, argv[4], "pollMs", &poll_ms, NULL) ||
	    !get_opt_int64_prop(env, argv[4], "maxBatchesPerTurn", &maxb, NULL))
		return NULL;
	if (poll_ms < 1 || poll_ms > 60000 || maxb < 1 || maxb > 1000000) {
		throw_type(env, "pollMs must be 1..60000 and maxBatchesPerTurn 1..1e6");
		return NULL;
	}
	if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
		throw_errd(env, EINVAL, "no event loop", "opening ring consumer");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		throw_errno(env, ENOMEM, "opening ring consumer on map %s", bpf_map__name(m));
		return NULL;
	}
	r->env = env;
	r->epfd = -1;
	r->buf = data;
	r->cap = len;
	r->poll_ms = (uint32_t)poll_ms;
	r->max_batches = (uint32_t)maxb;
	snprintf(r->map_name, sizeof(r->map_name), "%s", bpf_map__name(m));
	/* Our own epoll over the map for the kernel's wakeups (no libbpf ring_buffer: it would map
	 * the ring a second time, and a mapping of a ring counts its data pages twice in RSS) */
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		err = errno;
		free(r);
		throw_errno(env, err, "opening ring consumer on map %s: epoll_create1", bpf_map__name(m));
		return NULL;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN };

		if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, bpf_map__fd(m), &ev) < 0) {
			err = errno;
			close(r->epfd);
			free(r);
			throw_errno(env, err, "opening ring consumer on map %s: epoll_ctl", bpf_map__name(m));
			return NULL;
		}
	}
	err = ring_map(r, bpf_map__fd(m), bpf_map__max_entries(m));
	if (err) {
		close(r->epfd);
		free(r);
		throw_errno(env, -err, "opening ring consumer on map %s: mmap", bpf_map__name(m));
		return NULL;
	}
	err = uv_poll_init(loop, &r->poll, r->epfd);
	if (err) {
		close(r->epfd);
		r->epfd = -1;
		ring_unmap(r);
		free(r);
		throw_errno(env, -err, "opening ring consumer on map %s: uv_poll_init",
			    bpf_map__name(m));
		return NULL;
	}
	uv_timer_init(loop, &r->timer);
	uv_idle_init(loop, &r->idle);
	r->poll.data = r;
	r->timer.data = r;
	r->idle.data = r;
	r->handles_open = 3;
	napi_create_object(env, &handle);
	if (napi_wrap(env, handle, r, ring_finalize, NULL, NULL) != napi_ok) {
		r->wrapper_gone = true;
		ring_close(r);
		throw_errno(env, EINVAL, "wrapping ring consumer");
		return NULL;
	}
	napi_create_reference(env, argv[2], 1, &r->buf_ref);
	napi_create_reference(env, argv[3], 1, &r->cb_ref);
	napi_create_reference(env, argv[0], 1, &r->obj_ref);
	napi_create_string_utf8(env, "lanner:ring", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, handle, name, &r->actx);
	r->parent = o;
	r->next = o->rings;
	o->rings = r;
	return handle;
}

/* ringStart(r): keeps the consumer (and its JS handle) alive until stop/close */
static napi_value js_ring_start(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ln_ring *r;
	int err;

	if (!get_args(env, info, 1, argv) || !(r = get_ring(env, argv[0], true)))
		return NULL;
	if (r->started)
		return NULL;
	err = uv_poll_start(&r->poll, UV_READABLE, on_poll);
	if (err) {
		throw_errno(env, -err, "starting ring consumer %s: uv_poll_start", r->map_name);
		return NULL;
	}
	uv_timer_start(&r->timer, on_timer, r->poll_ms, r->poll_ms);
	if (!r->self_ref)
		napi_create_reference(env, argv[0], 1, &r->self_ref);
	r->started = true;
	return NULL;
}

static napi_value js_ring_stop(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ln_ring *r;

	if (!get_args(env, info, 1, argv) || !(r = get_ring(env, argv[0], false)))
		return NULL;
	if (r->closed || !r->started)
		return NULL;
	uv_poll_stop(&r->poll);
	uv_timer_stop(&r->timer);
	uv_idle_stop(&r->idle);
	r->started = false;
	if (r->self_ref)
		napi_delete_reference(env, r->self_ref);
	r->self_ref = NULL;
	return NULL;
}

/* ringDrain(r, maxBatches = 0 (until empty)) -> records delivered, synchronously */
static napi_value js_ring_drain(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct ln_ring *r;
	uint32_t maxb = 0;
	bool capped;
	int64_t n;

	if (!get_args(env, info, 2, argv) || !(r = get_ring(env, argv[0], true)))
		return NULL;
	if (!is_nullish(env, argv[1]) && !get_u32(env, argv[1], "maxBatches", &maxb))
		return NULL;
	if (r->in_cb) {
		throw_errd(env, EBUSY, "called from inside its own batch callback", "draining ring %s",
			   r->map_name);
		return NULL;
	}
	n = drain_batches(r, maxb, false, &capped);
	flush_logs(env);
	if (n < 0)
		return NULL; /* exception pending */
	return make_i64(env, n);
}

static napi_value js_ring_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ln_ring *r;

	if (!get_args(env, info, 1, argv) || !(r = get_ring(env, argv[0], false)))
		return NULL;
	ring_close(r);
	return NULL;
}

/* ringRef(r, bool): whether an active consumer keeps the process alive (default yes) */
static napi_value js_ring_ref(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct ln_ring *r;
	bool on;

	if (!get_args(env, info, 2, argv) || !(r = get_ring(env, argv[0], false)))
		return NULL;
	if (napi_get_value_bool(env, argv[1], &on) != napi_ok) {
		throw_type(env, "ref must be a boolean");
		return NULL;
	}
	if (r->closed)
		return NULL;
	if (on) {
		uv_ref((uv_handle_t *)&r->poll);
		uv_ref((uv_handle_t *)&r->timer);
		uv_ref((uv_handle_t *)&r->idle);
	} else {
		uv_unref((uv_handle_t *)&r->poll);
		uv_unref((uv_handle_t *)&r->timer);
		uv_unref((uv_handle_t *)&r->idle);
	}
	return NULL;
}

static napi_value js_ring_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct ln_ring *r;

	if (!get_args(env, info, 1, argv) || !(r = get_ring(env, argv[0], false)))
		return NULL;
	napi_create_object(env, &res);
#define S(name, field) napi_set_named_property(env, res, name, make_i64(env, (int64_t)(field)))
	S("records", r->st_records);
	S("bytes", r->st_bytes);
	S("batches", r->st_batches);
	S("turns", r->st_turns);
	S("capHits", r->st_cap_hits);
	S("deferred", r->st_deferred);
	S("oversized", r->st_oversized);
	S("wakeups", r->st_wakeups);
	S("errors", r->st_errors);
	S("lastErrno", r->last_err);
	S("capacity", r->cap);
#undef S
	napi_set_named_property(env, res, "started", make_bool(env, r->started));
	napi_set_named_property(env, res, "closed", make_bool(env, r->closed));
	return res;
}

/* ------------------------------------------------------------------------------------ */
/* iterators, run-time statistics, programs and maps of the whole system                 */

#define LN_ITER_CHUNK 65536u
/* enumerations stop here: more ids than this is a kernel we do not understand */
#define LN_MAX_IDS (1u << 20)

/*
 * iterRead(h, linkId, maxBytes) -> { data: Buffer, truncated: boolean }
 * Creates an iterator from an 'iter' link (bpf_iter_create) and reads it to its end, or to
 * maxBytes (then truncated is true when more was there). Each read runs the program over the
 * next objects; EAGAIN (the kernel's cap on objects per read) means "read again".
 */
static napi_value js_iter_read(napi_env env, napi_callback_info info)
{
	napi_value argv[3], res, buf;
	struct ln_obj *o;
	struct ln_link *l;
	uint32_t id;
	int64_t max = 0;
	uint8_t *data = NULL, *nd;
	size_t cap = 0, len = 0, want;
	bool truncated = false;
	ssize_t n;
	int fd, err = 0;

	if (!get_args(env, info, 3, argv) || !(o = get_obj(env, argv[0], true)) ||
	    !get_u32(env, argv[1], "link id", &id))
		return NULL;
	if (napi_get_value_int64(env, argv[2], &max) != napi_ok || max <= 0) {
		throw_type(env, "maxBytes must be a positive number");
		return NULL;
	}
	if (id == 0 || id > o->nlinks || o->links[id - 1].kind != LK_LIBBPF) {
		throw_errd(env, EINVAL, "no such link", "reading iterator (link %u)", id);
		return NULL;
	}
	l = &o->links[id - 1];
	fd = bpf_iter_create(bpf_link__fd(l->link));
	if (fd < 0) {
		err = errno;
		flush_logs(env);
		throw_errno(env, err, "creating iterator (%s)", l->desc);
		return NULL;
	}
	while (len < (size_t)max) {
		if (len == cap) {
			want = cap + LN_ITER_CHUNK;
			if (want > (size_t)max)
				want = (size_t)max;
			nd = realloc(data, want);
			if (!nd) {
				err = ENOMEM;
				break;
			}
			data = nd;
			cap = want;
		}
		n = read(fd, data + len, cap - len);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = errno;
			break;
		}
		len += (size_t)n;
	}
	if (!err && len >= (size_t)max) {
		uint8_t one;

		do
			n = read(fd, &one, 1);
		while (n < 0 && (errno == EINTR || errno == EAGAIN));
		truncated = n > 0;
	}
	close(fd);
	if (err) {
		free(data);
		throw_errno(env, err, "reading iterator (%s) after %zu bytes", l->desc, len);
		return NULL;
	}
	if (napi_create_buffer_copy(env, len, len ? data : (const void *)"", NULL, &buf) != napi_ok) {
		free(data);
		throw_errno(env, ENOMEM, "reading iterator (%s)", l->desc);
		return NULL;
	}
	free(data);
	napi_create_object(env, &res);
	napi_set_named_property(env, res, "data", buf);
	napi_set_named_property(env, res, "truncated", make_bool(env, truncated));
	return res;
}

/* A kernel fd owned by a JS handle (statistics): closed by fdClose or by the finalizer. */
struct ln_fd {
	int fd;
};

static void fd_finalize(napi_env env, void *data, void *hint)
{
	struct ln_fd *f = data;

	(void)env;
	(void)hint;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* enableStats(type) -> handle: BPF_ENABLE_STATS; the statistics stay on while the handle
 * is open (the kernel counts holders). type: enum bpf_stats_type (0 = BPF_STATS_RUN_TIME). */
static napi_value js_enable_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], handle;
	uint32_t type;
	struct ln_fd *f;
	int fd, err;

	if (!get_args(env, info, 1, argv) || !get_u32(env, argv[0], "statistics type", &type))
		return NULL;
	fd = bpf_enable_stats((enum bpf_stats_type)type);
	if (fd < 0) {
		err = errno;
		throw_errno(env, err, "enabling BPF statistics (BPF_ENABLE_STATS type %u)", type);
		return NULL;
	}
	f = malloc(sizeof(*f));
	if (!f) {
		close(fd);
		throw_errno(env, ENOMEM, "enabling BPF statistics");
		return NULL;
	}
	f->fd = fd;
	napi_create_object(env, &handle);
	if (napi_wrap(env, handle, f, fd_finalize, NULL, NULL) != napi_ok) {
		close(fd);
		free(f);
		throw_errno(env, EINVAL, "wrapping statistics fd");
		return NULL;
	}
	return handle;
}

/* fdClose(handle) -> bool (false when already closed) */
static napi_value js_fd_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ln_fd *f = NULL;

	if (!get_args(env, info, 1, argv))
		return NULL;
	if (napi_unwrap(env, argv[0], (void **)&f) != napi_ok || !f) {
		throw_type(env, "not an fd handle");
		return NULL;
	}
	if (f->fd < 0)
		return make_bool(env, false);
	close(f->fd);
	f->fd = -1;
	return make_bool(env, true);
}

/* The memlock line of /proc/self/fdinfo/<fd> (what the object charges), or -1. */
static int64_t fdinfo_memlock(int fd)
{
	char path[64], line[256];
	int64_t v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "memlock:", 8)) {
			v = strtoll(line + 8, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static napi_value make_u64(napi_env env, uint64_t x)
{
	napi_value v;
	napi_create_bigint_uint64(env, x, &v);
	return v;
}

/* progIds() / mapIds() -> number[]: every id the kernel has now, ascending. */
static napi_value list_ids(napi_env env, int (*next)(__u32, __u32 *), const char *what)
{
	napi_value arr;
	__u32 id = 0, n = 0;
	int err;

	napi_create_array(env, &arr);
	for (;;) {
		err = next(id, &id);
		if (err) {
			err = errno;
			if (err == ENOENT)
				break;
			throw_errno(env, err, "listing BPF %s ids (after id %u)", what, id);
			return NULL;
		}
		if (n >= LN_MAX_IDS) {
			throw_errd(env, E2BIG, "too many ids", "listing BPF %s ids", what);
			return NULL;
		}
		napi_set_element(env, arr, n++, make_u32(env, id));
	}
	return arr;
}

static napi_value js_prog_ids(napi_env env, napi_callback_info info)
{
	(void)info;
	return list_ids(env, bpf_prog_get_next_id, "program");
}

static napi_value js_map_ids(napi_env env, napi_callback_info info)
{
	(void)info;
	return list_ids(env, bpf_map_get_next_id, "map");
}

/*
 * progInfo(id) -> null (no such program now) | { id, type, typeName, name, tag, runTimeNs,
 *   runCount, recursionMisses, loadTimeNs, createdByUid, mapIds, xlatedBytes, jitedBytes,
 *   verifiedInsns, btfId, memlock }
 * Run time and count only grow while statistics are enabled (enableStats or the sysctl);
 * loadTimeNs is boot-time ns; memlock is -1 when fdinfo does not say.
 */
static napi_value js_prog_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res, arr;
	struct bpf_prog_info pi;
	__u32 id, len, nmaps, i, *ids = NULL;
	char tag[2 * BPF_TAG_SIZE + 1];
	int64_t memlock;
	int fd, err;

	if (!get_args(env, info, 1, argv) || !get_u32(env, argv[0], "program id", &id))
		return NULL;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT) {
			napi_get_null(env, &res);
			return res;
		}
		throw_errno(env, err, "opening BPF program id %u", id);
		return NULL;
	}
	memset(&pi, 0, sizeof(pi));
	len = sizeof(pi);
	err = bpf_obj_get_info_by_fd(fd, &pi, &len);
	nmaps = pi.nr_map_ids;
	if (!err && nmaps) {
		ids = calloc(nmaps, sizeof(*ids));
		if (!ids) {
			close(fd);
			throw_errno(env, ENOMEM, "reading BPF program id %u", id);
			return NULL;
		}
		memset(&pi, 0, sizeof(pi));
		pi.nr_map_ids = nmaps;
		pi.map_ids = (__u64)(uintptr_t)ids;
		len = sizeof(pi);
		err = bpf_obj_get_info_by_fd(fd, &pi, &len);
		if (pi.nr_map_ids < nmaps)
			nmaps = pi.nr_map_ids;
	}
	if (err) {
		err = errno;
		close(fd);
		free(ids);
		throw_errno(env, err, "reading BPF program id %u (BPF_OBJ_GET_INFO_BY_FD)", id);
		return NULL;
	}
	memlock = fdinfo_memlock(fd);
	close(fd);
	for (i = 0; i < BPF_TAG_SIZE; i++)
		snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
	napi_create_object(env, &res);
	napi_set_named_property(env, res, "id", make_u32(env, pi.id));
	napi_set_named_property(env, res, "type", make_u32(env, pi.type));
	napi_set_named_property(env, res, "typeName",
				make_str(env, libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type)));
	napi_set_named_property(env, res, "name", make_str(env, pi.name));
	napi_set_named_property(env, res, "tag", make_str(env, tag));
	napi_set_named_property(env, res, "runTimeNs", make_u64(env, pi.run_time_ns));
	napi_set_named_property(env, res, "runCount", make_u64(env, pi.run_cnt));
	napi_set_named_property(env, res, "recursionMisses", make_u64(env, pi.recursion_misses));
	napi_set_named_property(env, res, "loadTimeNs", make_u64(env, pi.load_time));
	napi_set_named_property(env, res, "createdByUid", make_u32(env, pi.created_by_uid));
	napi_create_array_with_length(env, nmaps, &arr);
	for (i = 0; i < nmaps; i++)
		napi_set_element(env, arr, i, make_u32(env, ids[i]));
	napi_set_named_property(env, res, "mapIds", arr);
	napi_set_named_property(env, res, "xlatedBytes", make_u32(env, pi.xlated_prog_len));
	napi_set_named_property(env, res, "jitedBytes", make_u32(env, pi.jited_prog_len));
	napi_set_named_property(env, res, "verifiedInsns", make_u32(env, pi.verified_insns));
	napi_set_named_property(env, res, "btfId", make_u32(env, pi.btf_id));
	napi_set_named_property(env, res, "memlock", make_i64(env, memlock));
	free(ids);
	return res;
}

/*
 * mapInfoById(id) -> null (no such map now) | { id, type, typeName, name, keySize,
 *   valueSize, maxEntries, flags, memlock }
 */
static napi_value js_map_info_by_id(napi_env env, napi_callback_info info)
{
	napi_value argv[1], res;
	struct bpf_map_info mi;
	__u32 id, len;
	int64_t memlock;
	int fd, err;

	if (!get_args(env, info, 1, argv) || !get_u32(env, argv[0], "map id", &id))
		return NULL;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT) {
			napi_get_null(env, &res);
			return res;
		}
		throw_errno(env, err, "opening BPF map id %u", id);
		return NULL;
	}
	memset(&mi, 0, sizeof(mi));
	len = sizeof(mi);
	if (bpf_obj_get_info_by_fd(fd, &mi, &len)) {
		err = errno;
		close(fd);
		throw_errno(env, err, "reading BPF map id %u (BPF_OBJ_GET_INFO_BY_FD)", id);
		return NULL;
	}
	memlock = fdinfo_memlock(fd);
	close(fd);
	napi_create_object(env, &res);
	napi_set_named_property(env, res, "id", make_u32(env, mi.id));
	napi_set_named_property(env, res, "type", make_u32(env, mi.type));
	napi_set_named_property(env, res, "typeName",
				make_str(env, libbpf_bpf_map_type_str((enum bpf_map_type)mi.type)));
	napi_set_named_property(env, res, "name", make_str(env, mi.name));
	napi_set_named_property(env, res, "keySize", make_u32(env, mi.key_size));
	napi_set_named_property(env, res, "valueSize", make_u32(env, mi.value_size));
	napi_set_named_property(env, res, "maxEntries", make_u32(env, mi.max_entries));
	napi_set_named_property(env, res, "flags", make_u32(env, mi.map_flags));
	napi_set_named_property(env, res, "memlock", make_i64(env, memlock));
	return res;
}

/* ------------------------------------------------------------------------------------ */
/* misc                                                                                  */

static napi_value js_num_possible_cpus(napi_env env, napi_callback_info info)
{
	int n = libbpf_num_possible_cpus();

	(void)info;
	if (n < 0) {
		throw_errno(env, n, "reading possible CPUs");
		return NULL;
	}
	return make_u32(env, (uint32_t)n);
}

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* clockOffsets() -> { realtimeNs, boottimeNs, monotonicNs } as bigint, sampled together.
 * wall(ts_boot) = ts_boot + (realtimeNs - boottimeNs). */
static napi_value js_clock_offsets(napi_env env, napi_callback_info info)
{
	napi_value res, v;
	uint64_t b0, rt, b1, mono;

	(void)info;
	b0 = now_ns(CLOCK_BOOTTIME);
	rt = now_ns(CLOCK_REALTIME);
	b1 = now_ns(CLOCK_BOOTTIME);
	mono = now_ns(CLOCK_MONOTONIC);
	napi_create_object(env, &res);
	napi_create_bigint_uint64(env, rt, &v);
	napi_set_named_property(env, res, "realtimeNs", v);
	napi_create_bigint_uint64(env, b0 + (b1 - b0) / 2, &v);
	napi_set_named_property(env, res, "boottimeNs", v);
	napi_create_bigint_uint64(env, mono, &v);
	napi_set_named_property(env, res, "monotonicNs", v);
	return res;
}

/* setLogger(level: -1 silent | 0 warn | 1 info | 2 debug, fn?: (level, msg) => void).
 * Without fn, messages go to stderr. */
static napi_value js_set_logger(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	int32_t level;
	napi_valuetype t;

	if (!get_args(env, info, 2, argv))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &level) != napi_ok || level < -1 || level > 2) {
		throw_type(env, "level must be -1..2");
		return NULL;
	}
	if (g_log.fn && g_log.fn_env == env)
		napi_delete_reference(env, g_log.fn);
	g_log.fn = NULL;
	napi_typeof(env, argv[1], &t);
	if (t == napi_function) {
		napi_create_reference(env, argv[1], 1, &g_log.fn);
		g_log.fn_env = env;
	}
	g_log.js_level = level;
	return NULL;
}

static napi_value js_libbpf_version(napi_env env, napi_callback_info info)
{
	(void)info;
	return make_str(env, libbpf_version_string());
}

static void env_cleanup(void *arg)
{
	napi_env env = arg;

	if (g_log.fn_env == env) {
		g_log.fn = NULL; /* references die with the env */
		g_log.fn_env = NULL;
	}
}

#define EXPORT_FN(name, fn)                                                    \
	do {                                                                       \
		napi_value f_;                                                         \
		napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f_);      \
		napi_set_named_property(env, exports, name, f_);                       \
	} while (0)

static napi_value init(napi_env env, napi_value exports)
{
	static bool once;

	if (!once) {
		once = true;
		libbpf_set_print(on_libbpf_print);
	}
	napi_add_env_cleanup_hook(env, env_cleanup, env);
	EXPORT_FN("openObject", js_open_object);
	EXPORT_FN("objectInfo", js_object_info);
	EXPORT_FN("setGlobal", js_set_global);
	EXPORT_FN("setMaxEntries", js_set_max_entries);
	EXPORT_FN("setAutoload", js_set_autoload);
	EXPORT_FN("setAutoattach", js_set_autoattach);
	EXPORT_FN("load", js_load);
	EXPORT_FN("attach", js_attach);
	EXPORT_FN("detach", js_detach);
	EXPORT_FN("linkCount", js_link_count);
	EXPORT_FN("closeObject", js_close_object);
	EXPORT_FN("mapLookup", js_map_lookup);
	EXPORT_FN("mapUpdate", js_map_update);
	EXPORT_FN("mapDelete", js_map_delete);
	EXPORT_FN("mapNextKey", js_map_next_key);
	EXPORT_FN("ringOpen", js_ring_open);
	EXPORT_FN("ringStart", js_ring_start);
	EXPORT_FN("ringStop", js_ring_stop);
	EXPORT_FN("ringDrain", js_ring_drain);
	EXPORT_FN("ringClose", js_ring_close);
	EXPORT_FN("ringRef", js_ring_ref);
	EXPORT_FN("ringStats", js_ring_stats);
	EXPORT_FN("iterRead", js_iter_read);
	EXPORT_FN("enableStats", js_enable_stats);
	EXPORT_FN("fdClose", js_fd_close);
	EXPORT_FN("progIds", js_prog_ids);
	EXPORT_FN("progInfo", js_prog_info);
	EXPORT_FN("mapIds", js_map_ids);
	EXPORT_FN("mapInfoById", js_map_info_by_id);
	EXPORT_FN("numPossibleCpus", js_num_possible_cpus);
	EXPORT_FN("clockOffsets", js_clock_offsets);
	EXPORT_FN("setLogger", js_set_logger);
	EXPORT_FN("libbpfVersion", js_libbpf_version);
	napi_set_named_property(env, exports, "RECORD_HEADER_SIZE", make_u32(env, LN_REC_HDR));
	napi_set_named_property(env, exports, "RECORD_ALIGN", make_u32(env, LN_REC_ALIGN));
	napi_set_named_property(env, exports, "LOG_TAIL_BYTES", make_u32(env, LN_LOG_TAIL));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
