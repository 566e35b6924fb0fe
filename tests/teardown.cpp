// teardown.cpp — C++ thread and process teardown around hakmem's own.
//
// A plain program run under LD_PRELOAD (so, as in real programs, libstdc++
// and the program's static destructors run around hakmem's exit handling).
//  - thread_local objects whose destructors free blocks allocated by main
//    and by other threads and allocate (a 1 MiB vector, map nodes), in
//    threads that otherwise only free;
//  - a pthread key created after hakmem's, so its destructor runs after
//    hakmem's thread-exit hook released the thread's heap: it uses
//    std::string/std::vector/std::map, first touches a thread_local (whose
//    constructor allocates there), and asks for two more rounds;
//  - std::threads that only delete objects made by main;
//  - at exit: static containers (map of vectors of strings, unordered_map,
//    shared_ptr graph) and a function-local static made late are destroyed,
//    and a std::atexit handler allocates, while detached threads are still
//    allocating. A destructor that finds its data damaged calls _exit(3); a
//    crash shows as a signal: either fails the run.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include "check.h"

static void fail_at_exit(const char *what) {
  (void)!write(2, what, std::strlen(what));
  _exit(3);
}

// ----------------------------------------------- thread_local destructors
static std::atomic<std::string *> from_main[64];
static std::atomic<long> tl_destroyed{0};

struct Leftovers {
  std::vector<std::string *> mine;
  ~Leftovers() {
    // runs at thread exit: free what main made, free our own, allocate more
    for (auto &slot : from_main) delete slot.exchange(nullptr);
    for (auto *s : mine) delete s;
    std::vector<char> big(1 << 20, 'b');
    std::map<int, std::string> m;
    for (int i = 0; i < 200; i++) m[i] = std::string(std::size_t(i), 'm');
    if (big[12345] != 'b' || m[199].size() != 199) fail_at_exit("thread_local destructor: bad data\n");
    tl_destroyed++;
  }
};
static thread_local Leftovers leftovers;

static void free_only_thread(int id) {
  // touches the thread_local (its constructor allocates nothing), frees only
  (void)leftovers.mine.size();
  for (int i = id; i < 64; i += 8) delete from_main[i].exchange(nullptr);
}

static void tl_thread(int id) {
  for (int i = 0; i < 100; i++) leftovers.mine.push_back(new std::string(std::size_t(i * id % 300), 'x'));
}

// ------------------------------------- pthread key destructor after hakmem's
static pthread_key_t late_key;
static std::atomic<long> late_rounds{0};
static std::atomic<long> late_sum{0};
static thread_local std::string *late_tls_string; // made inside the key destructor

struct LateTLS {
  std::string s;
  LateTLS() : s(5000, 'L') {}
};

static void late_destructor(void *v) {
  auto *vec = static_cast<std::vector<int> *>(v);
  long sum = 0;
  for (int x : *vec) sum += x;
  delete vec;
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 300; i++) m["k" + std::to_string(i)].assign(std::size_t(i % 17), i);
  for (auto &kv : m) sum += long(kv.second.size());
  // a thread_local first used here, after hakmem's hook: its constructor
  // allocates (glibc does not run the destructor of a thread_local made
  // this late; it is leaked, by the C++ runtime's rules)
  static thread_local LateTLS late_tls;
  sum += long(late_tls.s.size());
  delete late_tls_string;
  late_tls_string = new std::string(100, 's');
  late_sum += sum;
  late_rounds++;
  static thread_local int my_rounds; // trivial: no destructor to register
  if (++my_rounds < 3) pthread_setspecific(late_key, new std::vector<int>(1000, 1)); // another round
  else {
    delete late_tls_string;
    late_tls_string = nullptr;
  }
}

static void key_thread() {
  pthread_setspecific(late_key, new std::vector<int>(1000, 1));
  std::string work(20000, 'w');
  (void)work;
}

