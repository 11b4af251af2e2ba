# Model architectures and Hugging Face checkpoints (one line per file, so additions merge cleanly).
target_sources(oft_core PRIVATE src/hf/layers.cpp)
target_sources(oft_core PRIVATE src/hf/bert.cpp)
target_sources(oft_core PRIVATE src/hf/pretrained.cpp)
target_sources(oft_core PRIVATE src/hf/llama.cpp)
target_sources(oft_core PRIVATE src/hf/gpt2.cpp)
target_sources(oft_core PRIVATE src/hf/tokenizer.cpp)
set_source_files_properties(src/hf/tokenizer.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)  # torch-free
find_package(ICU REQUIRED COMPONENTS uc)  # tokenizer.cpp: Unicode categories, lowercasing, NFD
target_link_libraries(oft_core PRIVATE ICU::uc)
