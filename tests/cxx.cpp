// cxx.cpp — every C++ operator new/delete variant goes to hakmem.
//
// Plain, array, nothrow, sized delete, aligned new/delete (over-aligned
// types of alignment 64, 4096 and 1 MiB), aligned+sized delete,
// aligned+nothrow; std::bad_alloc from a huge new; nullptr from a huge
// nothrow new; the new_handler protocol; standard containers churning across
// threads; thread_local destructors that allocate. Linked with -lhakmem.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "hakmem.h"

static std::atomic<long> failures{0};
static std::atomic<long> checks{0};
#define CHECK(e)                                                                  \
  do {                                                                            \
    checks++;                                                                     \
    if (!(e)) {                                                                   \
      if (failures.fetch_add(1) < 40)                                             \
        std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #e); \
    }                                                                             \
  } while (0)

static bool aligned(const void *p, std::size_t a) { return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0; }

// Keep the optimiser from pairing up / eliding new and delete.
template <class T> static T *launder_ptr(T *p) {
  asm volatile("" : "+r"(p));
  return p;
}
static std::size_t launder_size(std::size_t n) {
  asm volatile("" : "+r"(n));
  return n;
}

static void owned(const void *p, std::size_t align, const char *what) {
  if (!p) {
    failures++;
    std::fprintf(stderr, "%s returned nullptr\n", what);
    return;
  }
  checks++;
  if (!hak_owns(p)) {
    failures++;
    std::fprintf(stderr, "%s = %p: not allocated by hakmem\n", what, p);
  }
  if (align < 16) align = 16;
  checks++;
  if (!aligned(p, align)) {
    failures++;
    std::fprintf(stderr, "%s = %p: not %zu-aligned\n", what, p, align);
  }
}

struct alignas(64) A64 {
  char c[100];
};
struct alignas(4096) A4K {
  char c[10];
};
struct alignas(1 << 20) A1M {
  int x;
  char c[1000];
};

static void test_variants() {
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(24), std::size_t(1000),
                        std::size_t(70000), std::size_t(3) << 20}) {
    n = launder_size(n);
    // plain
    void *p = ::operator new(n);
    owned(p, 16, "operator new");
    std::memset(p, 1, n);
    ::operator delete(p);
    // sized
    p = ::operator new(n);
    owned(p, 16, "operator new (for sized delete)");
    ::operator delete(p, n);
    // array
    p = ::operator new[](n);
    owned(p, 16, "operator new[]");
    std::memset(p, 2, n);
    ::operator delete[](p);
    p = ::operator new[](n);
    ::operator delete[](p, n);
    // nothrow
    p = ::operator new(n, std::nothrow);
    owned(p, 16, "operator new(nothrow)");
    ::operator delete(p, std::nothrow);
    p = ::operator new[](n, std::nothrow);
    owned(p, 16, "operator new[](nothrow)");
    ::operator delete[](p, std::nothrow);
    // aligned, aligned+sized, aligned+nothrow, for several alignments
    for (std::size_t a : {std::size_t(16), std::size_t(32), std::size_t(64), std::size_t(4096),
                          std::size_t(65536), std::size_t(1) << 20, std::size_t(4) << 20}) {
      std::align_val_t al{a};
      try {
        p = ::operator new(n, al);
        owned(p, a, "operator new(align)");
        std::memset(p, 3, n);
        ::operator delete(p, al);
        p = ::operator new(n, al);
        ::operator delete(p, n, al);
        p = ::operator new[](n, al);
        owned(p, a, "operator new[](align)");
        ::operator delete[](p, al);
        p = ::operator new[](n, al);
        ::operator delete[](p, n, al);
        p = ::operator new(n, al, std::nothrow);
        owned(p, a, "operator new(align, nothrow)");
        ::operator delete(p, al, std::nothrow);
        p = ::operator new[](n, al, std::nothrow);
        owned(p, a, "operator new[](align, nothrow)");
        ::operator delete[](p, al, std::nothrow);
      } catch (const std::bad_alloc &) {
        failures++;
        std::fprintf(stderr, "aligned operator new(%zu, align %zu) threw std::bad_alloc\n", n, a);
      }
    }
  }
  // every delete variant accepts nullptr
  ::operator delete(nullptr);
  ::operator delete[](nullptr);
  ::operator delete(nullptr, std::nothrow);
  ::operator delete[](nullptr, std::nothrow);
  ::operator delete(nullptr, std::size_t(0));
  ::operator delete[](nullptr, std::size_t(0));
  ::operator delete(nullptr, std::align_val_t(64));
  ::operator delete[](nullptr, std::align_val_t(64));
  ::operator delete(nullptr, std::size_t(0), std::align_val_t(64));
  ::operator delete[](nullptr, std::size_t(0), std::align_val_t(64));
  ::operator delete(nullptr, std::align_val_t(64), std::nothrow);
  ::operator delete[](nullptr, std::align_val_t(64), std::nothrow);
  // errno survives delete, as it survives free
  void *p = ::operator new(100);
  errno = 4321;
  ::operator delete(p, std::size_t(100));
  CHECK(errno == 4321);
  // operator new memory is interchangeable with malloc'd memory? Not required;
  // but it must be hakmem's and usable_size must cover it.
  p = ::operator new(1000);
  CHECK(hak_usable_size(p) >= 1000);
  ::operator delete(p);
}

