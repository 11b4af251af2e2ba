# Model architectures and Hugging Face checkpoints (one line per file, so additions merge cleanly).
target_sources(oft_core PRIVATE src/hf/layers.cpp)
target_sources(oft_core PRIVATE src/hf/bert.cpp)
target_sources(oft_core PRIVATE src/hf/pretrained.cpp)
target_sources(oft_core PRIVATE src/hf/checkpoint_files.cpp)  # config.json, model.safetensors(.index.json)
target_sources(oft_core PRIVATE src/hf/companion_files.cpp)  # tokenizer and generation files copied on save
set_source_files_properties(src/hf/companion_files.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)  # torch-free
target_sources(oft_core PRIVATE src/hf/llama.cpp)
target_sources(oft_core PRIVATE src/hf/gpt2.cpp)
target_sources(oft_core PRIVATE src/hf/cached_decoding.cpp)
target_sources(oft_core PRIVATE src/hf/generation.cpp)
target_sources(oft_core PRIVATE src/hf/causal_lm_loss.cpp)
target_sources(oft_core PRIVATE src/hf/rms_norm.cpp)
target_sources(oft_core PRIVATE src/hf/gated_activation.cpp)
target_sources(oft_core PRIVATE src/hf/rotary_embedding.cpp)
target_sources(oft_core PRIVATE src/hf/tokenizer.cpp)
set_source_files_properties(src/hf/tokenizer.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)  # torch-free
target_sources(oft_core PRIVATE src/hf/input_scale_groups.cpp)
set_source_files_properties(src/hf/input_scale_groups.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)  # torch-free
target_sources(oft_core PRIVATE src/hf/input_scale_fold.cpp)
find_package(ICU REQUIRED COMPONENTS uc)  # tokenizer.cpp: Unicode categories, lowercasing, NFD
target_link_libraries(oft_core PRIVATE ICU::uc)
# LLM tokenizers (torch-free, docs/tokenizers.md): tokenizer.json pipelines, BPE, SentencePiece, load_tokenizer().
target_sources(oft_core PRIVATE src/hf/tokenizer_utf8.cpp)
set_source_files_properties(src/hf/tokenizer_utf8.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/bpe.cpp)
set_source_files_properties(src/hf/bpe.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/tokenizer_normalizers.cpp)
set_source_files_properties(src/hf/tokenizer_normalizers.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/tokenizer_pre_tokenizers.cpp)
set_source_files_properties(src/hf/tokenizer_pre_tokenizers.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/tokenizer_post_processors.cpp)
set_source_files_properties(src/hf/tokenizer_post_processors.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/tokenizer_decoders.cpp)
set_source_files_properties(src/hf/tokenizer_decoders.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/tokenizer_added_tokens.cpp)
set_source_files_properties(src/hf/tokenizer_added_tokens.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/json_tokenizer.cpp)
set_source_files_properties(src/hf/json_tokenizer.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/sentencepiece_tokenizer.cpp)
set_source_files_properties(src/hf/sentencepiece_tokenizer.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_sources(oft_core PRIVATE src/hf/tokenizer_loader.cpp)
set_source_files_properties(src/hf/tokenizer_loader.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
find_package(ICU REQUIRED COMPONENTS uc i18n)  # tokenizer_pre_tokenizers.cpp: ICU regex
target_link_libraries(oft_core PRIVATE ICU::i18n)
find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h REQUIRED)  # Debian libsentencepiece-dev
find_library(SENTENCEPIECE_LIBRARY sentencepiece REQUIRED)
target_include_directories(oft_core PRIVATE ${SENTENCEPIECE_INCLUDE_DIR})
target_link_libraries(oft_core PRIVATE ${SENTENCEPIECE_LIBRARY})
