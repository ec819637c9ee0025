// A host stand-in for cuda_runtime.h, used only by tests/cuda-emu/run.sh to execute the kernels of kernels/cuda on
// a machine without a GPU: each launch runs every block in turn with one POSIX thread per CUDA thread, so
// __syncthreads and warp shuffles are real barriers. "Device" memory comes from a region of its own (emu_is_device):
// copies, memsets, kernel arguments and the cuDNN/cuBLAS stand-ins refuse a host pointer where a device one is
// due (and the reverse), and freed device memory is unmapped, so a use after free faults. It checks kernel logic
// (indexing, barriers, merges, reductions), not performance, memory coalescing or the GPU memory model.
//
// Several devices: EMU_DEVICES=N (1 to 16, default 1) emulates N GPUs. cudaSetDevice sets the calling thread's
// current device, as CUDA does; every allocation and stream belongs to the device current when it was made, and a
// kernel launch, copy, memset or cuBLAS/cuDNN call given a pointer of another device (or a stream of another
// device) fails naming both, so code that drives several GPUs from several host threads is checked for binding each
// thread to its device. Launches of all devices run one at a time (the block state below is global).
#pragma once
#include <map>
#include <math.h>
#include <pthread.h>
#include <sys/mman.h>
#include <type_traits>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static // blocks run one after another, so one static copy serves as the block's shared memory

