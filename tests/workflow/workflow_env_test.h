// workflow_env_test.h: the base of the workflow suites typed over the
// journal backends (backends.h): a fresh folder per test, and a
// WorkflowTestEnv on a journal of that backend in it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "backends.h"
#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"

namespace keel {

template <class Backend>
class WorkflowEnvTest : public ::testing::Test {
 protected:
  // Makes dir_, a fresh folder named after `tag`, the backend and the test,
  // and opens env_ with `options` (their open_journal, when unset, is the
  // backend's) on the journal in it, with what workflows_ defines by then.
  void open_env(const std::string& tag, WorkflowTestOptions options = {}) {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("keel_" + tag + "_" + std::string(Backend::kName) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (!options.open_journal) {
      options.open_journal = [](const std::string& path, const JournalOptions& jo) { return Backend::open(path, jo); };
    }
    auto env = WorkflowTestEnv::open(workflows_, Backend::journal_path(dir_.string()), options);
    ASSERT_TRUE(env.is_ok()) << env.status();
    env_ = std::move(*env);
  }
  void TearDown() override {
    env_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  Workflows workflows_;
  std::unique_ptr<WorkflowTestEnv> env_;
};

}  // namespace keel
