// tokenizer.json post-processors for one sequence: TemplateProcessing (its "single" template),
// RobertaProcessing/BertProcessing (cls ... sep), ByteLevel (offsets only: no ids), Sequence.
#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "tokenizer_components.h"

namespace oft::models::tok {
namespace {

// Ids before and after the sequence.
class Wrap : public PostProcessor {
 public:
  Wrap(std::vector<int64_t> before, std::vector<int64_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  void process(std::vector<int64_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }

 private:
  std::vector<int64_t> before_, after_;
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int64_t>& ids) const override {
    for (const auto& part : parts_) part->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

std::unique_ptr<PostProcessor> template_processing(const nlohmann::json& spec) {
  std::vector<int64_t> before, after;
  bool seen_sequence = false;
  for (const auto& item : spec.at("single")) {
    if (item.contains("Sequence")) {
      if (seen_sequence) throw FormatError("post_processor TemplateProcessing: \"single\" names $A twice");
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken"))
      throw FormatError("post_processor TemplateProcessing: items must be SpecialToken or Sequence");
    const auto name = item["SpecialToken"].at("id").get<std::string>();
    const auto& specials = spec.at("special_tokens");
    if (!specials.contains(name))
      throw FormatError("post_processor TemplateProcessing: special token \"" + name + "\" is not in special_tokens");
    auto& target = seen_sequence ? after : before;
    for (const auto& id : specials[name].at("ids")) target.push_back(id.get<int64_t>());
  }
  if (!seen_sequence) throw FormatError("post_processor TemplateProcessing: \"single\" lacks $A");
  return std::make_unique<Wrap>(std::move(before), std::move(after));
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = component_type(spec, "post_processor");
  if (type == "TemplateProcessing") return template_processing(spec);
  if (type == "RobertaProcessing" || type == "BertProcessing")
    return std::make_unique<Wrap>(std::vector<int64_t>{spec.at("cls").at(1).get<int64_t>()},
                                  std::vector<int64_t>{spec.at("sep").at(1).get<int64_t>()});
  if (type == "ByteLevel") return std::make_unique<Sequence>(std::vector<std::unique_ptr<PostProcessor>>{});
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const auto& part : spec.at("processors"))
      if (auto made = make_post_processor(part)) parts.push_back(std::move(made));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported("post_processor", type, "TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence");
}

}  // namespace oft::models::tok