struct dim3 {
	unsigned x, y, z;
	dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct emu_uint3 {
	unsigned x, y, z;
};
inline thread_local emu_uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

inline pthread_barrier_t emu_block_barrier;
enum { EMU_MAX_WARPS = 32 };
inline pthread_barrier_t emu_warp_barrier[EMU_MAX_WARPS];
inline uint64_t emu_warp_buf[EMU_MAX_WARPS][32]; // one 8-byte slot per lane: shuffles of 4- and 8-byte types

inline void __syncthreads() { pthread_barrier_wait(&emu_block_barrier); }

// __shfl_xor_sync / __shfl_sync for the types CUDA overloads them for (int, unsigned, long long, float, double):
// every lane of the warp publishes its value, waits for the others, reads its partner's, waits again (so the
// slot is not overwritten before it was read). The mask is ignored: all 32 lanes take part, as in every kernel here.
template <class T> inline T emu_shfl(T v, unsigned src_of_lane_xor, bool xor_mode)
{
	static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a 4- or 8-byte type");
	unsigned lin = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
	unsigned w = lin >> 5, l = lin & 31, src = (xor_mode ? l ^ src_of_lane_xor : src_of_lane_xor) & 31;
	uint64_t slot = 0;
	memcpy(&slot, &v, sizeof v);
	emu_warp_buf[w][l] = slot;
	pthread_barrier_wait(&emu_warp_barrier[w]);
	slot = emu_warp_buf[w][src];
	pthread_barrier_wait(&emu_warp_barrier[w]);
	T r;
	memcpy(&r, &slot, sizeof r);
	return r;
}
template <class T> inline T __shfl_xor_sync(unsigned, T v, int o, int = 32) { return emu_shfl(v, (unsigned)o, true); }
template <class T> inline T __shfl_sync(unsigned, T v, int src, int = 32) { return emu_shfl(v, (unsigned)src, false); }

inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline float atomicAdd(float *p, float v)
{
	float old = *p, want;
	do
		want = old + v;
	while (!__atomic_compare_exchange(p, &old, &want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return old;
}
inline float __expf(float x) { return expf(x); }

typedef enum {
	cudaSuccess = 0,
	cudaErrorInvalidValue = 1,
	cudaErrorMemoryAllocation = 2,
	cudaErrorInsufficientDriver = 35,
	cudaErrorNoDevice = 100
} cudaError_t;
typedef enum { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 } cudaMemcpyKind;
typedef struct emu_stream *cudaStream_t;
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
typedef enum { cudaDevAttrMultiProcessorCount = 16 } cudaDeviceAttr;
struct cudaDeviceProp {
	char name[256];
	int major, minor;
	size_t totalGlobalMem;
};

inline cudaError_t emu_last_error = cudaSuccess;
inline const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated CUDA error" : "no error"; }
inline cudaError_t cudaGetLastError() { cudaError_t e = emu_last_error; emu_last_error = cudaSuccess; return e; }
enum { EMU_MAX_DEVICES = 16 };
inline int emu_device_count()
{
	const char *e = getenv("EMU_DEVICES");
	int n = e ? atoi(e) : 1;
	return n < 1 ? 1 : n > EMU_MAX_DEVICES ? EMU_MAX_DEVICES : n;
}
inline thread_local int emu_cur_dev = 0; // the calling thread's current device (cudaSetDevice)
inline cudaError_t cudaGetDeviceCount(int *n) { *n = emu_device_count(); return cudaSuccess; }
inline cudaError_t cudaSetDevice(int i)
{
	if (i < 0 || i >= emu_device_count())
		return cudaErrorInvalidValue;
	emu_cur_dev = i;
	return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int)
{
	snprintf(p->name, sizeof p->name, "host emulator (tests/cuda-emu)");
	p->major = 0, p->minor = 0, p->totalGlobalMem = 0;
	return cudaSuccess;
}
// ---- device memory: a reserved address range of its own; every allocation starts on a fresh page, never reused.
enum : size_t { EMU_REGION = (size_t)1 << 38 }; // 256 GiB of address space, committed page by page
inline char *emu_region_base;
inline size_t emu_region_used;
struct emu_alloc {
	size_t bytes; // mapped
	int dev;      // the device current at cudaMalloc
};
inline size_t emu_dev_used[EMU_MAX_DEVICES]; // bytes allocated per device (cudaMemGetInfo)
inline std::map<const char *, emu_alloc> emu_allocs; // live allocations by start
inline pthread_mutex_t emu_mem_lock = PTHREAD_MUTEX_INITIALIZER;

// The device whose live allocation holds p, or -1 (host memory, or memory freed).
inline int emu_device_of(const void *p)
{
	const char *c = (const char *)p;
	if (!emu_region_base || c < emu_region_base || c >= emu_region_base + EMU_REGION)
		return -1;
	pthread_mutex_lock(&emu_mem_lock);
	int dev = -1;
	auto it = emu_allocs.upper_bound(c);
	if (it != emu_allocs.begin()) {
		--it;
		if (c < it->first + it->second.bytes)
			dev = it->second.dev;
	}
	pthread_mutex_unlock(&emu_mem_lock);
	return dev;
}
// p is device memory of the calling thread's current device; memory of another device is reported on stderr.
inline bool emu_is_device(const void *p)
{
	int d = emu_device_of(p);
	if (d >= 0 && d != emu_cur_dev)
		fprintf(stderr, "cuda-emu: a pointer of device %d used while device %d is current\n", d, emu_cur_dev);
	return d >= 0 && d == emu_cur_dev;
}
inline cudaError_t emu_fail(cudaError_t e, const char *what)
{
	fprintf(stderr, "cuda-emu: %s\n", what);
	return e;
}
inline cudaError_t emu_malloc(void **p, size_t n)
{
	pthread_mutex_lock(&emu_mem_lock);
	if (!emu_region_base) {
		void *r = mmap(nullptr, EMU_REGION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		emu_region_base = r == MAP_FAILED ? nullptr : (char *)r;
	}
	size_t bytes = (n + 4095) & ~(size_t)4095;
	if (!bytes)
		bytes = 4096;
	cudaError_t e = cudaErrorMemoryAllocation;
	*p = nullptr;
	if (emu_region_base && emu_region_used + bytes + 4096 <= EMU_REGION) {
		char *q = emu_region_base + emu_region_used;
		if (mprotect(q, bytes, PROT_READ | PROT_WRITE) == 0) {
			emu_region_used += bytes + 4096; // one unmapped guard page after every allocation
			emu_allocs[q] = emu_alloc{bytes, emu_cur_dev};
			emu_dev_used[emu_cur_dev] += bytes;
			*p = q;
			e = cudaSuccess;
		}
	}
	pthread_mutex_unlock(&emu_mem_lock);
	return e;
}
template <class T> cudaError_t cudaMalloc(T **p, size_t n)
{
	void *q;
	cudaError_t e = emu_malloc(&q, n);
	*p = (T *)q;
	return e;
}
inline cudaError_t cudaFree(void *p)
{
	if (!p)
		return cudaSuccess;
	pthread_mutex_lock(&emu_mem_lock);
	auto it = emu_allocs.find((const char *)p);
	size_t bytes = it == emu_allocs.end() ? 0 : it->second.bytes;
	if (bytes) {
		emu_dev_used[it->second.dev] -= bytes;
		emu_allocs.erase(it);
	}
	pthread_mutex_unlock(&emu_mem_lock);
	if (!bytes)
		return emu_fail(cudaErrorInvalidValue, "cudaFree of a pointer cudaMalloc did not return");
	madvise(p, bytes, MADV_DONTNEED);
	mprotect(p, bytes, PROT_NONE); // a later use faults
	return cudaSuccess;
}
// Each device's capacity: EMU_DEVICE_MEM, bytes with an optional K, M or G suffix, or a comma list of them, one per
// device (the last repeats); default 80G. Free: the capacity less what the device holds.
inline cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
	const char *e = getenv("EMU_DEVICE_MEM");
	size_t cap = (size_t)80 << 30;
	for (int i = 0; e && *e && i <= emu_cur_dev; i++) {
		char *end;
		cap = strtoull(e, &end, 10);
		cap <<= *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
		end += *end == 'K' || *end == 'M' || *end == 'G';
		if (*end != ',')
			break;
		e = end + 1;
	}
	pthread_mutex_lock(&emu_mem_lock);
	size_t used = emu_dev_used[emu_cur_dev];
	pthread_mutex_unlock(&emu_mem_lock);
	*total = cap;
	*free_bytes = used < cap ? cap - used : 0;
	return cudaSuccess;
}
// Page-locked host memory is host memory.
inline cudaError_t cudaMallocHost(void **p, size_t n)
{
	*p = aligned_alloc(256, (n + 255) & ~(size_t)255);
	return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFreeHost(void *p) { free(p); return cudaSuccess; }
struct emu_stream {
	int dev; // the device current at its creation
};
// A stream used while another device is current (CUDA: "invalid resource handle"): reported, true.
inline bool emu_stream_foreign(cudaStream_t s)
{
	if (!s || s->dev == emu_cur_dev)
		return false;
	fprintf(stderr, "cuda-emu: a stream of device %d used while device %d is current\n", s->dev, emu_cur_dev);
	return true;
}
inline cudaError_t cudaMemsetAsync(void *p, int b, size_t n, cudaStream_t st)
{
	if (emu_stream_foreign(st))
		return cudaErrorInvalidValue;
	if (n && !emu_is_device(p))
		return emu_fail(cudaErrorInvalidValue, "cudaMemsetAsync on host memory");
	memset(p, b, n);
	return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t st)
{
	if (emu_stream_foreign(st))
		return cudaErrorInvalidValue;
	bool dd = emu_is_device(d), sd = emu_is_device(s);
	if (n && ((k == cudaMemcpyHostToDevice && (!dd || sd)) || (k == cudaMemcpyDeviceToHost && (dd || !sd)) ||
		  (k == cudaMemcpyDeviceToDevice && (!dd || !sd))))
		return emu_fail(cudaErrorInvalidValue, "cudaMemcpy: a pointer is on the wrong side for its kind");
	memmove(d, s, n);
	return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k)
{
	return cudaMemcpyAsync(d, s, n, k, nullptr);
}
inline cudaError_t cudaGetDevice(int *d) { *d = emu_cur_dev; return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int)
{
	*v = a == cudaDevAttrMultiProcessorCount ? 1 : 0; // one SM: the fewest blocks in grid-stride loops
	return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
	*s = (cudaStream_t)malloc(sizeof(emu_stream));
	(*s)->dev = emu_cur_dev;
	return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { free(s); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

// ---- launches: `k<<<g, b, smem, s>>>(args)` is rewritten by run.sh into `(emu_cfg(g, b, smem, s) | &k)(args)`
struct emu_config {
	dim3 g, b;
	cudaStream_t s;
};
inline emu_config emu_cfg(dim3 g, dim3 b, size_t = 0, cudaStream_t s = nullptr) { return emu_config{g, b, s}; }
// Launches (and the cuBLAS stand-in) of every device and host thread run one at a time: blockDim, gridDim and the
// barriers above are global.
inline pthread_mutex_t emu_launch_lock = PTHREAD_MUTEX_INITIALIZER;

struct emu_job {
	void (*body)(void *);
	void *ctx;
	unsigned tid;
};

inline void *emu_thread(void *arg)
{
	emu_job *j = (emu_job *)arg;
	threadIdx.x = j->tid % blockDim.x;
	threadIdx.y = j->tid / blockDim.x % blockDim.y;
	threadIdx.z = j->tid / (blockDim.x * blockDim.y);
	for (unsigned z = 0; z < gridDim.z; z++)
		for (unsigned y = 0; y < gridDim.y; y++)
			for (unsigned x = 0; x < gridDim.x; x++) {
				blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
				j->body(j->ctx);
				pthread_barrier_wait(&emu_block_barrier); // the next block reuses the static shared memory
			}
	return nullptr;
}

inline void emu_run(emu_config c, void (*body)(void *), void *ctx)
{
	unsigned T = c.b.x * c.b.y * c.b.z;
	if (T == 0 || T > 1024 || T % 32 || c.g.x == 0 || c.g.y == 0 || c.g.z == 0) {
		emu_last_error = cudaErrorInvalidValue;
		return;
	}
	blockDim = c.b;
	gridDim = c.g;
	pthread_barrier_init(&emu_block_barrier, nullptr, T);
	for (unsigned w = 0; w < T / 32; w++)
		pthread_barrier_init(&emu_warp_barrier[w], nullptr, 32);
	pthread_t th[1024];
	emu_job jobs[1024];
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 << 10);
	for (unsigned t = 0; t < T; t++) {
		jobs[t] = emu_job{body, ctx, t};
		if (pthread_create(&th[t], &at, emu_thread, &jobs[t])) {
			fprintf(stderr, "emu: pthread_create failed\n");
			abort();
		}
	}
	for (unsigned t = 0; t < T; t++)
		pthread_join(th[t], nullptr);
	pthread_attr_destroy(&at);
	pthread_barrier_destroy(&emu_block_barrier);
	for (unsigned w = 0; w < T / 32; w++)
		pthread_barrier_destroy(&emu_warp_barrier[w]);
}

template <class... P> struct emu_launcher {
	emu_config c;
	void (*k)(P...);
	template <class... A> void operator()(A... a)
	{
		// A kernel reads device memory only: every non-null pointer argument must be device memory.
		bool ok = true;
		auto dev = [&](auto v) {
			if constexpr (std::is_pointer_v<decltype(v)>)
				ok = ok && (!v || emu_is_device((const void *)v));
		};
		(dev(P(a)), ...);
		if (!ok) {
			emu_last_error = emu_fail(cudaErrorInvalidValue,
						  "kernel launched with a pointer argument that is not memory of the current device");
			return;
		}
		if (emu_stream_foreign(c.s)) {
			emu_last_error = cudaErrorInvalidValue;
			return;
		}
		auto args = [&]() { k(P(a)...); };
		using F = decltype(args);
		pthread_mutex_lock(&emu_launch_lock);
		emu_run(c, [](void *f) { (*(F *)f)(); }, &args);
		pthread_mutex_unlock(&emu_launch_lock);
	}
};
template <class... P> emu_launcher<P...> operator|(emu_config c, void (*k)(P...)) { return emu_launcher<P...>{c, k}; }
