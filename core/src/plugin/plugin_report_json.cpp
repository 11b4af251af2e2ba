#include "oft/plugin/plugin_report_json.h"

#include "oft/errors.h"

namespace oft {

std::string to_string(PluginStatus status) {
  switch (status) {
    case PluginStatus::Loaded: return "loaded";
    case PluginStatus::Rejected: return "rejected";
    case PluginStatus::Disabled: return "disabled";
  }
  return "unknown";
}

PluginStatus plugin_status_from_string(const std::string& text) {
  for (auto status : {PluginStatus::Loaded, PluginStatus::Rejected, PluginStatus::Disabled})
    if (to_string(status) == text) return status;
  throw FormatError("unknown plugin status '" + text + "' (expected loaded, rejected or disabled)");
}

nlohmann::json to_json(const PluginFileReport& r) {
  return {{"file", r.file.string()}, {"origin", r.origin}, {"status", to_string(r.status)}, {"name", r.name},
          {"version", r.version},    {"reason", r.reason}, {"dispatchers", r.dispatchers},  {"formats", r.formats}};
}

nlohmann::json to_json(const PluginFolderReport& r) {
  return {{"folder", r.folder.string()}, {"origin", r.origin}, {"problem", r.problem}};
}

nlohmann::json to_json(const DispatcherSummary& d) {
  return {{"name", d.name}, {"priority", d.priority}, {"origin", d.origin}};
}

nlohmann::json to_json(const FormatSummary& f) {
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& m : f.methods)  // default options are checked to be a JSON object when the format is registered
    methods.push_back({{"name", m.name},
                       {"description", m.description},
                       {"default_options", nlohmann::json::parse(m.default_options_json)},
                       {"needs_calibration", m.needs_calibration}});
  return {{"name", f.name}, {"origin", f.origin}, {"methods", methods}};
}

nlohmann::json to_json(const PluginHostResult& result) {
  nlohmann::json folders = nlohmann::json::array(), plugins = nlohmann::json::array(),
                 dispatchers = nlohmann::json::array();
  for (const auto& f : result.folders) folders.push_back(to_json(f));
  for (const auto& p : result.files) plugins.push_back(to_json(p));
  for (const auto& d : result.dispatchers) dispatchers.push_back(to_json(d));
  nlohmann::json formats = nlohmann::json::array();
  for (const auto& f : result.format_summaries) formats.push_back(to_json(f));
  return {{"folders", folders}, {"plugins", plugins}, {"dispatchers", dispatchers}, {"formats", formats}};
}

PluginFileReport file_report_from_json(const nlohmann::json& json) {
  try {
    PluginFileReport r;
    r.file = json.at("file").get<std::string>();
    r.origin = json.value("origin", "");
    r.status = plugin_status_from_string(json.at("status").get<std::string>());
    r.name = json.at("name").get<std::string>();
    r.version = json.at("version").get<std::string>();
    r.reason = json.at("reason").get<std::string>();
    r.dispatchers = json.at("dispatchers").get<std::vector<std::string>>();
    r.formats = json.value("formats", std::vector<std::string>{});
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("malformed plugin report " + json.dump() + ": " + e.what());
  }
}

}  // namespace oft
