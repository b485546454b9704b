// `keel ui` in headless Chromium (label "ui"; scripts/setup.sh installs
// Debian's chromium package, and without it these tests fail, naming it):
// the page lists the runs of a journal made by the real workflow engine, a
// click opens one run's timeline, which shows its steps and result, and the
// list picks up a run committed while the page is open. The view of a run
// whose steps took time is kept as a screenshot,
// Testing/artifacts/ui_run.png in the build tree.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "journal/backends.h"
#include "tools/headless_browser.h"
#include "tools/ui_process.h"
#include "tools/workflow_runs.h"

namespace keel::testing {
namespace {

class UiBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-uibrowser-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = SqliteBackend::journal_path(dir_);
    write_example_runs<SqliteBackend>(path_);
    append_timed_run<SqliteBackend>(path_, "t-1");
    ui_ = std::make_unique<UiProcess>(path_);
    ASSERT_NE(ui_->port(), 0) << ui_->out() << ui_->err();
    std::string error;
    browser_ = HeadlessBrowser::launch(&error);
    ASSERT_NE(browser_, nullptr) << error;
    ASSERT_EQ(browser_->navigate(ui_->url()), "");
  }
  void TearDown() override {
    browser_.reset();
    if (ui_ != nullptr) {
      EXPECT_EQ(ui_->stop(), 0) << ui_->err();
    }
    std::filesystem::remove_all(dir_);
  }

  // The text of the first element `selector` matches, once there is one.
  std::string text_of(const std::string& selector) {
    std::string text;
    EXPECT_EQ(browser_->wait_until("document.querySelector(" + json_quote(selector) + ")?.textContent", &text), "");
    return text;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<UiProcess> ui_;
  std::unique_ptr<HeadlessBrowser> browser_;
};

TEST_F(UiBrowserTest, ClickingARunShowsItsStepsOnATimeline) {
  ASSERT_EQ(browser_->wait_until("document.querySelectorAll('#runs-table a.run-link').length === 5"), "");
  EXPECT_EQ(text_of("#runs-table tr[data-run='p-1'] .status"), "failed");
  EXPECT_EQ(text_of("#runs-table tr[data-run='e-1'] .status"), "running");
  EXPECT_TRUE(has(text_of("#owners-table"), "workflow/s-1"));
  EXPECT_TRUE(has(text_of("#stats"), "records"));

  ASSERT_EQ(browser_->click("a.run-link[data-run='o-1']"), "");
  ASSERT_EQ(browser_->wait_until("location.hash === '#/run/o-1' && document.querySelector('#timeline .step')"), "");
  EXPECT_EQ(text_of("#run-id"), "o-1");
  EXPECT_EQ(text_of("#run-status"), "completed");
  EXPECT_EQ(text_of("#run-result"), "\"reserved o-1, 120, shipped o-1\"");
  std::string names;
  ASSERT_EQ(browser_->evaluate("[...document.querySelectorAll('#timeline .step .name')]"
                               ".map(e => e.textContent).join(',')",
                               &names),
            "");
  EXPECT_EQ(names, "reserve,charge,ship");
  std::string bars;
  ASSERT_EQ(browser_->evaluate("String(document.querySelectorAll('#timeline .step .bar').length)", &bars), "");
  EXPECT_EQ(bars, "3");

  // A step's payload opens on a click.
  ASSERT_EQ(browser_->click("#timeline .step[data-name='charge'] summary"), "");
  ASSERT_EQ(browser_->wait_until("document.querySelector(\"#timeline .step[data-name='charge'] details\").open"), "");
  EXPECT_EQ(text_of("#timeline .step[data-name='charge'] pre"), "120");

  // The screenshot shows a run whose steps took time: bars of three lengths.
  ASSERT_EQ(browser_->click("a.home"), "");
  ASSERT_EQ(browser_->wait_until("document.querySelector(\"a.run-link[data-run='t-1']\")"), "");
  ASSERT_EQ(browser_->click("a.run-link[data-run='t-1']"), "");
  ASSERT_EQ(browser_->wait_until("location.hash === '#/run/t-1' && document.querySelector('#run-result')"), "");
  EXPECT_EQ(text_of("#run-result"), "\"fulfilled t-1\"");
  std::string widths;
  ASSERT_EQ(browser_->evaluate("[...document.querySelectorAll('#timeline .step .bar')]"
                               ".map(e => Math.round(e.getBoundingClientRect().width)).join(',')",
                               &widths),
            "");
  std::vector<int> w;
  std::stringstream list(widths);
  for (std::string item; std::getline(list, item, ',');) w.push_back(std::stoi(item));
  ASSERT_EQ(w.size(), 3u) << widths;
  EXPECT_LT(w[0], w[2]) << widths;  // pick 30 ms < ship 60 ms < pack 120 ms
  EXPECT_LT(w[2], w[1]) << widths;

  const std::filesystem::path artifacts = KEEL_UI_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  const std::string png = (artifacts / "ui_run.png").string();
  ASSERT_EQ(browser_->screenshot(png), "");
  EXPECT_GT(std::filesystem::file_size(png), 1000u);
  std::cout << "keel ui screenshot: " << png << std::endl;
}

TEST_F(UiBrowserTest, AFailedRunShowsItsErrorAndTheOwnerViewItsRecords) {
  ASSERT_EQ(browser_->wait_until("document.querySelector(\"a.run-link[data-run='p-1']\")"), "");
  ASSERT_EQ(browser_->click("a.run-link[data-run='p-1']"), "");
  ASSERT_EQ(browser_->wait_until("location.hash === '#/run/p-1' && document.querySelector('#run-error')"), "");
  EXPECT_EQ(text_of("#run-error"), "failed_precondition (10): card declined");
  EXPECT_EQ(text_of("#timeline .step[data-name='capture'] .st-error"), "error");

  ASSERT_EQ(browser_->click("h2 a.owner-link"), "");
  ASSERT_EQ(browser_->wait_until("document.querySelector('#records-table tr[data-lsn]')"), "");
  EXPECT_EQ(text_of("#owner-id"), "workflow/p-1");
  EXPECT_TRUE(has(text_of("#records-table"), "card declined"));
}

TEST_F(UiBrowserTest, ARunCommittedWhileThePageIsOpenAppears) {
  ASSERT_EQ(browser_->wait_until("document.querySelectorAll('#runs-table a.run-link').length === 5"), "");
  std::string before;
  ASSERT_EQ(browser_->evaluate("String(!!document.querySelector(\"a.run-link[data-run='o-2']\"))", &before), "");
  EXPECT_EQ(before, "false");

  append_order_run<SqliteBackend>(path_, "o-2");  // the page is not reloaded: it polls

  ASSERT_EQ(browser_->wait_until("document.querySelector(\"#runs-table tr[data-run='o-2'] .status\")"
                                 "?.textContent === 'completed'"),
            "");
  EXPECT_EQ(text_of("#runs-count"), "(6)");
}

}  // namespace
}  // namespace keel::testing
