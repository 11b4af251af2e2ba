# Model architectures and Hugging Face checkpoints (one line per file, so additions merge cleanly).
target_sources(oft_core PRIVATE src/models/layers.cpp)
target_sources(oft_core PRIVATE src/models/bert.cpp)
target_sources(oft_core PRIVATE src/models/pretrained.cpp)
target_sources(oft_core PRIVATE src/models/llama.cpp)
target_sources(oft_core PRIVATE src/models/gpt2.cpp)
