// Every GoogleTest binary's main (kobs_add_test links it instead of
// gtest_main): the tests run hermetic. A developer's KUBECONFIG and
// ~/.kube/config, or a CI pod's service account (KUBERNETES_SERVICE_HOST),
// must never make a test's `kobs all` a client of a real cluster by accident,
// so they are cleared for this process and every child it starts. Tests that
// want a cluster name one explicitly (--set k8s.kubeconfig=...).
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>

#include "support/temp_dir.h"

int main(int argc, char** argv) {
  ::unsetenv("KUBECONFIG");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  // An empty home: no ~/.kube/config fallback.
  const auto home = kobs::testing::binaryDir() / "tests" / "hermetic-home";
  std::filesystem::create_directories(home);
  ::setenv("HOME", home.c_str(), 1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