// ------------------------------------------------------ process exit
struct Registry {
  std::map<std::string, std::vector<std::string>> names;
  std::unordered_map<int, std::shared_ptr<std::vector<long>>> shared;
  ~Registry() {
    // runs after main returned, while detached threads still allocate
    std::size_t n = 0;
    for (auto &kv : names) n += kv.second.size();
    if (n != 500 * 20) fail_at_exit("Registry: damaged at exit\n");
    for (auto &kv : shared)
      if (kv.second->size() != std::size_t(kv.first % 50) + 1) fail_at_exit("Registry: shared data damaged\n");
    std::vector<std::string> copy;
    for (auto &kv : names) copy.push_back(kv.first + "!");
    names.clear();
  }
};
static Registry registry;
static std::string global_text(100000, 'g');

static std::map<int, std::string> &late_static() {
  static std::map<int, std::string> m; // constructed in main, destroyed at exit
  return m;
}

static void at_exit_handler() {
  std::vector<std::unique_ptr<std::string>> v;
  for (int i = 0; i < 1000; i++) v.emplace_back(new std::string(std::size_t(i % 100), 'e'));
  late_static().clear();
  if (global_text.size() != 100000) fail_at_exit("atexit handler: global string damaged\n");
}

static void forever_allocating(unsigned seed) {
  unsigned x = seed;
  std::map<unsigned, std::string> m;
  for (;;) {
    x = x * 1103515245u + 12345u;
    m[x % 1000] = std::string(x % 3000, 'f');
    if (x % 64 == 0) {
      std::vector<char> v(std::size_t(x % (2 << 20)), 'v');
      if (!v.empty() && v.back() != 'v') fail_at_exit("detached thread: bad data\n");
    }
  }
}

int main() {
  hk_require();
  std::string *probe = new std::string(100, 'p');
  CHECKF(hk_owned(probe) && hk_owned(probe->data()), "operator new is not hakmem's");
  delete probe;

  // thread_local destructors, free-only threads
  for (auto &slot : from_main) slot = new std::string(200, 'M');
  {
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++) ts.emplace_back(free_only_thread, i);
    for (int i = 1; i <= 4; i++) ts.emplace_back(tl_thread, i);
    for (auto &t : ts) t.join();
  }
  for (auto &slot : from_main) CHECK(slot.load() == nullptr);
  CHECKF(tl_destroyed.load() == 12, "%ld thread_local destructors ran, want 12", tl_destroyed.load());

  // key destructors after hakmem's thread-exit hook, three rounds each
  REQUIRE(pthread_key_create(&late_key, late_destructor) == 0);
  for (int round = 0; round < 4; round++) {
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++) ts.emplace_back(key_thread);
    for (auto &t : ts) t.join();
  }
  CHECKF(late_rounds.load() == 16 * 3, "%ld key destructor rounds, want 48", late_rounds.load());
  long map_sizes = 0;
  for (int i = 0; i < 300; i++) map_sizes += i % 17;
  const long per_round = 1000 + map_sizes + 5000;
  CHECKF(late_sum.load() == 48 * per_round, "key destructors computed %ld, want %ld", late_sum.load(), 48 * per_round);

  // exit-time state
  for (int i = 0; i < 500; i++)
    for (int j = 0; j < 20; j++) registry.names["name" + std::to_string(i)].push_back(std::string(std::size_t(j * 7), 'n'));
  for (int i = 0; i < 300; i++) registry.shared[i] = std::make_shared<std::vector<long>>(std::size_t(i % 50) + 1, 7L);
  for (int i = 0; i < 100; i++) late_static()[i] = std::string(std::size_t(i), 's');
  std::atexit(at_exit_handler);
  for (unsigned i = 0; i < 3; i++) std::thread(forever_allocating, i + 1).detach();
  usleep(100 * 1000);
  int rc = check_exit("teardown-cxx");
  return rc; // static destructors and the atexit handler run now, under the detached threads
}
