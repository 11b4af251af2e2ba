#pragma once
// The library's logger ("oft"), through spdlog. Warnings that PEFT prints (block-size adjustment,
// version notes) go here at warn level; progress at info; internals at debug.
#include <memory>

#include <spdlog/spdlog.h>

#include "oft/export.h"

namespace oft {

OFT_CORE_API std::shared_ptr<spdlog::logger> logger();

}  // namespace oft