static void test_overaligned() {
  // new-expressions of over-aligned types call the aligned operators
  A64 *a = launder_ptr(new A64);
  owned(a, 64, "new A64");
  std::memset(a->c, 1, sizeof a->c);
  delete a;
  A64 *av = launder_ptr(new A64[7]);
  owned(av, 64, "new A64[7]");
  delete[] av;
  A4K *b = launder_ptr(new A4K);
  owned(b, 4096, "new A4K");
  delete b;
  A4K *bv = launder_ptr(new A4K[3]);
  owned(bv, 4096, "new A4K[3]");
  for (int i = 0; i < 3; i++) CHECK(aligned(&bv[i], 4096));
  delete[] bv;
  A1M *c = launder_ptr(new A1M);
  owned(c, 1 << 20, "new A1M");
  c->x = 5;
  delete c;
  A1M *cn = launder_ptr(new (std::nothrow) A1M);
  owned(cn, 1 << 20, "new (nothrow) A1M");
  delete cn;
  A1M *cv = launder_ptr(new A1M[2]);
  owned(cv, 1 << 20, "new A1M[2]");
  CHECK(aligned(&cv[1], 1 << 20));
  delete[] cv;
  std::vector<A4K> v(5);
  for (auto &e : v) CHECK(aligned(&e, 4096));
  owned(v.data(), 4096, "vector<A4K>");
  auto u = std::make_unique<A64>();
  owned(u.get(), 64, "make_unique<A64>");
  auto s = std::make_shared<A4K>();
  CHECK(aligned(s.get(), 4096));
  int *i1 = launder_ptr(new int(5));
  owned(i1, 16, "new int");
  delete i1;
  int *i2 = launder_ptr(new int[100]);
  owned(i2, 16, "new int[100]");
  delete[] i2;
  int *i3 = launder_ptr(new (std::nothrow) int[10]);
  owned(i3, 16, "new (nothrow) int[10]");
  delete[] i3;
}

static int handler_calls;
static void handler_give_up() {
  handler_calls++;
  std::set_new_handler(nullptr); // next failure throws
}
static void handler_throw() {
  handler_calls++;
  throw std::bad_alloc();
}

