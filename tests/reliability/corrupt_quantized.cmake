# oft_add_corrupt_quantized_test(NAME <test> METHOD <m> [OPTIONS <json>] [MODEL <dense folder>] [CALIBRATION]
#                                [DEPENDS <targets>] CASES "<Name>|<mutation>|<expected text>|..." ...)
# A backend's quantized checkpoint, corrupted once per case, must fail `oft forward` with a clear error
# (tests/reliability/test_corrupt_quantized.cpp lists the mutations). Called from tests/backends/<name>/, so
# the backend's knowledge stays in its folder; included by tests/CMakeLists.txt before those folders.
# DEPENDS: the plugin targets the test needs built (the test binary depends on them).
function(oft_add_corrupt_quantized_test)
  cmake_parse_arguments(ARG "CALIBRATION" "NAME;METHOD;OPTIONS;MODEL" "DEPENDS;CASES" ${ARGN})
  if(NOT ARG_MODEL)
    set(ARG_MODEL ${OFT_GOLDEN_DIR}/models/hf/llama3_rope)
  endif()
  set(args --oft $<TARGET_FILE:oft> --model ${ARG_MODEL} --method ${ARG_METHOD})
  if(ARG_OPTIONS)
    list(APPEND args --options ${ARG_OPTIONS})
  endif()
  if(ARG_CALIBRATION)
    list(APPEND args --calibration)
  endif()
  add_test(NAME ${ARG_NAME} COMMAND $<TARGET_FILE:test_corrupt_quantized> ${args} ${ARG_CASES})
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT 300)
  set_property(GLOBAL APPEND PROPERTY OFT_CORRUPT_QUANTIZED_DEPENDS ${ARG_DEPENDS})
endfunction()
