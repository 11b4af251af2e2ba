#pragma once
// JSON form of plugin reports: the output of `oft plugins --json`, the verdict line the
// oft-plugin-scan child prints, and the entries of the safe-scan cache.
#include <nlohmann/json.hpp>

#include "oft/plugin_host.h"

namespace oft {

nlohmann::json to_json(const PluginFileReport& report);
nlohmann::json to_json(const PluginFolderReport& report);
nlohmann::json to_json(const DispatcherSummary& dispatcher);
// {"folders": [...], "plugins": [...], "dispatchers": [...]}: what `oft plugins --json` prints.
nlohmann::json to_json(const PluginHostResult& result);
// FormatError when a field is missing or has the wrong type.
PluginFileReport file_report_from_json(const nlohmann::json& json);
PluginStatus plugin_status_from_string(const std::string& text);

}  // namespace oft