static void test_failures() {
  const std::size_t huge = launder_size(std::size_t(PTRDIFF_MAX) + 1);
  const std::size_t big = launder_size(std::size_t(1) << 62);
  int thrown = 0;
  try {
    void *p = launder_ptr(::operator new(huge));
    ::operator delete(p);
  } catch (const std::bad_alloc &) {
    thrown++;
  }
  try {
    void *p = launder_ptr(::operator new[](big));
    ::operator delete[](p);
  } catch (const std::bad_alloc &) {
    thrown++;
  }
  try {
    char *p = launder_ptr(new char[launder_size(big)]);
    delete[] p;
  } catch (const std::bad_alloc &) {
    thrown++;
  }
  try {
    void *p = launder_ptr(::operator new(big, std::align_val_t(4096)));
    ::operator delete(p, std::align_val_t(4096));
  } catch (const std::bad_alloc &) {
    thrown++;
  }
  try {
    std::vector<char> v;
    v.reserve(launder_size(std::size_t(1) << 61));
    launder_ptr(v.data());
  } catch (const std::bad_alloc &) {
    thrown++;
  } catch (const std::length_error &) {
    thrown++; // libstdc++ may check max_size() first; fine either way
  }
  CHECK(thrown == 5);
  CHECK(::operator new(huge, std::nothrow) == nullptr);
  CHECK(::operator new[](big, std::nothrow) == nullptr);
  CHECK(::operator new(big, std::align_val_t(64), std::nothrow) == nullptr);
  CHECK(::operator new[](big, std::align_val_t(1 << 20), std::nothrow) == nullptr);
  CHECK(new (std::nothrow) char[launder_size(big)] == nullptr);

  // new_handler protocol: operator new calls the handler until it succeeds,
  // throws, or the handler is removed
  handler_calls = 0;
  std::set_new_handler(handler_give_up);
  thrown = 0;
  try {
    void *p = launder_ptr(::operator new(big));
    ::operator delete(p);
  } catch (const std::bad_alloc &) {
    thrown = 1;
  }
  CHECK(thrown == 1);
  CHECK(handler_calls == 1);
  // a handler that throws bad_alloc: operator new propagates it. The nothrow
  // variant must return nullptr and never let an exception out; hakmem's
  // (written in C, which cannot catch) does not call the handler at all
  // (README, "Behaviour worth knowing")
  handler_calls = 0;
  std::set_new_handler(handler_throw);
  thrown = 0;
  try {
    void *p = launder_ptr(::operator new(big, std::align_val_t(64)));
    ::operator delete(p, std::align_val_t(64));
  } catch (const std::bad_alloc &) {
    thrown = 1;
  }
  CHECK(thrown == 1);
  CHECK(handler_calls == 1);
  void *np = nullptr;
  try {
    np = ::operator new(big, std::nothrow);
  } catch (...) {
    np = reinterpret_cast<void *>(1);
  }
  CHECK(np == nullptr);
  CHECK(handler_calls == 1);
  std::set_new_handler(nullptr);
  // and ordinary allocations still work afterwards
  void *ok = ::operator new(100);
  owned(ok, 16, "operator new after failures");
  ::operator delete(ok);
}

struct TLSObject {
  std::string *s;
  TLSObject() : s(new std::string(100, 'a')) {}
  ~TLSObject() {
    // runs at thread exit, possibly after the allocator's own thread hook
    std::string t(*s);
    t += std::string(5000, 'b');
    delete s;
    std::vector<int> v(1000, 1);
    (void)v;
  }
};
static thread_local TLSObject tls_object;

static std::atomic<std::vector<std::string> *> handoff{nullptr};

static void container_churn(int id, unsigned seed) {
  (void)tls_object.s->size();
  std::map<std::string, std::vector<int>> m;
  std::unordered_map<int, std::string> um;
  unsigned x = seed;
  long sum = 0;
  for (int i = 0; i < 20000; i++) {
    x = x * 1103515245u + 12345u;
    std::string key = "k" + std::to_string(x % 5000);
    auto &v = m[key];
    v.push_back(i);
    if (v.size() > 20) v.clear();
    um[int(x % 3000)] = std::string(x % 200, char('a' + x % 26));
    if (i % 100 == 0) {
      m.erase(m.begin());
      std::string big(x % 100000, 'z');
      sum += long(big.size());
    }
    if (i % 500 == 0) {
      // hand a vector of strings to another thread, which frees it
      auto *vs = new std::vector<std::string>(50, std::string(64 + id, 'q'));
      delete handoff.exchange(vs);
    }
  }
  for (auto &kv : m) sum += long(kv.second.size());
  for (auto &kv : um) sum += long(kv.second.size());
  CHECK(sum > 0);
  std::vector<std::unique_ptr<std::string>> owned_strings;
  for (int i = 0; i < 5000; i++) owned_strings.emplace_back(new std::string(std::size_t(i % 300), 'w'));
  std::size_t tot = 0;
  for (auto &s : owned_strings) tot += s->size();
  CHECK(tot > 0);
}

static void test_containers() {
  container_churn(0, 1);
  for (int round = 0; round < 3; round++) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) ts.emplace_back(container_churn, t + 1, unsigned(round * 10 + t));
    for (auto &t : ts) t.join();
  }
  delete handoff.exchange(nullptr);
  // a string grown across every size range
  std::string s;
  for (int i = 0; i < 22; i++) s.append(s.size() + 1, char('a' + i));
  CHECK(s.size() == (std::size_t(1) << 22) - 1);
  owned(s.data(), 16, "large std::string");
}

int main() {
  void *probe = ::operator new(10);
  if (!hak_owns(probe)) {
    std::fprintf(stderr, "FATAL: operator new is not served by hakmem\n");
    return 1;
  }
  ::operator delete(probe);
  test_variants();
  test_overaligned();
  test_failures();
  test_containers();
  long f = failures.load();
  if (f) {
    std::fprintf(stderr, "cxx: %ld of %ld checks failed\n", f, checks.load());
    return 1;
  }
  std::printf("cxx: all %ld checks passed\n", checks.load());
  return 0;
}
