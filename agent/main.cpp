#include "app/cli.hpp"

int main(int argc, char** argv) {
  return sidelight::app::run_command_line(argc, argv);
}
