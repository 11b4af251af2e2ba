#include "model_session.h"

#include "oft/errors.h"
#include "oft/log.h"

namespace oft::app {

AdapterArgument AdapterArgument::parse(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) return {"default", text};
  AdapterArgument a{text.substr(0, eq), text.substr(eq + 1)};
  if (a.name.empty() || a.dir.empty()) throw UsageError("--adapter expects [NAME=]DIR, got '" + text + "'");
  return a;
}

ModelSession load_model(Host& host, const std::filesystem::path& dir, const ComputeSettings& compute) {
  models::LoadOptions options;
  options.formats = host.formats();
  options.device = compute.device;
  options.dtype = compute.dtype;
  ModelSession session{models::load_pretrained(dir, options), std::nullopt, compute};
  session.model.module->eval();
  return session;
}

void attach_adapters(Host& host, ModelSession& session, const std::vector<AdapterArgument>& adapters,
                     const std::vector<std::string>& active) {
  for (size_t i = 0; i < adapters.size(); ++i) {
    const auto& a = adapters[i];
    for (size_t j = 0; j < i; ++j)
      if (adapters[j].name == a.name) throw UsageError("two --adapter options use the name '" + a.name + "'");
    if (i == 0)
      session.oft.emplace(OFTModel::from_pretrained(session.model.module, a.dir,
                                                    {.adapter_name = a.name,
                                                     .info = session.model.info,
                                                     .registry = host.dispatchers(),
                                                     .eval_weight_cache = session.compute.eval_weight_cache}));
    else
      session.oft->load_adapter(a.dir, a.name);
    logger()->info("loaded adapter '{}' from {}", a.name, a.dir.string());
  }
  if (!session.oft) {
    if (!active.empty()) throw UsageError("--active names adapters, but no --adapter was given");
    return;
  }
  session.oft->set_adapter(active.empty() ? std::vector<std::string>{adapters.front().name} : active);
  session.model.module->eval();
}

}  // namespace oft::app
