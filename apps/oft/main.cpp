// oft: Orthogonal Fine-Tuning for LibTorch, the command-line host.
#include <CLI/CLI.hpp>

#include "commands.h"
#include "host.h"
#include "oft/log.h"
#include "oft/sdk/cpu_features.h"

int main(int argc, char** argv) {
  CLI::App app{"oft: Orthogonal Fine-Tuning (PEFT-compatible) for LibTorch"};
  app.require_subcommand(1);
  oft::app::Host host;
  std::string level, host_config;
  app.add_option("--log-level", level, "trace, debug, info, warn, error or off (overrides the host config)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  // Read as soon as it is parsed, so that `oft quantize --help` lists the methods of the plugins it names.
  app.add_option("--host-config", host_config, "host config JSON: {\"plugins\": {...}, \"logging\": {\"level\": ...}}")
      ->check(CLI::ExistingFile)
      ->each([&](const std::string& file) { host.configure(file); });
  app.parse_complete_callback([&] {
    const std::string chosen = !level.empty() ? level : host.log_level().value_or("info");
    oft::logger()->set_level(spdlog::level::from_str(chosen));
    // A bad OFT_CPU_CAPABILITY fails every command before it works, not at a kernel's first choice (or never).
    oft::sdk::cpu_capability_allowed();
  });
  oft::app::add_demo_command(app, host);
  oft::app::add_plugins_command(app, host);
  oft::app::add_plan_command(app, host);
  oft::app::add_forward_command(app, host);
  oft::app::add_train_command(app, host);
  oft::app::add_merge_command(app, host);
  oft::app::add_quantize_command(app, host);
  oft::app::add_tokenize_command(app);
  oft::app::add_generate_command(app, host);
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
