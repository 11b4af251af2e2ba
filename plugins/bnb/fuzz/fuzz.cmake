# The bnb plugin's fuzz target (included by fuzz/CMakeLists.txt, built by scripts/fuzz.sh); seeds in
# corpus/fuzz_bnb_config/.
oft_add_plugin_fuzz_target(NAME fuzz_bnb_config
                           SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_bnb_config.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/options.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/quant_state_json.cpp
                           INCLUDES ${CMAKE_CURRENT_LIST_DIR}/../src)
