// Prints every metric family the server defines, one per line, for
// check_deploy.py (dashboard and alert rules must use only these).
#include <cstdio>

#include "server/metrics.h"

int main() {
  for (const std::string& name : trilemma::ServerMetrics::FamilyNames()) {
    std::printf("%s\n", name.c_str());
  }
  return 0;
}
