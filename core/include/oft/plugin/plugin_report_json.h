#pragma once
// JSON form of plugin reports: the output of `oft plugins --json`, the verdict line the
// oft-plugin-scan child prints, and the entries of the safe-scan cache.
#include <nlohmann/json.hpp>

#include "oft/export.h"
#include "oft/plugin/plugin_host.h"

namespace oft {

OFT_CORE_API nlohmann::json to_json(const PluginFileReport& report);
OFT_CORE_API nlohmann::json to_json(const PluginFolderReport& report);
OFT_CORE_API nlohmann::json to_json(const DispatcherSummary& dispatcher);
// {"name", "origin", "methods": [{"name", "description", "default_options", "needs_calibration"}]}
OFT_CORE_API nlohmann::json to_json(const FormatSummary& format);
// {"folders": [...], "plugins": [...], "dispatchers": [...], "formats": [...]}: what `oft plugins --json` prints.
OFT_CORE_API nlohmann::json to_json(const PluginHostResult& result);
// FormatError when a field is missing or has the wrong type.
OFT_CORE_API PluginFileReport file_report_from_json(const nlohmann::json& json);
OFT_CORE_API PluginStatus plugin_status_from_string(const std::string& text);

}  // namespace oft
