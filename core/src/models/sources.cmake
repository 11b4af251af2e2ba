# Model architectures and Hugging Face checkpoints (one line per file, so additions merge cleanly).
target_sources(oft_core PRIVATE src/models/layers.cpp)
target_sources(oft_core PRIVATE src/models/bert.cpp)
target_sources(oft_core PRIVATE src/models/pretrained.cpp)
target_sources(oft_core PRIVATE src/models/llama.cpp)
target_sources(oft_core PRIVATE src/models/gpt2.cpp)
target_sources(oft_core PRIVATE src/models/tokenizer.cpp)
set_source_files_properties(src/models/tokenizer.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)  # torch-free
find_package(ICU REQUIRED COMPONENTS uc)  # tokenizer.cpp: Unicode categories, lowercasing, NFD
target_link_libraries(oft_core PRIVATE ICU::uc)
