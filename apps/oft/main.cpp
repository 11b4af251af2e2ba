// oft: Orthogonal Fine-Tuning for LibTorch, the command-line host.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "oft/log.h"

int main(int argc, char** argv) {
  CLI::App app{"oft: Orthogonal Fine-Tuning (PEFT-compatible) for LibTorch"};
  app.require_subcommand(1);
  std::string level = "info";
  app.add_option("--log-level", level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.parse_complete_callback([&] { oft::logger()->set_level(spdlog::level::from_str(level)); });
  oft::app::add_demo_command(app);
  oft::app::add_plugins_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    oft::logger()->error("{}", e.what());
    return 1;
  }
  return 0;
}
