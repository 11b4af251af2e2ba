# oft_add_plugin(NAME <name> SOURCES <files...> [TARGET <target>])
# Builds a backend plugin, liboft_backend_<name>.so, against the oft SDK (target oft::sdk):
# a MODULE library with hidden symbols (only the OFT_PLUGIN entry point is exported), every symbol
# resolved at link time (-z defs: a missing one fails the build, not the host's dlopen), and static
# copies of other libraries kept private. TARGET defaults to oft_backend_<name>.
function(oft_add_plugin)
  cmake_parse_arguments(arg "" "NAME;TARGET" "SOURCES" ${ARGN})
  if(NOT arg_NAME MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "oft_add_plugin: NAME '${arg_NAME}' must match [a-z0-9_]+ (it names liboft_backend_<name>.so)")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "oft_add_plugin(NAME ${arg_NAME}): SOURCES is empty")
  endif()
  set(target ${arg_TARGET})
  if(NOT target)
    set(target oft_backend_${arg_NAME})
  endif()
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE oft::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME oft_backend_${arg_NAME}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE LINKER:-z,defs LINKER:--exclude-libs,ALL)
  # Set by the oft build for its shipped plugins: `cmake --install` puts them in the host's plugin folder.
  if(OFT_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${OFT_PLUGIN_INSTALL_DIR} COMPONENT runtime)
  endif()
endfunction()

# oft_plugin_precompile_headers(<targets...>)
# LibTorch's headers dominate a plugin's compile time (about 55 s to precompile them). The targets share
# one precompiled header of <ATen/ATen.h>, <torch/nn/module.h> and <nlohmann/json.hpp>, built once per
# project by the target oft_plugin_pch, so several plugins and their object libraries pay for it once.
# GCC only accepts a PCH compiled with the same code model and macros: the targets must be
# position-independent with hidden symbols, as oft_add_plugin's targets are (-Winvalid-pch says when not).
function(oft_plugin_precompile_headers)
  if(NOT TARGET oft_plugin_pch)
    find_package(nlohmann_json 3.10 REQUIRED)
    set(source "${CMAKE_BINARY_DIR}/oft_plugin_pch.cpp")
    file(CONFIGURE OUTPUT "${source}" CONTENT "// The translation unit of oft_plugin_pch, which only precompiles headers.\n")
    add_library(oft_plugin_pch OBJECT "${source}")
    target_link_libraries(oft_plugin_pch PRIVATE oft::sdk nlohmann_json::nlohmann_json)
    set_target_properties(oft_plugin_pch PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden
                                                    VISIBILITY_INLINES_HIDDEN ON)
    target_precompile_headers(oft_plugin_pch PRIVATE <ATen/ATen.h> <torch/nn/module.h> <nlohmann/json.hpp>)
  endif()
  foreach(target IN LISTS ARGN)
    target_precompile_headers(${target} REUSE_FROM oft_plugin_pch)
    target_compile_options(${target} PRIVATE -Winvalid-pch)
  endforeach()
endfunction()

# oft_unity_build_by_folder(<targets...>)
# Every translation unit that includes LibTorch instantiates its templates again: about 10 s per file at
# -O2 with a precompiled header, however small the file. The targets compile as unity translation units of
# up to 6 files of one source folder, which share those instantiations (measured on liboft_core, `oft` and
# the plugins' objects in cold builds on 2 cores: 3106 job-seconds down to 1521). The cap keeps a parallel build's
# longest job and an incremental rebuild short. Sources marked SKIP_PRECOMPILE_HEADERS (LibTorch-free,
# compiled without the PCH) stay apart, since a unity file would bring them the PCH. Runs when the calling
# CMakeLists.txt ends, so that source properties set after the call count; call it where the targets are
# defined (source properties belong to a directory). Files of one folder may share a translation unit:
# names in their anonymous namespaces must differ.
function(oft_unity_build_by_folder)
  foreach(target IN LISTS ARGN)
    get_target_property(target_dir ${target} SOURCE_DIR)
    if(NOT target_dir STREQUAL CMAKE_CURRENT_SOURCE_DIR)
      message(FATAL_ERROR "oft_unity_build_by_folder(${target}): call it in ${target_dir}/CMakeLists.txt, "
                          "where ${target} is defined, not in ${CMAKE_CURRENT_SOURCE_DIR}")
    endif()
    # EVAL: a deferred call's arguments are evaluated when it runs, where ${target} is no longer set.
    cmake_language(EVAL CODE "cmake_language(DEFER CALL _oft_assign_unity_groups [[${target}]])")
  endforeach()
endfunction()

function(_oft_assign_unity_groups target)
  get_target_property(sources ${target} SOURCES)
  foreach(source IN LISTS sources)
    if(NOT source MATCHES "\\.(cpp|cc|cxx)$")
      continue()
    endif()
    get_source_file_property(torch_free ${source} SKIP_PRECOMPILE_HEADERS)
    if(torch_free)
      set_source_files_properties(${source} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
      continue()
    endif()
    get_filename_component(folder ${source} DIRECTORY)
    string(MAKE_C_IDENTIFIER "folder_${folder}" folder_id)
    if(NOT DEFINED count_${folder_id})
      set(count_${folder_id} 0)
    endif()
    math(EXPR batch "${count_${folder_id}} / 6")
    math(EXPR count_${folder_id} "${count_${folder_id}} + 1")
    set_source_files_properties(${source} PROPERTIES UNITY_GROUP "${folder_id}_${batch}")
  endforeach()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
endfunction()
