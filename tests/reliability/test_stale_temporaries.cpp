// What `oft train` removes from output_dir when it starts (apps/oft/train/stale_temporaries.h): the temporaries
// of its own outputs whose writer is gone; never a live writer's, never another name.
#include "stale_temporaries.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace oft::app {
namespace {

namespace fs = std::filesystem;

// The pid of a process that has ended (reaped at once, so not reused within the test in practice).
long dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(StaleTemporaries, NamesOfTheOutputsTemporariesOnly) {
  long pid = 0;
  EXPECT_TRUE(parse_temporary_name(".checkpoint.oft-tmp.123.0", pid));
  EXPECT_EQ(pid, 123);
  EXPECT_TRUE(parse_temporary_name(".adapter.oft-old.5.2", pid));
  EXPECT_EQ(pid, 5);
  EXPECT_TRUE(parse_temporary_name("metrics.json.tmp.77.1", pid));
  EXPECT_EQ(pid, 77);
  EXPECT_TRUE(parse_temporary_name("eval_logits.safetensors.tmp.9.0", pid));
  EXPECT_EQ(pid, 9);
  for (const char* other : {"checkpoint", "adapter", "metrics.json", "notes.tmp.12.0", ".data.oft-tmp.12.0",
                            ".checkpoint.oft-tmp.abc.0", "metrics.json.tmp.12", ".checkpoint.oft-new.1.0"})
    EXPECT_FALSE(parse_temporary_name(other, pid)) << other;
}

TEST(StaleTemporaries, RemovesADeadWritersAndKeepsTheRest) {
  char name[] = "/tmp/oft-stale-temporaries-XXXXXX";
  const fs::path dir = ::mkdtemp(name);
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(::getpid());
  fs::create_directories(dir / (".checkpoint.oft-tmp." + dead + ".0"));
  std::ofstream(dir / (".checkpoint.oft-tmp." + dead + ".0") / "trainable.safetensors") << "partial";
  const std::vector<std::string> files{"metrics.json.tmp." + dead + ".3", "metrics.json.tmp." + alive + ".0",
                                       "metrics.json", "notes.tmp." + dead + ".0"};
  for (const auto& file : files) std::ofstream(dir / file) << "x";
  EXPECT_EQ(remove_stale_temporaries(dir), 2);
  EXPECT_FALSE(fs::exists(dir / (".checkpoint.oft-tmp." + dead + ".0")));
  EXPECT_FALSE(fs::exists(dir / ("metrics.json.tmp." + dead + ".3")));
  EXPECT_TRUE(fs::exists(dir / ("metrics.json.tmp." + alive + ".0"))) << "a live writer's temporary was removed";
  EXPECT_TRUE(fs::exists(dir / "metrics.json"));
  EXPECT_TRUE(fs::exists(dir / ("notes.tmp." + dead + ".0"))) << "a name oft does not write was removed";
  EXPECT_EQ(remove_stale_temporaries(dir / "missing"), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace oft::app
